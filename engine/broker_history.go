package engine

import (
	"cmp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wampd/wampd/codec"
)

// Event history (feature event_history) and event retention (feature
// event_retention). Both keep copies of published events per concrete
// topic, bounded: history keeps the last N events of the topics a
// HistoryRule names, retention the last event published with retain=true.
// Topics with neither cost one map lookup (none at all when no rule is
// configured) on publish.

// Defaults for RealmConfig's history and retention bounds.
const (
	DefaultHistoryLimit      = 100   // events per topic when a rule's Limit is 0
	DefaultMaxHistoryTopics  = 1024  // topics with a history, per realm
	DefaultMaxRetainedTopics = 10000 // topics with a retained event, per realm
)

// HistoryRule turns on event history for the topics it matches.
type HistoryRule struct {
	// Topic is a URI, or a pattern for Match prefix or wildcard.
	Topic string
	Match MatchPolicy
	// Limit is the number of events kept per matching topic: 0 means
	// DefaultHistoryLimit, negative turns history off (to exempt topics
	// from a broader rule). An exact rule beats prefix rules, which beat
	// wildcard rules; among rules of one kind the longest pattern wins.
	Limit int
	// MaxAge, when positive, also drops events older than this from what
	// get_events returns. Expiry is lazy (checked when the history is read,
	// old events are overwritten by new ones): no timer, no cost when unused.
	MaxAge time.Duration
}

// eventStore holds the history and retained events of one realm's broker.
type eventStore struct {
	history     bool // any HistoryRule configured
	exactRules  map[string]*HistoryRule
	rules       patternIndex[*HistoryRule]
	nrules      int // pattern rules
	maxTopics   int
	maxRetained int // 0: retention off

	seq atomic.Uint64 // orders stored events across topics

	mu       sync.RWMutex
	topics   map[string]*topicHistory
	retained map[string]*storedEvent
}

// topicHistory is a ring of the last limit events of one topic.
type topicHistory struct {
	mu     sync.Mutex
	limit  int
	maxAge time.Duration // 0: events never expire
	events []*storedEvent
	head   int // oldest event once the ring is full
}

// storedEvent is a publication copied out of its PUBLISH. Immutable once
// stored: readers share it without locks.
type storedEvent struct {
	seq     uint64
	pub     codec.ID
	at      time.Time
	topic   string
	kind    codec.Kind
	args    []byte
	kw      []byte
	ppt     [4]codec.Raw
	filter  *subFilter // nil: everyone
	from    codec.ID   // publisher session
	exclude bool       // exclude_me: the publisher does not get it
	// Publisher disclosure (disclose_me).
	disclose         bool
	authid, authrole string
}

func newEventStore(rc *RealmConfig) *eventStore {
	st := &eventStore{
		exactRules:  make(map[string]*HistoryRule),
		maxTopics:   rc.MaxHistoryTopics,
		maxRetained: rc.MaxRetainedTopics,
		topics:      make(map[string]*topicHistory),
		retained:    make(map[string]*storedEvent),
	}
	if st.maxTopics <= 0 {
		st.maxTopics = DefaultMaxHistoryTopics
	}
	if st.maxRetained == 0 {
		st.maxRetained = DefaultMaxRetainedTopics
	} else if st.maxRetained < 0 {
		st.maxRetained = 0
	}
	for i := range rc.EventHistory {
		rule := rc.EventHistory[i]
		if rule.Limit == 0 {
			rule.Limit = DefaultHistoryLimit
		}
		st.history = true
		if rule.Match == MatchExact {
			st.exactRules[rule.Topic] = &rule
			continue
		}
		st.rules.add(rule.Match, rule.Topic, &rule)
		st.nrules++
	}
	if !st.history && st.maxRetained == 0 {
		return nil
	}
	return st
}

// historyRule is the rule that decides topic's history, or nil.
func (st *eventStore) historyRule(topic []byte) *HistoryRule {
	if !st.history {
		return nil
	}
	if r, ok := st.exactRules[string(topic)]; ok {
		return r
	}
	if st.nrules == 0 {
		return nil
	}
	var best *HistoryRule
	for _, r := range st.rules.match(topic) {
		if best == nil || ruleBeats(r, best) {
			best = r
		}
	}
	return best
}

func ruleBeats(a, b *HistoryRule) bool {
	if a.Match != b.Match {
		return a.Match == MatchPrefix
	}
	return len(a.Topic) > len(b.Topic)
}

// record stores pe in the topic's history and/or as its retained event.
// Called by the publisher's loop after fan-out; it allocates (copies).
func (st *eventStore) record(pe *publication) {
	rule := st.historyRule(pe.msg.URI)
	limit := 0
	if rule != nil {
		limit = max(rule.Limit, 0)
	}
	if pe.opts.filter != nil && pe.opts.filter.hasSessionLists() {
		// Session IDs mean nothing to later sessions (spec): such an
		// event never goes into the history.
		limit = 0
	}
	retain := pe.opts.retain && st.maxRetained > 0
	if limit == 0 && !retain {
		return
	}
	e := newStoredEvent(pe, st.seq.Add(1))
	if limit > 0 {
		if h := st.topicHistory(e.topic, rule); h != nil {
			h.add(e)
		}
	}
	if retain {
		st.mu.Lock()
		if _, ok := st.retained[e.topic]; ok || len(st.retained) < st.maxRetained {
			st.retained[e.topic] = e
		}
		st.mu.Unlock()
	}
}

func newStoredEvent(pe *publication, seq uint64) *storedEvent {
	m := pe.msg
	e := &storedEvent{
		seq:     seq,
		pub:     pe.id,
		at:      time.Now(),
		topic:   string(m.URI),
		kind:    m.PayloadKind,
		args:    slices.Clone(m.Args),
		kw:      slices.Clone(m.Kw),
		from:    pe.from.id,
		exclude: pe.opts.excludeMe,
	}
	if pe.opts.discloseMe && !pe.from.internal {
		e.disclose, e.authid, e.authrole = true, pe.from.ident.AuthID, pe.from.ident.AuthRole
	}
	for i, r := range pe.opts.ppt {
		if r.Bytes != nil {
			e.ppt[i] = codec.Raw{Kind: r.Kind, Bytes: slices.Clone(r.Bytes)}
		}
	}
	if pe.opts.filter != nil {
		e.filter = pe.opts.filter.clone()
	}
	return e
}

// topicHistory returns topic's ring, creating it while under maxTopics.
func (st *eventStore) topicHistory(topic string, rule *HistoryRule) *topicHistory {
	st.mu.RLock()
	h := st.topics[topic]
	st.mu.RUnlock()
	if h != nil {
		return h
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if h = st.topics[topic]; h == nil && len(st.topics) < st.maxTopics {
		h = &topicHistory{limit: rule.Limit, maxAge: rule.MaxAge}
		st.topics[topic] = h
	}
	return h
}

func (h *topicHistory) add(e *storedEvent) {
	h.mu.Lock()
	if len(h.events) < h.limit {
		h.events = append(h.events, e)
	} else {
		h.events[h.head] = e
		h.head = (h.head + 1) % h.limit
	}
	h.mu.Unlock()
}

// appendTo appends the ring's unexpired events, oldest first.
func (h *topicHistory) appendTo(dst []*storedEvent) []*storedEvent {
	var oldest time.Time
	if h.maxAge > 0 {
		oldest = time.Now().Add(-h.maxAge)
	}
	h.mu.Lock()
	for _, part := range [2][]*storedEvent{h.events[h.head:], h.events[:h.head]} {
		for _, e := range part {
			if !e.at.Before(oldest) {
				dst = append(dst, e)
			}
		}
	}
	h.mu.Unlock()
	return dst
}

// forSubscription gathers the events a subscription would have received:
// from retained (retained=true) or from the histories, oldest first.
func (st *eventStore) forSubscription(sub *subscription, retained bool) []*storedEvent {
	var out []*storedEvent
	st.mu.RLock()
	if sub.match == MatchExact {
		if retained {
			if e := st.retained[sub.topic]; e != nil {
				out = append(out, e)
			}
		} else if h := st.topics[sub.topic]; h != nil {
			out = h.appendTo(out)
		}
	} else if retained {
		for topic, e := range st.retained {
			if patternMatches(sub.match, sub.topic, topic) {
				out = append(out, e)
			}
		}
	} else {
		for topic, h := range st.topics {
			if patternMatches(sub.match, sub.topic, topic) {
				out = h.appendTo(out)
			}
		}
	}
	st.mu.RUnlock()
	slices.SortFunc(out, func(a, b *storedEvent) int { return cmp.Compare(a.seq, b.seq) })
	return out
}

// visibleTo reports whether s would have received e when it was published.
func (e *storedEvent) visibleTo(s *session) bool {
	if e.exclude && e.from == s.id {
		return false
	}
	return e.filter == nil || e.filter.allows(s.id, s.ident.AuthID, s.ident.AuthRole)
}

// appendDetails appends the EVENT.Details a stored event is delivered with.
func (e *storedEvent) appendDetails(fields []codec.Field, pattern bool) []codec.Field {
	if pattern {
		fields = append(fields, codec.Field{Key: "topic", Value: codec.StringValue(e.topic)})
	}
	if e.disclose {
		fields = append(fields,
			codec.Field{Key: "publisher", Value: codec.UintValue(e.from)},
			codec.Field{Key: "publisher_authid", Value: codec.StringValue(e.authid)},
			codec.Field{Key: "publisher_authrole", Value: codec.StringValue(e.authrole)},
		)
	}
	for i, r := range e.ppt {
		if r.Bytes != nil {
			fields = append(fields, codec.Field{Key: pptOptionKeys[i], Value: codec.RawValue(r)})
		}
	}
	return fields
}

// sendRetained delivers, right after SUBSCRIBED, the retained events of
// sub's topic (every matching topic for a pattern) that s may see, each
// with Details.retained = true.
func (p *peer) sendRetained(s *session, sub *subscription) {
	st := s.realm.broker.store
	if st == nil || st.maxRetained == 0 {
		return
	}
	for _, e := range st.forSubscription(sub, true) {
		if !e.visibleTo(s) {
			continue
		}
		ev := &p.out
		ev.Reset()
		ev.Type = codec.Event
		ev.Subscription = sub.id
		ev.Publication = e.pub
		ev.Args, ev.Kw, ev.PayloadKind = e.args, e.kw, e.kind
		ev.Details.Fields = e.appendDetails(ev.Details.Fields, sub.match != MatchExact)
		ev.Details.Fields = append(ev.Details.Fields, codec.Field{Key: "retained", Value: codec.BoolValue(true)})
		if !p.send(p.conn, p.kind, ev) {
			s.dropEvent(p.r.log)
		}
	}
}

// patternMatches reports whether a concrete topic matches pattern under
// policy (the tries do the same on the publish path; this is for the
// rarely used scans over stored topics).
func patternMatches(policy MatchPolicy, pattern, topic string) bool {
	switch policy {
	case MatchExact:
		return pattern == topic
	case MatchPrefix:
		return strings.HasPrefix(topic, pattern)
	case MatchWildcard:
		for {
			pc, prest, pmore := cutDot(pattern)
			tc, trest, tmore := cutDot(topic)
			if pc != "" && pc != tc {
				return false
			}
			if pmore != tmore {
				return false
			}
			if !pmore {
				return true
			}
			pattern, topic = prest, trest
		}
	}
	return false
}
