package netpoll

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/gobwas/ws"
)

// countPeer counts messages without keeping them.
type countPeer struct {
	n     int
	bytes int
}

func (p *countPeer) Handle(msg []byte) { p.n++; p.bytes += len(msg) }
func (p *countPeer) Closed()           {}

func wsBatch() []byte {
	var b []byte
	b = append(b, maskedFrame(ws.OpText, true, []byte(`[16,1,{},"com.example.topic",[1,2,3]]`))...)
	b = append(b, maskedFrame(ws.OpBinary, true, bytes.Repeat([]byte{9}, 1000))...)
	// fragmented, with a pong in between
	b = append(b, maskedFrame(ws.OpBinary, false, bytes.Repeat([]byte{1}, 300))...)
	b = append(b, maskedFrame(ws.OpPong, true, []byte("x"))...)
	b = append(b, maskedFrame(ws.OpContinuation, true, bytes.Repeat([]byte{2}, 300))...)
	return b
}

func TestReadPathZeroAllocs(t *testing.T) {
	s := fakeServer()
	lp := newLoop(s, &countingLoop{})

	t.Run("websocket", func(t *testing.T) {
		c := fakeConn(s, lp, false)
		p := &countPeer{}
		c.peer = p
		orig := wsBatch()
		work := make([]byte, len(orig))
		run := func() {
			copy(work, orig)
			if !c.readWS(work) {
				t.Fatal("readWS failed")
			}
		}
		run()
		if p.n != 3 {
			t.Fatalf("%d messages, want 3", p.n)
		}
		if a := testing.AllocsPerRun(200, run); a != 0 {
			t.Fatalf("%v allocs per batch, want 0", a)
		}
		// Split reads: headers and payloads across calls.
		split := func() {
			copy(work, orig)
			for i := 0; i < len(work); i += 7 {
				if !c.readWS(work[i:min(i+7, len(work))]) {
					t.Fatal("readWS failed")
				}
			}
		}
		split()
		if a := testing.AllocsPerRun(200, split); a != 0 {
			t.Fatalf("%v allocs per split batch, want 0", a)
		}
	})

	t.Run("websocket deflate", func(t *testing.T) {
		c := fakeConn(s, lp, false)
		c.deflate = true
		p := &countPeer{}
		c.peer = p
		orig := compressedFrame([]byte(`["` + string(bytes.Repeat([]byte("abc"), 2000)) + `"]`))
		work := make([]byte, len(orig))
		run := func() {
			copy(work, orig)
			if !c.readWS(work) {
				t.Fatal("readWS failed")
			}
		}
		run()
		if p.bytes != 6004 {
			t.Fatalf("decompressed %d bytes, want 6004", p.bytes)
		}
		if a := testing.AllocsPerRun(200, run); a != 0 {
			t.Fatalf("%v allocs per compressed message, want 0", a)
		}
	})

	t.Run("rawsocket", func(t *testing.T) {
		c := fakeConn(s, lp, true)
		p := &countPeer{}
		c.peer = p
		var orig []byte
		orig = append(orig, rawFrame(0, []byte(`[16,1,{},"t"]`))...)
		orig = append(orig, rawFrame(0, bytes.Repeat([]byte{3}, 2000))...)
		run := func() {
			for i := 0; i < len(orig); i += 5 {
				if !c.readRaw(orig[i:min(i+5, len(orig))]) {
					t.Fatal("readRaw failed")
				}
			}
			if !c.readRaw(orig) {
				t.Fatal("readRaw failed")
			}
		}
		run()
		if p.n != 4 {
			t.Fatalf("%d messages, want 4", p.n)
		}
		if a := testing.AllocsPerRun(200, run); a != 0 {
			t.Fatalf("%v allocs, want 0", a)
		}
	})
}

func TestSendZeroAllocs(t *testing.T) {
	s := fakeServer()
	lp := newLoop(s, &countingLoop{})
	for _, tc := range []struct {
		name    string
		raw     bool
		deflate bool
		size    int
	}{{"rawsocket", true, false, 100}, {"websocket", false, false, 100}, {"websocket deflate", false, true, 4000}} {
		t.Run(tc.name, func(t *testing.T) {
			c := fakeConn(s, lp, tc.raw)
			c.deflate = tc.deflate
			c.dirty = true // already on the dirty list: no wake
			// Two messages alternate so that the compressor's repeat cache
			// does not hide the compression path.
			msgs := [2][]byte{bytes.Repeat([]byte("a"), tc.size), bytes.Repeat([]byte("b"), tc.size)}
			i := 0
			run := func() {
				i++
				if !c.Send(msgs[i%2]) {
					t.Fatal("Send refused")
				}
				c.pending.b = c.pending.b[:0]
			}
			run()
			if tc.deflate && raceEnabled {
				t.Skip("pooled compressors are dropped at random under -race")
			}
			if a := testing.AllocsPerRun(200, run); a != 0 {
				t.Fatalf("%v allocs per Send, want 0", a)
			}
		})
	}
}

// FuzzFrames feeds arbitrary bytes, split in two, to both parsers: they
// must never panic, whatever the input.
func FuzzFrames(f *testing.F) {
	f.Add(wsBatch(), 3)
	f.Add(rawFrame(0, []byte("[1]")), 2)
	f.Add(compressedFrame([]byte("hello hello hello")), 5)
	f.Add([]byte(upgradeRequest("/ws", "Sec-WebSocket-Protocol: wamp.2.json\r\n")), 40)
	f.Add([]byte{0x7f, 0xf1, 0, 0, 0, 0, 0, 1, 'x'}, 2)
	f.Fuzz(func(t *testing.T, data []byte, split int) {
		s := fakeServer()
		s.cfg.MaxMessageSize = 1 << 16
		lp := newLoop(s, &countingLoop{})
		if split < 0 || split > len(data) {
			split = len(data) / 2
		}
		for _, raw := range []bool{false, true} {
			c := fakeConn(s, lp, raw)
			c.deflate = true
			c.peer = &countPeer{}
			d := bytes.Clone(data)
			c.onData(d[:split])
			c.onData(d[split:])
		}
		// From the first byte: HTTP upgrade or RawSocket handshake. Without
		// a socket the handshake reply fails, so nothing gets attached.
		c := &conn{srv: s, lp: lp}
		d := bytes.Clone(data)
		c.onData(d[:split])
		c.onData(d[split:])
	})
}

func BenchmarkReadWS(b *testing.B) {
	for _, size := range []int{64, 1024, 16 << 10} {
		b.Run(fmt.Sprintf("msgSz=%db", size), func(b *testing.B) {
			s := fakeServer()
			c := fakeConn(s, newLoop(s, &countingLoop{}), false)
			c.peer = &countPeer{}
			orig := maskedFrame(ws.OpBinary, true, bytes.Repeat([]byte{5}, size))
			work := make([]byte, len(orig))
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				copy(work, orig)
				c.readWS(work)
			}
		})
	}
}

func BenchmarkReadRaw(b *testing.B) {
	for _, size := range []int{64, 1024, 16 << 10} {
		b.Run(fmt.Sprintf("msgSz=%db", size), func(b *testing.B) {
			s := fakeServer()
			c := fakeConn(s, newLoop(s, &countingLoop{}), true)
			c.peer = &countPeer{}
			frame := rawFrame(0, bytes.Repeat([]byte{5}, size))
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				c.readRaw(frame)
			}
		})
	}
}

// BenchmarkFanOut sends one message to N RawSocket connections per
// iteration, over real sockets, and waits until every byte has arrived, so
// the cost of writing is charged to the run.
func BenchmarkFanOut(b *testing.B) {
	for _, subs := range []int{10, 100} {
		for _, size := range []int{64, 1024} {
			b.Run(fmt.Sprintf("msgSz=%db/subs=%d", size, subs), func(b *testing.B) {
				benchFanOut(b, subs, size)
			})
		}
	}
}

func benchFanOut(b *testing.B, subs, size int) {
	a := newEchoAttacher()
	s, err := Listen(b.Context(), Config{RawSocketAddr: "127.0.0.1:0", Logger: quietLogger()}, a)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Stop(b.Context())
	var received atomic.Int64
	var wg sync.WaitGroup
	peers := make([]*echoPeer, subs)
	for i := range peers {
		c, err := net.Dial("tcp", s.Addrs()[0].String())
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		c.Write([]byte{0x7f, 0xf2, 0, 0})
		io.ReadFull(c, make([]byte, 4))
		peers[i] = <-a.ch
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 64<<10)
			for {
				n, err := c.Read(buf)
				received.Add(int64(n))
				if err != nil {
					return
				}
			}
		}()
	}
	msg := bytes.Repeat([]byte{1}, size)
	b.SetBytes(int64(size * subs))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, p := range peers {
			for !p.c.Send(msg) {
				runtime.Gosched() // over the bound: let the loops drain
			}
		}
	}
	want := int64(b.N) * int64(subs) * int64(size+4)
	for received.Load() < want {
		runtime.Gosched()
	}
	b.StopTimer()
	s.Stop(b.Context())
	wg.Wait()
}
