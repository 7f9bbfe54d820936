package bench_test

// End-to-end benchmarks: an in-process wampd (engine + netpoll on an
// ephemeral loopback port) driven by the load package's client. Names follow
// key=value so benchstat can pivot on them:
//
//	go test ./bench -run '^$' -bench . -benchtime 2s -count 6 | tee new.txt
//	benchstat old.txt new.txt

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/wampd/wampd/bench/load"
	"github.com/wampd/wampd/engine"
	"github.com/wampd/wampd/netpoll"
)

// startRouter runs wampd in-process and returns its WebSocket URL.
func startRouter(tb testing.TB) string {
	tb.Helper()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	r, err := engine.NewRouter(engine.Config{
		Logger: quiet,
		Realms: []engine.RealmConfig{{Name: "realm1", Anonymous: true}},
	})
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	srv, err := netpoll.Listen(ctx, netpoll.Config{WebSocketAddr: "127.0.0.1:0", DisableCompression: true, Logger: quiet}, r)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		r.Shutdown(ctx)
		srv.Stop(ctx)
	})
	return fmt.Sprintf("ws://%s/ws", srv.Addrs()[0])
}

func join(tb testing.TB, ep load.Endpoint, i int) *load.Session {
	tb.Helper()
	s, err := load.Join(context.Background(), ep, "realm1", i, 0)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(s.Leave)
	return s
}

// BenchmarkFanout publishes b.N events to subs subscribers and stops the
// timer only when every subscriber has received every event: the fan-out
// work is charged to the run that caused it. The publisher stays at most
// window events ahead of the slowest subscriber (closed loop, no drops).
func BenchmarkFanout(b *testing.B) {
	for _, ser := range []load.Serializer{load.MsgPack, load.JSON} {
		for _, subs := range []int{1, 10, 100, 1000} {
			b.Run(fmt.Sprintf("subs=%d/ser=%s", subs, ser), func(b *testing.B) {
				benchFanout(b, ser, subs, 64)
			})
		}
	}
}

func benchFanout(b *testing.B, ser load.Serializer, nsubs, payload int) {
	ep := load.Endpoint{URL: startRouter(b), Serializer: ser}
	const topic, window = "bench.e2e.fanout", 50
	counts := make([]load.Counter, nsubs)
	var wg sync.WaitGroup
	for i := range nsubs {
		s := join(b, ep, i)
		if _, err := s.Subscribe(topic); err != nil {
			b.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				frame, err := s.Next()
				if err != nil {
					return
				}
				if ser.FastType(frame) == load.TypeEvent {
					counts[i].Add(1)
				}
			}
		}()
	}
	pub := join(b, ep, nsubs)
	p := load.PayloadTemplate(payload)
	minRecv := func() uint64 {
		m := ^uint64(0)
		for i := range counts {
			m = min(m, counts[i].Load())
		}
		return m
	}
	b.SetBytes(int64(len(p) * nsubs))
	b.ReportAllocs()
	b.ResetTimer()
	for n := 1; n <= b.N; n++ {
		for uint64(n)-minRecv() > window {
			time.Sleep(20 * time.Microsecond)
		}
		dst := pub.Begin()
		dst = ser.AppendPublish(dst, uint64(n), topic, p)
		pub.Commit(dst)
		if n%16 == 0 || n == b.N {
			if err := pub.Flush(); err != nil {
				b.Fatal(err)
			}
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for minRecv() < uint64(b.N) {
		if time.Now().After(deadline) {
			b.Fatalf("subscribers got %d of %d events", minRecv(), b.N)
		}
		time.Sleep(20 * time.Microsecond)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)*float64(nsubs)/b.Elapsed().Seconds(), "deliveries/s")
}

// BenchmarkCall measures the call round trip caller → wampd → callee →
// wampd → caller, with inflight calls outstanding (1: pure latency).
func BenchmarkCall(b *testing.B) {
	for _, ser := range []load.Serializer{load.MsgPack, load.JSON} {
		for _, inflight := range []int{1, 64} {
			b.Run(fmt.Sprintf("inflight=%d/ser=%s", inflight, ser), func(b *testing.B) {
				benchCall(b, ser, inflight)
			})
		}
	}
}

func benchCall(b *testing.B, ser load.Serializer, inflight int) {
	ep := load.Endpoint{URL: startRouter(b), Serializer: ser}
	const proc = "bench.e2e.echo"
	callee := join(b, ep, 0)
	if _, err := callee.Register(proc); err != nil {
		b.Fatal(err)
	}
	go func() {
		var m load.Msg
		for {
			frame, err := callee.Next()
			if err != nil {
				return
			}
			if ser.FastType(frame) != load.TypeInvocation || ser.Parse(frame, &m) != nil {
				continue
			}
			dst := callee.Begin()
			dst = ser.AppendYield(dst, m.ID1, &m)
			callee.Commit(dst)
			if callee.Buffered() == 0 {
				callee.Flush()
			}
		}
	}()
	caller := join(b, ep, 1)
	p := load.PayloadTemplate(64)
	var req uint64
	send := func() {
		req++
		dst := caller.Begin()
		dst = ser.AppendCall(dst, req, proc, p)
		caller.Commit(dst)
	}
	b.ReportAllocs()
	b.ResetTimer()
	sent := 0
	for ; sent < min(inflight, b.N); sent++ {
		send()
	}
	if err := caller.Flush(); err != nil {
		b.Fatal(err)
	}
	caller.SetReadDeadline(time.Now().Add(60 * time.Second))
	for done := 0; done < b.N; {
		frame, err := caller.Next()
		if err != nil {
			b.Fatal(err)
		}
		switch ser.FastType(frame) {
		case load.TypeResult:
			done++
			if sent < b.N {
				send()
				sent++
			}
			if caller.Buffered() == 0 {
				if err := caller.Flush(); err != nil {
					b.Fatal(err)
				}
			}
		case load.TypeError:
			b.Fatal("call failed")
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "calls/s")
}
