package netpoll

import (
	"bytes"
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/wampd/wampd/client"
	"github.com/wampd/wampd/engine"
)

const (
	kaInterval = 100 * time.Millisecond
	kaTimeout  = 100 * time.Millisecond
)

func keepaliveConfig() Config {
	return Config{PingInterval: kaInterval, PingTimeout: kaTimeout}
}

func waitClosed(t *testing.T, p *echoPeer) {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		t.Fatal("Peer.Closed not called")
	}
	if n := p.closed.Load(); n != 1 {
		t.Fatalf("Peer.Closed called %d times", n)
	}
}

// A WebSocket peer that never answers is pinged after PingInterval of
// silence and dropped PingTimeout later; its Peer is Closed.
func TestKeepaliveWebSocketSilentPeerClosed(t *testing.T) {
	s, a := startServer(t, keepaliveConfig())
	w := dialWS(t, wsAddr(s), ws.Dialer{})
	p := a.next(t)
	start := time.Now()
	f := w.readFrame()
	if f.Header.OpCode != ws.OpPing || len(f.Payload) == 0 {
		t.Fatalf("got op %v %q, want a ping with a payload", f.Header.OpCode, f.Payload)
	}
	if d := time.Since(start); d < kaInterval-10*time.Millisecond {
		t.Fatalf("pinged after %v of silence, interval is %v", d, kaInterval)
	}
	// No answer: the connection is dropped without a close handshake.
	w.expectEOF()
	if d := time.Since(start); d < kaInterval+kaTimeout {
		t.Fatalf("closed after %v, want at least interval+timeout %v", d, kaInterval+kaTimeout)
	}
	waitClosed(t, p)
}

// A WebSocket peer that answers pings (gobwas client) stays connected across
// many intervals, and the session keeps working.
func TestKeepaliveWebSocketPongKeepsAlive(t *testing.T) {
	s, a := startServer(t, keepaliveConfig())
	w := dialWS(t, wsAddr(s), ws.Dialer{})
	p := a.next(t)
	pings := 0
	end := time.Now().Add(8 * kaInterval)
	for time.Now().Before(end) {
		w.c.SetReadDeadline(end)
		f, err := ws.ReadFrame(w.br)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			break
		}
		if err != nil {
			t.Fatalf("connection lost after %d pings: %v", pings, err)
		}
		if f.Header.OpCode != ws.OpPing {
			t.Fatalf("unexpected frame op %v", f.Header.OpCode)
		}
		pings++
		w.send(ws.OpPong, f.Payload)
	}
	if pings < 3 {
		t.Fatalf("%d pings in %v with interval %v", pings, 8*kaInterval, kaInterval)
	}
	w.send(ws.OpText, []byte("[1]"))
	w.expectMessage(ws.OpText, []byte("[1]"))
	if p.closed.Load() != 0 {
		t.Fatal("Peer closed")
	}
}

// A peer that keeps sending messages is never idle: it is not pinged (at
// most once, when the machine stalls the test) and never dropped.
func TestKeepaliveActivePeerNotPinged(t *testing.T) {
	s, a := startServer(t, Config{PingInterval: 250 * time.Millisecond, PingTimeout: 250 * time.Millisecond})
	w := dialWS(t, wsAddr(s), ws.Dialer{})
	p := a.next(t)
	pings := 0
	for end := time.Now().Add(time.Second); time.Now().Before(end); {
		w.send(ws.OpText, []byte("[1]"))
		for {
			f := w.readFrame()
			if f.Header.OpCode == ws.OpPing {
				pings++
				w.send(ws.OpPong, f.Payload)
				continue
			}
			if f.Header.OpCode != ws.OpText || string(f.Payload) != "[1]" {
				t.Fatalf("got op %v %q", f.Header.OpCode, f.Payload)
			}
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if pings > 1 {
		t.Fatalf("an active peer was pinged %d times", pings)
	}
	if p.closed.Load() != 0 {
		t.Fatal("active peer closed")
	}
}

// RawSocket: a silent peer gets a PING frame (type 1) and is dropped.
func TestKeepaliveRawSocketSilentPeerClosed(t *testing.T) {
	s, a := startServer(t, keepaliveConfig())
	r, _ := dialRaw(t, rawAddr(s), [4]byte{0x7f, 0xf1, 0, 0})
	p := a.next(t)
	start := time.Now()
	typ, payload := r.read()
	if typ != rawTypePing || len(payload) == 0 {
		t.Fatalf("got type %d %q, want a PING with a payload", typ, payload)
	}
	r.expectEOF()
	if d := time.Since(start); d < kaInterval+kaTimeout {
		t.Fatalf("closed after %v, want at least interval+timeout %v", d, kaInterval+kaTimeout)
	}
	waitClosed(t, p)
}

// RawSocket: a peer answering PING with PONG stays connected.
func TestKeepaliveRawSocketPongKeepsAlive(t *testing.T) {
	s, a := startServer(t, keepaliveConfig())
	r, _ := dialRaw(t, rawAddr(s), [4]byte{0x7f, 0xf1, 0, 0})
	p := a.next(t)
	pings := 0
	for end := time.Now().Add(8 * kaInterval); time.Now().Before(end); {
		typ, payload := r.read()
		if typ != rawTypePing {
			t.Fatalf("unexpected frame type %d", typ)
		}
		pings++
		if !bytes.Equal(payload, pingPayload) {
			t.Fatalf("ping payload %q", payload)
		}
		r.write(rawFrame(rawTypePong, payload))
	}
	if pings < 3 {
		t.Fatalf("%d pings", pings)
	}
	r.write(rawFrame(rawTypeMessage, []byte("[1]")))
	if typ, got := r.read(); typ != rawTypeMessage || string(got) != "[1]" {
		t.Fatalf("echo type %d %q", typ, got)
	}
	if p.closed.Load() != 0 {
		t.Fatal("Peer closed")
	}
}

// Clients that send their own pings count as active.
func TestKeepaliveClientPingsCount(t *testing.T) {
	s, a := startServer(t, keepaliveConfig())
	r, _ := dialRaw(t, rawAddr(s), [4]byte{0x7f, 0xf1, 0, 0})
	p := a.next(t)
	for end := time.Now().Add(6 * kaInterval); time.Now().Before(end); {
		r.write(rawFrame(rawTypePing, []byte("me")))
		typ, got := r.read()
		if typ == rawTypePing { // the router's own, if we were late: answer
			r.write(rawFrame(rawTypePong, got))
			continue
		}
		if typ != rawTypePong || string(got) != "me" {
			t.Fatalf("got type %d %q", typ, got)
		}
		time.Sleep(kaInterval / 4)
	}
	if p.closed.Load() != 0 {
		t.Fatal("a peer that pings was closed")
	}
}

// With keepalive disabled an idle connection is neither pinged nor closed.
func TestKeepaliveDisabled(t *testing.T) {
	s, a := startServer(t, Config{PingInterval: -1, PingTimeout: kaTimeout})
	w := dialWS(t, wsAddr(s), ws.Dialer{})
	r, _ := dialRaw(t, rawAddr(s), [4]byte{0x7f, 0xf1, 0, 0})
	p1, p2 := a.next(t), a.next(t)
	time.Sleep(5 * (kaInterval + kaTimeout) / 2)
	w.c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	if n, err := w.br.Read(make([]byte, 1)); err == nil {
		t.Fatalf("idle WebSocket got %d bytes with keepalive off", n)
	}
	w.send(ws.OpText, []byte("[1]"))
	w.expectMessage(ws.OpText, []byte("[1]"))
	r.write(rawFrame(rawTypeMessage, []byte("[2]")))
	if typ, got := r.read(); typ != rawTypeMessage || string(got) != "[2]" {
		t.Fatalf("got type %d %q", typ, got)
	}
	if p1.closed.Load()+p2.closed.Load() != 0 {
		t.Fatal("idle connection closed with keepalive off")
	}
}

// Sweeping the wheel allocates nothing, however many connections it re-files.
func TestKeepaliveSweepAllocs(t *testing.T) {
	s := &Server{ka: newKeepalive(time.Second, time.Second)}
	lp := newLoop(s, nil)
	w := &lp.ka
	conns := make([]*conn, 1000)
	for i := range conns {
		conns[i] = &conn{srv: s, lp: lp, kaList: -1}
		w.track(conns[i])
	}
	now := w.done
	allocs := testing.AllocsPerRun(50, func() {
		now++
		for _, c := range conns {
			c.rxTick = now // every connection is busy: re-filed, never pinged
		}
		w.advance(now)
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per sweep", allocs)
	}
	if n := w.members.Load(); n != int32(len(conns)) {
		t.Fatalf("%d members, want %d", n, len(conns))
	}
	for _, c := range conns {
		w.untrack(c)
	}
	for i, h := range w.heads {
		if h != nil || w.members.Load() != 0 {
			t.Fatalf("slot %d not empty after untracking everything", i)
		}
	}
}

// The point of keepalive: a callee whose network died (it neither answers
// nor closes) loses its registration, so another session can register the
// procedure, and a call pending on it fails instead of hanging.
func TestKeepaliveSilentCalleeLosesRegistration(t *testing.T) {
	router, err := engine.NewRouter(engine.Config{
		Realms: []engine.RealmConfig{{Name: "realm1", Anonymous: true}},
		Logger: quietLogger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := Listen(ctx, Config{
		WebSocketAddr: "127.0.0.1:0", RawSocketAddr: "127.0.0.1:0", Loops: 2,
		PingInterval: kaInterval, PingTimeout: kaTimeout, Logger: quietLogger(),
	}, router)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		router.Shutdown(ctx)
		if err := s.Stop(ctx); err != nil {
			t.Errorf("Stop: %v", err)
		}
	}()

	// The callee: a raw JSON RawSocket session that registers, then falls
	// silent (as if its machine lost power).
	r, _ := dialRaw(t, rawAddr(s), [4]byte{0x7f, 0xf1, 0, 0})
	r.write(rawFrame(rawTypeMessage, []byte(`[1,"realm1",{"roles":{"callee":{}}}]`)))
	if typ, got := r.read(); typ != rawTypeMessage || !strings.HasPrefix(string(got), "[2,") {
		t.Fatalf("want WELCOME, got type %d %s", typ, got)
	}
	r.write(rawFrame(rawTypeMessage, []byte(`[64,1,{},"com.example.echo"]`)))
	if typ, got := r.read(); typ != rawTypeMessage || !strings.HasPrefix(string(got), "[65,1,") {
		t.Fatalf("want REGISTERED, got type %d %s", typ, got)
	}

	live, err := client.Connect(ctx, "ws://"+wsAddr(s)+"/ws", "realm1", client.Options{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	echo := func(_ context.Context, inv *client.Invocation) (*client.Result, error) {
		return &client.Result{Args: inv.Args}, nil
	}
	_, err = live.Register(ctx, "com.example.echo", echo, client.RegisterOptions{})
	if want := (&client.Error{URI: "wamp.error.procedure_already_exists"}); !errors.Is(err, want) {
		t.Fatalf("Register while the callee holds the procedure: %v, want %s", err, want.URI)
	}
	// A call routed to the dead callee: it must fail when the callee is
	// dropped, not wait forever.
	callStart := time.Now()
	if _, err := live.Call(ctx, "com.example.echo", []any{"x"}, nil, client.CallOptions{}); err == nil || ctx.Err() != nil {
		t.Fatalf("call to the silent callee: err %v, ctx %v; want a WAMP error once it is dropped", err, ctx.Err())
	}
	if d := time.Since(callStart); d > 5*time.Second {
		t.Fatalf("pending call failed only after %v", d)
	}
	// The registration is gone: the live session takes the procedure over.
	for {
		_, err = live.Register(ctx, "com.example.echo", echo, client.RegisterOptions{})
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("procedure never freed: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	res, err := live.Call(ctx, "com.example.echo", []any{"hi"}, nil, client.CallOptions{})
	if err != nil || len(res.Args) != 1 || res.Args[0] != "hi" {
		t.Fatalf("call after takeover: %v %v", res, err)
	}
	// The live session (its client answers pings) survived all of it.
	time.Sleep(3 * (kaInterval + kaTimeout))
	if !live.Connected() {
		t.Fatalf("live session dropped: %v", live.Err())
	}
	// The callee's socket was reset (what it had not read is lost with it).
	r.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 4096)
	for {
		if _, err := r.c.Read(buf); err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatal("silent callee's connection still open")
			}
			break
		}
	}
}

// BenchmarkKeepaliveSweep100k: the bookkeeping of one tick on a loop holding
// 100k connections with the default periods (each is re-filed about once per
// interval; the ping writes themselves are not included).
func BenchmarkKeepaliveSweep100k(b *testing.B) {
	s := &Server{ka: newKeepalive(defaultPingInterval, defaultPingTimeout)}
	lp := newLoop(s, nil)
	w := &lp.ka
	conns := make([]*conn, 100_000)
	for i := range conns {
		conns[i] = &conn{srv: s, lp: lp, kaList: -1}
		w.track(conns[i])
	}
	now := w.done
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		now++
		if now%s.ka.interval == 0 { // reads keep every connection from falling due
			b.StopTimer()
			for _, c := range conns {
				c.rxTick = now
			}
			b.StartTimer()
		}
		w.advance(now)
	}
}
