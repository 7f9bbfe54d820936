package engine

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wampd/wampd/codec"
)

// broker routes events of one realm.
//
// Subscriptions live in two indexes: exact ones in a sharded map (publish
// takes one shard read lock), prefix and wildcard ones in a patternIndex
// (tries plus a match cache invalidated by a generation counter), consulted
// only while at least one pattern subscription exists. Every change to the
// set of subscriptions or to their member lists is serialized by mu, so meta
// events and the meta procedures see one consistent order; publishers never
// take mu.
//
// Lock order: broker.mu → shard.mu and broker.mu → patternIndex.mu. The
// event store's locks (broker_history.go) are taken alone.
type broker struct {
	r  *Router
	rl *realm // set by registerSubscriptionMeta: the realm meta events go to
	// uriTable files subscriptions by (match, topic); its patterns map is
	// guarded by mu.
	uriTable[*subscription]
	// npatterns counts live pattern subscriptions: while it is zero a
	// publish does not look at the tries at all.
	npatterns atomic.Int64

	mu   sync.Mutex
	byID map[codec.ID]*subscription // every subscription, for the meta API

	// store keeps event history and retained events; nil when both are off.
	store *eventStore
}

// subscription is one topic (and match policy) with all its subscribers.
// They share the subscription ID, so one encoded EVENT serves them all.
type subscription struct {
	id      codec.ID
	topic   string
	match   MatchPolicy
	created time.Time
	// members is copy-on-write: publishers Load it without a lock; writers
	// replace it while holding broker.mu.
	members atomic.Pointer[[]*member]
}

// member is one session in a subscription. ready is set once SUBSCRIBED is
// queued, so that no EVENT can overtake the SUBSCRIBED that names its ID.
type member struct {
	s     *session
	ready atomic.Bool
}

func newBroker(r *Router, rc *RealmConfig) *broker {
	b := &broker{
		r:     r,
		byID:  make(map[codec.ID]*subscription),
		store: newEventStore(rc),
	}
	b.uriTable.init()
	return b
}

// subscribe adds s to the subscription of (policy, topic), creating it when
// needed (created reports that). m is nil when s already had it.
func (b *broker) subscribe(s *session, policy MatchPolicy, topic []byte) (sub *subscription, m *member, created bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	sub = b.lookupLocked(policy, string(topic))
	if sub == nil {
		sub = b.newSubscriptionLocked(policy, topic)
		b.fileLocked(policy, sub.topic, sub)
		if policy != MatchExact {
			b.npatterns.Add(1)
		}
		created = true
	}
	if _, dup := s.subs[sub.id]; dup {
		return sub, nil, created
	}
	m = &member{s: s}
	old := *sub.members.Load()
	next := make([]*member, len(old), len(old)+1)
	copy(next, old)
	next = append(next, m)
	sub.members.Store(&next)
	return sub, m, created
}

func (b *broker) newSubscriptionLocked(policy MatchPolicy, topic []byte) *subscription {
	sub := &subscription{id: b.r.nextRouterID(), topic: string(topic), match: policy, created: time.Now()}
	empty := []*member{}
	sub.members.Store(&empty)
	b.byID[sub.id] = sub
	return sub
}

// unsubscribe removes s from sub; an empty subscription is deleted. It
// publishes the subscription meta events (also when a session leaves).
func (b *broker) unsubscribe(s *session, sub *subscription) {
	b.mu.Lock()
	old := *sub.members.Load()
	next := make([]*member, 0, len(old))
	for _, m := range old {
		if m.s != s {
			next = append(next, m)
		}
	}
	removed := len(next) != len(old)
	if removed {
		sub.members.Store(&next)
	}
	deleted := false
	if len(next) == 0 && b.byID[sub.id] == sub {
		delete(b.byID, sub.id)
		b.dropLocked(sub.match, sub.topic, sub)
		if sub.match != MatchExact {
			b.npatterns.Add(-1)
		}
		deleted = true
	}
	b.mu.Unlock()
	if removed {
		b.metaUnsubscribed(s, sub, deleted)
	}
}

// lookup returns the subscription of (policy, topic), or nil.
func (b *broker) lookup(policy MatchPolicy, topic string) *subscription {
	if policy != MatchExact {
		b.mu.Lock()
		defer b.mu.Unlock()
	}
	return b.lookupLocked(policy, topic)
}

// subscriptionByID returns the subscription with id, or nil.
func (b *broker) subscriptionByID(id codec.ID) *subscription {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.byID[id]
}

func (p *peer) subscribe(s *session, m *codec.Message) {
	policy, ok := matchOption(m.Details)
	if !ok {
		p.replyError(codec.Subscribe, m.Request, uriInvalidArgument, "unknown match policy (exact, prefix or wildcard)")
		return
	}
	if !validURIFor(policy, m.URI) {
		p.replyError(codec.Subscribe, m.Request, uriInvalidURI, "invalid topic URI")
		return
	}
	if az := s.realm.authorizer; az != nil && !az.Authorize(&s.ident, ActionSubscribe, m.URI) {
		p.replyError(codec.Subscribe, m.Request, uriNotAuthorized, "not authorized to subscribe")
		return
	}
	getRetained, _ := m.Details.Bool("get_retained")
	b := s.realm.broker
	sub, mem, created := b.subscribe(s, policy, m.URI)
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
	if getRetained {
		p.sendRetained(s, sub)
	}
	if mem != nil {
		b.metaSubscribed(s, sub, created)
	}
}

func (p *peer) unsubscribe(s *session, m *codec.Message) {
	sub, ok := s.subs[m.Subscription]
	if !ok {
		p.replyError(codec.Unsubscribe, m.Request, uriNoSuchSubscription, "")
		return
	}
	delete(s.subs, m.Subscription)
	r := &p.out
	r.Reset()
	r.Type = codec.Unsubscribed
	r.Request = m.Request
	// The member leaves before UNSUBSCRIBED is queued, so no EVENT follows it.
	s.realm.broker.unsubscribe(s, sub)
	p.reply(r)
}

// publication is one PUBLISH being routed.
type publication struct {
	id   codec.ID
	from *session
	msg  *codec.Message
	opts *pubOptions
}

// payloadFor returns the payload of m (the PUBLISH being routed) in
// serializer k, transcoding it into p.pay[k] the first time k is asked for
// during this publish: a publication matching several subscriptions is
// transcoded once per serializer, not once per subscription. ok is false
// when the payload cannot be carried in k. The cache lives in the peer, not
// in publication: handing publication's contents to codec would move its
// options to the heap.
func (p *peer) payloadFor(m *codec.Message, k codec.Kind) (args, kw []byte, ok bool) {
	if k == m.PayloadKind || (m.Args == nil && m.Kw == nil) {
		return m.Args, m.Kw, true
	}
	c := &p.payCache
	if !c.done[k] {
		c.done[k] = true
		c.args[k], c.kw[k] = nil, nil
		b := p.pay[k][:0]
		var err error
		if m.Args != nil {
			if b, err = codec.Transcode(b, k, codec.Raw{Kind: m.PayloadKind, Bytes: m.Args}); err != nil {
				return nil, nil, false
			}
		}
		na := len(b)
		if m.Kw != nil {
			if b, err = codec.Transcode(b, k, codec.Raw{Kind: m.PayloadKind, Bytes: m.Kw}); err != nil {
				return nil, nil, false
			}
		}
		p.pay[k] = b
		if m.Args != nil {
			c.args[k] = b[:na:na]
		}
		if m.Kw != nil {
			c.kw[k] = b[na:]
		}
	}
	if c.args[k] == nil && c.kw[k] == nil {
		return nil, nil, false // transcoding failed the first time
	}
	return c.args[k], c.kw[k], true
}

// publish routes one PUBLISH. Every matching subscription (the exact one,
// then prefix and wildcard ones) gets one EVENT, encoded at most once per
// serializer in use among its subscribers; the same bytes are queued to
// each. The payload is forwarded raw (transcoded only for a different
// serializer). No allocation for a plain publish to an exact subscription.
func (p *peer) publish(s *session, m *codec.Message) {
	var o pubOptions
	err := o.parse(m.Details)
	defer o.release()
	if err != nil {
		if o.ack {
			p.replyError(codec.Publish, m.Request, uriInvalidArgument, err.Error())
		}
		return
	}
	if o.ppt[0].Bytes != nil && !s.internal && s.dl.feat&featPublisherPPT == 0 {
		// Spec: passthru without announcing it in HELLO is a protocol error.
		p.violation("PUBLISH with ppt_scheme from a publisher that did not announce payload_passthru_mode")
		return
	}
	if !validURI(m.URI) {
		if o.ack {
			p.replyError(codec.Publish, m.Request, uriInvalidURI, "invalid topic URI")
		}
		return
	}
	if az := s.realm.authorizer; az != nil && !s.internal && !az.Authorize(&s.ident, ActionPublish, m.URI) {
		if o.ack { // unacknowledged publications fail silently (spec)
			p.replyError(codec.Publish, m.Request, uriNotAuthorized, "not authorized to publish")
		}
		return
	}
	pe := publication{id: randomID(), from: s, msg: m, opts: &o}
	p.payCache = payCache{} // a new payload: nothing transcoded yet
	b := s.realm.broker
	if sub, ok := b.exact.get(m.URI); ok {
		p.fanout(sub, &pe, false)
	}
	if b.npatterns.Load() > 0 {
		for _, sub := range b.index.match(m.URI) {
			p.fanout(sub, &pe, true)
		}
	}
	if st := b.store; st != nil && (o.retain || st.history) {
		st.record(&pe)
	}
	if o.ack {
		r := &p.out
		r.Reset()
		r.Type = codec.Published
		r.Request = m.Request
		r.Publication = pe.id
		p.reply(r)
	}
}

// fanout sends one EVENT of sub to every member the publication is for. A
// member whose connection refuses the frame (over its bound) loses the
// event, counted. All members get byte-identical EVENTs: the details depend
// only on the publication and the subscription (topic for patterns).
func (p *peer) fanout(sub *subscription, pe *publication, pattern bool) {
	members := *sub.members.Load()
	if len(members) == 0 {
		return
	}
	ev := &p.out
	ev.Reset()
	ev.Type = codec.Event
	ev.Subscription = sub.id
	ev.Publication = pe.id
	ev.Details.Fields = pe.appendDetails(ev.Details.Fields, pattern)
	var exclude *session
	if pe.opts.excludeMe {
		exclude = pe.from
	}
	f := pe.opts.filter
	var built, bad [4]bool
	for _, mem := range members {
		to := mem.s
		if to == exclude || !mem.ready.Load() || to.gone.Load() {
			continue
		}
		if f != nil && !f.allows(to.id, to.ident.AuthID, to.ident.AuthRole) {
			continue
		}
		k := to.kind
		if k >= codec.Kind(len(built)) {
			continue
		}
		if !built[k] {
			built[k] = true
			var err error
			args, kw, ok := p.payloadFor(pe.msg, k)
			if !ok {
				err = errors.New("payload cannot be transcoded")
			}
			ev.Args, ev.Kw, ev.PayloadKind = args, kw, k
			b := p.ev[k][:0]
			if err == nil {
				b, err = codec.Append(k, b, ev)
			}
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
			to.dropEvent(p.r.log)
			continue
		}
		if !to.conn.Send(p.ev[k]) {
			to.dropEvent(p.r.log)
		}
	}
	for k := range p.ev {
		p.ev[k] = trimScratch(p.ev[k])
		p.pay[k] = trimScratch(p.pay[k])
	}
}

// appendDetails appends the EVENT.Details of the publication: the concrete
// topic for pattern subscriptions, the publisher when it asked to be
// disclosed (never the router itself), and the payload passthru attributes.
func (pe *publication) appendDetails(fields []codec.Field, pattern bool) []codec.Field {
	if pattern {
		fields = append(fields, codec.Field{Key: "topic", Value: codec.StringBytesValue(pe.msg.URI)})
	}
	if pe.opts.discloseMe && !pe.from.internal {
		fields = append(fields,
			codec.Field{Key: "publisher", Value: codec.UintValue(pe.from.id)},
			codec.Field{Key: "publisher_authid", Value: codec.StringValue(pe.from.ident.AuthID)},
			codec.Field{Key: "publisher_authrole", Value: codec.StringValue(pe.from.ident.AuthRole)},
		)
	}
	if pe.opts.ppt[0].Bytes != nil {
		for i, r := range pe.opts.ppt {
			if r.Bytes != nil {
				fields = append(fields, codec.Field{Key: pptOptionKeys[i], Value: codec.RawValue(r)})
			}
		}
	}
	return fields
}
