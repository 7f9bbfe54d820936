package client

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/wampd/wampd/codec"
)

// Result is a call result: what Call returns, what a handler returns, and
// each progressive result.
type Result struct {
	// Args and Kwargs are the decoded payload (nil with CallOptions.Raw). A
	// handler fills them to reply.
	Args   []any
	Kwargs map[string]any
	// ArgsRaw and KwRaw are the payload as received. A handler may set them
	// instead of Args/Kwargs to reply with pre-encoded bytes.
	ArgsRaw, KwRaw codec.Raw
	// Details is RESULT.Details of a received result, decoded.
	Details map[string]any
	// Progress marks a progressive (intermediate) result.
	Progress bool
}

// Invocation is one call of a registered procedure.
type Invocation struct {
	Request      ID
	Registration ID
	// Procedure is the registered procedure, or for prefix and wildcard
	// registrations the procedure the caller called.
	Procedure string
	// Caller is the caller's session ID when disclosed, else 0.
	Caller ID
	// Details is INVOCATION.Details, raw.
	Details codec.Dict
	// Args and Kwargs are the decoded payload (nil with RegisterOptions.Raw).
	Args   []any
	Kwargs map[string]any
	// ArgsRaw and KwRaw are the payload as received.
	ArgsRaw, KwRaw codec.Raw
	// ReceiveProgress reports whether the caller accepts progressive results.
	ReceiveProgress bool

	c *conn
}

// Progress sends a progressive result to the caller (only when ReceiveProgress).
func (inv *Invocation) Progress(r *Result) error {
	if !inv.ReceiveProgress {
		return errors.New("client: caller did not ask for progressive results")
	}
	return inv.c.sendYield(inv.Request, r, true)
}

// InvocationHandler serves a procedure. ctx is canceled when the caller
// cancels (INTERRUPT), the connection ends or the session closes. Returning
// an *Error sends it as is; another error becomes wamp.error.runtime_error
// (wamp.error.canceled after an interrupt); a nil *Result yields no payload.
type InvocationHandler func(ctx context.Context, inv *Invocation) (*Result, error)

// Registration is a procedure registered by this session. It survives reconnects.
type Registration struct {
	s         *Session
	procedure string
	opts      RegisterOptions
	handler   InvocationHandler
	id        atomic.Uint64 // router ID on the current connection, 0 when none
}

// ID is the router's registration ID on the current connection (0 when none).
func (r *Registration) ID() ID { return r.id.Load() }

// Procedure is the registered procedure (or pattern).
func (r *Registration) Procedure() string { return r.procedure }

// Register registers handler for procedure.
func (s *Session) Register(ctx context.Context, procedure string, handler InvocationHandler, opts RegisterOptions) (*Registration, error) {
	if handler == nil {
		return nil, fmt.Errorf("client: register %s: nil handler", procedure)
	}
	reg := &Registration{s: s, procedure: procedure, opts: opts, handler: handler}
	s.opMu.Lock()
	defer s.opMu.Unlock()
	if err := s.registerOn(ctx, reg); err != nil {
		return nil, fmt.Errorf("client: register %s: %w", procedure, err)
	}
	return reg, nil
}

// registerOn sends REGISTER and installs reg when REGISTERED arrives. opMu must be held.
func (s *Session) registerOn(ctx context.Context, reg *Registration) error {
	var m codec.Message
	m.Type = codec.Register
	m.URI = bytesOf(reg.procedure)
	var f []codec.Field
	if reg.opts.Match != MatchExact {
		f = append(f, codec.Field{Key: "match", Value: codec.StringValue(reg.opts.Match.String())})
	}
	if reg.opts.Invoke != InvokeSingle {
		f = append(f, codec.Field{Key: "invoke", Value: codec.StringValue(reg.opts.Invoke.String())})
	}
	if reg.opts.DiscloseCaller {
		f = append(f, codec.Field{Key: "disclose_caller", Value: codec.BoolValue(true)})
	}
	m.Details.Fields = f
	_, err := s.roundTrip(ctx, &m, func(r *codec.Message) {
		if r.Type != codec.Registered {
			return
		}
		s.mu.Lock()
		reg.id.Store(r.Registration)
		s.regByID[r.Registration] = reg
		s.regs[reg] = struct{}{}
		s.mu.Unlock()
	})
	return err
}

// Unregister removes reg.
func (s *Session) Unregister(ctx context.Context, reg *Registration) error {
	s.opMu.Lock()
	defer s.opMu.Unlock()
	s.mu.Lock()
	_, ok := s.regs[reg]
	delete(s.regs, reg)
	id := reg.id.Swap(0)
	if id != 0 {
		delete(s.regByID, id)
	}
	s.mu.Unlock()
	if !ok || id == 0 {
		return nil
	}
	var m codec.Message
	m.Type = codec.Unregister
	m.Registration = id
	if _, err := s.roundTrip(ctx, &m, nil); err != nil {
		return fmt.Errorf("client: unregister %s: %w", reg.procedure, err)
	}
	return nil
}

// restore re-subscribes and re-registers after a reconnect.
func (s *Session) restore(c *conn) {
	s.opMu.Lock()
	defer s.opMu.Unlock()
	s.mu.Lock()
	entries := make([]*subEntry, 0, len(s.subKeys))
	for _, e := range s.subKeys {
		e.id.Store(0)
		entries = append(entries, e)
	}
	regs := make([]*Registration, 0, len(s.regs))
	for r := range s.regs {
		r.id.Store(0)
		regs = append(regs, r)
	}
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(c.ctx, s.opts.DialTimeout)
	defer cancel()
	for _, e := range entries {
		if err := s.subscribeEntry(ctx, e, nil); err != nil {
			s.log.Warn("reconnect: re-subscribe failed", "topic", e.key.topic, "err", err)
		}
	}
	for _, r := range regs {
		if err := s.registerOn(ctx, r); err != nil {
			s.log.Warn("reconnect: re-register failed", "procedure", r.procedure, "err", err)
		}
	}
}

// Call calls procedure with args and kwargs (either may be nil). When ctx
// ends first, Call sends CANCEL and returns ctx's error. A WAMP ERROR reply
// is returned as *Error.
func (s *Session) Call(ctx context.Context, procedure string, args []any, kwargs map[string]any, opts CallOptions) (*Result, error) {
	var m codec.Message
	m.ArgsAny = args
	m.KwAny = kwargs
	return s.call(ctx, procedure, &m, &opts)
}

// CallRaw calls procedure with a pre-encoded payload (see PublishRaw).
func (s *Session) CallRaw(ctx context.Context, procedure string, args, kw codec.Raw, opts CallOptions) (*Result, error) {
	var m codec.Message
	if err := setRawPayload(&m, args, kw); err != nil {
		return nil, fmt.Errorf("client: call %s: %w", procedure, err)
	}
	return s.call(ctx, procedure, &m, &opts)
}

func (s *Session) call(ctx context.Context, procedure string, m *codec.Message, o *CallOptions) (*Result, error) {
	m.Type = codec.Call
	m.URI = bytesOf(procedure)
	var fa [3]codec.Field
	f := fa[:0]
	if o.OnProgress != nil {
		f = append(f, codec.Field{Key: "receive_progress", Value: codec.BoolValue(true)})
	}
	if o.Timeout > 0 {
		f = append(f, codec.Field{Key: "timeout", Value: codec.IntValue(o.Timeout.Milliseconds())})
	}
	if o.DiscloseMe {
		f = append(f, codec.Field{Key: "disclose_me", Value: codec.BoolValue(true)})
	}
	m.Details.Fields = f

	p := newPending(o.OnProgress != nil)
	c, id, err := s.request(m, p)
	if err != nil {
		return nil, fmt.Errorf("client: call %s: %w", procedure, err)
	}
	for {
		r, err := s.await(ctx, c, id, p)
		if err != nil {
			if ctx.Err() != nil {
				c.sendCancel(id, o.CancelMode)
			}
			return nil, fmt.Errorf("client: call %s: %w", procedure, err)
		}
		if r.Type == codec.Error {
			return nil, errorFromMessage(c.kind, r)
		}
		res := resultFromMessage(c.kind, r, o.Raw)
		if !res.Progress {
			return res, nil
		}
		if o.OnProgress != nil {
			o.OnProgress(res)
		}
	}
}

func resultFromMessage(k codec.Kind, r *codec.Message, raw bool) *Result {
	res := &Result{
		ArgsRaw: codec.Raw{Kind: k, Bytes: r.Args},
		KwRaw:   codec.Raw{Kind: k, Bytes: r.Kw},
	}
	res.Progress, _ = r.Details.Bool("progress")
	if len(r.Details.Raw.Bytes) > 0 {
		res.Details, _ = decodeDict(r.Details.Raw)
	}
	if !raw {
		res.Args, res.Kwargs, _ = decodePayload(k, r.Args, r.Kw)
	}
	return res
}

func (c *conn) sendCancel(id ID, mode CancelMode) {
	var m codec.Message
	m.Type = codec.Cancel
	m.Request = id
	f := [1]codec.Field{{Key: "mode", Value: codec.StringValue(mode.String())}}
	m.Details.Fields = f[:]
	_ = c.send(&m) // best effort: the caller already has its answer
}

// handleInvocation runs on the receive goroutine: it starts the handler on
// its own goroutine so that handlers may call the session.
func (s *Session) handleInvocation(c *conn, m *codec.Message) {
	s.mu.RLock()
	reg := s.regByID[m.Registration]
	s.mu.RUnlock()
	if reg == nil {
		c.sendError(codec.Invocation, m.Request, &Error{URI: ErrURINoSuchReg})
		return
	}
	msg := retain(m)
	ctx, cancel := context.WithCancel(c.ctx)
	c.pmu.Lock()
	c.invs[msg.Request] = cancel
	c.pmu.Unlock()
	s.spawn(func() { c.invoke(ctx, cancel, reg, msg) })
}

func (c *conn) invoke(ctx context.Context, cancel context.CancelFunc, reg *Registration, m *codec.Message) {
	s := c.s
	defer func() {
		c.pmu.Lock()
		delete(c.invs, m.Request)
		c.pmu.Unlock()
		cancel()
	}()
	inv := &Invocation{
		Request:      m.Request,
		Registration: m.Registration,
		Procedure:    reg.procedure,
		Details:      m.Details,
		ArgsRaw:      codec.Raw{Kind: c.kind, Bytes: m.Args},
		KwRaw:        codec.Raw{Kind: c.kind, Bytes: m.Kw},
		c:            c,
	}
	inv.Caller, _ = m.Details.Uint("caller")
	inv.ReceiveProgress, _ = m.Details.Bool("receive_progress")
	if reg.opts.Match != MatchExact {
		if p, ok := m.Details.String("procedure"); ok {
			inv.Procedure = p
		}
	}
	if !reg.opts.Raw {
		var err error
		inv.Args, inv.Kwargs, err = decodePayload(c.kind, m.Args, m.Kw)
		if err != nil {
			c.sendError(codec.Invocation, m.Request, &Error{URI: ErrURIInvalidArgument, Args: []any{err.Error()}})
			return
		}
	}
	res, err := s.runHandler(ctx, reg, inv)
	if err != nil {
		var we *Error
		if !errors.As(err, &we) {
			if ctx.Err() != nil && c.ctx.Err() == nil {
				we = &Error{URI: ErrURICanceled}
			} else {
				we = &Error{URI: ErrURIRuntime, Args: []any{err.Error()}}
			}
		}
		c.sendError(codec.Invocation, m.Request, we)
		return
	}
	if err := c.sendYield(m.Request, res, false); err != nil {
		s.log.Debug("yield failed", "procedure", inv.Procedure, "err", err)
	}
}

func (s *Session) runHandler(ctx context.Context, reg *Registration, inv *Invocation) (res *Result, err error) {
	s.enterUser()
	defer s.leaveUser()
	defer func() {
		if r := recover(); r != nil {
			s.recoverLog("handler for "+reg.procedure, r)
			res, err = nil, fmt.Errorf("handler panic: %v", r)
		}
	}()
	return reg.handler(ctx, inv)
}

func (c *conn) sendYield(req ID, r *Result, progress bool) error {
	var m codec.Message
	m.Type = codec.Yield
	m.Request = req
	if progress {
		f := [1]codec.Field{{Key: "progress", Value: codec.BoolValue(true)}}
		m.Details.Fields = f[:]
	}
	if r != nil {
		if len(r.ArgsRaw.Bytes) > 0 || len(r.KwRaw.Bytes) > 0 {
			if err := setRawPayload(&m, r.ArgsRaw, r.KwRaw); err != nil {
				return err
			}
		} else {
			m.ArgsAny = r.Args
			m.KwAny = r.Kwargs
		}
	}
	return c.send(&m)
}

func (c *conn) sendError(reqType codec.Type, req ID, e *Error) {
	var m codec.Message
	m.Type = codec.Error
	m.ErrorType = reqType
	m.Request = req
	m.URI = bytesOf(e.URI)
	m.ArgsAny = e.Args
	m.KwAny = e.Kwargs
	m.Details.Fields = anyFields(e.Details)
	if err := c.send(&m); err != nil {
		c.s.log.Debug("send error failed", "uri", e.URI, "err", err)
	}
}
