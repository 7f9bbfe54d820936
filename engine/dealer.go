package engine

import (
	"sync"
	"sync/atomic"

	"github.com/wampd/wampd/codec"
)

// dealer routes calls of one realm.
type dealer struct {
	r     *Router
	exact *shardedMap[*registration]
	// Extension point: prefix/wildcard registrations in tries (trie.go).
}

// registration is one procedure and its callee.
// Extension point: shared registrations hold several callees and an invoke
// policy (single, roundrobin, random, first, last) chosen in pick().
type registration struct {
	id        codec.ID
	procedure string
	callee    *session
	// ready is set once REGISTERED is queued: until then calls see no
	// procedure, so no INVOCATION can overtake the REGISTERED naming its ID.
	ready atomic.Bool
}

// pick chooses the callee of one invocation.
func (r *registration) pick() *session { return r.callee }

func newDealer(r *Router) *dealer {
	return &dealer{r: r, exact: newShardedMap[*registration]()}
}

// pendingCall is one CALL between CALL and its RESULT/ERROR. It sits in two
// tables: the caller's calls (by CALL.Request) and the callee's invs (by
// INVOCATION.Request). Each table holds one reference; whoever removes it
// from a table releases that reference when done with it, and the last
// release returns it to the pool. Whoever removes it from the caller's table
// owns the answer to the caller: exactly one RESULT or ERROR is sent.
//
// Extension point: progressive results (keep it in place on progress),
// timeouts (a timer that takes it from the caller's table), cancel (an
// INTERRUPT to the callee), caller disclosure.
type pendingCall struct {
	caller    *session
	callerReq codec.ID
	callee    *session
	refs      atomic.Int32
}

var pendingPool = sync.Pool{New: func() any { return new(pendingCall) }}

func (pc *pendingCall) release() {
	if pc.refs.Add(-1) == 0 {
		*pc = pendingCall{}
		pendingPool.Put(pc)
	}
}

// takeCall removes pc from its caller's table; true means the caller still
// waits and the taker owns the answer (and a reference to release).
func takeCall(caller *session, req codec.ID, pc *pendingCall) bool {
	caller.mu.Lock()
	owned := caller.calls[req] == pc && pc != nil
	if owned {
		delete(caller.calls, req)
	}
	caller.mu.Unlock()
	return owned
}

func (p *peer) register(s *session, m *codec.Message) {
	if match, ok := m.Details.StringBytes("match", nil); ok && string(match) != "exact" {
		p.replyError(codec.Register, m.Request, uriInvalidArgument, "match policy not supported")
		return
	}
	if invoke, ok := m.Details.StringBytes("invoke", nil); ok && string(invoke) != "single" {
		p.replyError(codec.Register, m.Request, uriInvalidArgument, "invoke policy not supported")
		return
	}
	if !validURI(m.URI) {
		p.replyError(codec.Register, m.Request, uriInvalidURI, "invalid procedure URI")
		return
	}
	if az := s.realm.authorizer; az != nil && !az.Authorize(&s.ident, ActionRegister, m.URI) {
		p.replyError(codec.Register, m.Request, uriNotAuthorized, "not authorized to register")
		return
	}
	d := s.realm.dealer
	sh := d.exact.shardOf(m.URI)
	sh.mu.Lock()
	if _, exists := sh.m[string(m.URI)]; exists {
		sh.mu.Unlock()
		p.replyError(codec.Register, m.Request, uriProcedureExists, "")
		return
	}
	reg := &registration{id: d.r.nextRouterID(), procedure: string(m.URI), callee: s}
	sh.m[reg.procedure] = reg
	sh.mu.Unlock()
	s.regs[reg.id] = reg

	r := &p.out
	r.Reset()
	r.Type = codec.Registered
	r.Request = m.Request
	r.Registration = reg.id
	p.reply(r)
	reg.ready.Store(true)
}

func (d *dealer) unregister(reg *registration) {
	key := []byte(reg.procedure)
	sh := d.exact.shardOf(key)
	sh.mu.Lock()
	if sh.m[reg.procedure] == reg {
		delete(sh.m, reg.procedure)
	}
	sh.mu.Unlock()
}

func (p *peer) unregister(s *session, m *codec.Message) {
	reg, ok := s.regs[m.Registration]
	if !ok {
		p.replyError(codec.Unregister, m.Request, uriNoSuchRegistration, "")
		return
	}
	delete(s.regs, m.Registration)
	s.realm.dealer.unregister(reg)
	r := &p.out
	r.Reset()
	r.Type = codec.Unregistered
	r.Request = m.Request
	p.reply(r)
}

// call routes one CALL to its callee as an INVOCATION. No allocation: the
// pendingCall comes from a pool and the tables are long-lived maps.
func (p *peer) call(s *session, m *codec.Message) {
	req := m.Request
	if !validURI(m.URI) {
		p.replyError(codec.Call, req, uriInvalidURI, "invalid procedure URI")
		return
	}
	if az := s.realm.authorizer; az != nil && !az.Authorize(&s.ident, ActionCall, m.URI) {
		p.replyError(codec.Call, req, uriNotAuthorized, "not authorized to call")
		return
	}
	reg, ok := s.realm.dealer.exact.get(m.URI)
	if !ok || !reg.ready.Load() {
		p.replyError(codec.Call, req, uriNoSuchProcedure, "")
		return
	}
	callee := reg.pick()

	pc := pendingPool.Get().(*pendingCall)
	pc.caller, pc.callerReq, pc.callee = s, req, callee
	pc.refs.Store(2)

	s.mu.Lock()
	if _, dup := s.calls[req]; dup {
		s.mu.Unlock()
		*pc = pendingCall{}
		pendingPool.Put(pc)
		p.violation("CALL reuses the request ID of a call in flight")
		return
	}
	s.calls[req] = pc
	s.mu.Unlock()

	callee.mu.Lock()
	if callee.closed {
		callee.mu.Unlock()
		if takeCall(s, req, pc) {
			pc.release()
		}
		pc.release() // the callee's reference: it never got it
		p.replyError(codec.Call, req, uriNoSuchProcedure, "")
		return
	}
	callee.nextInv++
	if callee.nextInv > codec.MaxID {
		callee.nextInv = 1
	}
	inv := callee.nextInv
	callee.invs[inv] = pc
	callee.mu.Unlock()
	// From here pc may be answered and recycled by other loops at any time:
	// only the locals are used below.

	iv := &p.out
	iv.Reset()
	iv.Type = codec.Invocation
	iv.Request = inv
	iv.Registration = reg.id
	iv.Args, iv.Kw, iv.PayloadKind = m.Args, m.Kw, m.PayloadKind
	if p.send(callee.conn, callee.kind, iv) {
		return
	}
	// The callee is not reading: take the invocation back and fail the call
	// now rather than let the caller wait for an answer that cannot come.
	callee.mu.Lock()
	mine := callee.invs[inv] == pc
	if mine {
		delete(callee.invs, inv)
	}
	callee.mu.Unlock()
	if !mine {
		return // the callee left meanwhile and answered the caller itself
	}
	if takeCall(s, req, pc) {
		p.replyError(codec.Call, req, uriCanceled, "callee is not accepting invocations (overloaded or gone)")
		pc.release()
	}
	pc.release()
}

// yield answers a call with the callee's result.
func (p *peer) yield(s *session, m *codec.Message) {
	pc := s.takeInvocation(m.Request)
	if pc == nil {
		return // unknown or already answered (caller left): dropped, not a violation
	}
	caller, req := pc.caller, pc.callerReq
	if takeCall(caller, req, pc) {
		r := &p.out
		r.Reset()
		r.Type = codec.Result
		r.Request = req
		r.Args, r.Kw, r.PayloadKind = m.Args, m.Kw, m.PayloadKind
		if !p.send(caller.conn, caller.kind, r) {
			caller.conn.Close() // the caller is not reading its results
		}
		pc.release()
	}
	pc.release()
}

// invocationError forwards a callee's ERROR to the caller, with its URI,
// Arguments and ArgumentsKw.
func (p *peer) invocationError(s *session, m *codec.Message) {
	pc := s.takeInvocation(m.Request)
	if pc == nil {
		return
	}
	caller, req := pc.caller, pc.callerReq
	if takeCall(caller, req, pc) {
		e := &p.out
		e.Reset()
		e.Type = codec.Error
		e.ErrorType = codec.Call
		e.Request = req
		e.URI = m.URI
		e.Args, e.Kw, e.PayloadKind = m.Args, m.Kw, m.PayloadKind
		if !p.send(caller.conn, caller.kind, e) {
			caller.conn.Close()
		}
		pc.release()
	}
	pc.release()
}

func (s *session) takeInvocation(inv codec.ID) *pendingCall {
	s.mu.Lock()
	pc := s.invs[inv]
	if pc != nil {
		delete(s.invs, inv)
	}
	s.mu.Unlock()
	return pc
}

// sendCallError sends ERROR for CALL req to caller (from any session's loop).
func (p *peer) sendCallError(caller *session, req codec.ID, uri []byte, message string) {
	e := &p.out
	e.Reset()
	e.Type = codec.Error
	e.ErrorType = codec.Call
	e.Request = req
	e.URI = uri
	e.ArgsAny = []any{message}
	if !p.send(caller.conn, caller.kind, e) {
		caller.conn.Close()
	}
}
