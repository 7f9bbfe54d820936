package netpoll

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/panjf2000/gnet/v2"

	"github.com/wampd/wampd/engine"
)

// Attacher receives every connection whose handshake completed. *engine.Router
// satisfies it. Attach runs on the connection's event loop and must not block.
type Attacher interface {
	Attach(c engine.Conn) engine.Peer
}

// Config configures the listeners. Zero values take the documented defaults.
type Config struct {
	// WebSocketAddr is the WebSocket listen address ("127.0.0.1:8080"; port 0
	// picks a free port). RawSocket clients are accepted on it too. Empty
	// disables the listener.
	WebSocketAddr string
	// WebSocketPath is the only HTTP path upgraded (default "/ws").
	WebSocketPath string
	// RawSocketAddr is the RawSocket-only listen address. Empty disables it;
	// equal to a fixed-port WebSocketAddr, that one listener serves both.
	RawSocketAddr string
	// MaxMessageSize bounds an incoming message after reassembly and
	// decompression (default 16 MiB).
	MaxMessageSize int
	// MaxPendingBytes bounds each connection's outbound bytes (default 8 MiB).
	MaxPendingBytes int
	// DisableCompression turns permessage-deflate off (it is on by default).
	DisableCompression bool
	// MaxConnections refuses connections beyond this count: RawSocket error
	// 4 or HTTP 503 at the handshake, and a plain close at accept time once
	// the count is well past it. 0 derives it from the process's open-file
	// limit (see connectionLimit), negative means unlimited.
	MaxConnections int
	// HandshakeTimeout closes connections that have not completed their
	// WebSocket or RawSocket handshake in time (default 10s).
	HandshakeTimeout time.Duration
	// PingInterval: a connection that has received nothing (no message, no
	// ping, no pong) for this long gets a WebSocket ping, or a RawSocket PING
	// (default 30s; negative disables keepalive).
	PingInterval time.Duration
	// PingTimeout: a connection that receives nothing within this time after
	// a keepalive ping is closed and its Peer gets Closed (default 10s).
	PingTimeout time.Duration
	// Logger receives connection errors (default slog.Default()).
	Logger *slog.Logger
	// Loops is the number of event loops (default GOMAXPROCS).
	Loops int
}

const (
	defaultMaxMessageSize  = 16 << 20
	defaultMaxPendingBytes = 8 << 20
	// maxHandshakeBytes bounds an HTTP upgrade request.
	maxHandshakeBytes = 16 << 10
)

// Server is a running gnet engine with its listeners.
type Server struct {
	cfg      Config
	compress bool
	attacher Attacher
	log      *slog.Logger

	addrs    []net.Addr
	rawAddr  *net.TCPAddr // the RawSocket-only listener, nil when none
	rawPort  int
	eng      gnet.Engine
	done     chan struct{} // closed when gnet.Rotate has returned
	runErr   error         // set before done is closed
	stopOnce sync.Once

	loopsMu sync.Mutex
	loops   map[gnet.EventLoop]*loop

	conns atomic.Int64 // open TCP connections

	hsMu      sync.Mutex
	pendingHS map[*conn]handshakeEntry // connections still in their handshake

	ka keepalive // keepalive.go
}

type handshakeEntry struct {
	gc       gnet.Conn // Close is safe from any goroutine, even after close
	deadline time.Time
}

// handler adapts gnet's callbacks to Server without exporting them.
type handler struct {
	gnet.BuiltinEventEngine
	s      *Server
	booted chan error
	lnames []string // gnet listener addresses, WebSocket first
}

// Listen starts the listeners and returns once they accept connections.
// ctx bounds the start-up only; call Stop to shut down.
func Listen(ctx context.Context, cfg Config, a Attacher) (*Server, error) {
	if a == nil {
		return nil, errors.New("netpoll: nil Attacher")
	}
	if cfg.WebSocketAddr == "" && cfg.RawSocketAddr == "" {
		return nil, errors.New("netpoll: no listen address")
	}
	if cfg.WebSocketPath == "" {
		cfg.WebSocketPath = "/ws"
	}
	if cfg.MaxMessageSize <= 0 {
		cfg.MaxMessageSize = defaultMaxMessageSize
	}
	if cfg.MaxPendingBytes <= 0 {
		cfg.MaxPendingBytes = defaultMaxPendingBytes
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Loops <= 0 {
		cfg.Loops = runtime.GOMAXPROCS(0)
	}
	if cfg.MaxConnections == 0 {
		cfg.MaxConnections = connectionLimit()
	}
	if cfg.HandshakeTimeout <= 0 {
		cfg.HandshakeTimeout = 10 * time.Second
	}
	if cfg.PingInterval == 0 {
		cfg.PingInterval = defaultPingInterval
	}
	if cfg.PingTimeout <= 0 {
		cfg.PingTimeout = defaultPingTimeout
	}
	s := &Server{
		cfg:       cfg,
		compress:  !cfg.DisableCompression,
		attacher:  a,
		log:       cfg.Logger,
		done:      make(chan struct{}),
		loops:     make(map[gnet.EventLoop]*loop),
		pendingHS: make(map[*conn]handshakeEntry),
		ka:        newKeepalive(cfg.PingInterval, cfg.PingTimeout),
	}
	h := &handler{s: s, booted: make(chan error, 1)}
	if cfg.WebSocketAddr != "" {
		h.lnames = append(h.lnames, cfg.WebSocketAddr)
	}
	if cfg.RawSocketAddr != "" && cfg.RawSocketAddr == cfg.WebSocketAddr && !strings.HasSuffix(cfg.RawSocketAddr, ":0") {
		// One port for both: the WebSocket listener accepts RawSocket too.
		cfg.RawSocketAddr = ""
		s.cfg.RawSocketAddr = ""
	}
	if cfg.RawSocketAddr != "" {
		raw := cfg.RawSocketAddr
		if raw == cfg.WebSocketAddr {
			// gnet finds a listener by its address string; two "host:0"
			// listeners would be indistinguishable. A zero-padded port
			// resolves to the same port number.
			raw = padPort(raw)
		}
		h.lnames = append(h.lnames, raw)
	}
	protoAddrs := make([]string, len(h.lnames))
	for i, a := range h.lnames {
		protoAddrs[i] = "tcp://" + a
	}
	go func() {
		err := gnet.Rotate(h, protoAddrs,
			gnet.WithNumEventLoop(cfg.Loops),
			gnet.WithReusePort(false), // per-loop listeners would each bind their own ":0" port
			gnet.WithTCPNoDelay(gnet.TCPNoDelay),
			gnet.WithLogger(gnetLogger{s.log}),
			gnet.WithTicker(true),
		)
		s.runErr = err
		select {
		case h.booted <- err: // start-up failed before OnBoot
		default:
		}
		close(s.done)
	}()
	select {
	case err := <-h.booted:
		if err == nil {
			return s, nil
		}
		<-s.done
		if s.runErr != nil {
			err = s.runErr
		}
		return nil, fmt.Errorf("netpoll: listen %v: %w", h.lnames, err)
	case <-ctx.Done():
		go func() { // the engine may still come up: take it down
			if err := <-h.booted; err == nil {
				_ = s.Stop(context.Background())
			}
		}()
		return nil, ctx.Err()
	}
}

func padPort(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	return net.JoinHostPort(host, "0"+port)
}

// OnBoot records the engine and the bound addresses. The listening sockets
// exist (and queue connections) before OnBoot runs.
func (h *handler) OnBoot(eng gnet.Engine) gnet.Action {
	s := h.s
	s.eng = eng
	for i, name := range h.lnames {
		addr, err := boundAddr(eng, name)
		if err != nil {
			h.booted <- err
			return gnet.Shutdown
		}
		s.addrs = append(s.addrs, addr)
		if i == len(h.lnames)-1 && s.cfg.RawSocketAddr != "" {
			s.rawAddr = addr
			s.rawPort = addr.Port
		}
	}
	h.booted <- nil
	return gnet.None
}

// boundAddr asks the kernel which address a gnet listener is bound to (the
// port is only known after bind when 0 was asked for).
func boundAddr(eng gnet.Engine, name string) (*net.TCPAddr, error) {
	fd, err := eng.DupListener("tcp", name)
	if err != nil {
		return nil, fmt.Errorf("netpoll: find listener %s: %w", name, err)
	}
	f := os.NewFile(uintptr(fd), name)
	defer f.Close()
	ln, err := net.FileListener(f)
	if err != nil {
		return nil, fmt.Errorf("netpoll: inspect listener %s: %w", name, err)
	}
	defer ln.Close()
	addr, ok := ln.Addr().(*net.TCPAddr)
	if !ok {
		return nil, fmt.Errorf("netpoll: listener %s is not TCP", name)
	}
	return addr, nil
}

// Addrs returns the bound addresses: the WebSocket listener first (when
// configured), then the RawSocket listener.
func (s *Server) Addrs() []net.Addr { return s.addrs }

// Done is closed when the engine has stopped: after Stop, or on its own when
// gnet gives up (for example when accept(2) fails with an error it cannot
// retry). Err then says why; nil after a Stop.
func (s *Server) Done() <-chan struct{} { return s.done }

// Err is the engine's exit error, valid once Done is closed.
func (s *Server) Err() error {
	select {
	case <-s.done:
		return s.runErr
	default:
		return nil
	}
}

// Stop closes the listeners and every connection (each Peer gets Closed) and
// waits until the event loops have exited or ctx ends.
func (s *Server) Stop(ctx context.Context) error {
	var err error
	s.stopOnce.Do(func() {
		pollCtx, cancel := context.WithCancel(context.Background())
		defer cancel()
		// Engine.Stop polls every 500ms; s.done tells us sooner.
		go func() { _ = s.eng.Stop(pollCtx) }()
		select {
		case <-s.done:
		case <-ctx.Done():
			err = ctx.Err()
		}
	})
	return err
}

// loopOf returns the per-loop state of gnet loop el, creating it on first use.
func (s *Server) loopOf(el gnet.EventLoop) *loop {
	s.loopsMu.Lock()
	defer s.loopsMu.Unlock()
	lp := s.loops[el]
	if lp == nil {
		lp = newLoop(s, el)
		s.loops[el] = lp
	}
	return lp
}

func (h *handler) OnOpen(gc gnet.Conn) ([]byte, gnet.Action) {
	s := h.s
	if n := s.conns.Add(1); s.cfg.MaxConnections > 0 && n > int64(s.cfg.MaxConnections)+acceptSlack {
		// Far over the limit (a flood of connections that never finish
		// their handshake): close at once, keeping file descriptors free.
		// gnet still calls OnClose, which takes the count back down.
		return nil, gnet.Close
	}
	c := &conn{
		srv:    s,
		lp:     s.loopOf(gc.EventLoop()),
		gc:     gc,
		kaList: -1,
	}
	c.info.Peer = remoteString(gc.RemoteAddr())
	if s.rawAddr != nil {
		c.rawOnly = s.onRawListener(gc)
	}
	gc.SetContext(c)
	s.hsMu.Lock()
	s.pendingHS[c] = handshakeEntry{gc: gc, deadline: time.Now().Add(s.cfg.HandshakeTimeout)}
	s.hsMu.Unlock()
	return nil, gnet.None
}

// handshakeDone stops the handshake timer of c.
func (s *Server) handshakeDone(c *conn) {
	s.hsMu.Lock()
	delete(s.pendingHS, c)
	s.hsMu.Unlock()
}

// OnTick closes connections whose handshake is overdue (slowloris) and
// queues the keepalive sweeps. It runs on gnet's ticker goroutine.
func (h *handler) OnTick() (time.Duration, gnet.Action) {
	s := h.s
	now := time.Now()
	s.hsMu.Lock()
	for c, e := range s.pendingHS {
		if now.After(e.deadline) {
			delete(s.pendingHS, c)
			_ = e.gc.Close()
		}
	}
	s.hsMu.Unlock()
	next := min(time.Second, s.cfg.HandshakeTimeout/2)
	if s.ka.on {
		s.sweepLoops()
		next = min(next, s.ka.gran)
	}
	return next, gnet.None
}

// onRawListener reports whether gc was accepted by the RawSocket-only
// listener. gnet reports the listener's configured address as LocalAddr (port
// 0 stays 0), so ask the kernel.
func (s *Server) onRawListener(gc gnet.Conn) bool {
	sa, err := syscall.Getsockname(gc.Fd())
	if err != nil {
		return false
	}
	var port int
	var ip net.IP
	switch a := sa.(type) {
	case *syscall.SockaddrInet4:
		port, ip = a.Port, net.IP(a.Addr[:])
	case *syscall.SockaddrInet6:
		port, ip = a.Port, net.IP(a.Addr[:])
	default:
		return false
	}
	if port != s.rawPort {
		return false
	}
	return s.rawAddr.IP.IsUnspecified() || s.rawAddr.IP.Equal(ip) || len(s.addrs) == 1
}

func remoteString(a net.Addr) string {
	if a == nil {
		return ""
	}
	if t, ok := a.(*net.TCPAddr); ok {
		if t.IP.To4() != nil {
			return "tcp4:" + t.String()
		}
		return "tcp6:" + t.String()
	}
	return a.Network() + ":" + a.String()
}

func (h *handler) OnTraffic(gc gnet.Conn) gnet.Action {
	c, _ := gc.Context().(*conn)
	if c == nil {
		return gnet.Close
	}
	// Consume everything: partial frames are kept in the conn's own small
	// state, so gnet never has to copy leftovers into its inbound ring.
	// While the loop is handling this read, Sends to its connections need no
	// wake: the flush below picks them up (see markDirty).
	lp := c.lp
	c.rxTick = lp.ka.now // any input is a sign of life (keepalive.go)
	lp.mu.Lock()
	lp.active = true
	lp.mu.Unlock()
	buf, _ := gc.Next(-1)
	action := c.onData(buf)
	// Replies produced while handling this read go out now, in one write per
	// connection, rather than after a trip through the task queue.
	lp.flush()
	if c.gc == nil {
		return gnet.None // closed re-entrantly (write error or Close)
	}
	return action
}

func (h *handler) OnClose(gc gnet.Conn, err error) gnet.Action {
	h.s.conns.Add(-1)
	c, _ := gc.Context().(*conn)
	if c == nil {
		return gnet.None
	}
	gc.SetContext(nil)
	c.onClose(err)
	return gnet.None
}

// gnetLogger routes gnet's logs into slog; gnet's info lines are debug noise
// for a router.
type gnetLogger struct{ l *slog.Logger }

func (g gnetLogger) Debugf(f string, a ...any) {
	g.l.Debug("gnet: " + strings.TrimSpace(fmt.Sprintf(f, a...)))
}
func (g gnetLogger) Infof(f string, a ...any) {
	g.l.Debug("gnet: " + strings.TrimSpace(fmt.Sprintf(f, a...)))
}
func (g gnetLogger) Warnf(f string, a ...any) {
	g.l.Warn("gnet: " + strings.TrimSpace(fmt.Sprintf(f, a...)))
}
func (g gnetLogger) Errorf(f string, a ...any) {
	g.l.Error("gnet: " + strings.TrimSpace(fmt.Sprintf(f, a...)))
}
func (g gnetLogger) Fatalf(f string, a ...any) {
	g.l.Error("gnet: " + strings.TrimSpace(fmt.Sprintf(f, a...)))
}

// loop is wampd's per-event-loop state: the dirty list of the outbound path
// and the read side's scratch buffers.
type loop struct {
	srv *Server
	el  gnet.EventLoop

	mu        sync.Mutex
	dirty     []*conn // connections with pending output; guarded by mu
	scheduled bool    // a flush task is queued on el; guarded by mu
	// active: the loop is inside OnTraffic and flushes before it returns, so
	// markDirty need not wake it; guarded by mu, cleared by flush under mu
	// before it takes the dirty list (nothing can be left behind).
	active bool

	// loop-owned
	spare   []*conn
	inflate inflater
	scratch []byte // control-frame replies
	ka      wheel  // keepalive
}

func newLoop(s *Server, el gnet.EventLoop) *loop {
	lp := &loop{srv: s, el: el}
	lp.ka.init(lp, &s.ka)
	return lp
}

// markDirty puts c on the loop's dirty list and queues a flush unless one is
// queued already. Any goroutine.
func (lp *loop) markDirty(c *conn) {
	lp.mu.Lock()
	lp.dirty = append(lp.dirty, c)
	// A reply to a message this loop is handling right now is flushed at the
	// end of OnTraffic: waking the loop for it would cost a syscall and an
	// empty task for nothing (it is most RPC replies).
	wake := !lp.scheduled && !lp.active
	if wake {
		lp.scheduled = true
	}
	lp.mu.Unlock()
	if !wake {
		return
	}
	if err := lp.el.Execute(context.Background(), lp); err != nil {
		// The engine is shutting down; OnClose will drop what is pending.
		lp.mu.Lock()
		lp.scheduled = false
		lp.mu.Unlock()
	}
}

// Run is the flush task queued by markDirty (gnet.Runnable). Loop only.
func (lp *loop) Run(context.Context) error {
	lp.flush()
	return nil
}

// flush writes every dirty connection's pending bytes. Loop only.
func (lp *loop) flush() {
	lp.mu.Lock()
	lp.active = false
	if len(lp.dirty) == 0 {
		lp.scheduled = false
		lp.mu.Unlock()
		return
	}
	list := lp.dirty
	lp.dirty = lp.spare[:0]
	lp.scheduled = false
	lp.mu.Unlock()
	for i, c := range list {
		c.flush()
		list[i] = nil
	}
	lp.spare = list[:0]
}
