package netpoll

import (
	"bytes"
	"io"
	"net"
	"testing"
	"time"

	"github.com/wampd/wampd/codec"
)

func TestRawSocketHandshakeAndEcho(t *testing.T) {
	s, a := startServer(t, Config{})
	// Client: msgpack, max length 2^(9+4) = 8 KiB.
	r, reply := dialRaw(t, rawAddr(s), [4]byte{0x7f, 0x42, 0, 0})
	// Router: 16 MiB (code 15) and the echoed serializer.
	if reply != [4]byte{0x7f, 0xf2, 0, 0} {
		t.Fatalf("reply % x", reply)
	}
	p := a.next(t)
	if p.c.Serializer() != codec.MsgPack || p.c.Transport().Type != "rawsocket" {
		t.Fatalf("serializer %v transport %+v", p.c.Serializer(), p.c.Transport())
	}
	msg := []byte{0x93, 0x01, 0xa1, 'x', 0x80}
	r.write(rawFrame(0, msg))
	if typ, got := r.read(); typ != 0 || !bytes.Equal(got, msg) {
		t.Fatalf("echo type %d %x", typ, got)
	}
	// Several frames in one write, then a frame split byte by byte.
	r.write(append(rawFrame(0, []byte("a")), rawFrame(0, []byte("bc"))...))
	for _, want := range []string{"a", "bc"} {
		if _, got := r.read(); string(got) != want {
			t.Fatalf("got %q want %q", got, want)
		}
	}
	big := bytes.Repeat([]byte{7}, 5000)
	for _, b := range rawFrame(0, big) {
		r.write([]byte{b})
	}
	if _, got := r.read(); !bytes.Equal(got, big) {
		t.Fatal("split frame mismatch")
	}
}

func TestRawSocketPingPong(t *testing.T) {
	s, a := startServer(t, Config{})
	r, _ := dialRaw(t, rawAddr(s), [4]byte{0x7f, 0xf1, 0, 0})
	a.next(t)
	r.write(rawFrame(1, []byte("are you there?")))
	typ, got := r.read()
	if typ != 2 || string(got) != "are you there?" {
		t.Fatalf("got type %d %q, want PONG echoing the payload", typ, got)
	}
	// Pongs from the client are ignored; messages keep flowing.
	r.write(append(rawFrame(2, []byte("x")), rawFrame(0, []byte("[1]"))...))
	if typ, got := r.read(); typ != 0 || string(got) != "[1]" {
		t.Fatalf("got type %d %q", typ, got)
	}
}

func TestRawSocketHandshakeErrors(t *testing.T) {
	s, _ := startServer(t, Config{})
	cases := []struct {
		name string
		hs   [4]byte
		want byte // error nibble
	}{
		{"unsupported serializer", [4]byte{0x7f, 0xf5, 0, 0}, 1},
		{"illegal serializer 0", [4]byte{0x7f, 0xf0, 0, 0}, 1},
		{"reserved bits", [4]byte{0x7f, 0xf1, 0, 1}, 3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, reply := dialRaw(t, rawAddr(s), tc.hs)
			if reply != [4]byte{0x7f, tc.want << 4, 0, 0} {
				t.Fatalf("reply % x, want error %d", reply, tc.want)
			}
			r.expectEOF()
		})
	}
}

func TestRawSocketMaxConnections(t *testing.T) {
	s, a := startServer(t, Config{MaxConnections: 1})
	dialRaw(t, rawAddr(s), [4]byte{0x7f, 0xf1, 0, 0})
	a.next(t)
	r, reply := dialRaw(t, rawAddr(s), [4]byte{0x7f, 0xf1, 0, 0})
	if reply != [4]byte{0x7f, 4 << 4, 0, 0} {
		t.Fatalf("reply % x, want error 4", reply)
	}
	r.expectEOF()
}

func TestRawSocketFramingErrors(t *testing.T) {
	s, _ := startServer(t, Config{MaxMessageSize: 4096})
	for name, frame := range map[string][]byte{
		"reserved type": rawFrame(3, []byte("x")),
		"reserved bits": {0x10, 0, 0, 1, 'x'},
		"too long":      rawFrame(0, make([]byte, 4097)),
	} {
		t.Run(name, func(t *testing.T) {
			r, reply := dialRaw(t, rawAddr(s), [4]byte{0x7f, 0xf1, 0, 0})
			if reply[1] != 0x31 { // 4096 = 2^(9+3)
				t.Fatalf("reply % x, want max length code 3", reply)
			}
			r.write(frame)
			r.expectEOF()
		})
	}
}

func TestRawSocketOnWebSocketPort(t *testing.T) {
	s, a := startServer(t, Config{})
	r, reply := dialRaw(t, wsAddr(s), [4]byte{0x7f, 0xf3, 0, 0})
	if reply != [4]byte{0x7f, 0xf3, 0, 0} {
		t.Fatalf("reply % x", reply)
	}
	p := a.next(t)
	if p.c.Serializer() != codec.CBOR {
		t.Fatalf("serializer %v", p.c.Serializer())
	}
	r.write(rawFrame(0, []byte{0x80}))
	if _, got := r.read(); !bytes.Equal(got, []byte{0x80}) {
		t.Fatalf("echo %x", got)
	}
}

func TestRawSocketPortRefusesHTTP(t *testing.T) {
	s, _ := startServer(t, Config{})
	r, err := dialTCP(rawAddr(s))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	r.Write([]byte(upgradeRequest("/ws", "Sec-WebSocket-Protocol: wamp.2.json\r\n")))
	(&rawClient{t: t, c: r}).expectEOF()
}

func TestRawSocketClientMaxLength(t *testing.T) {
	s, a := startServer(t, Config{})
	// Client accepts at most 512 bytes.
	r, _ := dialRaw(t, rawAddr(s), [4]byte{0x7f, 0x01, 0, 0})
	p := a.next(t)
	if p.c.Send(make([]byte, 513)) {
		t.Fatal("Send of 513 bytes to a 512-byte client succeeded")
	}
	if !p.c.Send(make([]byte, 512)) {
		t.Fatal("Send of 512 bytes failed")
	}
	if _, got := r.read(); len(got) != 512 {
		t.Fatalf("got %d bytes", len(got))
	}
}

func TestRawSocketHandshakeSplit(t *testing.T) {
	s, a := startServer(t, Config{})
	c, err := dialTCP(rawAddr(s))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := &rawClient{t: t, c: c}
	// Handshake byte by byte, the last byte together with a first frame.
	r.write([]byte{0x7f})
	time.Sleep(5 * time.Millisecond)
	r.write([]byte{0xf1})
	time.Sleep(5 * time.Millisecond)
	r.write([]byte{0})
	r.write(append([]byte{0}, rawFrame(0, []byte("[1]"))...))
	var reply [4]byte
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(c, reply[:]); err != nil || reply != [4]byte{0x7f, 0xf1, 0, 0} {
		t.Fatalf("reply % x (%v)", reply, err)
	}
	a.next(t)
	if typ, got := r.read(); typ != 0 || string(got) != "[1]" {
		t.Fatalf("echo type %d %q", typ, got)
	}
}

func dialTCP(addr string) (net.Conn, error) { return net.DialTimeout("tcp", addr, 5*time.Second) }
