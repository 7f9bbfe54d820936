package netpoll

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/panjf2000/gnet/v2"

	"github.com/wampd/wampd/engine"
)

// onLoop runs f on c's event loop and waits for it.
func onLoop(t *testing.T, c engine.Conn, f func(*conn)) {
	t.Helper()
	nc := c.(*conn)
	done := make(chan struct{})
	err := nc.lp.el.Execute(context.Background(), gnet.RunnableFunc(func(context.Context) error {
		f(nc)
		close(done)
		return nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("loop task did not run")
	}
}

func TestBackPressure(t *testing.T) {
	const bound = 256 << 10
	s, a := startServer(t, Config{MaxPendingBytes: bound})
	slow, _ := dialRaw(t, rawAddr(s), [4]byte{0x7f, 0xf2, 0, 0})
	ps := a.next(t)
	fast, _ := dialRaw(t, rawAddr(s), [4]byte{0x7f, 0xf2, 0, 0})
	a.next(t)

	// The slow client never reads: the kernel buffers fill, then gnet's,
	// then Send must refuse.
	msg := bytes.Repeat([]byte{1}, 4096)
	sent, refused := 0, false
	for i := 0; i < 50_000; i++ {
		if !ps.c.Send(msg) {
			refused = true
			break
		}
		sent++
		if i%64 == 0 {
			time.Sleep(100 * time.Microsecond) // let the loop move bytes to the kernel
		}
	}
	if !refused {
		t.Fatalf("Send never refused after %d MiB", sent*len(msg)>>20)
	}
	// Memory held for the slow connection stays within the bound, however
	// often we try.
	for i := 0; i < 1000; i++ {
		ps.c.Send(msg)
	}
	onLoop(t, ps.c, func(c *conn) {
		c.mu.Lock()
		pending := 0
		if c.pending != nil {
			pending = len(c.pending.b)
		}
		c.mu.Unlock()
		if held := pending + c.gc.OutboundBuffered(); held > bound {
			t.Errorf("held %d bytes for a slow consumer, bound %d", held, bound)
		}
	})

	// Another connection is unaffected.
	start := time.Now()
	fast.write(rawFrame(0, []byte("[1]")))
	if _, got := fast.read(); string(got) != "[1]" {
		t.Fatalf("fast client got %q", got)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("fast client waited %v", d)
	}

	// Once the slow client reads, Send is accepted again.
	go func() {
		buf := make([]byte, 64<<10)
		for {
			if _, err := slow.c.Read(buf); err != nil {
				return
			}
		}
	}()
	slow.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	waitFor(t, "Send accepted after draining", func() bool { return ps.c.Send(msg) })
}

func TestConcurrentSendersKeepOrder(t *testing.T) {
	s, a := startServer(t, Config{})
	w := dialWS(t, wsAddr(s), ws.Dialer{})
	p := a.next(t)
	const senders, each = 8, 200
	var wg sync.WaitGroup
	for g := 0; g < senders; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				if !p.c.Send([]byte(fmt.Sprintf("[%d,%d]", g, i))) {
					t.Error("Send refused")
					return
				}
			}
		}()
	}
	next := make([]int, senders)
	for n := 0; n < senders*each; n++ {
		f := w.readFrame()
		var g, i int
		if _, err := fmt.Sscanf(string(f.Payload), "[%d,%d]", &g, &i); err != nil {
			t.Fatalf("frame %q: %v", f.Payload, err)
		}
		if i != next[g] {
			t.Fatalf("sender %d: got message %d, want %d", g, i, next[g])
		}
		next[g]++
	}
	wg.Wait()
}

func TestFanOutManyConnections(t *testing.T) {
	s, a := startServer(t, Config{})
	const n, msgs = 30, 50
	clients := make([]*rawClient, n)
	peers := make([]*echoPeer, n)
	for i := range clients {
		clients[i], _ = dialRaw(t, rawAddr(s), [4]byte{0x7f, 0xf1, 0, 0})
		peers[i] = a.next(t)
	}
	for m := 0; m < msgs; m++ {
		frame := []byte(fmt.Sprintf(`[36,1,%d,{}]`, m))
		for _, p := range peers {
			if !p.c.Send(frame) {
				t.Fatal("Send refused")
			}
		}
	}
	for i, c := range clients {
		for m := 0; m < msgs; m++ {
			if _, got := c.read(); string(got) != fmt.Sprintf(`[36,1,%d,{}]`, m) {
				t.Fatalf("client %d message %d: %q", i, m, got)
			}
		}
	}
}

// countingLoop is a gnet.EventLoop that only counts wake-ups.
type countingLoop struct{ executes atomic.Int64 }

func (l *countingLoop) Register(context.Context, net.Addr) (<-chan gnet.RegisteredResult, error) {
	return nil, nil
}
func (l *countingLoop) Enroll(context.Context, net.Conn) (<-chan gnet.RegisteredResult, error) {
	return nil, nil
}
func (l *countingLoop) Execute(context.Context, gnet.Runnable) error {
	l.executes.Add(1)
	return nil
}
func (l *countingLoop) Schedule(context.Context, gnet.Runnable, time.Duration) error { return nil }
func (l *countingLoop) Close(gnet.Conn) error                                        { return nil }

// fakeConn is a connection that is attached but has no socket.
func fakeConn(s *Server, lp *loop, raw bool) *conn {
	c := &conn{srv: s, lp: lp, kind: 2, isRaw: raw}
	if raw {
		c.state = stateRaw
		c.raw.maxIn = s.cfg.MaxMessageSize
	} else {
		c.state = stateWS
	}
	return c
}

func fakeServer() *Server {
	return &Server{cfg: Config{MaxMessageSize: 1 << 20, MaxPendingBytes: 1 << 20}, log: quietLogger()}
}

func TestOneWakePerLoopPerBatch(t *testing.T) {
	s := fakeServer()
	el := &countingLoop{}
	lp := newLoop(s, el)
	conns := make([]*conn, 100)
	for i := range conns {
		conns[i] = fakeConn(s, lp, true)
	}
	for m := 0; m < 10; m++ {
		for _, c := range conns {
			if !c.Send([]byte("[36,1,2,{}]")) {
				t.Fatal("Send refused")
			}
		}
	}
	if got := el.executes.Load(); got != 1 {
		t.Fatalf("%d wake-ups for one batch to one loop, want 1", got)
	}
	if len(lp.dirty) != len(conns) {
		t.Fatalf("%d dirty conns, want %d (each once)", len(lp.dirty), len(conns))
	}
	lp.flush() // the conns have no socket: this only empties the list
	conns[0].mu.Lock()
	conns[0].dirty = false
	conns[0].mu.Unlock()
	conns[0].Send([]byte("[1]"))
	if got := el.executes.Load(); got != 2 {
		t.Fatalf("%d wake-ups after the flush, want 2", got)
	}
}

func TestStopClosesEveryPeerOnce(t *testing.T) {
	a := newEchoAttacher()
	s, err := Listen(context.Background(), Config{WebSocketAddr: "127.0.0.1:0", Loops: 2, Logger: quietLogger()}, a)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Addrs()) != 1 || s.Addrs()[0].(*net.TCPAddr).Port == 0 {
		t.Fatalf("addrs %v", s.Addrs())
	}
	var ps []*echoPeer
	for i := 0; i < 5; i++ {
		dialWS(t, wsAddr(s), ws.Dialer{})
		ps = append(ps, a.next(t))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	for i, p := range ps {
		if n := p.closed.Load(); n != 1 {
			t.Fatalf("peer %d: Closed called %d times", i, n)
		}
	}
	if _, err := net.DialTimeout("tcp", wsAddr(s), time.Second); err == nil {
		t.Fatal("listener still accepting after Stop")
	}
}

func TestListenErrors(t *testing.T) {
	if _, err := Listen(context.Background(), Config{}, newEchoAttacher()); err == nil {
		t.Fatal("Listen without addresses succeeded")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, err = Listen(context.Background(), Config{WebSocketAddr: ln.Addr().String(), Logger: quietLogger()}, newEchoAttacher())
	if err == nil {
		t.Fatal("Listen on a busy port succeeded")
	}
}

func TestHandshakeTimeout(t *testing.T) {
	s, a := startServer(t, Config{HandshakeTimeout: 100 * time.Millisecond})
	// A slowloris request on the WebSocket port and a half handshake on the
	// RawSocket port are both dropped.
	c1, err := dialTCP(wsAddr(s))
	if err != nil {
		t.Fatal(err)
	}
	defer c1.Close()
	c1.Write([]byte("GET /ws HTTP/1.1\r\nHost: x\r\n"))
	c2, err := dialTCP(rawAddr(s))
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	c2.Write([]byte{0x7f, 0xf1})
	// A completed handshake is not affected.
	r, _ := dialRaw(t, rawAddr(s), [4]byte{0x7f, 0xf1, 0, 0})
	a.next(t)
	(&rawClient{t: t, c: c1}).expectEOF()
	(&rawClient{t: t, c: c2}).expectEOF()
	time.Sleep(200 * time.Millisecond)
	r.write(rawFrame(0, []byte("[1]")))
	if _, got := r.read(); string(got) != "[1]" {
		t.Fatalf("attached connection got %q", got)
	}
}
