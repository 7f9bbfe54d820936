// Package baseline measures the machine's limit for what a WAMP broker's
// fan-out does: copy one pre-built frame to many loopback sockets, with
// batched writes. No router, no WAMP, no decoding: a router's pubsub
// deliveries/s are reported as a fraction of this figure in PERF.md.
package baseline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Config sets up one run.
type Config struct {
	Subscribers int           // loopback connections receiving the frames
	FrameSize   int           // bytes per frame (a WAMP EVENT of that size)
	Batch       int           // frames written per connection per write syscall
	Duration    time.Duration // how long the senders run
	Writers     int           // sender goroutines (default GOMAXPROCS)
}

// Result is what a run measured.
type Result struct {
	Deliveries  uint64        // frames fully received by subscribers
	Elapsed     time.Duration // sending time
	PerSecond   float64       // deliveries per second
	BytesPerSec float64
}

func (r Result) String() string {
	return fmt.Sprintf("%d deliveries in %v: %.0f deliveries/s, %.1f MB/s",
		r.Deliveries, r.Elapsed.Round(time.Millisecond), r.PerSecond, r.BytesPerSec/1e6)
}

// Run broadcasts frames for cfg.Duration and counts what the receivers got.
// It stops by itself; ctx cancels it early.
func Run(ctx context.Context, cfg Config) (Result, error) {
	if cfg.Subscribers <= 0 || cfg.FrameSize <= 0 || cfg.Duration <= 0 {
		return Result{}, errors.New("baseline: subscribers, frame size and duration must be positive")
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 16
	}
	if cfg.Writers <= 0 {
		cfg.Writers = runtime.GOMAXPROCS(0)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return Result{}, fmt.Errorf("baseline: listen: %w", err)
	}
	defer ln.Close()

	// Receivers: dial, then read and count bytes until the sender closes.
	var received atomic.Uint64
	var rwg sync.WaitGroup
	clients := make([]net.Conn, 0, cfg.Subscribers)
	defer func() {
		for _, c := range clients {
			c.Close()
		}
	}()
	servers := make([]net.Conn, 0, cfg.Subscribers)
	defer func() {
		for _, c := range servers {
			c.Close()
		}
	}()
	for i := 0; i < cfg.Subscribers; i++ {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			return Result{}, fmt.Errorf("baseline: dial subscriber %d: %w", i, err)
		}
		clients = append(clients, c)
		s, err := ln.Accept()
		if err != nil {
			return Result{}, fmt.Errorf("baseline: accept subscriber %d: %w", i, err)
		}
		servers = append(servers, s)
		rwg.Add(1)
		go func(c net.Conn) {
			defer rwg.Done()
			buf := make([]byte, 64<<10)
			for {
				n, err := c.Read(buf)
				received.Add(uint64(n))
				if err != nil {
					return
				}
			}
		}(c)
	}

	// One pre-built batch of frames, shared by every write.
	batch := make([]byte, cfg.FrameSize*cfg.Batch)
	for i := range batch {
		batch[i] = byte(i)
	}

	runCtx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()
	start := time.Now()
	var swg sync.WaitGroup
	for w := 0; w < cfg.Writers; w++ {
		swg.Add(1)
		go func(w int) {
			defer swg.Done()
			for runCtx.Err() == nil {
				for i := w; i < len(servers); i += cfg.Writers {
					if _, err := servers[i].Write(batch); err != nil && !errors.Is(err, io.EOF) {
						return
					}
				}
			}
		}(w)
	}
	swg.Wait()
	elapsed := time.Since(start)
	for _, s := range servers {
		s.Close()
	}
	rwg.Wait()

	bytes := received.Load()
	res := Result{
		Deliveries:  bytes / uint64(cfg.FrameSize),
		Elapsed:     elapsed,
		BytesPerSec: float64(bytes) / elapsed.Seconds(),
	}
	res.PerSecond = float64(res.Deliveries) / elapsed.Seconds()
	return res, nil
}
