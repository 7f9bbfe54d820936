package engine

import (
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/wampd/wampd/codec"
)

// session is one joined WAMP session. A new session is made for every join,
// so pointers to an ended session (in pending calls, subscriber lists) can
// never be confused with a later session on the same connection.
type session struct {
	id    codec.ID
	realm *realm
	peer  *peer
	conn  Conn
	kind  codec.Kind
	ident Identity

	// internal marks the realm's own router session (meta events,
	// testaments): not listed, not counted, never subject to the Authorizer.
	internal bool

	// gone is set when the session leaves; publishers skip gone members
	// that are still in a subscriber list they loaded.
	gone atomic.Bool
	// detached is set by whoever first detaches the session from its realm
	// (detach: leave on its loop, or a kill from another loop), so that
	// testaments and wamp.session.on_leave are published exactly once.
	detached atomic.Bool
	// joinEvent orders wamp.session.on_join before on_leave when the two
	// race (an Authenticator answering on another goroutine while the
	// transport closes): joinPending, then joinPublished by publishJoin or
	// leftBeforeJoin by detach, in which case publishJoin sends on_leave too.
	joinEvent atomic.Int32
	// droppedEvents counts EVENTs not queued because the connection was
	// over its bound (slow consumer); for the meta API.
	droppedEvents atomic.Uint64

	// Loop-owned: only this session's connection loop touches them.
	subs map[codec.ID]*subscription // by subscription ID
	regs map[codec.ID]*registration // by registration ID

	mu      sync.Mutex // guards the fields below (other loops answer and invoke)
	closed  bool
	calls   map[codec.ID]*pendingCall // calls this session made, by CALL.Request
	invs    map[codec.ID]*pendingCall // invocations sent to it, by INVOCATION.Request
	nextInv codec.ID                  // INVOCATION request IDs: session scope, sequential

	dl dealerSession // dealer state: announced features, progressive call streams
	// testaments by scope (testamentDetached, testamentDestroyed), in the
	// order they were added; published by detach.
	testaments [2][]testament
}

// DroppedEvents is the number of EVENTs dropped for this session.
func (s *session) DroppedEvents() uint64 { return s.droppedEvents.Load() }

// dropEvent counts an EVENT this session did not get (slow consumer, or a
// payload its serializer cannot carry). It logs the 1st, 2nd, 4th, 8th, ...
// drop: an operator sees every slow consumer without a log line per event.
func (s *session) dropEvent(log *slog.Logger) {
	n := s.droppedEvents.Add(1)
	if n&(n-1) == 0 {
		log.Warn("slow consumer: events dropped", "realm", s.realm.name, "session", s.id, "authid", s.ident.AuthID, "dropped", n)
	}
}

// handleSession dispatches a message of an established session.
func (p *peer) handleSession(s *session, m *codec.Message) {
	if s == nil {
		return
	}
	switch m.Type {
	case codec.Publish:
		if isMetaURI(m.URI) {
			// Only the router publishes in wamp.*: a client must not be
			// able to fake wamp.session.on_leave and the like.
			if ack, _ := m.Details.Bool("acknowledge"); ack {
				p.replyError(codec.Publish, m.Request, uriInvalidURI, "topics starting with wamp. are reserved for the router")
			}
			return
		}
		p.publish(s, m)
	case codec.Subscribe:
		p.subscribe(s, m)
	case codec.Unsubscribe:
		p.unsubscribe(s, m)
	case codec.Call:
		if isMetaURI(m.URI) && p.callMeta(s, m) {
			return
		}
		p.call(s, m)
	case codec.Yield:
		p.yield(s, m)
	case codec.Error:
		if m.ErrorType != codec.Invocation {
			p.violation("ERROR for a request type a client cannot answer")
			return
		}
		p.invocationError(s, m)
	case codec.Register:
		if isMetaURI(m.URI) {
			p.replyError(codec.Register, m.Request, uriInvalidURI, "procedures starting with wamp. are reserved for the router")
			return
		}
		p.register(s, m)
	case codec.Unregister:
		p.unregister(s, m)
	case codec.Goodbye:
		p.handleGoodbye(s)
	case codec.Cancel:
		p.cancel(s, m)
	case codec.Hello:
		p.violation("HELLO in an established session")
	default:
		p.violation("unexpected message type from a client")
	}
}

// leave ends s: its subscriptions and registrations vanish, calls it made
// are forgotten, and callers waiting on its invocations get ERROR canceled.
// Runs on s's loop (Handle or Closed).
func (p *peer) leave(s *session, why string) {
	s.detach()
	for id, sub := range s.subs {
		s.realm.broker.unsubscribe(s, sub)
		delete(s.subs, id)
	}
	p.dealerLeave(s) // registrations, calls made, invocations pending (dealer_call.go)
	p.r.log.Info("session left", "realm", s.realm.name, "session", s.id, "authid", s.ident.AuthID, "why", why)
}

// detach takes s out of its realm: it is no longer listed, counted or
// delivered to; then its testaments (detached scope first, then destroyed:
// without session resumption both happen now) and wamp.session.on_leave are
// published. Only the first call does anything. Safe from any goroutine
// (leave on s's loop, or a kill on the killer's loop); no lock held.
func (s *session) detach() { s.detachWith(true) }

// detachWith is detach; events false drops the testaments and on_leave
// unpublished (wamp.session.kill_all, per spec: nobody is left to tell).
func (s *session) detachWith(events bool) {
	if s.detached.Swap(true) {
		return
	}
	s.gone.Store(true)
	s.realm.remove(s)
	s.mu.Lock()
	ts := s.testaments
	s.testaments = [2][]testament{}
	s.mu.Unlock()
	if !events {
		s.joinEvent.CompareAndSwap(joinPending, leftQuietly)
		return
	}
	for _, scope := range ts {
		for _, t := range scope {
			s.realm.publishInternal(t.topic, t.args, t.kw, t.opts)
		}
	}
	if !s.joinEvent.CompareAndSwap(joinPending, leftBeforeJoin) {
		s.publishLeave()
	}
}

// joinEvent states.
const (
	joinPending int32 = iota
	joinPublished
	leftBeforeJoin // publishJoin owes on_leave after on_join
	leftQuietly    // left without events: publishJoin owes nothing more
)

// publishJoin publishes wamp.session.on_join for a session that just
// joined, and on_leave right after it if the session already left.
func (s *session) publishJoin() {
	s.realm.publishMeta(topicOnJoin, []any{sessionDetails(s)}, nil)
	if !s.joinEvent.CompareAndSwap(joinPending, joinPublished) && s.joinEvent.Load() == leftBeforeJoin {
		s.publishLeave()
	}
}

func (s *session) publishLeave() {
	s.realm.publishMeta(topicOnLeave, []any{s.id, s.ident.AuthID, s.ident.AuthRole}, nil)
}

// replyError sends ERROR for a request of this connection's session.
func (p *peer) replyError(reqType codec.Type, req codec.ID, uri []byte, message string) {
	e := &p.out
	e.Reset()
	e.Type = codec.Error
	e.ErrorType = reqType
	e.Request = req
	e.URI = uri
	if message != "" {
		e.ArgsAny = []any{message}
	}
	p.reply(e)
}

// reply sends a message to this connection's own client. A client that is
// not reading its replies is closed (see the back-pressure policy in doc.go).
func (p *peer) reply(m *codec.Message) {
	if !p.send(p.conn, p.kind, m) {
		p.conn.Close()
	}
}
