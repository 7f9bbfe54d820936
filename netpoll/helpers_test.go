package netpoll

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/httphead"
	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsflate"
	"github.com/klauspost/compress/flate"
	"go.uber.org/goleak"

	"github.com/wampd/wampd/engine"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// gnet's package-level worker pool (ants) runs its housekeeping
		// goroutines from init, independent of any engine.
		goleak.IgnoreAnyFunction("github.com/panjf2000/ants/v2.(*poolCommon).purgeStaleWorkers"),
		goleak.IgnoreAnyFunction("github.com/panjf2000/ants/v2.(*poolCommon).ticktock"),
		goleak.IgnoreAnyFunction("github.com/panjf2000/ants/v2.(*Pool).purgeStaleWorkers"),
		goleak.IgnoreAnyFunction("github.com/panjf2000/ants/v2.(*Pool).ticktock"),
	)
}

// echoAttacher attaches echoPeers and remembers every connection.
type echoAttacher struct {
	mu    sync.Mutex
	conns []engine.Conn
	peers []*echoPeer
	ch    chan *echoPeer
}

func newEchoAttacher() *echoAttacher { return &echoAttacher{ch: make(chan *echoPeer, 64)} }

func (a *echoAttacher) Attach(c engine.Conn) engine.Peer {
	p := &echoPeer{c: c, got: make(chan []byte, 16), done: make(chan struct{})}
	a.mu.Lock()
	a.conns = append(a.conns, c)
	a.peers = append(a.peers, p)
	a.mu.Unlock()
	select {
	case a.ch <- p:
	default:
	}
	return p
}

func (a *echoAttacher) next(t *testing.T) *echoPeer {
	t.Helper()
	select {
	case p := <-a.ch:
		return p
	case <-time.After(5 * time.Second):
		t.Fatal("no connection attached")
		return nil
	}
}

// echoPeer sends every message back, unless quiet is set.
type echoPeer struct {
	c      engine.Conn
	quiet  atomic.Bool
	got    chan []byte
	closed atomic.Int32
	done   chan struct{}
	once   sync.Once
}

func (p *echoPeer) Handle(msg []byte) {
	if p.closed.Load() != 0 {
		panic("Handle after Closed")
	}
	select {
	case p.got <- bytes.Clone(msg):
	default:
	}
	if !p.quiet.Load() {
		p.c.Send(msg)
	}
}

func (p *echoPeer) Closed() {
	p.closed.Add(1)
	p.once.Do(func() {
		if p.done != nil {
			close(p.done)
		}
	})
}

func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// startServer listens on ephemeral loopback ports (WebSocket and RawSocket).
func startServer(t *testing.T, cfg Config) (*Server, *echoAttacher) {
	t.Helper()
	if cfg.WebSocketAddr == "" {
		cfg.WebSocketAddr = "127.0.0.1:0"
	}
	if cfg.RawSocketAddr == "" {
		cfg.RawSocketAddr = "127.0.0.1:0"
	}
	if cfg.Loops == 0 {
		cfg.Loops = 2
	}
	if cfg.Logger == nil {
		cfg.Logger = quietLogger()
	}
	a := newEchoAttacher()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := Listen(ctx, cfg, a)
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Stop(ctx); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	return s, a
}

func wsAddr(s *Server) string  { return s.Addrs()[0].String() }
func rawAddr(s *Server) string { return s.Addrs()[len(s.Addrs())-1].String() }

// wsClient is a test WebSocket client built from gobwas/ws primitives.
type wsClient struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
	hs ws.Handshake
}

func dialWS(t *testing.T, addr string, d ws.Dialer) *wsClient {
	t.Helper()
	if d.Protocols == nil {
		d.Protocols = []string{"wamp.2.json"}
	}
	d.Timeout = 5 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, br, hs, err := d.Dial(ctx, "ws://"+addr+"/ws")
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	if br == nil {
		br = bufio.NewReader(c)
	}
	t.Cleanup(func() { c.Close() })
	return &wsClient{t: t, c: c, br: br, hs: hs}
}

func maskedFrame(op ws.OpCode, fin bool, payload []byte) []byte {
	f := ws.NewFrame(op, fin, bytes.Clone(payload))
	f = ws.MaskFrameInPlace(f)
	b, err := ws.CompileFrame(f)
	if err != nil {
		panic(err)
	}
	return b
}

func (w *wsClient) write(b []byte) {
	w.t.Helper()
	if _, err := w.c.Write(b); err != nil {
		w.t.Fatalf("write: %v", err)
	}
}

func (w *wsClient) send(op ws.OpCode, payload []byte) { w.write(maskedFrame(op, true, payload)) }

func (w *wsClient) readFrame() ws.Frame {
	w.t.Helper()
	w.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	f, err := ws.ReadFrame(w.br)
	if err != nil {
		w.t.Fatalf("read frame: %v", err)
	}
	if f.Header.Masked {
		w.t.Fatal("server frame is masked")
	}
	return f
}

// expectMessage reads the next data frame and checks it.
func (w *wsClient) expectMessage(op ws.OpCode, want []byte) {
	w.t.Helper()
	f := w.readFrame()
	if f.Header.OpCode != op || !f.Header.Fin {
		w.t.Fatalf("frame op=%v fin=%v, want op=%v fin", f.Header.OpCode, f.Header.Fin, op)
	}
	if !bytes.Equal(f.Payload, want) {
		w.t.Fatalf("payload %q, want %q", trunc(f.Payload), trunc(want))
	}
}

// expectClose reads a close frame with code and then EOF.
func (w *wsClient) expectClose(code ws.StatusCode) {
	w.t.Helper()
	f := w.readFrame()
	if f.Header.OpCode != ws.OpClose {
		w.t.Fatalf("got op %v, want close", f.Header.OpCode)
	}
	got, _ := ws.ParseCloseFrameData(f.Payload)
	if got != code {
		w.t.Fatalf("close code %d, want %d", got, code)
	}
	w.expectEOF()
}

func (w *wsClient) expectEOF() {
	w.t.Helper()
	w.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := w.br.Read(make([]byte, 1)); err == nil {
		w.t.Fatalf("read %d more bytes, want EOF", n)
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		w.t.Fatal("connection not closed by the server")
	}
}

func trunc(b []byte) []byte {
	if len(b) > 64 {
		return b[:64]
	}
	return b
}

// upgradeRequest is a handshake request as a client would send it.
func upgradeRequest(path string, header string) string {
	return "GET " + path + " HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n" +
		"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
		"Sec-WebSocket-Version: 13\r\n" + header + "\r\n"
}

// httpExchange sends a request (byte by byte when split) and parses the response.
func httpExchange(t *testing.T, addr, req string, split bool) (*http.Response, *bufio.Reader, net.Conn) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if split {
		for i := 0; i < len(req); i++ {
			if _, err := c.Write([]byte{req[i]}); err != nil {
				t.Fatal(err)
			}
		}
	} else if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	return resp, br, c
}

// rawClient is a test RawSocket client.
type rawClient struct {
	t *testing.T
	c net.Conn
}

func dialRaw(t *testing.T, addr string, hs [4]byte) (*rawClient, [4]byte) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	r := &rawClient{t: t, c: c}
	r.write(hs[:])
	var reply [4]byte
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(c, reply[:]); err != nil {
		t.Fatalf("handshake reply: %v", err)
	}
	return r, reply
}

func (r *rawClient) write(b []byte) {
	r.t.Helper()
	if _, err := r.c.Write(b); err != nil {
		r.t.Fatalf("write: %v", err)
	}
}

func rawFrame(typ byte, payload []byte) []byte {
	b := make([]byte, 4, 4+len(payload))
	b[0] = typ
	b[1], b[2], b[3] = byte(len(payload)>>16), byte(len(payload)>>8), byte(len(payload))
	return append(b, payload...)
}

func (r *rawClient) read() (byte, []byte) {
	r.t.Helper()
	r.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	var h [4]byte
	if _, err := io.ReadFull(r.c, h[:]); err != nil {
		r.t.Fatalf("read header: %v", err)
	}
	n := int(h[0]&0x08)<<21 | int(h[1])<<16 | int(h[2])<<8 | int(h[3])
	p := make([]byte, n)
	if _, err := io.ReadFull(r.c, p); err != nil {
		r.t.Fatalf("read payload: %v", err)
	}
	return h[0] & 7, p
}

func (r *rawClient) expectEOF() {
	r.t.Helper()
	r.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := r.c.Read(make([]byte, 1))
	if err == nil {
		r.t.Fatal("got data, want EOF")
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		r.t.Fatal("connection not closed by the server")
	}
}

// client-side permessage-deflate helpers (klauspost flate).
func clientDeflate(p []byte) []byte {
	var buf bytes.Buffer
	w, _ := flate.NewWriter(&buf, flate.BestSpeed)
	w.Write(p)
	w.Flush()
	return bytes.TrimSuffix(buf.Bytes(), []byte{0, 0, 0xff, 0xff})
}

func clientInflate(t *testing.T, p []byte) []byte {
	t.Helper()
	r := flate.NewReader(io.MultiReader(bytes.NewReader(p), bytes.NewReader(deflateTail)))
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("inflate: %v", err)
	}
	return out
}

func compressedFrame(payload []byte) []byte {
	f := ws.NewFrame(ws.OpText, true, clientDeflate(payload))
	f.Header.Rsv = ws.Rsv(true, false, false)
	f = ws.MaskFrameInPlace(f)
	b, _ := ws.CompileFrame(f)
	return b
}

var deflateOffer = []httphead.Option{wsflate.Parameters{
	ServerNoContextTakeover: true,
	ClientNoContextTakeover: true,
}.Option()}

func closePayload(code uint16, reason string) []byte {
	b := binary.BigEndian.AppendUint16(nil, code)
	return append(b, reason...)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timeout waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
