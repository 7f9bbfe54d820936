package engine

import (
	"slices"
	"strings"
	"time"

	"github.com/wampd/wampd/codec"
)

// Subscription meta API (feature subscription_meta_api) and the event
// history procedure wamp.subscription.get_events (feature event_history).
// Everything here looks at one realm's broker only: no other realm's
// subscriptions or sessions can appear in an answer or an event.

func init() { metaInits = append(metaInits, registerSubscriptionMeta) }

// Meta event topics.
const (
	topicSubOnCreate      = "wamp.subscription.on_create"
	topicSubOnSubscribe   = "wamp.subscription.on_subscribe"
	topicSubOnUnsubscribe = "wamp.subscription.on_unsubscribe"
	topicSubOnDelete      = "wamp.subscription.on_delete"
)

// isoTime formats t as the meta API's ISO 8601 UTC timestamps.
func isoTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

func (sub *subscription) details() map[string]any {
	return map[string]any{
		"id":      sub.id,
		"created": isoTime(sub.created),
		"uri":     sub.topic,
		"match":   sub.match.String(),
	}
}

// subscriberIDs lists the sessions currently in sub.
func (sub *subscription) subscriberIDs() []codec.ID {
	members := *sub.members.Load()
	ids := make([]codec.ID, 0, len(members))
	for _, m := range members {
		if !m.s.gone.Load() {
			ids = append(ids, m.s.id)
		}
	}
	return ids
}

// metaQuiet reports whether changes to sub stay without meta events: those
// of subscriptions to the router's own wamp.* topics (a monitor watching
// on_subscribe would otherwise see its own meta subscriptions) and those
// nobody listens to (the payload is not even built).
func (b *broker) metaQuiet(sub *subscription, topic string) bool {
	return b.rl == nil || strings.HasPrefix(sub.topic, "wamp.") || !b.hasSubscribers(topic)
}

// hasSubscribers reports whether a publish to topic would reach anyone.
func (b *broker) hasSubscribers(topic string) bool {
	t := []byte(topic)
	if sub, ok := b.exact.get(t); ok && len(*sub.members.Load()) > 0 {
		return true
	}
	return b.npatterns.Load() > 0 && len(b.index.match(t)) > 0
}

// metaSubscribed publishes on_create (when the subscription is new) and
// on_subscribe, in that order (spec). No lock may be held.
func (b *broker) metaSubscribed(s *session, sub *subscription, created bool) {
	if created && !b.metaQuiet(sub, topicSubOnCreate) {
		b.rl.publishMeta(topicSubOnCreate, []any{s.id, sub.details()}, nil)
	}
	if !b.metaQuiet(sub, topicSubOnSubscribe) {
		b.rl.publishMeta(topicSubOnSubscribe, []any{s.id, sub.id}, nil)
	}
}

// metaUnsubscribed publishes on_unsubscribe and, when the subscription went
// away with it, on_delete. No lock may be held.
func (b *broker) metaUnsubscribed(s *session, sub *subscription, deleted bool) {
	if !b.metaQuiet(sub, topicSubOnUnsubscribe) {
		b.rl.publishMeta(topicSubOnUnsubscribe, []any{s.id, sub.id}, nil)
	}
	if deleted && !b.metaQuiet(sub, topicSubOnDelete) {
		b.rl.publishMeta(topicSubOnDelete, []any{s.id, sub.id}, nil)
	}
}

func registerSubscriptionMeta(rl *realm) {
	b := rl.broker
	b.rl = rl
	rl.registerMeta("wamp.subscription.list", b.metaList)
	rl.registerMeta("wamp.subscription.lookup", b.metaLookup)
	rl.registerMeta("wamp.subscription.match", b.metaMatch)
	rl.registerMeta("wamp.subscription.get", func(a metaArgs) metaReply {
		sub, rep := b.metaSubscriptionArg(a)
		if sub == nil {
			return rep
		}
		return metaReply{Args: []any{sub.details()}}
	})
	rl.registerMeta("wamp.subscription.list_subscribers", func(a metaArgs) metaReply {
		sub, rep := b.metaSubscriptionArg(a)
		if sub == nil {
			return rep
		}
		return metaReply{Args: []any{sub.subscriberIDs()}}
	})
	rl.registerMeta("wamp.subscription.count_subscribers", func(a metaArgs) metaReply {
		sub, rep := b.metaSubscriptionArg(a)
		if sub == nil {
			return rep
		}
		return metaReply{Args: []any{len(sub.subscriberIDs())}}
	})
	// Always there (event_history is advertised): a realm without history
	// rules answers with no events.
	rl.registerMeta("wamp.subscription.get_events", b.metaGetEvents)
}

// metaSubscriptionArg reads Arguments[0] as a subscription ID of this realm.
func (b *broker) metaSubscriptionArg(a metaArgs) (*subscription, metaReply) {
	id, ok := argID(a.Args, 0)
	if !ok {
		return nil, metaErr(string(uriInvalidArgument), "expected a subscription ID")
	}
	sub := b.subscriptionByID(id)
	if sub == nil {
		return nil, metaErr(string(uriNoSuchSubscription), "")
	}
	return sub, metaReply{}
}

func (b *broker) metaList(metaArgs) metaReply {
	lists := [3][]codec.ID{{}, {}, {}}
	b.mu.Lock()
	for id, sub := range b.byID {
		lists[sub.match] = append(lists[sub.match], id)
	}
	b.mu.Unlock()
	for _, l := range lists {
		slices.Sort(l)
	}
	return metaReply{Args: []any{map[string]any{
		"exact": lists[MatchExact], "prefix": lists[MatchPrefix], "wildcard": lists[MatchWildcard],
	}}}
}

// metaLookup: [topic, (options)] → the subscription managing topic under
// options.match (default exact), or null.
func (b *broker) metaLookup(a metaArgs) metaReply {
	topic, ok := argString(a.Args, 0)
	if !ok {
		return metaErr(string(uriInvalidArgument), "expected a topic URI")
	}
	policy := MatchExact
	if opts, isDict := argAt(a.Args, 1).(map[string]any); isDict {
		if v, has := opts["match"]; has {
			s, _ := v.(string)
			if policy, ok = parseMatch([]byte(s)); !ok {
				return metaErr(string(uriInvalidArgument), "unknown match policy")
			}
		}
	}
	if sub := b.lookup(policy, topic); sub != nil {
		return metaReply{Args: []any{sub.id}}
	}
	return metaReply{Args: []any{nil}}
}

// metaMatch: [topic] → IDs of every subscription a publish to topic would
// reach (exact, prefix and wildcard), or null.
func (b *broker) metaMatch(a metaArgs) metaReply {
	topic, ok := argString(a.Args, 0)
	if !ok || !validURI([]byte(topic)) {
		return metaErr(string(uriInvalidArgument), "expected a topic URI")
	}
	var ids []codec.ID
	if sub, ok := b.exact.get([]byte(topic)); ok {
		ids = append(ids, sub.id)
	}
	if b.npatterns.Load() > 0 {
		for _, sub := range b.index.match([]byte(topic)) {
			ids = append(ids, sub.id)
		}
	}
	if len(ids) == 0 {
		return metaReply{Args: []any{nil}}
	}
	return metaReply{Args: []any{ids}}
}

// historyQuery is wamp.subscription.get_events' ArgumentsKw.
type historyQuery struct {
	reverse                            bool
	limit                              int
	fromTime, afterTime                time.Time
	beforeTime, untilTime              time.Time
	topic                              string
	fromPub, afterPub, beforePub, upTo codec.ID
}

func parseHistoryQuery(kw map[string]any) (q historyQuery, err string) {
	if v, ok := kw["reverse"]; ok {
		if q.reverse, ok = v.(bool); !ok {
			return q, "reverse must be a boolean"
		}
	}
	if v, ok := kw["limit"]; ok {
		n, ok := toID(v)
		if !ok {
			return q, "limit must be a positive integer"
		}
		q.limit = int(min(n, 1<<30))
	}
	times := []struct {
		key string
		dst *time.Time
	}{{"from_time", &q.fromTime}, {"after_time", &q.afterTime}, {"before_time", &q.beforeTime}, {"until_time", &q.untilTime}}
	for _, t := range times {
		v, ok := kw[t.key]
		if !ok {
			continue
		}
		s, _ := v.(string)
		parsed, perr := time.Parse(time.RFC3339Nano, s)
		if perr != nil {
			return q, t.key + " must be an RFC 3339 timestamp"
		}
		*t.dst = parsed
	}
	if v, ok := kw["topic"]; ok {
		if q.topic, ok = v.(string); !ok {
			return q, "topic must be a URI"
		}
	}
	pubs := []struct {
		key string
		dst *codec.ID
	}{{"from_publication", &q.fromPub}, {"after_publication", &q.afterPub}, {"before_publication", &q.beforePub}, {"until_publication", &q.upTo}}
	for _, p := range pubs {
		v, ok := kw[p.key]
		if !ok {
			continue
		}
		if *p.dst, ok = toID(v); !ok {
			return q, p.key + " must be a publication ID"
		}
	}
	return q, ""
}

// metaGetEvents: [subscription] {reverse, limit, *_time, topic,
// *_publication} → [[event, ...]] with the events the subscription's topic
// (every matching topic for a pattern) kept, filtered for the caller as the
// original black/whitelist would have (spec: event_history).
func (b *broker) metaGetEvents(a metaArgs) metaReply {
	sub, rep := b.metaSubscriptionArg(a)
	if sub == nil {
		return rep
	}
	s := a.Caller
	if az := s.realm.authorizer; az != nil && !az.Authorize(&s.ident, ActionSubscribe, []byte(sub.topic)) {
		return metaErr(string(uriNotAuthorized), "not authorized to subscribe to the subscription's topic")
	}
	q, msg := parseHistoryQuery(a.Kw)
	if msg != "" {
		return metaErr(string(uriInvalidArgument), msg)
	}
	var all []*storedEvent
	if b.store != nil {
		all = b.store.forSubscription(sub, false)
	}
	// Publication bounds are positions in the stored order (IDs are random).
	lo, hi := 0, len(all)
	for i, e := range all {
		switch e.pub {
		case q.fromPub:
			lo = max(lo, i)
		case q.afterPub:
			lo = max(lo, i+1)
		}
		switch e.pub {
		case q.beforePub:
			hi = min(hi, i)
		case q.upTo:
			hi = min(hi, i+1)
		}
	}
	var out []any
	add := func(e *storedEvent) bool {
		if (q.topic != "" && e.topic != q.topic) || !e.visibleTo(s) || !inTimeRange(e.at, &q) {
			return true
		}
		out = append(out, e.asMeta(sub))
		return q.limit == 0 || len(out) < q.limit
	}
	if lo < hi {
		if q.reverse {
			for i := hi - 1; i >= lo && add(all[i]); i-- {
			}
		} else {
			for i := lo; i < hi && add(all[i]); i++ {
			}
		}
	}
	if out == nil {
		out = []any{}
	}
	return metaReply{Args: []any{out}}
}

func inTimeRange(at time.Time, q *historyQuery) bool {
	if !q.fromTime.IsZero() && at.Before(q.fromTime) {
		return false
	}
	if !q.afterTime.IsZero() && !at.After(q.afterTime) {
		return false
	}
	if !q.beforeTime.IsZero() && !at.Before(q.beforeTime) {
		return false
	}
	if !q.untilTime.IsZero() && at.After(q.untilTime) {
		return false
	}
	return true
}

// asMeta is a stored event as get_events returns it.
func (e *storedEvent) asMeta(sub *subscription) map[string]any {
	d := map[string]any{}
	for _, f := range e.appendDetails(nil, sub.match != MatchExact) {
		d[f.Key] = f.Value
	}
	ev := map[string]any{
		"timestamp":    e.at.UTC().Format(time.RFC3339Nano),
		"subscription": sub.id,
		"publication":  e.pub,
		"details":      d,
	}
	if e.args != nil {
		ev["args"] = codec.Raw{Kind: e.kind, Bytes: e.args}
	}
	if e.kw != nil {
		ev["kwargs"] = codec.Raw{Kind: e.kind, Bytes: e.kw}
	}
	return ev
}
