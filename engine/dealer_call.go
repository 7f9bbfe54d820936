package engine

import (
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wampd/wampd/codec"
)

// pendingCall is one CALL between CALL and its final RESULT/ERROR. It sits
// in two tables: the caller's calls (by CALL.Request) and the callee's invs
// (by INVOCATION.Request). Each table holds one reference, and a running
// timeout timer a third; whoever removes it from a table (or stops the
// timer) releases that reference when done with it, and the last release
// returns it to the pool. Whoever removes it from the caller's table owns
// the answer to the caller: exactly one final RESULT or ERROR is sent.
//
// Fields above refs are written before the call is published in the tables
// and read-only afterwards, except inv (written under the callee's mu) and
// streaming/canceling (caller's mu).
type pendingCall struct {
	caller    *session
	callerReq codec.ID
	callee    *session
	regID     codec.ID
	inv       codec.ID // INVOCATION.Request at the callee
	// progress: the caller asked for progressive results (receive_progress).
	progress bool
	// disclose: INVOCATIONs carry the caller's identity.
	disclose bool
	// procedure is the concrete URI of a progressive-invocation call to a
	// pattern registration (later chunks repeat it in Details.procedure).
	procedure string
	// timer is the call_timeout timer (nil without timeout), set under the
	// caller's mu in the same critical section that publishes the call.
	timer *time.Timer

	refs atomic.Int32

	streaming bool // caller's mu: progressive invocations still coming
	canceling bool // caller's mu: a CANCEL mode=kill INTERRUPT was sent

	// answerMu orders progressive RESULTs (callee's loop) before a final
	// answer sent by someone else (cancel on the caller's loop, timeout on
	// a timer). Taken only for calls with progress.
	answerMu sync.Mutex
}

var pendingPool = sync.Pool{New: func() any { return new(pendingCall) }}

func (pc *pendingCall) release() {
	if pc.refs.Add(-1) == 0 {
		pc.reset()
		pendingPool.Put(pc)
	}
}

func (pc *pendingCall) reset() {
	pc.caller, pc.callee = nil, nil
	pc.callerReq, pc.regID, pc.inv = 0, 0, 0
	pc.progress, pc.disclose, pc.streaming, pc.canceling = false, false, false, false
	pc.procedure = ""
	pc.timer = nil
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

// claim takes pc from its caller's table and stops its timer: true means
// the claimer owns the answer and the caller-table reference. The claimer
// must hold a reference of its own while calling it.
func (pc *pendingCall) claim() bool {
	if !takeCall(pc.caller, pc.callerReq, pc) {
		return false
	}
	if t := pc.timer; t != nil && t.Stop() {
		pc.release() // the timer's reference: it will never run
	}
	return true
}

// takeInvocationOf removes pc from its callee's table; it returns the
// INVOCATION request ID, or 0 when the invocation was already answered or
// taken. The caller of takeInvocationOf then owns the callee-table reference.
func takeInvocationOf(pc *pendingCall) codec.ID {
	callee := pc.callee
	callee.mu.Lock()
	inv := pc.inv
	if inv == 0 || callee.invs[inv] != pc {
		inv = 0
	} else {
		delete(callee.invs, inv)
	}
	callee.mu.Unlock()
	return inv
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

const maxTimeoutMs = uint64(math.MaxInt64 / int64(time.Millisecond))

// callOptions are the CALL.Options the dealer acts on.
type callOptions struct {
	receiveProgress bool
	progress        bool
	discloseMe      bool
	ppt             bool
	timeout         uint64 // ms
}

func readCallOptions(d codec.Dict) (o callOptions) {
	if len(d.Raw.Bytes) <= 2 {
		return o // {} in every serializer: the common case costs nothing
	}
	o.receiveProgress, _ = d.Bool("receive_progress")
	o.progress, _ = d.Bool("progress")
	o.discloseMe, _ = d.Bool("disclose_me")
	o.timeout, _ = d.Uint("timeout")
	if o.timeout > maxTimeoutMs {
		o.timeout = maxTimeoutMs // a Duration cannot hold more; that is centuries anyway
	}
	_, o.ppt = d.Lookup("ppt_scheme")
	return o
}

var (
	uriFeatureNotSupported = []byte("wamp.error.feature_not_supported")
	uriTimeout             = []byte("wamp.error.timeout")
)

// call routes one CALL to a callee as an INVOCATION. No allocation for a
// plain call: the pendingCall comes from a pool and the tables are
// long-lived maps; a timeout costs a timer only when asked for.
func (p *peer) call(s *session, m *codec.Message) {
	req := m.Request
	if s.dl.streams != nil {
		if _, ok := s.dl.streams[req]; ok {
			p.callChunk(s, m)
			return
		}
	}
	if !validURI(m.URI) {
		p.replyError(codec.Call, req, uriInvalidURI, "invalid procedure URI")
		return
	}
	if az := s.realm.authorizer; az != nil && !az.Authorize(&s.ident, ActionCall, m.URI) {
		p.replyError(codec.Call, req, uriNotAuthorized, "not authorized to call")
		return
	}
	o := readCallOptions(m.Details)
	// A caller sending progress=true without announcing
	// progressive_call_invocations is accepted (the spec would abort it):
	// wampy's progressiveCall does exactly that. What matters is that the
	// callee understands the chunks, which is checked below.
	if o.ppt && s.dl.feat&featCallerPPT == 0 {
		p.violation("CALL with ppt_scheme from a caller that did not announce payload_passthru_mode")
		return
	}
	reg, ok := s.realm.dealer.lookup(m.URI)
	var c *callee
	if ok {
		c = reg.pick()
	}
	if c == nil {
		p.replyError(codec.Call, req, uriNoSuchProcedure, "")
		return
	}
	callee := c.s
	if o.progress && callee.dl.feat&(featCalleeProgInv|featCalleeCancel) != featCalleeProgInv|featCalleeCancel {
		p.replyError(codec.Call, req, uriFeatureNotSupported, "the callee does not support progressive call invocations")
		return
	}
	if o.ppt && callee.dl.feat&featCalleePPT == 0 {
		p.replyError(codec.Call, req, uriFeatureNotSupported, "the callee does not support payload_passthru_mode")
		return
	}

	pc := pendingPool.Get().(*pendingCall)
	pc.caller, pc.callerReq, pc.callee, pc.regID = s, req, callee, reg.id
	pc.progress = o.receiveProgress
	pc.disclose = o.discloseMe || c.discloseCaller
	pc.streaming = o.progress
	if o.progress && reg.match != MatchExact {
		pc.procedure = string(m.URI)
	}
	pc.refs.Store(2)

	s.mu.Lock()
	if _, dup := s.calls[req]; dup {
		s.mu.Unlock()
		pc.reset()
		pendingPool.Put(pc)
		p.violation("CALL reuses the request ID of a call in flight")
		return
	}
	s.calls[req] = pc
	if o.timeout > 0 {
		pc.refs.Add(1) // the timer's
		pc.timer = time.AfterFunc(time.Duration(o.timeout)*time.Millisecond, func() { expire(pc) })
	}
	s.mu.Unlock()
	if o.progress {
		s.dl.addStream(s, req)
	}

	callee.mu.Lock()
	if callee.closed {
		callee.mu.Unlock()
		if o.progress {
			delete(s.dl.streams, req)
		}
		pc.refs.Add(1) // hold it while claiming
		if pc.claim() {
			p.replyError(codec.Call, req, uriNoSuchProcedure, "")
			pc.release()
		}
		pc.release() // the callee's reference: it never got it
		pc.release()
		return
	}
	callee.nextInv++
	if callee.nextInv > codec.MaxID {
		callee.nextInv = 1
	}
	inv := callee.nextInv
	pc.inv = inv
	callee.invs[inv] = pc
	callee.mu.Unlock()
	// From here pc may be answered and recycled by other loops at any time:
	// only the locals are used below.

	iv := &p.out
	iv.Reset()
	iv.Type = codec.Invocation
	iv.Request = inv
	iv.Registration = reg.id
	var proc []byte
	if reg.match != MatchExact {
		proc = m.URI
	}
	iv.Details.Fields = invocationDetails(iv.Details.Fields, s, m.Details, invDetails{
		procedure: proc, disclose: o.discloseMe || c.discloseCaller,
		receiveProgress: o.receiveProgress, progress: o.progress, ppt: o.ppt,
	})
	iv.Args, iv.Kw, iv.PayloadKind = m.Args, m.Kw, m.PayloadKind
	if p.send(callee.conn, callee.kind, iv) {
		return
	}
	p.invocationRefused(callee, inv, pc)
}

// invocationRefused fails a call whose INVOCATION the callee's connection
// did not queue: the invocation is taken back and the caller gets an error
// now rather than wait for an answer that cannot come.
func (p *peer) invocationRefused(callee *session, inv codec.ID, pc *pendingCall) {
	callee.mu.Lock()
	mine := callee.invs[inv] == pc
	if mine {
		delete(callee.invs, inv)
	}
	callee.mu.Unlock()
	if !mine {
		return // the callee left or the call timed out meanwhile: answered there
	}
	caller, req := pc.caller, pc.callerReq
	if pc.claim() {
		p.answerError(pc, caller, req, uriCanceled, "callee is not accepting invocations (overloaded or gone)")
		pc.release()
	}
	pc.release()
}

// callChunk forwards a later CALL of a progressive call invocation to the
// callee of the first one, with the same INVOCATION request ID.
func (p *peer) callChunk(s *session, m *codec.Message) {
	req := m.Request
	progress, _ := m.Details.Bool("progress")
	if !progress {
		delete(s.dl.streams, req) // the final chunk
		if len(s.dl.streams) == 0 {
			s.dl.streams = nil
		}
	}
	s.mu.Lock()
	pc := s.calls[req]
	if pc != nil && !pc.streaming {
		pc = nil
	}
	var (
		callee          *session
		inv, regID      codec.ID
		disclose, recvP bool
		procedure       string
	)
	if pc != nil {
		pc.refs.Add(1)
		callee, inv, regID = pc.callee, pc.inv, pc.regID
		disclose, recvP, procedure = pc.disclose, pc.progress, pc.procedure
		if !progress {
			pc.streaming = false
		}
	}
	s.mu.Unlock()
	if pc == nil {
		return // the call ended (error, cancel, timeout): late chunks are dropped
	}
	iv := &p.out
	iv.Reset()
	iv.Type = codec.Invocation
	iv.Request = inv
	iv.Registration = regID
	var proc []byte
	if procedure != "" {
		proc = []byte(procedure)
	}
	_, ppt := m.Details.Lookup("ppt_scheme")
	iv.Details.Fields = invocationDetails(iv.Details.Fields, s, m.Details, invDetails{
		procedure: proc, disclose: disclose, receiveProgress: recvP, progress: progress, ppt: ppt,
	})
	iv.Args, iv.Kw, iv.PayloadKind = m.Args, m.Kw, m.PayloadKind
	if !p.send(callee.conn, callee.kind, iv) {
		p.invocationRefused(callee, inv, pc)
	}
	pc.release()
}

// invDetails are the INVOCATION.Details the dealer adds.
type invDetails struct {
	procedure       []byte // pattern registrations: the URI called
	disclose        bool
	receiveProgress bool
	progress        bool
	ppt             bool // copy the ppt_* options
}

var pptKeys = [...]string{"ppt_scheme", "ppt_serializer", "ppt_cipher", "ppt_keyid"}

// appendPPT copies the payload passthru attributes of opts, untouched.
func appendPPT(f []codec.Field, opts codec.Dict) []codec.Field {
	for _, k := range pptKeys {
		if r, ok := opts.Lookup(k); ok {
			f = append(f, codec.Field{Key: k, Value: codec.RawValue(r)})
		}
	}
	return f
}

func invocationDetails(f []codec.Field, caller *session, opts codec.Dict, d invDetails) []codec.Field {
	if d.procedure != nil {
		f = append(f, codec.Field{Key: "procedure", Value: codec.StringBytesValue(d.procedure)})
	}
	if d.receiveProgress {
		f = append(f, codec.Field{Key: "receive_progress", Value: codec.BoolValue(true)})
	}
	if d.progress {
		f = append(f, codec.Field{Key: "progress", Value: codec.BoolValue(true)})
	}
	if d.disclose {
		f = append(f,
			codec.Field{Key: "caller", Value: codec.UintValue(caller.id)},
			codec.Field{Key: "caller_authid", Value: codec.StringValue(caller.ident.AuthID)},
			codec.Field{Key: "caller_authrole", Value: codec.StringValue(caller.ident.AuthRole)})
	}
	if d.ppt {
		f = appendPPT(f, opts)
	}
	return f
}

// yield answers a call with the callee's result (final or progressive).
func (p *peer) yield(s *session, m *codec.Message) {
	var progress, ppt bool
	if len(m.Details.Raw.Bytes) > 2 {
		progress, _ = m.Details.Bool("progress")
		_, ppt = m.Details.Lookup("ppt_scheme")
		if ppt && s.dl.feat&featCalleePPT == 0 {
			p.violation("YIELD with ppt_scheme from a callee that did not announce payload_passthru_mode")
			return
		}
	}
	if progress {
		p.yieldProgress(s, m, ppt)
		return
	}
	pc := s.takeInvocation(m.Request)
	if pc == nil {
		return // unknown or already answered (caller left, canceled): dropped
	}
	caller, req := pc.caller, pc.callerReq
	if ppt && caller.dl.feat&featCallerPPT == 0 {
		p.replyError(codec.Yield, m.Request, uriFeatureNotSupported, "the caller does not support payload_passthru_mode")
		if pc.claim() {
			p.answerError(pc, caller, req, uriFeatureNotSupported, "the callee answered in payload_passthru_mode")
			pc.release()
		}
		pc.release()
		return
	}
	if pc.claim() {
		r := &p.out
		r.Reset()
		r.Type = codec.Result
		r.Request = req
		if ppt {
			r.Details.Fields = appendPPT(r.Details.Fields, m.Details)
		}
		r.Args, r.Kw, r.PayloadKind = m.Args, m.Kw, m.PayloadKind
		p.answer(pc, caller, r)
		pc.release()
	}
	pc.release()
}

// yieldProgress forwards a progressive result while the call goes on. The
// caller must have asked for progress; otherwise it is dropped.
func (p *peer) yieldProgress(s *session, m *codec.Message, ppt bool) {
	s.mu.Lock()
	pc := s.invs[m.Request]
	if pc != nil {
		pc.refs.Add(1)
	}
	s.mu.Unlock()
	if pc == nil {
		return
	}
	if pc.progress {
		caller, req := pc.caller, pc.callerReq
		pc.answerMu.Lock()
		caller.mu.Lock()
		live := caller.calls[req] == pc
		caller.mu.Unlock()
		if live {
			r := &p.out
			r.Reset()
			r.Type = codec.Result
			r.Request = req
			r.Details.Fields = append(r.Details.Fields, codec.Field{Key: "progress", Value: codec.BoolValue(true)})
			if ppt {
				r.Details.Fields = appendPPT(r.Details.Fields, m.Details)
			}
			r.Args, r.Kw, r.PayloadKind = m.Args, m.Kw, m.PayloadKind
			if !p.send(caller.conn, caller.kind, r) {
				caller.conn.Close() // the caller is not reading its results
			}
		}
		pc.answerMu.Unlock()
	}
	pc.release()
}

// answer sends the final RESULT or ERROR m of pc to its caller (the
// claimer's job), after any progressive result being sent.
func (p *peer) answer(pc *pendingCall, caller *session, m *codec.Message) {
	if pc.progress {
		pc.answerMu.Lock()
		defer pc.answerMu.Unlock()
	}
	if !p.send(caller.conn, caller.kind, m) {
		caller.conn.Close() // the caller is not reading its results
	}
}

// answerError sends ERROR for CALL req with a router-made message.
func (p *peer) answerError(pc *pendingCall, caller *session, req codec.ID, uri []byte, message string) {
	e := &p.out
	e.Reset()
	e.Type = codec.Error
	e.ErrorType = codec.Call
	e.Request = req
	e.URI = uri
	e.ArgsAny = []any{message}
	p.answer(pc, caller, e)
}

// invocationError forwards a callee's ERROR to the caller, with its URI,
// Arguments, ArgumentsKw and ppt_* details.
func (p *peer) invocationError(s *session, m *codec.Message) {
	pc := s.takeInvocation(m.Request)
	if pc == nil {
		return
	}
	caller, req := pc.caller, pc.callerReq
	if pc.claim() {
		e := &p.out
		e.Reset()
		e.Type = codec.Error
		e.ErrorType = codec.Call
		e.Request = req
		e.URI = m.URI
		if len(m.Details.Raw.Bytes) > 2 {
			if _, ppt := m.Details.Lookup("ppt_scheme"); ppt {
				e.Details.Fields = appendPPT(e.Details.Fields, m.Details)
			}
		}
		e.Args, e.Kw, e.PayloadKind = m.Args, m.Kw, m.PayloadKind
		p.answer(pc, caller, e)
		pc.release()
	}
	pc.release()
}

// Cancel modes (CANCEL.Options.mode).
const (
	cancelSkip = iota
	cancelKill
	cancelKillNoWait
)

// cancel handles CANCEL: skip answers the caller at once and lets the
// callee finish unaware; kill sends INTERRUPT and waits for the callee's
// answer; killnowait does both. A callee that did not announce
// call_canceling never gets an INTERRUPT (kill degrades to skip).
func (p *peer) cancel(s *session, m *codec.Message) {
	req := m.Request
	mode := cancelKillNoWait
	if b, ok := m.Details.StringBytes("mode", nil); ok {
		switch string(b) {
		case "skip":
			mode = cancelSkip
		case "kill":
			mode = cancelKill
		case "killnowait":
		default:
			p.replyError(codec.Cancel, req, uriInvalidArgument, "unknown cancel mode "+string(b))
			return
		}
	}
	s.mu.Lock()
	pc := s.calls[req]
	if pc == nil {
		s.mu.Unlock()
		return // already answered: nothing to cancel
	}
	interrupt := mode != cancelSkip && pc.callee.dl.feat&featCalleeCancel != 0
	if mode == cancelKill && interrupt {
		if pc.canceling {
			s.mu.Unlock()
			return
		}
		pc.canceling = true
		pc.refs.Add(1)
		s.mu.Unlock()
		callee := pc.callee
		callee.mu.Lock()
		inv := pc.inv
		if callee.invs[inv] != pc {
			inv = 0
		}
		callee.mu.Unlock()
		if inv != 0 {
			p.sendInterrupt(callee, inv, "kill")
		}
		pc.release()
		return
	}
	// We take the call: the caller is answered now.
	delete(s.calls, req)
	s.mu.Unlock()
	if s.dl.streams != nil {
		delete(s.dl.streams, req)
	}
	if t := pc.timer; t != nil && t.Stop() {
		pc.release()
	}
	if interrupt {
		if inv := takeInvocationOf(pc); inv != 0 {
			p.sendInterrupt(pc.callee, inv, "killnowait")
			pc.release()
		}
	}
	p.answerError(pc, s, req, uriCanceled, "call canceled")
	pc.release()
}

func (p *peer) sendInterrupt(callee *session, inv codec.ID, mode string) {
	im := &p.out
	im.Reset()
	im.Type = codec.Interrupt
	im.Request = inv
	im.Details.Fields = append(im.Details.Fields, codec.Field{Key: "mode", Value: codec.StringValue(mode)})
	p.send(callee.conn, callee.kind, im) // best effort: a callee not reading gets no INTERRUPT
}

// expire runs on a timer goroutine when a call's timeout elapses: the
// caller gets ERROR wamp.error.timeout and the callee an INTERRUPT (if it
// supports canceling). It encodes into fresh buffers: no loop is running it.
func expire(pc *pendingCall) {
	caller, req, callee := pc.caller, pc.callerReq, pc.callee
	if takeCall(caller, req, pc) {
		if callee.dl.feat&featCalleeCancel != 0 {
			if inv := takeInvocationOf(pc); inv != 0 {
				im := &codec.Message{Type: codec.Interrupt, Request: inv}
				im.Details.Fields = []codec.Field{
					{Key: "mode", Value: codec.StringValue("killnowait")},
					{Key: "reason", Value: codec.StringValue(string(uriTimeout))},
				}
				sendFresh(callee.conn, callee.kind, im)
				pc.release()
			}
		}
		e := &codec.Message{Type: codec.Error, ErrorType: codec.Call, Request: req, URI: uriTimeout,
			ArgsAny: []any{"call timed out"}}
		if pc.progress {
			pc.answerMu.Lock()
		}
		if !sendFresh(caller.conn, caller.kind, e) {
			caller.conn.Close()
		}
		if pc.progress {
			pc.answerMu.Unlock()
		}
		pc.release() // the caller-table reference
	}
	pc.release() // the timer's
}

// sendFresh encodes m into a new buffer and queues it (off the loops).
func sendFresh(c Conn, k codec.Kind, m *codec.Message) bool {
	b, err := codec.Append(k, nil, m)
	if err != nil {
		return false
	}
	return c.Send(b)
}

// dealerLeave ends s's part in the dealer: its registrations go (with meta
// events), calls it made are forgotten (their callees interrupted when they
// support it), and callers waiting on its invocations get ERROR canceled at
// once. Progressive results already delivered stay delivered.
func (p *peer) dealerLeave(s *session) {
	d := s.realm.dealer
	for id, reg := range s.regs {
		d.unregister(s, reg)
		delete(s.regs, id)
	}
	s.dl.streams = nil

	s.mu.Lock()
	s.closed = true
	calls, invs := s.calls, s.invs
	s.calls, s.invs = nil, nil
	s.mu.Unlock()

	for _, pc := range calls {
		// Nobody is left to answer; the callee need not go on working.
		if t := pc.timer; t != nil && t.Stop() {
			pc.release()
		}
		if pc.callee.dl.feat&featCalleeCancel != 0 {
			if inv := takeInvocationOf(pc); inv != 0 {
				p.sendInterrupt(pc.callee, inv, "killnowait")
				pc.release()
			}
		}
		pc.release() // a late YIELD finds no caller and is dropped
	}
	for _, pc := range invs {
		caller, req := pc.caller, pc.callerReq
		if pc.claim() {
			p.answerError(pc, caller, req, uriCanceled, "callee disconnected")
			pc.release()
		}
		pc.release()
	}
}
