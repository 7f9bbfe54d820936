package engine

import (
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/wampd/wampd/codec"
)

// sinkConn is a Conn that copies each frame into a reused buffer, as a real
// connection copies into its outbound queue, and counts frames.
type sinkConn struct {
	kind  codec.Kind
	last  []byte
	count int
}

func (c *sinkConn) Serializer() codec.Kind { return c.kind }
func (c *sinkConn) Send(frame []byte) bool {
	c.last = append(c.last[:0], frame...)
	c.count++
	return true
}
func (c *sinkConn) Close()                   {}
func (c *sinkConn) Transport() TransportInfo { return TransportInfo{Type: "bench"} }

func joinSink(tb testing.TB, r *Router, k codec.Kind) (*sinkConn, Peer) {
	tb.Helper()
	c := &sinkConn{kind: k}
	p := r.Attach(c)
	b, err := codec.Append(k, nil, hello("realm1"))
	if err != nil {
		tb.Fatal(err)
	}
	p.Handle(b)
	var m codec.Message
	if err := codec.Decode(k, c.last, &m); err != nil || m.Type != codec.Welcome {
		tb.Fatalf("join: %v type %d", err, m.Type)
	}
	return c, p
}

func mustEncode(tb testing.TB, k codec.Kind, m *codec.Message) []byte {
	tb.Helper()
	b, err := codec.Append(k, nil, m)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// pubsubSetup joins one publisher (pubKind) and n subscribers of the given
// kinds (cycled) to one topic; it returns the PUBLISH frame and the sinks.
func pubsubSetup(tb testing.TB, n int, pubKind codec.Kind, subKinds ...codec.Kind) (Peer, []byte, []*sinkConn) {
	r := newTestRouter(tb)
	_, pub := joinSink(tb, r, pubKind)
	sinks := make([]*sinkConn, n)
	for i := range n {
		k := subKinds[i%len(subKinds)]
		c, p := joinSink(tb, r, k)
		p.Handle(mustEncode(tb, k, &codec.Message{Type: codec.Subscribe, Request: 1, URI: []byte("com.bench.topic")}))
		sinks[i] = c
	}
	frame := mustEncode(tb, pubKind, publishMsg(1, "com.bench.topic",
		[]any{"payload", 12345, map[string]any{"price": 1.25, "sym": "WAMP"}}, map[string]any{"seq": 1}))
	return pub, frame, sinks
}

func TestPublishFanoutAllocs(t *testing.T) {
	pub, frame, sinks := pubsubSetup(t, 50, codec.JSON, codec.JSON, codec.MsgPack, codec.CBOR)
	allocs := testing.AllocsPerRun(200, func() { pub.Handle(frame) })
	if allocs != 0 {
		t.Fatalf("PUBLISH→EVENT fan-out allocates %.1f times per publish", allocs)
	}
	if sinks[0].count < 200 || sinks[1].count != sinks[0].count {
		t.Fatalf("subscribers got %d and %d events", sinks[0].count, sinks[1].count)
	}
}

// callSetup registers a callee and returns a function doing one full
// CALL→INVOCATION→YIELD→RESULT round trip.
func callSetup(tb testing.TB, callerKind, calleeKind codec.Kind) (roundTrip func(), caller *sinkConn) {
	r := newTestRouter(tb)
	calleeConn, callee := joinSink(tb, r, calleeKind)
	callee.Handle(mustEncode(tb, calleeKind, &codec.Message{Type: codec.Register, Request: 1, URI: []byte("com.bench.proc")}))
	callerConn, callerPeer := joinSink(tb, r, callerKind)
	call := mustEncode(tb, callerKind, &codec.Message{Type: codec.Call, Request: 1, URI: []byte("com.bench.proc"),
		ArgsAny: []any{1, 2, "three"}})
	// The YIELD answers the invocation ID the callee just saw; it is encoded
	// once and patched by re-encoding into a reused buffer.
	result := mustEncode(tb, calleeKind, &codec.Message{Type: codec.Yield, Request: 1, ArgsAny: []any{"ok", 42}})
	var res codec.Message
	if err := codec.Decode(calleeKind, result, &res); err != nil {
		tb.Fatal(err)
	}
	var inv codec.Message
	yield := make([]byte, 0, 256)
	return func() {
		callerPeer.Handle(call)
		if err := codec.Decode(calleeKind, calleeConn.last, &inv); err != nil || inv.Type != codec.Invocation {
			panic(fmt.Sprintf("no invocation: %v", err))
		}
		res.Request = inv.Request
		var err error
		yield, err = codec.Append(calleeKind, yield[:0], &res)
		if err != nil {
			panic(err)
		}
		callee.Handle(yield)
	}, callerConn
}

func TestCallRoundTripAllocs(t *testing.T) {
	for _, kinds := range [][2]codec.Kind{{codec.JSON, codec.JSON}, {codec.MsgPack, codec.CBOR}} {
		rt, caller := callSetup(t, kinds[0], kinds[1])
		before := caller.count
		allocs := testing.AllocsPerRun(200, rt)
		if allocs != 0 {
			t.Fatalf("%v→%v CALL→RESULT allocates %.1f times per call", kinds[0], kinds[1], allocs)
		}
		var m codec.Message
		if err := codec.Decode(kinds[0], caller.last, &m); err != nil || m.Type != codec.Result {
			t.Fatalf("caller's last message: %v type %d", err, m.Type)
		}
		if caller.count-before != 201 {
			t.Fatalf("caller got %d results, want 201", caller.count-before)
		}
	}
}

func BenchmarkPublish(b *testing.B) {
	for _, n := range []int{1, 100, 1000} {
		for _, k := range []codec.Kind{codec.JSON, codec.MsgPack, codec.CBOR} {
			b.Run(fmt.Sprintf("subs=%d/ser=%v", n, k), func(b *testing.B) {
				// JSON publisher: msgpack/cbor subscribers measure transcoding too.
				pub, frame, sinks := pubsubSetup(b, n, codec.JSON, k)
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					pub.Handle(frame)
				}
				b.StopTimer()
				if sinks[0].count < b.N {
					b.Fatalf("subscriber got %d of %d events", sinks[0].count, b.N)
				}
				b.ReportMetric(float64(n), "events/op")
			})
		}
	}
	b.Run("subs=1000/ser=mixed", func(b *testing.B) {
		pub, frame, _ := pubsubSetup(b, 1000, codec.JSON, codec.JSON, codec.MsgPack, codec.CBOR)
		b.ReportAllocs()
		for b.Loop() {
			pub.Handle(frame)
		}
	})
}

func BenchmarkCall(b *testing.B) {
	for _, k := range []codec.Kind{codec.JSON, codec.MsgPack, codec.CBOR} {
		b.Run(fmt.Sprintf("ser=%v", k), func(b *testing.B) {
			rt, _ := callSetup(b, k, k)
			b.ReportAllocs()
			for b.Loop() {
				rt()
			}
		})
	}
}

// countConn counts frames; safe for concurrent Sends.
type countConn struct {
	kind codec.Kind
	n    atomic.Int64
}

func (c *countConn) Serializer() codec.Kind   { return c.kind }
func (c *countConn) Send(frame []byte) bool   { c.n.Add(1); return true }
func (c *countConn) Close()                   {}
func (c *countConn) Transport() TransportInfo { return TransportInfo{Type: "bench"} }

// BenchmarkPublishParallel has one publisher per goroutine (as on separate
// event loops) publishing to topics with 10 subscribers each: it shows the
// publish path does not serialize on a router-wide lock.
func BenchmarkPublishParallel(b *testing.B) {
	r := newTestRouter(b)
	const topics = 64
	for i := range topics * 10 {
		c := &countConn{kind: codec.MsgPack}
		p2 := r.Attach(c)
		p2.Handle(mustEncode(b, codec.MsgPack, hello("realm1")))
		p2.Handle(mustEncode(b, codec.MsgPack, &codec.Message{Type: codec.Subscribe, Request: 1, URI: fmt.Appendf(nil, "com.topic.%d", i%topics)}))
	}
	var next atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := next.Add(1)
		_, pub := joinSink(b, r, codec.MsgPack)
		frame := mustEncode(b, codec.MsgPack, publishMsg(1, fmt.Sprintf("com.topic.%d", i%topics), []any{"x", i}, nil))
		for pb.Next() {
			pub.Handle(frame)
		}
	})
}
