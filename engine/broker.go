package engine

import (
	"github.com/wampd/wampd/codec"
	"sync/atomic"
)

// broker routes events of one realm.
type broker struct {
	r     *Router
	exact *shardedMap[*subscription]
	// Extension point: prefix and wildcard subscriptions go in pattern tries
	// (see trie.go) consulted after the exact map, with a match cache keyed
	// by topic and invalidated by the tries' generation counter.
}

// subscription is one topic (and match policy) with all its subscribers.
// They share the subscription ID, so one encoded EVENT serves them all.
type subscription struct {
	id    codec.ID
	topic string
	// members is copy-on-write: publishers Load it without a lock; writers
	// replace it while holding the owning shard's write lock.
	members atomic.Pointer[[]*member]
}

// member is one session in a subscription. ready is set once SUBSCRIBED is
// queued, so that no EVENT can overtake the SUBSCRIBED that names its ID.
type member struct {
	s     *session
	ready atomic.Bool
}

func newBroker(r *Router) *broker {
	return &broker{r: r, exact: newShardedMap[*subscription]()}
}

// subscribe adds s to topic's subscription, creating it when needed. It
// returns the existing subscription when s already has it.
func (b *broker) subscribe(s *session, topic []byte) (*subscription, *member) {
	sh := b.exact.shardOf(topic)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	sub := sh.m[string(topic)]
	if sub == nil {
		sub = &subscription{id: b.r.nextRouterID(), topic: string(topic)}
		empty := []*member{}
		sub.members.Store(&empty)
		sh.m[sub.topic] = sub
	}
	if _, dup := s.subs[sub.id]; dup {
		return sub, nil
	}
	m := &member{s: s}
	old := *sub.members.Load()
	next := make([]*member, len(old), len(old)+1)
	copy(next, old)
	next = append(next, m)
	sub.members.Store(&next)
	return sub, m
}

// unsubscribe removes s from sub; an empty subscription is deleted.
func (b *broker) unsubscribe(s *session, sub *subscription) {
	key := []byte(sub.topic)
	sh := b.exact.shardOf(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	old := *sub.members.Load()
	next := make([]*member, 0, len(old))
	for _, m := range old {
		if m.s != s {
			next = append(next, m)
		}
	}
	sub.members.Store(&next)
	if len(next) == 0 && sh.m[sub.topic] == sub {
		delete(sh.m, sub.topic)
	}
}

func (p *peer) subscribe(s *session, m *codec.Message) {
	if match, ok := m.Details.StringBytes("match", nil); ok && string(match) != "exact" {
		p.replyError(codec.Subscribe, m.Request, uriInvalidArgument, "match policy not supported")
		return
	}
	if !validURI(m.URI) {
		p.replyError(codec.Subscribe, m.Request, uriInvalidURI, "invalid topic URI")
		return
	}
	if az := s.realm.authorizer; az != nil && !az.Authorize(&s.ident, ActionSubscribe, m.URI) {
		p.replyError(codec.Subscribe, m.Request, uriNotAuthorized, "not authorized to subscribe")
		return
	}
	sub, mem := s.realm.broker.subscribe(s, m.URI)
	s.subs[sub.id] = sub
	r := &p.out
	r.Reset()
	r.Type = codec.Subscribed
	r.Request = m.Request
	r.Subscription = sub.id
	p.reply(r)
	if mem != nil {
		mem.ready.Store(true)
	}
}

func (p *peer) unsubscribe(s *session, m *codec.Message) {
	sub, ok := s.subs[m.Subscription]
	if !ok {
		p.replyError(codec.Unsubscribe, m.Request, uriNoSuchSubscription, "")
		return
	}
	delete(s.subs, m.Subscription)
	s.realm.broker.unsubscribe(s, sub)
	r := &p.out
	r.Reset()
	r.Type = codec.Unsubscribed
	r.Request = m.Request
	p.reply(r)
}

// publish routes one PUBLISH. The EVENT is encoded at most once per
// serializer in use among the subscribers and the same bytes are queued to
// each; the payload is forwarded raw (transcoded only for a different
// serializer). No allocation.
func (p *peer) publish(s *session, m *codec.Message) {
	ack, _ := m.Details.Bool("acknowledge")
	if !validURI(m.URI) {
		if ack {
			p.replyError(codec.Publish, m.Request, uriInvalidURI, "invalid topic URI")
		}
		return
	}
	if az := s.realm.authorizer; az != nil && !az.Authorize(&s.ident, ActionPublish, m.URI) {
		if ack { // unacknowledged publications fail silently (spec)
			p.replyError(codec.Publish, m.Request, uriNotAuthorized, "not authorized to publish")
		}
		return
	}
	var exclude *session
	if v, ok := m.Details.Bool("exclude_me"); !ok || v {
		exclude = s
	}
	pub := randomID()
	if sub, ok := s.realm.broker.exact.get(m.URI); ok {
		p.fanout(sub, pub, m, exclude)
	}
	if ack {
		r := &p.out
		r.Reset()
		r.Type = codec.Published
		r.Request = m.Request
		r.Publication = pub
		p.reply(r)
	}
}

// fanout sends one EVENT of sub to every member but exclude. A member whose
// connection refuses the frame (over its bound) loses the event, counted.
// Extension point: publisher disclosure and subscriber black/whitelisting
// add Details fields / filters here; pattern subscriptions add "topic".
func (p *peer) fanout(sub *subscription, pub codec.ID, m *codec.Message, exclude *session) {
	members := *sub.members.Load()
	if len(members) == 0 {
		return
	}
	ev := &p.out
	ev.Reset()
	ev.Type = codec.Event
	ev.Subscription = sub.id
	ev.Publication = pub
	ev.Args, ev.Kw, ev.PayloadKind = m.Args, m.Kw, m.PayloadKind
	var built, bad [4]bool
	for _, mem := range members {
		to := mem.s
		if to == exclude || !mem.ready.Load() || to.gone.Load() {
			continue
		}
		k := to.kind
		if k >= codec.Kind(len(built)) {
			continue
		}
		if !built[k] {
			built[k] = true
			b, err := codec.Append(k, p.ev[k][:0], ev)
			if err != nil {
				// E.g. a payload that cannot be transcoded to k: those
				// subscribers lose this event, the others still get it.
				p.r.log.Warn("engine: cannot encode EVENT", "serializer", k, "err", err)
				bad[k] = true
			} else {
				p.ev[k] = b
			}
		}
		if bad[k] {
			to.droppedEvents.Add(1)
			continue
		}
		if !to.conn.Send(p.ev[k]) {
			to.droppedEvents.Add(1)
		}
	}
	for k := range p.ev {
		p.ev[k] = trimScratch(p.ev[k])
	}
}
