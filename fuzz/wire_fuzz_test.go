package fuzz

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/wampd/wampd/client"
	"github.com/wampd/wampd/codec"
	"github.com/wampd/wampd/netpoll"
)

// FuzzWireStack writes fuzz bytes to a real netpoll server (gnet loops,
// WebSocket and RawSocket parsers, engine) over TCP, split in two writes at
// a fuzz-chosen point so that every parser sees a partial read. The first
// byte chooses what precedes the rest: nothing, a valid WebSocket upgrade
// (JSON, or MessagePack with permessage-deflate), or a RawSocket handshake;
// some modes also wrap each '\n'-separated chunk of the rest in a valid
// frame, so that the engine behind gets messages and not only frame noise.
//
// After each input: a witness client.Session on its own connection still
// calls its procedure and receives its own event; once the fuzz connection
// is closed, the router's session count is back to the witness alone; and
// the process's goroutine count does not grow with connections.
func FuzzWireStack(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte, split int) {
		ws := wireServer(t)
		stream := wireStream(data)
		if split < 0 || split > len(stream) {
			split = len(stream) / 2
		}
		ws.write(t, stream, split)
		ws.checkWitness(t)
	})
}

// wireEnv is the one server (and witness) per test process: starting gnet
// per input would make fuzzing crawl.
type wireEnv struct {
	srv       *netpoll.Server
	wsAddr    string
	rawAddr   string
	witness   *client.Session
	events    chan uint64
	baseline  int
	checks    atomic.Int64
	stopOnce  sync.Once
	stopRoute func()
}

var (
	wireOnce sync.Once
	wire     *wireEnv
	wireErr  error
)

func wireServer(t testing.TB) *wireEnv {
	wireOnce.Do(func() { wire, wireErr = startWire() })
	if wireErr != nil {
		t.Fatal(wireErr)
	}
	return wire
}

func startWire() (*wireEnv, error) {
	r, err := buildFuzzRouter()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	srv, err := netpoll.Listen(ctx, netpoll.Config{
		WebSocketAddr:    "127.0.0.1:0",
		RawSocketAddr:    "127.0.0.1:0",
		MaxMessageSize:   1 << 16,
		MaxPendingBytes:  1 << 18,
		HandshakeTimeout: 2 * time.Second,
		Logger:           quietLogger(),
		Loops:            2,
	}, r)
	if err != nil {
		return nil, err
	}
	addrs := srv.Addrs()
	e := &wireEnv{srv: srv, wsAddr: addrs[0].String(), rawAddr: addrs[1].String(), events: make(chan uint64, 64)}
	e.stopRoute = func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		r.Shutdown(sctx)
		_ = srv.Stop(sctx)
	}
	w, err := client.Connect(ctx, "ws://"+e.wsAddr+"/ws", "realm1", client.Options{
		Serializer: codec.MsgPack, AuthID: "witness", Auth: []client.Authenticator{client.Ticket(witnessTicket)},
		Logger: quietLogger(),
	})
	if err != nil {
		e.stop()
		return nil, fmt.Errorf("witness connect: %w", err)
	}
	e.witness = w
	if _, err := w.Register(ctx, witnessProc, func(_ context.Context, inv *client.Invocation) (*client.Result, error) {
		return &client.Result{Args: inv.Args}, nil
	}, client.RegisterOptions{}); err != nil {
		e.stop()
		return nil, fmt.Errorf("witness register: %w", err)
	}
	if _, err := w.Subscribe(ctx, witnessTopic, func(ev *client.Event) {
		if len(ev.Args) == 1 {
			if n, ok := ev.Args[0].(uint64); ok {
				select {
				case e.events <- n:
				default:
				}
			}
		}
	}, client.SubscribeOptions{}); err != nil {
		e.stop()
		return nil, fmt.Errorf("witness subscribe: %w", err)
	}
	runtime.GC()
	e.baseline = runtime.NumGoroutine()
	return e, nil
}

func (e *wireEnv) stop() {
	e.stopOnce.Do(func() {
		if e.witness != nil {
			_ = e.witness.Close()
		}
		e.stopRoute()
	})
}

// write sends stream over a fresh connection in two writes, reads what the
// server answers for a moment, and closes.
func (e *wireEnv) write(t testing.TB, stream []byte, split int) {
	addr := e.wsAddr
	if len(stream) > 0 && stream[0] == 0x7f && len(stream)%2 == 0 {
		addr = e.rawAddr // RawSocket works on both listeners: use both
	}
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write(stream[:split]); err != nil {
		return // the server may close early on garbage: fine
	}
	if split > 0 && split < len(stream) {
		// Give the server a read of the first part on its own.
		time.Sleep(300 * time.Microsecond)
	}
	if _, err := c.Write(stream[split:]); err != nil {
		return
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Millisecond))
	buf := make([]byte, 4096)
	for {
		if _, err := c.Read(buf); err != nil {
			return
		}
	}
}

var witnessSeq atomic.Uint64

// checkWitness: the witness calls and publishes, the fuzz connection's
// session is gone, goroutines are stable.
func (e *wireEnv) checkWitness(t testing.TB) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	n := witnessSeq.Add(1)
	res, err := e.witness.Call(ctx, witnessProc, []any{n}, nil, client.CallOptions{})
	if err != nil {
		t.Fatalf("witness call: %v", err)
	}
	if len(res.Args) != 1 || res.Args[0] != n {
		t.Fatalf("witness call returned %v, want [%d]", res.Args, n)
	}
	if err := e.witness.Publish(ctx, witnessTopic, []any{n}, nil,
		client.PublishOptions{Acknowledge: true, ExcludeMe: client.Bool(false)}); err != nil {
		t.Fatalf("witness publish: %v", err)
	}
	for got := false; !got; {
		select {
		case v := <-e.events:
			got = v == n
		case <-ctx.Done():
			t.Fatalf("witness: no event for its publication %d", n)
		}
	}
	// The fuzz connection is closed on our side: its session (if it made
	// one) must leave the realm. Poll briefly: the close travels through
	// the server's loop.
	for i := 0; ; i++ {
		res, err := e.witness.Call(ctx, "wamp.session.count", nil, nil, client.CallOptions{})
		if err != nil {
			t.Fatalf("witness: wamp.session.count: %v", err)
		}
		if len(res.Args) == 1 && res.Args[0] == uint64(1) {
			break
		}
		if i == 600 { // 3s: generous for a loaded machine running every package's tests
			t.Fatalf("sessions of closed connections linger: wamp.session.count = %v", res.Args)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if e.checks.Add(1)%64 == 0 {
		e.checkGoroutines(t)
	}
}

// checkGoroutines fails when the goroutine count stays well above the level
// after start-up: netpoll has no goroutine per connection, so growth means
// something per connection (or per message) leaks.
func (e *wireEnv) checkGoroutines(t testing.TB) {
	limit := e.baseline + 32
	for i := 0; runtime.NumGoroutine() > limit; i++ {
		if i == 100 {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Fatalf("goroutines: %d, started with %d\n%s", runtime.NumGoroutine(), e.baseline, buf)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stream modes (first byte of the input, modulo wireModes).
const (
	modeRaw       = iota // bytes as they are: HTTP or RawSocket from byte one
	modeWSJSON           // WebSocket upgrade (wamp.2.json), then the bytes as frames
	modeWSDeflate        // upgrade (msgpack, permessage-deflate), then the bytes
	modeWSFrames         // upgrade (json), each '\n' chunk in a masked text frame
	modeWSCBOR           // upgrade (cbor), each chunk in a masked binary frame
	modeRSJSON           // RawSocket handshake (json), then the bytes
	modeRSFrames         // RawSocket handshake (json), each chunk in a frame
	modeRSMsgPack        // RawSocket handshake (msgpack), each chunk in a frame
	wireModes
)

func wireStream(data []byte) []byte {
	if len(data) == 0 {
		return nil
	}
	rest := data[1:]
	switch data[0] % wireModes {
	case modeWSJSON:
		return append([]byte(upgrade("wamp.2.json", false)), rest...)
	case modeWSDeflate:
		return append([]byte(upgrade("wamp.2.msgpack", true)), rest...)
	case modeWSFrames:
		return append([]byte(upgrade("wamp.2.json", false)), wsChunks(0x1, rest)...)
	case modeWSCBOR:
		return append([]byte(upgrade("wamp.2.cbor", false)), wsChunks(0x2, rest)...)
	case modeRSJSON:
		return append(rsHandshake(codec.JSON), rest...)
	case modeRSFrames:
		return append(rsHandshake(codec.JSON), rsChunks(rest)...)
	case modeRSMsgPack:
		return append(rsHandshake(codec.MsgPack), rsChunks(rest)...)
	}
	return bytes.Clone(rest)
}

func upgrade(proto string, deflate bool) string {
	s := "GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" +
		"Sec-WebSocket-Protocol: " + proto + "\r\n"
	if deflate {
		s += "Sec-WebSocket-Extensions: permessage-deflate; client_no_context_takeover; server_no_context_takeover\r\n"
	}
	return s + "\r\n"
}

// wsFrame builds a masked client frame (RFC 6455 5.2).
func wsFrame(op byte, fin bool, payload []byte) []byte {
	b0 := op
	if fin {
		b0 |= 0x80
	}
	out := []byte{b0}
	switch n := len(payload); {
	case n < 126:
		out = append(out, 0x80|byte(n))
	case n <= 0xffff:
		out = append(out, 0x80|126, byte(n>>8), byte(n))
	default:
		out = append(out, 0x80|127)
		out = binary.BigEndian.AppendUint64(out, uint64(n))
	}
	mask := [4]byte{0x12, 0x34, 0x56, 0x78}
	out = append(out, mask[:]...)
	for i, c := range payload {
		out = append(out, c^mask[i%4])
	}
	return out
}

func wsChunks(op byte, rest []byte) []byte {
	var out []byte
	for _, chunk := range bytes.Split(rest, []byte("\n")) {
		out = append(out, wsFrame(op, true, chunk)...)
	}
	return out
}

// rsHandshake asks for the largest message length (0xF) and serializer k.
func rsHandshake(k codec.Kind) []byte { return []byte{0x7f, 0xf0 | byte(k), 0, 0} }

// rsFrame builds a RawSocket frame: type (0 message, 1 ping, 2 pong), 24-bit length.
func rsFrame(typ byte, payload []byte) []byte {
	n := len(payload)
	return append([]byte{typ, byte(n >> 16), byte(n >> 8), byte(n)}, payload...)
}

func rsChunks(rest []byte) []byte {
	var out []byte
	for _, chunk := range bytes.Split(rest, []byte("\n")) {
		out = append(out, rsFrame(0, chunk)...)
	}
	return out
}

type wireSeed struct {
	data  []byte
	split int
}

func wireSeeds() []wireSeed {
	mode := func(m int, s string) []byte { return append([]byte{byte(m)}, s...) }
	session := `[1,"realm1",{"roles":{"caller":{},"callee":{},"publisher":{},"subscriber":{}}}]` + "\n" +
		`[32,1,{},"com.a"]` + "\n" + `[16,2,{"acknowledge":true,"exclude_me":false},"com.a",[1]]` + "\n" +
		`[64,3,{},"com.p"]` + "\n" + `[48,4,{},"com.p",[1]]` + "\n" + `[48,5,{},"` + witnessProc + `",[7]]` + "\n" +
		`[6,{},"wamp.close.close_realm"]`
	msgpackHello := "\x93\x01\xa6realm1\x81\xa5roles\x81\xa6caller\x80"
	cborHello := "\x83\x01\x66realm1\xa1\x65roles\xa1\x66caller\xa0"
	seeds := []wireSeed{
		{mode(modeWSFrames, session), 0},
		{mode(modeWSFrames, session), 150},
		{mode(modeWSFrames, session), 40},
		{mode(modeRSFrames, session), 3},
		{mode(modeRSFrames, session), 90},
		{mode(modeRSMsgPack, msgpackHello), 5},
		{mode(modeWSCBOR, cborHello), 200},
		{mode(modeWSFrames, `[1,"realm1",{}]`+"\n"+`[1,"realm1",{}]`), 10}, // HELLO twice: violation
		{mode(modeWSFrames, `[48,1,{},"com.p"]`), 0},                       // before HELLO
		{mode(modeWSFrames, `[1,"realm1",{"authmethods":["ticket"],"authid":"joe"}]`+"\n"+`[5,"s3cret",{}]`), 100},
		{mode(modeRSFrames, `[1,"realm1",{}]`+"\n"+`not json`), 20},
		{mode(modeRaw, upgrade("wamp.2.json", false)), 20},
		{mode(modeRaw, upgrade("wamp.2.nope", false)), 60},
		{mode(modeRaw, "GET /other HTTP/1.1\r\nHost: x\r\n\r\n"), 5},
		{mode(modeRaw, "\x7f\xf1\x00\x00"), 1},
		{mode(modeRaw, "\x7f\xf9\x00\x00"), 2},                                                                                // serializer 9
		{mode(modeRaw, "\x7f\xf1\x00\x01"), 2},                                                                                // reserved bits
		{mode(modeRaw, "\x7e\xf1\x00\x00"), 1},                                                                                // bad magic
		{mode(modeRaw, "\x7f\x01\x00\x00"), 3},                                                                                // length exponent 0
		{mode(modeRSJSON, "\x00\x00\x00\x0f[1,\"realm1\",{}]\x01\x00\x00\x02hi"), 9},                                          // message + ping
		{mode(modeRSJSON, "\x00\xff\xff\xff"), 2},                                                                             // longer than allowed
		{mode(modeRSJSON, "\x07\x00\x00\x00"), 1},                                                                             // unknown frame type
		{mode(modeWSJSON, string(wsFrame(0x1, false, []byte(`[1,"re`)))+string(wsFrame(0x0, true, []byte(`alm1",{}]`)))), 12}, // fragmented
		{mode(modeWSJSON, string(wsFrame(0x9, true, []byte("ping")))+string(wsFrame(0x8, true, []byte{3, 0xe8}))), 4},         // ping, close
		{mode(modeWSJSON, string(wsFrame(0x9, false, []byte("frag ping")))), 3},                                               // fragmented control
		{mode(modeWSJSON, string(wsFrame(0x0, true, []byte("orphan continuation")))), 2},
		{mode(modeWSJSON, "\x81\x05hello"), 1},                                                                     // unmasked client frame
		{mode(modeWSJSON, "\x81\xff\x7f\xff\xff\xff\xff\xff\xff\xff"), 3},                                          // 2^63-1 length
		{mode(modeWSDeflate, string(append([]byte{0xc2, 0x80 | 5, 0, 0, 0, 0}, 0xf2, 0x48, 0xcd, 0xc9, 0xc9))), 7}, // compressed fragment
		{mode(modeWSDeflate, string(wsFrame(0x2|0x40, true, []byte{0x00, 0x01, 0xff}))), 3},                        // bad deflate
		{mode(modeWSFrames, `[1,"realm1",{}]`+"\n"+`[48,1,{"timeout":1},"`+witnessProc+`",[1]]`+"\n"+`[49,1,{"mode":"kill"}]`), 30},
		{mode(modeWSFrames, `[1,"realm1",{}]`+"\n"+`[48,1,{},"wamp.session.kill_all"]`), 30},
	}
	return seeds
}

func TestMain(m *testing.M) {
	code := m.Run()
	if wire != nil {
		wire.stop()
	}
	if code == 0 && os.Getenv("WAMPD_NO_LEAKCHECK") == "" {
		if err := goleak.Find(
			// gnet's package-level worker pool (ants) runs its housekeeping
			// goroutines from init, independent of any engine.
			goleak.IgnoreAnyFunction("github.com/panjf2000/ants/v2.(*poolCommon).purgeStaleWorkers"),
			goleak.IgnoreAnyFunction("github.com/panjf2000/ants/v2.(*poolCommon).ticktock"),
			goleak.IgnoreAnyFunction("github.com/panjf2000/ants/v2.(*Pool).purgeStaleWorkers"),
			goleak.IgnoreAnyFunction("github.com/panjf2000/ants/v2.(*Pool).ticktock"),
		); err != nil && !errors.Is(err, context.Canceled) {
			fmt.Fprintln(os.Stderr, "goroutine leak after the fuzz tests:", err)
			code = 1
		}
	}
	os.Exit(code)
}
