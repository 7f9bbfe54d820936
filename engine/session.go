package engine

import (
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

	// gone is set when the session leaves; publishers skip gone members
	// that are still in a subscriber list they loaded.
	gone atomic.Bool
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
}

// DroppedEvents is the number of EVENTs dropped for this session.
func (s *session) DroppedEvents() uint64 { return s.droppedEvents.Load() }

// handleSession dispatches a message of an established session.
func (p *peer) handleSession(s *session, m *codec.Message) {
	if s == nil {
		return
	}
	switch m.Type {
	case codec.Publish:
		p.publish(s, m)
	case codec.Subscribe:
		p.subscribe(s, m)
	case codec.Unsubscribe:
		p.unsubscribe(s, m)
	case codec.Call:
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
		p.register(s, m)
	case codec.Unregister:
		p.unregister(s, m)
	case codec.Goodbye:
		p.handleGoodbye(s)
	case codec.Cancel:
		// call_canceling is not advertised yet; a client that sends CANCEL
		// anyway gets its RESULT or ERROR when the callee answers.
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
	s.gone.Store(true)
	s.realm.remove(s)
	for id, sub := range s.subs {
		s.realm.broker.unsubscribe(s, sub)
		delete(s.subs, id)
	}
	for id, reg := range s.regs {
		s.realm.dealer.unregister(reg)
		delete(s.regs, id)
	}

	s.mu.Lock()
	s.closed = true
	calls, invs := s.calls, s.invs
	s.calls, s.invs = nil, nil
	s.mu.Unlock()

	for _, pc := range calls {
		pc.release() // forgotten: a late YIELD finds no caller and is dropped
	}
	for _, pc := range invs {
		if takeCall(pc.caller, pc.callerReq, pc) {
			p.sendCallError(pc.caller, pc.callerReq, uriCanceled, "callee disconnected")
			pc.release()
		}
		pc.release()
	}
	p.r.log.Info("session left", "realm", s.realm.name, "session", s.id, "authid", s.ident.AuthID, "why", why)
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
