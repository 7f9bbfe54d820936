package load

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// joinAll joins n sessions with cfg.Concurrency dialers; setup (may be nil)
// runs on each joined session (subscribe, register). index offsets the
// source-address rotation. On error every session joined so far is closed.
func joinAll(ctx context.Context, cfg *Config, n, index, bufSize int, setup func(i int, s *Session) error) ([]*Session, error) {
	out := make([]*Session, n)
	var next atomic.Int64
	var firstErr error
	var mu sync.Mutex
	var wg sync.WaitGroup
	workers := min(cfg.Concurrency, n)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				mu.Lock()
				failed := firstErr != nil
				mu.Unlock()
				if failed {
					return
				}
				s, err := Join(ctx, cfg.Endpoint, cfg.Realm, index+i, bufSize)
				if err == nil && setup != nil {
					if err = setup(i, s); err != nil {
						s.Close()
					}
				}
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("session %d: %w", i, err)
					}
					mu.Unlock()
					return
				}
				out[i] = s
			}
		}()
	}
	wg.Wait()
	if firstErr == nil && ctx.Err() != nil {
		firstErr = ctx.Err()
	}
	if firstErr != nil {
		closeAll(out)
		return nil, firstErr
	}
	return out, nil
}

func closeAll(ss []*Session) {
	for _, s := range ss {
		if s != nil {
			s.Leave()
		}
	}
}

// runID makes URIs unique per run, so that sessions a previous run left
// behind on a long-lived router never receive this run's events or calls.
func runID() string { return fmt.Sprintf("%08x", rand.Uint32()) }

type fanSub struct {
	s     *Session
	topic int
	recv  Counter
}

// Fanout measures pub/sub fan-out: one publisher, cfg.Subscribers subscribers
// spread over cfg.Topics topics. Closed loop (cfg.Rate 0): the publisher stays
// at most cfg.Window events ahead of the slowest subscriber, so the run
// measures what the router sustains without drops. Open loop (cfg.Rate > 0):
// the publisher offers cfg.Rate events/s whatever happens (latency counts
// from when each event was written, so a stall shows on every event sent in it).
func Fanout(ctx context.Context, cfg Config) (*Result, error) {
	cfg.Defaults()
	ser := cfg.Endpoint.Serializer
	id := runID()
	topics := make([]string, cfg.Topics)
	for i := range topics {
		topics[i] = fmt.Sprintf("bench.fanout.%s.%d", id, i)
	}
	params := map[string]any{"subscribers": cfg.Subscribers, "topics": cfg.Topics, "payload": cfg.Payload}
	if cfg.Rate > 0 {
		params["rate"] = cfg.Rate
	} else {
		params["window"] = cfg.Window
	}
	res := newResult("fanout", &cfg, params)

	subs := make([]*fanSub, cfg.Subscribers)
	sessions, err := joinAll(ctx, &cfg, cfg.Subscribers, 0, 0, func(i int, s *Session) error {
		subs[i] = &fanSub{s: s, topic: i % cfg.Topics}
		_, err := s.Subscribe(topics[i%cfg.Topics])
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("fanout: join subscribers: %w", err)
	}
	pub, err := Join(ctx, cfg.Endpoint, cfg.Realm, cfg.Subscribers, 0)
	if err != nil {
		closeAll(sessions)
		return nil, fmt.Errorf("fanout: join publisher: %w", err)
	}
	sessions = append(sessions, pub)
	defer func() { closeAll(sessions) }()

	pubOnTopic := make([]Counter, cfg.Topics)
	var stopping, waiting atomic.Bool
	wake := make(chan struct{}, 1)
	var errCount errTally
	rec := NewRecorder()

	// Subscribers: count EVENT frames in place; look at a timestamp only on
	// every SampleEvery-th event.
	var rwg sync.WaitGroup
	every := uint64(cfg.SampleEvery)
	signal := func() {
		if waiting.Load() {
			select {
			case wake <- struct{}{}:
			default:
			}
		}
	}
	waitReaders := rwg.Wait
	useEpoll := cfg.SubReader != "goroutine" && epollSupported
	if useEpoll {
		w, err := startEpollReaders(subs, pub.transport, runtime.GOMAXPROCS(0), readBufferSize, &sink{
			ser: ser, every: every, rec: rec, errs: &errCount, stopping: stopping.Load, progress: signal, delay: cfg.PollDelay,
		})
		if err != nil {
			return nil, fmt.Errorf("fanout: %w", err)
		}
		waitReaders = w
		defer func() { stopping.Store(true); w() }() // before the sessions close: the readers hold raw fds
	}
	for i, st := range subs {
		if useEpoll {
			break
		}
		rwg.Add(1)
		go func() {
			defer rwg.Done()
			for {
				b, err := st.s.Next()
				if err != nil {
					if !stopping.Load() {
						errCount.add("subscriber read", err)
					}
					return
				}
				switch ser.FastType(b) {
				case mEvent:
					n := st.recv.n.Add(1)
					if n%every == 0 {
						if ts, ok := Timestamp(b); ok {
							rec.Record(i, now()-ts)
						}
					}
				case mGoodbye, mAbort:
					if !stopping.Load() {
						errCount.add("subscriber session closed by the router", nil)
					}
					return
				}
				if st.s.Buffered() == 0 {
					signal()
				}
			}
		}()
	}
	received := func() uint64 {
		var n uint64
		for _, st := range subs {
			n += st.recv.Load()
		}
		return n
	}
	expected := func() uint64 {
		var n uint64
		for _, st := range subs {
			n += pubOnTopic[st.topic].Load()
		}
		return n
	}
	maxLag := func() uint64 {
		var m uint64
		for _, st := range subs {
			p, r := pubOnTopic[st.topic].Load(), st.recv.Load()
			if p > r && p-r > m {
				m = p - r
			}
		}
		return m
	}

	mon := &Monitor{Label: "fanout " + cfg.Router, Unit: "deliveries/s", Count: received,
		Errors: errCount.Load, Rec: rec, Interval: cfg.Interval, Progress: cfg.Progress}
	mon.Start(cfg.RouterPID)

	// Without warm-up the measured phase starts before the first publish.
	warm := cfg.Warmup > 0 && cfg.Count == 0
	t0, recv0 := time.Now(), uint64(0)
	if !warm {
		mon.MarkMeasured()
	}

	// Publisher.
	var published atomic.Uint64
	pubDone := make(chan error, 1)
	pctx, stopPub := context.WithCancel(ctx)
	defer stopPub()
	go func() {
		payload := PayloadTemplate(cfg.Payload)
		var req uint64
		publish := func(ts int64) {
			t := int(req % uint64(cfg.Topics))
			req++
			StampPayload(payload, ts)
			dst := pub.Begin()
			dst = ser.AppendPublish(dst, req, topics[t], payload)
			pub.Commit(dst)
			pubOnTopic[t].Add(1)
			published.Add(1)
		}
		limit := cfg.Count
		if limit == 0 {
			limit = ^uint64(0)
		}
		timer := time.NewTimer(time.Hour)
		defer timer.Stop()
		if cfg.Rate > 0 {
			t0 := now()
			for pctx.Err() == nil && req < limit {
				due := uint64(float64(now()-t0) * cfg.Rate / 1e9)
				for n := 0; req < due && req < limit && n < 256; n++ {
					publish(now())
				}
				if err := pub.Flush(); err != nil {
					pubDone <- err
					return
				}
				if next := t0 + int64(float64(req+1)*1e9/cfg.Rate); req >= due && next > now() {
					time.Sleep(time.Duration(next - now()))
				}
			}
			pubDone <- nil
			return
		}
		room := 0
		batched := 0
		for pctx.Err() == nil && req < limit {
			if room <= 0 {
				room = cfg.Window - int(maxLag())
				if room <= 0 {
					if err := pub.Flush(); err != nil {
						pubDone <- err
						return
					}
					batched = 0
					waiting.Store(true)
					// Re-check after announcing the wait: a subscriber that caught
					// up in between would not have signalled.
					if room = cfg.Window - int(maxLag()); room <= 0 {
						timer.Reset(5 * time.Millisecond)
						select {
						case <-wake:
						case <-timer.C:
						case <-pctx.Done():
						}
					}
					waiting.Store(false)
					continue
				}
			}
			publish(now())
			room--
			if batched++; batched >= 16 || room == 0 {
				if err := pub.Flush(); err != nil {
					pubDone <- err
					return
				}
				batched = 0
			}
		}
		pubDone <- pub.Flush()
	}()

	// Warm-up, then the measured phase.
	var pubErr error
	finished := false
	wait := func(d time.Duration) {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case pubErr = <-pubDone:
			finished = true
		case <-ctx.Done():
		}
	}
	if warm {
		wait(cfg.Warmup)
		mon.MarkMeasured()
		t0, recv0 = time.Now(), received()
	}
	if !finished {
		wait(cfg.Duration)
	}
	stopPub()
	if !finished {
		pubErr = <-pubDone
	}
	if pubErr != nil && !errors.Is(pubErr, context.Canceled) {
		errCount.add("publisher", pubErr)
	}

	// Drain: charge the deliveries this run caused to this run.
	exp := expected()
	last, lastChange := received(), time.Now()
	for last < exp && time.Since(lastChange) < cfg.DrainTimeout && ctx.Err() == nil {
		time.Sleep(2 * time.Millisecond)
		if r := received(); r != last {
			last, lastChange = r, time.Now()
		}
	}
	tEnd := lastChange
	if last >= exp {
		tEnd = time.Now()
	}
	series, rcpu, hcpu := mon.Stop()
	if n := mon.StallNote(); n != "" {
		res.Notes = append(res.Notes, n)
	}
	stopping.Store(true)

	res.Elapsed = tEnd.Sub(t0).Seconds()
	res.Unit = "deliveries/s"
	res.Ops = last - recv0
	res.Throughput = float64(res.Ops) / res.Elapsed
	res.Published = published.Load()
	res.Expected = exp
	if exp > last {
		res.Drops = exp - last
	}
	res.Errors = errCount.Load()
	if n := errCount.note(); n != "" {
		res.Notes = append(res.Notes, n)
	}
	res.Latency = Summarize(rec.Total())
	res.RouterCPU, res.HarnessCPU = rcpu, hcpu
	res.Series = series
	res.Notes = append(res.Notes, fmt.Sprintf("publish rate %.0f events/s; latency sampled on 1 in %d events per subscriber",
		float64(res.Published)/(time.Since(t0).Seconds()+cfg.Warmup.Seconds()), cfg.SampleEvery))

	if useEpoll {
		waitReaders() // the readers hold raw fds: stop them before closing
		closeAll(sessions)
	} else {
		closeAll(sessions) // unblocks the readers
		waitReaders()
	}
	sessions = nil
	return res.finish(), nil
}
