package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/wampd/wampd/codec"
)

// Session is a WAMP session joined to a realm. All methods are safe for
// concurrent use. A Session outlives its connections when Options.Reconnect
// is set; otherwise it ends with its connection.
type Session struct {
	url, realm string
	opts       Options
	log        *slog.Logger

	cur     atomic.Pointer[conn] // nil while disconnected
	nextReq atomic.Uint64
	details atomic.Pointer[SessionDetails]

	// opMu serializes subscribe, unsubscribe, register, unregister and the
	// restore after a reconnect, so that their router round trips never
	// interleave for the same topic or procedure.
	opMu sync.Mutex

	mu      sync.RWMutex // guards the maps below
	subKeys map[subKey]*subEntry
	subByID map[ID]*subEntry // router IDs of the current connection
	regs    map[*Registration]struct{}
	regByID map[ID]*Registration // router IDs of the current connection

	events eventQueue

	ctx     context.Context // ends when the session is closed for good
	cancel  context.CancelFunc
	closing atomic.Bool // Leave or Close was called
	done    chan struct{}
	endOnce sync.Once
	endErr  error // set before done is closed

	// Goroutine accounting, so Close can wait for every goroutine of the
	// session except those running user code (which may be the one calling
	// Close, and which see their context canceled).
	active  atomic.Int32
	inUser  atomic.Int32
	waitMu  sync.Mutex
	waitCnd *sync.Cond
}

// SessionDetails describes the joined session (from WELCOME).
type SessionDetails struct {
	ID           ID
	Realm        string
	AuthID       string
	AuthRole     string
	AuthMethod   string
	AuthProvider string
	// Details is WELCOME.Details, decoded.
	Details map[string]any
}

// Connect dials url (ws://host:port/path, wss://, rs://host:port or
// tcp://host:port, rss://), joins realm and returns the session. ctx bounds
// connecting and joining only.
func Connect(ctx context.Context, url, realm string, opts Options) (*Session, error) {
	opts.setDefaults()
	s := &Session{
		url:     url,
		realm:   realm,
		opts:    opts,
		log:     opts.Logger.With("component", "wamp-client", "url", url),
		subKeys: map[subKey]*subEntry{},
		subByID: map[ID]*subEntry{},
		regs:    map[*Registration]struct{}{},
		regByID: map[ID]*Registration{},
		done:    make(chan struct{}),
	}
	s.waitCnd = sync.NewCond(&s.waitMu)
	s.events.init()
	s.ctx, s.cancel = context.WithCancel(context.Background())

	c, err := s.dialAndJoin(ctx, false)
	if err != nil {
		s.cancel()
		return nil, err
	}
	s.spawn(s.dispatchEvents)
	s.startConn(c)
	s.spawn(func() { s.supervise(c) })
	if h := s.opts.OnJoin; h != nil {
		h(s, s.details.Load())
	}
	if h := s.opts.OnReady; h != nil {
		h(s)
	}
	return s, nil
}

// ID is the current WAMP session ID (0 while disconnected).
func (s *Session) ID() ID {
	if c := s.cur.Load(); c != nil {
		return c.id
	}
	return 0
}

// Details describes the last join.
func (s *Session) Details() *SessionDetails { return s.details.Load() }

// Serializer is the serializer this session speaks.
func (s *Session) Serializer() codec.Kind { return s.opts.Serializer }

// Connected reports whether the session has a live, joined connection.
func (s *Session) Connected() bool { return s.cur.Load() != nil }

// Done is closed when the session has ended for good (Leave, Close, or a lost
// connection without reconnect or after reconnecting gave up).
func (s *Session) Done() <-chan struct{} { return s.done }

// Err is why the session ended (nil for Leave/Close or a router GOODBYE),
// valid after Done is closed.
func (s *Session) Err() error {
	select {
	case <-s.done:
		return s.endErr
	default:
		return nil
	}
}

// Leave says GOODBYE, waits (bounded by ctx) for the router's answer, closes
// the connection, stops reconnecting and waits for the session's goroutines,
// except handlers and hooks still running (their contexts are canceled).
// Calling it again, or after the session ended, only waits. It may be called
// from hooks, invocation handlers and ordinary event handlers, but not from
// an Inline event handler (which blocks the receive goroutine Leave waits on).
func (s *Session) Leave(ctx context.Context) error {
	first := s.closing.CompareAndSwap(false, true)
	s.cancel() // stops a reconnect in progress and cancels invocation handlers
	var err error
	if first {
		if c := s.cur.Load(); c != nil {
			c.leaving.Store(true)
			var m codec.Message
			m.Type = codec.Goodbye
			m.URI = bytesOf("wamp.close.normal")
			if serr := c.send(&m); serr == nil {
				select {
				case <-c.goodbyeAck:
				case <-c.closed:
				case <-ctx.Done():
					err = fmt.Errorf("client: leave: %w", ctx.Err())
				}
			}
			c.tr.close()
		}
		// Stop the dispatcher here rather than leaving it to the supervisor:
		// the supervisor may be inside a hook that is calling Leave.
		s.events.close()
	}
	s.waitGoroutines()
	return err
}

// Close leaves the realm with a short timeout and releases everything (see Leave).
func (s *Session) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	return s.Leave(ctx)
}

// ---- goroutine accounting ----

func (s *Session) spawn(fn func()) {
	s.active.Add(1)
	go func() {
		defer s.exited()
		fn()
	}()
}

func (s *Session) exited() {
	s.active.Add(-1)
	s.notifyWaiters()
}

func (s *Session) notifyWaiters() {
	if s.closing.Load() {
		s.waitMu.Lock()
		s.waitCnd.Broadcast()
		s.waitMu.Unlock()
	}
}

func (s *Session) enterUser() { s.inUser.Add(1) }
func (s *Session) leaveUser() {
	s.inUser.Add(-1)
	s.notifyWaiters()
}

// waitGoroutines waits until every session goroutine has exited or is
// running user code. closing must be set first (so exits notify).
func (s *Session) waitGoroutines() {
	s.waitMu.Lock()
	for s.active.Load() > s.inUser.Load() {
		s.waitCnd.Wait()
	}
	s.waitMu.Unlock()
}

// hook runs a lifecycle hook on a session goroutine, recovering its panics.
func (s *Session) hook(name string, fn func()) {
	s.enterUser()
	defer s.leaveUser()
	defer s.recoverUser(name)
	fn()
}

func (s *Session) recoverUser(what string) {
	if r := recover(); r != nil {
		s.recoverLog(what, r)
	}
}

func (s *Session) recoverLog(what string, r any) {
	s.log.Error("panic in "+what, "panic", r, "stack", string(debug.Stack()))
}

// finish ends the session for good.
func (s *Session) finish(err error) {
	s.endOnce.Do(func() {
		s.endErr = err
		s.cancel()
		s.events.close()
		close(s.done)
	})
}

// ---- connections ----

// conn is one transport connection and the joined session on it.
type conn struct {
	s    *Session
	tr   transport
	kind codec.Kind
	id   ID

	ctx    context.Context // ends when the connection ends
	cancel context.CancelFunc

	closed     chan struct{} // closed when the receive goroutine has stopped
	err        error         // why; nil for a clean GOODBYE; set before closed
	reason     string        // GOODBYE reason (router's or ours), set before closed
	joined     bool
	leaving    atomic.Bool
	goodbyeAck chan struct{}

	pmu     sync.Mutex
	pending map[ID]*pending
	invs    map[ID]context.CancelFunc
	dead    bool // guarded by pmu; no new pending requests
}

// pending is a request waiting for its reply.
type pending struct {
	ch   chan *codec.Message
	gone chan struct{} // closed by the requester when it stops waiting
	// progressive: RESULTs with details.progress are delivered without
	// completing the request.
	progressive bool
	// onReply runs on the receive goroutine before the reply is delivered,
	// so routing state is in place before the next message is handled.
	onReply func(m *codec.Message)
}

func newPending(progressive bool) *pending {
	n := 1
	if progressive {
		n = 16
	}
	return &pending{ch: make(chan *codec.Message, n), gone: make(chan struct{}), progressive: progressive}
}

func (s *Session) dialAndJoin(ctx context.Context, reconnect bool) (*conn, error) {
	tr, err := dialTransport(ctx, s.url, &s.opts)
	if err != nil {
		return nil, err
	}
	c := &conn{
		s:          s,
		tr:         tr,
		kind:       s.opts.Serializer,
		closed:     make(chan struct{}),
		goodbyeAck: make(chan struct{}),
		pending:    map[ID]*pending{},
		invs:       map[ID]context.CancelFunc{},
	}
	if h := s.opts.OnConnect; h != nil {
		if reconnect {
			s.hook("OnConnect", func() { h(s) })
		} else {
			h(s)
		}
	}
	// Reading below blocks: tie it to ctx by closing the transport.
	stop := context.AfterFunc(ctx, func() { tr.close() })
	d, err := c.join(ctx)
	if !stop() && err == nil {
		err = ctx.Err() // ctx ended just as the join completed; the transport is closed
	}
	if err != nil {
		tr.close()
		if ce := ctx.Err(); ce != nil {
			err = fmt.Errorf("client: join %s: %w", s.realm, ce)
		}
		return nil, err
	}
	c.id = d.ID
	c.joined = true
	s.details.Store(d)
	return c, nil
}

// join runs HELLO, the optional CHALLENGE/AUTHENTICATE rounds and WELCOME.
func (c *conn) join(ctx context.Context) (*SessionDetails, error) {
	s := c.s
	var m codec.Message
	m.Type = codec.Hello
	m.URI = bytesOf(s.realm)
	m.Details.Fields = s.helloDetails()
	if err := c.send(&m); err != nil {
		return nil, fmt.Errorf("client: send HELLO: %w", err)
	}
	for {
		b, err := c.tr.readMessage()
		if err != nil {
			return nil, fmt.Errorf("client: join %s: %w", s.realm, err)
		}
		if err := codec.Decode(c.kind, b, &m); err != nil {
			return nil, fmt.Errorf("client: join %s: %w: %w", s.realm, ErrProtocol, err)
		}
		switch m.Type {
		case codec.Welcome:
			details, _ := decodeDict(m.Details.Raw)
			d := &SessionDetails{ID: m.Session, Realm: s.realm, Details: details}
			d.AuthID, _ = details["authid"].(string)
			d.AuthRole, _ = details["authrole"].(string)
			d.AuthMethod, _ = details["authmethod"].(string)
			d.AuthProvider, _ = details["authprovider"].(string)
			return d, nil
		case codec.Abort:
			details, _ := decodeDict(m.Details.Raw)
			e := &Error{URI: string(m.URI), Details: details}
			if msg, ok := details["message"].(string); ok {
				e.Args = []any{msg}
			}
			return nil, e
		case codec.Challenge:
			method := string(m.Text)
			var auth Authenticator
			for _, a := range s.opts.Auth {
				if a.Method() == method {
					auth = a
					break
				}
			}
			if auth == nil {
				return nil, fmt.Errorf("client: router challenged with %q, which was not offered", method)
			}
			extra, _ := decodeDict(m.Details.Raw)
			sig, ext, err := auth.Respond(ctx, &Challenge{Method: method, Extra: extra})
			if err != nil {
				return nil, fmt.Errorf("client: %s authentication: %w", method, err)
			}
			var a codec.Message
			a.Type = codec.Authenticate
			a.Text = bytesOf(sig)
			a.Details.Fields = anyFields(ext)
			if err := c.send(&a); err != nil {
				return nil, fmt.Errorf("client: send AUTHENTICATE: %w", err)
			}
		default:
			return nil, fmt.Errorf("client: join %s: %w: unexpected %d before WELCOME", s.realm, ErrProtocol, m.Type)
		}
	}
}

// clientRoles announces the features this client implements.
var clientRoles = map[string]any{
	"caller": map[string]any{"features": map[string]any{
		"progressive_call_results": true, "call_canceling": true,
		"call_timeout": true, "caller_identification": true,
	}},
	"callee": map[string]any{"features": map[string]any{
		"progressive_call_results": true, "call_canceling": true,
		"caller_identification": true, "pattern_based_registration": true,
		"shared_registration": true,
	}},
	"publisher": map[string]any{"features": map[string]any{
		"publisher_exclusion": true, "subscriber_blackwhite_listing": true,
		"publisher_identification": true,
	}},
	"subscriber": map[string]any{"features": map[string]any{
		"pattern_based_subscription": true, "publisher_identification": true,
	}},
}

func (s *Session) helloDetails() []codec.Field {
	f := []codec.Field{
		{Key: "roles", Value: codec.AnyValue(clientRoles)},
		{Key: "agent", Value: codec.StringValue("wampd-go-client")},
	}
	set := map[string]bool{"roles": true, "agent": true}
	if len(s.opts.Auth) > 0 {
		methods := make([]string, len(s.opts.Auth))
		extra := map[string]any{}
		for i, a := range s.opts.Auth {
			methods[i] = a.Method()
			for k, v := range a.AuthExtra() {
				extra[k] = v
			}
		}
		f = append(f, codec.Field{Key: "authmethods", Value: codec.AnyValue(methods)})
		set["authmethods"] = true
		if len(extra) > 0 {
			f = append(f, codec.Field{Key: "authextra", Value: codec.AnyValue(extra)})
			set["authextra"] = true
		}
	}
	if s.opts.AuthID != "" {
		f = append(f, codec.Field{Key: "authid", Value: codec.StringValue(s.opts.AuthID)})
		set["authid"] = true
	}
	if s.opts.AuthRole != "" {
		f = append(f, codec.Field{Key: "authrole", Value: codec.StringValue(s.opts.AuthRole)})
		set["authrole"] = true
	}
	for k, v := range s.opts.HelloDetails {
		if !set[k] {
			f = append(f, codec.Field{Key: k, Value: codec.AnyValue(v)})
		}
	}
	return f
}

// startConn makes c current and starts its receive goroutine.
func (s *Session) startConn(c *conn) {
	c.ctx, c.cancel = context.WithCancel(s.ctx)
	s.cur.Store(c)
	s.spawn(c.readLoop)
	if s.opts.KeepAlive > 0 {
		s.spawn(c.keepAlive)
	}
	if s.closing.Load() {
		// Leave ran between the join and now and did not see c.
		c.tr.close()
	}
}

// supervise waits for each connection to end, runs the teardown hooks and
// reconnects when configured.
func (s *Session) supervise(c *conn) {
	for {
		<-c.closed
		s.cur.CompareAndSwap(c, nil)
		s.dropRouterIDs()
		if h := s.opts.OnLeave; h != nil && c.joined {
			s.hook("OnLeave", func() { h(s, c.reason) })
		}
		if h := s.opts.OnDisconnect; h != nil {
			s.hook("OnDisconnect", func() { h(s, c.err) })
		}
		if s.closing.Load() || s.opts.Reconnect == nil {
			s.finish(c.err)
			return
		}
		s.log.Info("connection lost, reconnecting", "err", c.err, "reason", c.reason)
		nc, err := s.reconnect()
		if nc == nil {
			s.finish(err) // nil when Leave/Close stopped the reconnect
			return
		}
		c = nc
	}
}

// reconnect dials with exponential backoff until it joins, gives up
// (MaxAttempts), or the session is closed.
func (s *Session) reconnect() (*conn, error) {
	ro := s.opts.Reconnect
	delay := ro.InitialDelay
	var lastErr error
	for attempt := 1; ro.MaxAttempts == 0 || attempt <= ro.MaxAttempts; attempt++ {
		wait := delay + time.Duration(rand.Float64()*ro.Jitter*float64(delay))
		t := time.NewTimer(wait)
		select {
		case <-s.ctx.Done():
			t.Stop()
			return nil, nil
		case <-t.C:
		}
		delay = min(time.Duration(float64(delay)*ro.Multiplier), ro.MaxDelay)

		ctx, cancel := context.WithTimeout(s.ctx, s.opts.DialTimeout)
		c, err := s.dialAndJoin(ctx, true)
		cancel()
		if err != nil {
			if s.ctx.Err() != nil {
				return nil, nil
			}
			var we *Error
			if errors.As(err, &we) {
				// The router refused the join (e.g. bad credentials): retrying
				// with the same credentials keeps failing, but the router's
				// state may change, so keep trying with backoff.
				s.log.Warn("reconnect: join refused", "attempt", attempt, "err", err)
			} else {
				s.log.Debug("reconnect failed", "attempt", attempt, "err", err)
			}
			lastErr = err
			continue
		}
		s.startConn(c)
		if h := s.opts.OnJoin; h != nil {
			s.hook("OnJoin", func() { h(s, s.details.Load()) })
		}
		s.restore(c)
		if h := s.opts.OnReady; h != nil {
			s.hook("OnReady", func() { h(s) })
		}
		s.log.Info("reconnected", "session", c.id, "attempt", attempt)
		return c, nil
	}
	return nil, fmt.Errorf("client: reconnect gave up after %d attempts: %w", ro.MaxAttempts, lastErr)
}

// dropRouterIDs forgets the previous connection's subscription and registration IDs.
func (s *Session) dropRouterIDs() {
	s.mu.Lock()
	clear(s.subByID)
	clear(s.regByID)
	s.mu.Unlock()
}

// keepAlive pings an idle connection and closes a silent one.
func (c *conn) keepAlive() {
	t := time.NewTicker(c.s.opts.KeepAlive)
	defer t.Stop()
	last := c.tr.activity()
	pinged := false
	for {
		select {
		case <-c.closed:
			return
		case <-t.C:
		}
		now := c.tr.activity()
		switch {
		case now != last:
			pinged = false
		case pinged:
			c.s.log.Warn("keep-alive: no answer, closing the connection", "interval", c.s.opts.KeepAlive)
			c.tr.close()
			return
		default:
			if err := c.tr.ping(); err != nil {
				return // the receive goroutine sees the broken connection
			}
			pinged = true
		}
		last = now
	}
}

// ---- receiving ----

func (c *conn) readLoop() {
	s := c.s
	var m codec.Message
	var ev Event // reused for inline event handlers
	err := func() error {
		for {
			b, err := c.tr.readMessage()
			if err != nil {
				return err
			}
			if err := codec.Decode(c.kind, b, &m); err != nil {
				return fmt.Errorf("%w: %w", ErrProtocol, err)
			}
			if done, err := c.handle(&m, &ev); done || err != nil {
				return err
			}
		}
	}()
	c.tr.close()
	switch {
	case c.reason != "":
		// GOODBYE (err nil) or ABORT (err set) from the router.
	case c.leaving.Load() || s.closing.Load():
		c.reason = "wamp.close.normal"
		err = nil // the read error is our own close
	default:
		c.reason = ReasonTransportLost
		if err == nil {
			err = io.ErrUnexpectedEOF
		}
		s.log.Debug("connection lost", "err", err)
	}
	c.err = err
	c.pmu.Lock()
	c.dead = true
	c.pmu.Unlock()
	c.cancel()
	close(c.closed)
}

// handle processes one message; done reports the end of the session on this connection.
func (c *conn) handle(m *codec.Message, ev *Event) (done bool, err error) {
	s := c.s
	switch m.Type {
	case codec.Event:
		s.handleEvent(c, m, ev)
	case codec.Result, codec.Published, codec.Subscribed, codec.Unsubscribed,
		codec.Registered, codec.Unregistered, codec.Error:
		if m.Request == 0 && (m.Type == codec.Unsubscribed || m.Type == codec.Unregistered) {
			s.handleRevocation(m)
			return false, nil
		}
		if m.Type == codec.Error && m.ErrorType == codec.Invocation {
			return false, nil // a router answering our YIELD/ERROR with an error: nothing to do
		}
		c.deliver(m)
	case codec.Invocation:
		s.handleInvocation(c, m)
	case codec.Interrupt:
		c.pmu.Lock()
		cancel := c.invs[m.Request]
		c.pmu.Unlock()
		if cancel != nil {
			cancel()
		}
	case codec.Goodbye:
		if c.leaving.Load() {
			c.reason = "wamp.close.normal"
			close(c.goodbyeAck)
			return true, nil
		}
		c.reason = string(m.URI)
		var r codec.Message
		r.Type = codec.Goodbye
		r.URI = bytesOf("wamp.close.goodbye_and_out")
		_ = c.send(&r)
		return true, nil
	case codec.Abort:
		c.reason = string(m.URI)
		return true, fmt.Errorf("client: router aborted the session: %s", m.URI)
	default:
		return true, fmt.Errorf("%w: unexpected message type %d", ErrProtocol, m.Type)
	}
	return false, nil
}

// deliver hands a reply to the request waiting for it.
func (c *conn) deliver(m *codec.Message) {
	c.pmu.Lock()
	p := c.pending[m.Request]
	if p != nil {
		progress := false
		if p.progressive && m.Type == codec.Result {
			progress, _ = m.Details.Bool("progress")
		}
		if !progress {
			delete(c.pending, m.Request)
		}
	}
	c.pmu.Unlock()
	if p == nil {
		return // the requester gave up (canceled call, timed-out request)
	}
	if p.onReply != nil {
		p.onReply(m)
	}
	cp := retain(m)
	select {
	case p.ch <- cp:
	case <-p.gone:
	}
}

// ---- sending ----

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// send encodes m in the connection's serializer and writes it.
func (c *conn) send(m *codec.Message) error {
	bp := bufPool.Get().(*[]byte)
	b, err := codec.Append(c.kind, (*bp)[:0], m)
	if err != nil {
		err = fmt.Errorf("client: encode message type %d: %w", m.Type, err)
	} else {
		err = c.tr.writeMessage(b)
	}
	if cap(b) <= 64<<10 {
		*bp = b[:0]
		bufPool.Put(bp)
	}
	return err
}

// request registers p for m's reply and sends m on the current connection.
func (s *Session) request(m *codec.Message, p *pending) (*conn, ID, error) {
	c := s.cur.Load()
	if c == nil {
		return nil, 0, s.notConnected()
	}
	id := s.nextReq.Add(1)
	m.Request = id
	c.pmu.Lock()
	if c.dead {
		c.pmu.Unlock()
		return nil, 0, s.notConnected()
	}
	c.pending[id] = p
	c.pmu.Unlock()
	if err := c.send(m); err != nil {
		c.abandon(id, p)
		return nil, 0, err
	}
	return c, id, nil
}

// await waits for the reply of a request sent with request.
func (s *Session) await(ctx context.Context, c *conn, id ID, p *pending) (*codec.Message, error) {
	select {
	case r := <-p.ch:
		return r, nil
	case <-ctx.Done():
		c.abandon(id, p)
		return nil, ctx.Err()
	case <-c.closed:
		select {
		case r := <-p.ch:
			return r, nil
		default:
		}
		if s.closing.Load() {
			return nil, ErrClosed
		}
		return nil, ErrDisconnected
	}
}

func (c *conn) abandon(id ID, p *pending) {
	c.pmu.Lock()
	if c.pending[id] == p {
		delete(c.pending, id)
	}
	c.pmu.Unlock()
	close(p.gone)
}

func (s *Session) notConnected() error {
	if s.closing.Load() {
		return ErrClosed
	}
	return ErrNotConnected
}

// roundTrip sends m and waits for its reply; an ERROR reply becomes an *Error.
func (s *Session) roundTrip(ctx context.Context, m *codec.Message, onReply func(*codec.Message)) (*codec.Message, error) {
	p := newPending(false)
	p.onReply = onReply
	c, id, err := s.request(m, p)
	if err != nil {
		return nil, err
	}
	r, err := s.await(ctx, c, id, p)
	if err != nil {
		return nil, err
	}
	if r.Type == codec.Error {
		return nil, errorFromMessage(c.kind, r)
	}
	return r, nil
}

// ---- helpers ----

// retain copies m so it outlives the receive buffer.
func retain(m *codec.Message) *codec.Message {
	cp := new(codec.Message)
	*cp = *m
	cp.Details.Fields = nil
	cp.ArgsAny, cp.KwAny = nil, nil
	cp.Retain()
	return cp
}

// bytesOf views s as bytes without copying. The codec only reads URI and
// Text when encoding, so the string's immutability is preserved.
func bytesOf(s string) []byte {
	if s == "" {
		return nil
	}
	return unsafe.Slice(unsafe.StringData(s), len(s))
}

// decodeDict decodes a raw dict; an absent or empty one gives an empty map.
func decodeDict(r codec.Raw) (map[string]any, error) {
	if len(r.Bytes) == 0 {
		return map[string]any{}, nil
	}
	v, err := codec.DecodeAny(r)
	if err != nil {
		return map[string]any{}, err
	}
	d, ok := v.(map[string]any)
	if !ok {
		return map[string]any{}, fmt.Errorf("%w: details is not a dict", ErrProtocol)
	}
	return d, nil
}

// decodePayload decodes raw Arguments and ArgumentsKw.
func decodePayload(k codec.Kind, args, kw []byte) ([]any, map[string]any, error) {
	var a []any
	var kwm map[string]any
	if len(args) > 0 {
		v, err := codec.DecodeAny(codec.Raw{Kind: k, Bytes: args})
		if err != nil {
			return nil, nil, fmt.Errorf("client: decode arguments: %w", err)
		}
		var ok bool
		if a, ok = v.([]any); !ok && v != nil {
			return nil, nil, fmt.Errorf("client: %w: arguments is not a list", ErrProtocol)
		}
	}
	if len(kw) > 0 {
		v, err := codec.DecodeAny(codec.Raw{Kind: k, Bytes: kw})
		if err != nil {
			return nil, nil, fmt.Errorf("client: decode keyword arguments: %w", err)
		}
		var ok bool
		if kwm, ok = v.(map[string]any); !ok && v != nil {
			return nil, nil, fmt.Errorf("client: %w: keyword arguments is not a dict", ErrProtocol)
		}
	}
	return a, kwm, nil
}

// anyFields turns a map into dict fields.
func anyFields(m map[string]any) []codec.Field {
	if len(m) == 0 {
		return nil
	}
	f := make([]codec.Field, 0, len(m))
	for k, v := range m {
		f = append(f, codec.Field{Key: k, Value: codec.AnyValue(v)})
	}
	return f
}

// errorFromMessage converts an ERROR message to an *Error.
func errorFromMessage(k codec.Kind, m *codec.Message) *Error {
	e := &Error{URI: string(m.URI)}
	e.Args, e.Kwargs, _ = decodePayload(k, m.Args, m.Kw)
	e.Details, _ = decodeDict(m.Details.Raw)
	return e
}
