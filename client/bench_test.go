package client_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wampd/wampd/client"
	"github.com/wampd/wampd/client/clienttest"
	"github.com/wampd/wampd/codec"
)

// rawPair connects a publisher and an inline raw subscriber of kind k to an
// in-process wampd and returns the publish function and the received count.
func rawPair(tb testing.TB, k codec.Kind, websocket bool) (pub *client.Session, publish func() error, received *atomic.Int64) {
	tb.Helper()
	w := startWampd(tb, "127.0.0.1:0", "127.0.0.1:0")
	ctx := context.Background()
	url := "rs://" + w.rs
	if websocket {
		url = "ws://" + w.ws + "/ws"
	}
	sub, err := client.Connect(ctx, url, "realm1", client.Options{Serializer: k, Logger: quiet})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = sub.Close() })
	pub, err = client.Connect(ctx, url, "realm1", client.Options{Serializer: k, Logger: quiet})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = pub.Close() })
	received = new(atomic.Int64)
	if _, err := sub.Subscribe(ctx, "bench.raw", func(ev *client.Event) { received.Add(1) },
		client.SubscribeOptions{Raw: true, Inline: true}); err != nil {
		tb.Fatal(err)
	}
	args, err := codec.AppendAny(k, nil, []any{"0123456789abcdef0123456789abcdef", 12345})
	if err != nil {
		tb.Fatal(err)
	}
	raw := codec.Raw{Kind: k, Bytes: args}
	return pub, func() error {
		return pub.PublishRaw(ctx, "bench.raw", raw, codec.Raw{}, client.PublishOptions{})
	}, received
}

// TestPublishRawAllocs guards the harness's hot path: publishing a
// pre-encoded payload without acknowledgement does not allocate.
func TestPublishRawAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under the race detector")
	}
	t.Run("rawsocket", func(t *testing.T) { testPublishRawAllocs(t, false) })
	t.Run("websocket", func(t *testing.T) { testPublishRawAllocs(t, true) })
}

func testPublishRawAllocs(t *testing.T, websocket bool) {
	_, publish, received := rawPair(t, codec.MsgPack, websocket)
	allocs := testing.AllocsPerRun(1000, func() {
		if err := publish(); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 0 {
		t.Errorf("PublishRaw allocates %.1f times per call, want 0", allocs)
	}
	deadline := time.Now().Add(5 * time.Second)
	for received.Load() < 1001 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := received.Load(); n < 1001 {
		t.Fatalf("subscriber received %d of 1001 events", n)
	}
}

// BenchmarkPublishRaw measures publishing a pre-encoded payload to one
// inline raw subscriber through wampd, including delivery.
func BenchmarkPublishRaw(b *testing.B) {
	for _, k := range codec.Kinds {
		b.Run(k.String(), func(b *testing.B) {
			_, publish, received := rawPair(b, k, false)
			b.ReportAllocs()
			start := received.Load()
			for b.Loop() {
				if err := publish(); err != nil {
					b.Fatal(err)
				}
			}
			// Charge delivery to the run: wait until the subscriber has all events.
			want := start + int64(b.N)
			deadline := time.Now().Add(10 * time.Second)
			for received.Load() < want && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
			b.ReportMetric(float64(received.Load()-start)/float64(b.N), "delivered/op")
		})
	}
}

// TestBatch: publications sent in a Batch all arrive, in order, once it returns.
func TestBatch(t *testing.T) {
	w := startWampd(t, "127.0.0.1:0", "127.0.0.1:0")
	url := "ws://" + w.ws + "/ws"
	sub := clienttest.ConnectURL(t, url, "realm1", codec.MsgPack, client.Options{Logger: quiet})
	pub := clienttest.ConnectURL(t, url, "realm1", codec.JSON, client.Options{Logger: quiet})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	const n = 500
	got := make(chan int64, n)
	if _, err := sub.Subscribe(ctx, "batch", func(ev *client.Event) {
		v, _ := client.AsInt64(ev.Args[0])
		got <- v
	}, client.SubscribeOptions{}); err != nil {
		t.Fatal(err)
	}
	err := pub.Batch(func() error {
		for i := range n {
			if err := pub.Publish(ctx, "batch", []any{i}, nil, client.PublishOptions{}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := range int64(n) {
		select {
		case v := <-got:
			if v != i {
				t.Fatalf("event %d carries %d", i, v)
			}
		case <-ctx.Done():
			t.Fatalf("got %d of %d events", i, n)
		}
	}
}

// BenchmarkPublishRawBatch is BenchmarkPublishRaw with 100 publications per write.
func BenchmarkPublishRawBatch(b *testing.B) {
	pub, publish, received := rawPair(b, codec.MsgPack, false)
	b.ReportAllocs()
	start := received.Load()
	n := 0
	for b.Loop() {
		if err := pub.Batch(func() error {
			for range 100 {
				if err := publish(); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			b.Fatal(err)
		}
		n += 100
	}
	deadline := time.Now().Add(10 * time.Second)
	for received.Load() < start+int64(n) && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/publish")
	b.ReportMetric(float64(received.Load()-start)/float64(n), "delivered/publish")
}
