package client

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/wampd/wampd/codec"
)

// Event is one EVENT delivered to a subscription handler.
//
// The *Event is reused after the handler returns: copy what you keep. Args,
// Kwargs and (without SubscribeOptions.Inline) ArgsRaw/KwRaw/Details may be
// kept; with Inline, the raw bytes are valid only during the call.
type Event struct {
	Subscription ID
	Publication  ID
	// Topic is the event's topic: the subscribed topic, or for prefix and
	// wildcard subscriptions the concrete topic the router reported.
	Topic string
	// Publisher is the publisher's session ID when disclosed, else 0.
	Publisher ID
	// Details is EVENT.Details, raw (read it with its lookup methods).
	Details codec.Dict
	// Args and Kwargs are the decoded payload (nil with SubscribeOptions.Raw).
	Args   []any
	Kwargs map[string]any
	// ArgsRaw and KwRaw are the payload as received, not decoded (empty Bytes when absent).
	ArgsRaw, KwRaw codec.Raw
	// DecodeErr is set when the payload could not be decoded.
	DecodeErr error
}

// EventHandler receives events of a subscription.
type EventHandler func(ev *Event)

// Subscription is a handler subscribed to a topic. It survives reconnects.
type Subscription struct {
	s       *Session
	topic   string
	opts    SubscribeOptions
	handler EventHandler
	entry   atomic.Pointer[subEntry] // nil once unsubscribed
}

// ID is the router's subscription ID on the current connection (0 when none).
func (sub *Subscription) ID() ID {
	if e := sub.entry.Load(); e != nil {
		return e.id.Load()
	}
	return 0
}

// Topic is the subscribed topic (or pattern).
func (sub *Subscription) Topic() string { return sub.topic }

// subKey identifies one router subscription of this session: the router
// returns the same subscription for the same topic and match.
type subKey struct {
	topic string
	match Match
}

// subEntry is one router subscription and its local handlers.
type subEntry struct {
	key subKey
	id  atomic.Uint64 // router ID on the current connection, 0 when none
	// inline and async are copy-on-write, replaced under Session.mu.
	inline, async []*Subscription
}

func (e *subEntry) empty() bool { return len(e.inline) == 0 && len(e.async) == 0 }

// Subscribe subscribes handler to topic. Several subscriptions to the same
// topic and match share one router subscription.
func (s *Session) Subscribe(ctx context.Context, topic string, handler EventHandler, opts SubscribeOptions) (*Subscription, error) {
	if handler == nil {
		return nil, fmt.Errorf("client: subscribe %s: nil handler", topic)
	}
	sub := &Subscription{s: s, topic: topic, opts: opts, handler: handler}
	key := subKey{topic, opts.Match}
	s.opMu.Lock()
	defer s.opMu.Unlock()

	s.mu.Lock()
	e := s.subKeys[key]
	if e != nil && e.id.Load() != 0 {
		// Already subscribed on this connection: only the local handler is new.
		e.add(sub)
		s.mu.Unlock()
		return sub, nil
	}
	if e == nil {
		e = &subEntry{key: key}
	}
	s.mu.Unlock()

	if err := s.subscribeEntry(ctx, e, sub); err != nil {
		return nil, fmt.Errorf("client: subscribe %s: %w", topic, err)
	}
	return sub, nil
}

// add appends sub to e's handlers. Session.mu must be held.
func (e *subEntry) add(sub *Subscription) {
	if sub.opts.Inline {
		e.inline = append(slices.Clip(e.inline), sub)
	} else {
		e.async = append(slices.Clip(e.async), sub)
	}
	sub.entry.Store(e)
}

// subscribeEntry sends SUBSCRIBE for e and, on SUBSCRIBED, installs e (and
// sub, when non-nil) before the receive goroutine handles the next message.
// opMu must be held.
func (s *Session) subscribeEntry(ctx context.Context, e *subEntry, sub *Subscription) error {
	var m codec.Message
	m.Type = codec.Subscribe
	m.URI = bytesOf(e.key.topic)
	var f [1]codec.Field
	if e.key.match != MatchExact {
		f[0] = codec.Field{Key: "match", Value: codec.StringValue(e.key.match.String())}
		m.Details.Fields = f[:1]
	}
	_, err := s.roundTrip(ctx, &m, func(r *codec.Message) {
		if r.Type != codec.Subscribed {
			return
		}
		s.mu.Lock()
		e.id.Store(r.Subscription)
		s.subByID[r.Subscription] = e
		s.subKeys[e.key] = e
		if sub != nil {
			e.add(sub)
		}
		s.mu.Unlock()
	})
	return err
}

// Unsubscribe removes sub. The router subscription is dropped with the last
// local subscription sharing it.
func (s *Session) Unsubscribe(ctx context.Context, sub *Subscription) error {
	s.opMu.Lock()
	defer s.opMu.Unlock()
	s.mu.Lock()
	e := sub.entry.Swap(nil)
	if e == nil {
		s.mu.Unlock()
		return nil
	}
	e.inline = slices.DeleteFunc(slices.Clone(e.inline), func(x *Subscription) bool { return x == sub })
	e.async = slices.DeleteFunc(slices.Clone(e.async), func(x *Subscription) bool { return x == sub })
	if !e.empty() {
		s.mu.Unlock()
		return nil
	}
	id := e.id.Load()
	delete(s.subKeys, e.key)
	if id != 0 {
		delete(s.subByID, id)
	}
	s.mu.Unlock()
	if id == 0 {
		return nil // not subscribed on the router right now
	}
	var m codec.Message
	m.Type = codec.Unsubscribe
	m.Subscription = id
	_, err := s.roundTrip(ctx, &m, nil)
	if err != nil {
		return fmt.Errorf("client: unsubscribe %s: %w", sub.topic, err)
	}
	return nil
}

// handleRevocation handles a router-initiated UNSUBSCRIBED or UNREGISTERED.
func (s *Session) handleRevocation(m *codec.Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m.Type == codec.Unsubscribed {
		id, _ := m.Details.Uint("subscription")
		if e := s.subByID[id]; e != nil {
			delete(s.subByID, id)
			delete(s.subKeys, e.key)
			for _, sub := range e.inline {
				sub.entry.Store(nil)
			}
			for _, sub := range e.async {
				sub.entry.Store(nil)
			}
			s.log.Info("router revoked subscription", "topic", e.key.topic)
		}
		return
	}
	id, _ := m.Details.Uint("registration")
	if r := s.regByID[id]; r != nil {
		delete(s.regByID, id)
		delete(s.regs, r)
		r.id.Store(0)
		s.log.Info("router revoked registration", "procedure", r.procedure)
	}
}

// Publish publishes args and kwargs (either may be nil) to topic. Without
// Acknowledge it returns once the message is written.
func (s *Session) Publish(ctx context.Context, topic string, args []any, kwargs map[string]any, opts PublishOptions) error {
	var m codec.Message
	m.ArgsAny = args
	m.KwAny = kwargs
	return s.publish(ctx, topic, &m, &opts)
}

// PublishRaw publishes a payload that is already encoded: args must be an
// encoded list and kw an encoded dict (either may have empty Bytes), both in
// the same serializer (transcoded when it differs from the session's). It
// does not decode or re-encode the payload when the serializers match.
func (s *Session) PublishRaw(ctx context.Context, topic string, args, kw codec.Raw, opts PublishOptions) error {
	var m codec.Message
	if err := setRawPayload(&m, args, kw); err != nil {
		return fmt.Errorf("client: publish %s: %w", topic, err)
	}
	return s.publish(ctx, topic, &m, &opts)
}

// setRawPayload puts pre-encoded arguments into m.
func setRawPayload(m *codec.Message, args, kw codec.Raw) error {
	if len(args.Bytes) > 0 && len(kw.Bytes) > 0 && args.Kind != kw.Kind {
		return fmt.Errorf("raw args (%v) and kwargs (%v) use different serializers", args.Kind, kw.Kind)
	}
	if len(args.Bytes) > 0 {
		m.Args = args.Bytes
		m.PayloadKind = args.Kind
	}
	if len(kw.Bytes) > 0 {
		m.Kw = kw.Bytes
		m.PayloadKind = kw.Kind
	}
	return nil
}

// Batch runs fn and writes the messages it sends (and those other goroutines
// send meanwhile) together when it returns: a burst of publications costs one
// write instead of one per message. fn must not wait for a reply (Call,
// acknowledged Publish, Subscribe...): requests stay buffered until fn
// returns, unless the buffer fills. Batch returns fn's error, or the write's.
func (s *Session) Batch(fn func() error) error {
	c := s.cur.Load()
	if c == nil {
		return s.notConnected()
	}
	c.tr.hold()
	err := fn()
	if rerr := c.tr.release(); err == nil && rerr != nil {
		err = fmt.Errorf("client: batch write: %w", rerr)
	}
	return err
}

var fieldPool = sync.Pool{New: func() any { f := make([]codec.Field, 0, 8); return &f }}

func (s *Session) publish(ctx context.Context, topic string, m *codec.Message, o *PublishOptions) error {
	m.Type = codec.Publish
	m.URI = bytesOf(topic)
	fp := fieldPool.Get().(*[]codec.Field)
	defer func() {
		clear(*fp)
		*fp = (*fp)[:0]
		fieldPool.Put(fp)
	}()
	f := (*fp)[:0]
	if o.Acknowledge {
		f = append(f, codec.Field{Key: "acknowledge", Value: codec.BoolValue(true)})
	}
	if o.ExcludeMe != nil {
		f = append(f, codec.Field{Key: "exclude_me", Value: codec.BoolValue(*o.ExcludeMe)})
	}
	if o.DiscloseMe {
		f = append(f, codec.Field{Key: "disclose_me", Value: codec.BoolValue(true)})
	}
	if o.Eligible != nil {
		f = append(f, codec.Field{Key: "eligible", Value: codec.AnyValue(o.Eligible)})
	}
	if o.Exclude != nil {
		f = append(f, codec.Field{Key: "exclude", Value: codec.AnyValue(o.Exclude)})
	}
	for _, l := range [...]struct {
		key  string
		list []string
	}{
		{"eligible_authid", o.EligibleAuthID}, {"exclude_authid", o.ExcludeAuthID},
		{"eligible_authrole", o.EligibleAuthRole}, {"exclude_authrole", o.ExcludeAuthRole},
	} {
		if l.list != nil {
			f = append(f, codec.Field{Key: l.key, Value: codec.AnyValue(l.list)})
		}
	}
	*fp = f
	m.Details.Fields = f

	if !o.Acknowledge {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("client: publish %s: %w", topic, err)
		}
		c := s.cur.Load()
		if c == nil {
			return s.notConnected()
		}
		m.Request = s.nextReq.Add(1)
		if err := c.send(m); err != nil {
			return fmt.Errorf("client: publish %s: %w", topic, err)
		}
		return nil
	}
	if _, err := s.roundTrip(ctx, m, nil); err != nil {
		return fmt.Errorf("client: publish %s: %w", topic, err)
	}
	return nil
}

// handleEvent runs on the receive goroutine.
func (s *Session) handleEvent(c *conn, m *codec.Message, ev *Event) {
	s.mu.RLock()
	e := s.subByID[m.Subscription]
	var inline, async []*Subscription
	if e != nil {
		inline, async = e.inline, e.async
	}
	s.mu.RUnlock()
	if e == nil {
		return // unsubscribed while the event was in flight
	}
	if len(inline) > 0 {
		fillEvent(ev, c.kind, e, m)
		decoded := false
		for _, sub := range inline {
			if !sub.opts.Raw && !decoded {
				ev.Args, ev.Kwargs, ev.DecodeErr = decodePayload(c.kind, m.Args, m.Kw)
				decoded = true
			}
			s.runEventHandler(sub, ev)
		}
		*ev = Event{}
	}
	if len(async) > 0 {
		s.events.push(eventItem{subs: async, entry: e, kind: c.kind, msg: retain(m)})
	}
}

func fillEvent(ev *Event, k codec.Kind, e *subEntry, m *codec.Message) {
	*ev = Event{
		Subscription: m.Subscription,
		Publication:  m.Publication,
		Topic:        e.key.topic,
		Details:      m.Details,
		ArgsRaw:      codec.Raw{Kind: k, Bytes: m.Args},
		KwRaw:        codec.Raw{Kind: k, Bytes: m.Kw},
	}
	ev.Publisher, _ = m.Details.Uint("publisher")
	if e.key.match != MatchExact {
		if t, ok := m.Details.String("topic"); ok {
			ev.Topic = t
		}
	}
}

func (s *Session) runEventHandler(sub *Subscription, ev *Event) {
	s.enterUser()
	defer s.leaveUser()
	defer s.recoverUser("event handler for " + sub.topic)
	sub.handler(ev)
}

// eventItem is one event waiting for its asynchronous handlers.
type eventItem struct {
	subs  []*Subscription
	entry *subEntry
	kind  codec.Kind
	msg   *codec.Message
}

// eventQueue is an unbounded FIFO between the receive goroutine and the
// dispatch goroutine. Unbounded so that a handler that calls the session
// (whose replies the receive goroutine must read) can never deadlock it.
type eventQueue struct {
	mu     sync.Mutex
	cond   *sync.Cond
	items  []eventItem
	closed bool
}

func (q *eventQueue) init() { q.cond = sync.NewCond(&q.mu) }

func (q *eventQueue) push(it eventItem) {
	q.mu.Lock()
	q.items = append(q.items, it)
	q.mu.Unlock()
	q.cond.Signal()
}

func (q *eventQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.cond.Broadcast()
}

// pop moves all queued items into batch; ok is false once closed and drained.
func (q *eventQueue) pop(batch []eventItem) ([]eventItem, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.items) == 0 && !q.closed {
		q.cond.Wait()
	}
	if len(q.items) == 0 {
		return batch, false
	}
	batch = append(batch, q.items...)
	clear(q.items)
	q.items = q.items[:0]
	return batch, true
}

// dispatchEvents runs asynchronous event handlers in arrival order.
func (s *Session) dispatchEvents() {
	var batch []eventItem
	var ev Event
	for {
		var ok bool
		batch, ok = s.events.pop(batch[:0])
		if !ok {
			return
		}
		for i := range batch {
			it := &batch[i]
			fillEvent(&ev, it.kind, it.entry, it.msg)
			decoded := false
			for _, sub := range it.subs {
				if sub.entry.Load() == nil {
					continue // unsubscribed after the event was queued
				}
				if !sub.opts.Raw && !decoded {
					ev.Args, ev.Kwargs, ev.DecodeErr = decodePayload(it.kind, it.msg.Args, it.msg.Kw)
					decoded = true
				}
				s.runEventHandler(sub, &ev)
			}
			*it = eventItem{}
		}
	}
}
