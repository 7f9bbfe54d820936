package netpoll

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsflate"

	"github.com/wampd/wampd/codec"
)

func TestWebSocketEchoTextAndBinary(t *testing.T) {
	s, a := startServer(t, Config{})
	// JSON: text frames both ways.
	w := dialWS(t, wsAddr(s), ws.Dialer{Protocols: []string{"wamp.2.json"}})
	p := a.next(t)
	if got := p.c.Serializer(); got != codec.JSON {
		t.Fatalf("serializer %v, want json", got)
	}
	if ti := p.c.Transport(); ti.Type != "websocket" || !strings.HasPrefix(ti.Peer, "tcp4:127.0.0.1:") {
		t.Fatalf("transport %+v", ti)
	}
	msg := []byte(`[1,"realm1",{}]`)
	w.send(ws.OpText, msg)
	w.expectMessage(ws.OpText, msg)

	// msgpack: binary frames.
	w2 := dialWS(t, wsAddr(s), ws.Dialer{Protocols: []string{"wamp.2.msgpack"}})
	p2 := a.next(t)
	if p2.c.Serializer() != codec.MsgPack || w2.hs.Protocol != "wamp.2.msgpack" {
		t.Fatalf("serializer %v protocol %q", p2.c.Serializer(), w2.hs.Protocol)
	}
	bin := []byte{0x93, 0x01, 0xff, 0x00}
	w2.send(ws.OpBinary, bin)
	w2.expectMessage(ws.OpBinary, bin)

	// Big message (64-bit length header) round trip.
	big := bytes.Repeat([]byte{0xab}, 200_000)
	w2.send(ws.OpBinary, big)
	w2.expectMessage(ws.OpBinary, big)
}

func TestWebSocketSubprotocolChoice(t *testing.T) {
	s, _ := startServer(t, Config{})
	w := dialWS(t, wsAddr(s), ws.Dialer{Protocols: []string{"x.unknown", "wamp.2.cbor", "wamp.2.json"}})
	if w.hs.Protocol != "wamp.2.cbor" {
		t.Fatalf("protocol %q, want the first supported one the client offered", w.hs.Protocol)
	}
}

func TestWebSocketSplitByteByByte(t *testing.T) {
	s, a := startServer(t, Config{})
	msg := []byte(`[16,1,{},"com.example.topic",["héllo"]]`)
	// The request and a frame, written one byte at a time.
	req := upgradeRequest("/ws", "Sec-WebSocket-Protocol: wamp.2.json\r\n")
	resp, br, c := httpExchange(t, wsAddr(s), req, true)
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if got := resp.Header.Get("Sec-WebSocket-Accept"); got != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Fatalf("accept %q", got)
	}
	a.next(t)
	for _, b := range maskedFrame(ws.OpText, true, msg) {
		if _, err := c.Write([]byte{b}); err != nil {
			t.Fatal(err)
		}
	}
	w := &wsClient{t: t, c: c, br: br}
	w.expectMessage(ws.OpText, msg)
}

func TestWebSocketRequestAndFramesTogether(t *testing.T) {
	s, _ := startServer(t, Config{})
	m1, m2, m3 := []byte(`[1]`), []byte(`[2,"x"]`), bytes.Repeat([]byte("z"), 300)
	// Handshake and three frames in a single write: the bytes after the
	// request are frames.
	all := upgradeRequest("/ws", "Sec-WebSocket-Protocol: wamp.2.json\r\n")
	all += string(maskedFrame(ws.OpText, true, m1)) + string(maskedFrame(ws.OpText, true, m2)) +
		string(maskedFrame(ws.OpText, true, m3))
	resp, br, c := httpExchange(t, wsAddr(s), all, false)
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("status %d", resp.StatusCode)
	}
	w := &wsClient{t: t, c: c, br: br}
	w.expectMessage(ws.OpText, m1)
	w.expectMessage(ws.OpText, m2)
	w.expectMessage(ws.OpText, m3)
	// Several frames in one write after the handshake too.
	w.write(append(maskedFrame(ws.OpText, true, m2), maskedFrame(ws.OpText, true, m1)...))
	w.expectMessage(ws.OpText, m2)
	w.expectMessage(ws.OpText, m1)
}

func TestWebSocketFragmentationWithPing(t *testing.T) {
	s, _ := startServer(t, Config{})
	w := dialWS(t, wsAddr(s), ws.Dialer{})
	// text "hello wörld" in three fragments (the ö split across two), a
	// ping between fragments.
	whole := []byte("hello wörld")
	b := maskedFrame(ws.OpText, false, whole[:7])
	b = append(b, maskedFrame(ws.OpPing, true, []byte("pp"))...)
	b = append(b, maskedFrame(ws.OpContinuation, false, whole[7:8])...)
	w.write(b)
	f := w.readFrame()
	if f.Header.OpCode != ws.OpPong || string(f.Payload) != "pp" {
		t.Fatalf("got %v %q, want pong pp", f.Header.OpCode, f.Payload)
	}
	// Last fragment, split in two writes.
	last := maskedFrame(ws.OpContinuation, true, whole[8:])
	w.write(last[:3])
	time.Sleep(10 * time.Millisecond)
	w.write(last[3:])
	w.expectMessage(ws.OpText, whole)
}

func TestWebSocketProtocolErrors(t *testing.T) {
	s, _ := startServer(t, Config{MaxMessageSize: 1000})
	cases := []struct {
		name  string
		bytes []byte
		code  ws.StatusCode
	}{
		{"unmasked", func() []byte {
			b, _ := ws.CompileFrame(ws.NewTextFrame([]byte("[1]")))
			return b
		}(), ws.StatusProtocolError},
		{"oversize", maskedFrame(ws.OpBinary, true, make([]byte, 1001)), ws.StatusMessageTooBig},
		{"oversize fragmented", append(maskedFrame(ws.OpBinary, false, make([]byte, 600)),
			maskedFrame(ws.OpContinuation, true, make([]byte, 600))...), ws.StatusMessageTooBig},
		{"bad utf8", maskedFrame(ws.OpText, true, []byte{'[', 0xff, 0xfe, ']'}), ws.StatusInvalidFramePayloadData},
		{"bad utf8 fragmented", append(maskedFrame(ws.OpText, false, []byte("ok")),
			maskedFrame(ws.OpContinuation, true, []byte{0xc3})...), ws.StatusInvalidFramePayloadData},
		{"reserved opcode", maskedFrame(ws.OpCode(3), true, nil), ws.StatusProtocolError},
		{"reserved bits", func() []byte {
			f := ws.NewTextFrame([]byte("x"))
			f.Header.Rsv = ws.Rsv(false, true, false)
			b, _ := ws.CompileFrame(ws.MaskFrameInPlace(f))
			return b
		}(), ws.StatusProtocolError},
		{"rsv1 without deflate", func() []byte {
			f := ws.NewTextFrame([]byte("x"))
			f.Header.Rsv = ws.Rsv(true, false, false)
			b, _ := ws.CompileFrame(ws.MaskFrameInPlace(f))
			return b
		}(), ws.StatusProtocolError},
		{"control too long", maskedFrame(ws.OpPing, true, make([]byte, 126)), ws.StatusProtocolError},
		{"fragmented control", maskedFrame(ws.OpPing, false, []byte("x")), ws.StatusProtocolError},
		{"continuation first", maskedFrame(ws.OpContinuation, true, []byte("x")), ws.StatusProtocolError},
		{"new message mid-fragment", append(maskedFrame(ws.OpText, false, []byte("a")),
			maskedFrame(ws.OpText, true, []byte("b"))...), ws.StatusProtocolError},
		{"close code invalid", maskedFrame(ws.OpClose, true, closePayload(1005, "")), ws.StatusProtocolError},
		{"close one byte", maskedFrame(ws.OpClose, true, []byte{3}), ws.StatusProtocolError},
		{"close reason bad utf8", maskedFrame(ws.OpClose, true, closePayload(1000, "\xff")), ws.StatusInvalidFramePayloadData},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := dialWS(t, wsAddr(s), ws.Dialer{})
			w.write(tc.bytes)
			w.expectClose(tc.code)
		})
	}
}

func TestWebSocketCloseHandshake(t *testing.T) {
	s, a := startServer(t, Config{})
	w := dialWS(t, wsAddr(s), ws.Dialer{})
	p := a.next(t)
	w.send(ws.OpText, []byte(`[6,{},"wamp.close.normal"]`))
	w.send(ws.OpClose, closePayload(4000, "bye"))
	// The echo of the message queued before the close is delivered first.
	w.expectMessage(ws.OpText, []byte(`[6,{},"wamp.close.normal"]`))
	w.expectClose(4000)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		t.Fatal("Peer.Closed not called")
	}
	time.Sleep(20 * time.Millisecond)
	if n := p.closed.Load(); n != 1 {
		t.Fatalf("Closed called %d times", n)
	}
	if p.c.Send([]byte("[1]")) {
		t.Fatal("Send on a closed connection reported success")
	}
}

func TestWebSocketServerClose(t *testing.T) {
	s, a := startServer(t, Config{})
	w := dialWS(t, wsAddr(s), ws.Dialer{})
	p := a.next(t)
	p.quiet.Store(true)
	if !p.c.Send([]byte(`[3,{},"wamp.close.goodbye_and_out"]`)) {
		t.Fatal("Send failed")
	}
	p.c.Close()
	p.c.Close() // idempotent
	w.expectMessage(ws.OpText, []byte(`[3,{},"wamp.close.goodbye_and_out"]`))
	w.expectClose(ws.StatusNormalClosure)
	waitFor(t, "Closed", func() bool { return p.closed.Load() == 1 })
}

func TestWebSocketUpgradeRejections(t *testing.T) {
	s, _ := startServer(t, Config{})
	resp, _, _ := httpExchange(t, wsAddr(s), upgradeRequest("/other", "Sec-WebSocket-Protocol: wamp.2.json\r\n"), false)
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("wrong path: status %d, want 404", resp.StatusCode)
	}
	resp, _, _ = httpExchange(t, wsAddr(s), upgradeRequest("/ws", "Sec-WebSocket-Protocol: mqtt, stomp\r\n"), false)
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1000))
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "wamp.2.json") {
		t.Fatalf("unsupported subprotocols: status %d body %q", resp.StatusCode, body)
	}
	resp, _, _ = httpExchange(t, wsAddr(s), upgradeRequest("/ws", ""), true)
	body, _ = io.ReadAll(io.LimitReader(resp.Body, 1000))
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "subprotocol") {
		t.Fatalf("no subprotocol: status %d body %q", resp.StatusCode, body)
	}
	resp, _, _ = httpExchange(t, wsAddr(s), "POST /ws HTTP/1.1\r\nHost: x\r\n\r\n", false)
	if resp.StatusCode < 400 {
		t.Fatalf("POST: status %d", resp.StatusCode)
	}
	resp, _, _ = httpExchange(t, wsAddr(s), "garbage\r\n\r\n", false)
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("garbage: status %d", resp.StatusCode)
	}
}

func TestWebSocketPermessageDeflate(t *testing.T) {
	s, a := startServer(t, Config{})
	w := dialWS(t, wsAddr(s), ws.Dialer{Extensions: deflateOffer})
	a.next(t)
	if len(w.hs.Extensions) != 1 || string(w.hs.Extensions[0].Name) != wsflate.ExtensionName {
		t.Fatalf("extensions %v, want permessage-deflate", w.hs.Extensions)
	}
	var p wsflate.Parameters
	if err := p.Parse(w.hs.Extensions[0]); err != nil || !p.ServerNoContextTakeover || !p.ClientNoContextTakeover {
		t.Fatalf("parameters %+v (%v), want no context takeover both ways", p, err)
	}
	// Large: compressed both ways.
	big := []byte(`["` + strings.Repeat("compress me ", 2000) + `"]`)
	for i := 0; i < 3; i++ { // no context takeover: every message stands alone
		w.write(compressedFrame(big))
		f := w.readFrame()
		if f.Header.Rsv != ws.Rsv(true, false, false) || f.Header.OpCode != ws.OpText {
			t.Fatalf("reply rsv=%d op=%v, want compressed text", f.Header.Rsv, f.Header.OpCode)
		}
		if len(f.Payload) >= len(big) {
			t.Fatalf("reply not compressed: %d bytes", len(f.Payload))
		}
		if got := clientInflate(t, f.Payload); !bytes.Equal(got, big) {
			t.Fatal("round trip mismatch")
		}
	}
	// Small: the client may compress; the server replies uncompressed.
	small := []byte(`[1,"r",{}]`)
	w.write(compressedFrame(small))
	f := w.readFrame()
	if f.Header.Rsv != 0 || !bytes.Equal(f.Payload, small) {
		t.Fatalf("small reply rsv=%d %q", f.Header.Rsv, f.Payload)
	}
	// Uncompressed frames stay legal.
	w.send(ws.OpText, small)
	w.expectMessage(ws.OpText, small)
}

func TestWebSocketDeflateBombAndGarbage(t *testing.T) {
	s, _ := startServer(t, Config{MaxMessageSize: 64 << 10})
	w := dialWS(t, wsAddr(s), ws.Dialer{Extensions: deflateOffer})
	bomb := make([]byte, 10<<20) // 10 MiB of zeros compress to ~10 KiB
	fr := compressedFrame(bomb)
	if len(fr) > 64<<10 {
		t.Fatalf("bomb frame %d bytes", len(fr))
	}
	w.write(fr)
	w.expectClose(ws.StatusMessageTooBig)

	w2 := dialWS(t, wsAddr(s), ws.Dialer{Extensions: deflateOffer})
	f := ws.NewFrame(ws.OpBinary, true, []byte{0xff, 0xff, 0xff, 0xff, 0x13})
	f.Header.Rsv = ws.Rsv(true, false, false)
	b, _ := ws.CompileFrame(ws.MaskFrameInPlace(f))
	w2.write(b)
	w2.expectClose(ws.StatusInvalidFramePayloadData)
}

func TestWebSocketCompressionDisabled(t *testing.T) {
	s, _ := startServer(t, Config{DisableCompression: true})
	w := dialWS(t, wsAddr(s), ws.Dialer{Extensions: deflateOffer})
	if len(w.hs.Extensions) != 0 {
		t.Fatalf("extensions %v accepted with compression off", w.hs.Extensions)
	}
}
