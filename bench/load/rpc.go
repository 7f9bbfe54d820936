package load

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// RPC measures call throughput: cfg.Callers callers, each keeping
// cfg.Inflight calls outstanding (closed loop), spread over cfg.Callees
// callees that echo their arguments back.
func RPC(ctx context.Context, cfg Config) (*Result, error) {
	cfg.Defaults()
	return runRPC(ctx, cfg, "rpc")
}

// LatencyScenario measures call latency: with cfg.Rate > 0, cfg.Callers callers
// (default 1) offer cfg.Rate calls/s in total on a fixed schedule (open loop:
// the pacer never waits for replies, so every call sent while the router
// stalls carries the stall in its latency, measured from when it was written);
// with cfg.Rate 0, one caller with one call in flight.
func LatencyScenario(ctx context.Context, cfg Config) (*Result, error) {
	if cfg.Callers <= 0 {
		cfg.Callers = 1
	}
	if cfg.Callees <= 0 {
		cfg.Callees = 1
	}
	if cfg.Inflight <= 0 || cfg.Rate == 0 {
		cfg.Inflight = 1
	}
	cfg.Defaults()
	return runRPC(ctx, cfg, "latency")
}

// openLoopRing sizes an open-loop caller's send-time ring: enough for every
// call it can have outstanding within a bounded run. A closed-loop caller
// needs only its window.
const openLoopRing = 1 << 18

type caller struct {
	s           *Session
	sent        []atomic.Int64 // send time by request ID modulo len (a power of 2)
	done        Counter
	outstanding atomic.Int64
}

func runRPC(ctx context.Context, cfg Config, scenario string) (*Result, error) {
	ser := cfg.Endpoint.Serializer
	id := runID()
	procs := make([]string, cfg.Callees)
	for i := range procs {
		procs[i] = fmt.Sprintf("bench.rpc.%s.%d", id, i)
	}
	params := map[string]any{"callers": cfg.Callers, "callees": cfg.Callees, "payload": cfg.Payload}
	if cfg.Rate > 0 {
		params["rate"] = cfg.Rate
	} else {
		params["inflight"] = cfg.Inflight
	}
	res := newResult(scenario, &cfg, params)

	callees, err := joinAll(ctx, &cfg, cfg.Callees, 0, 0, func(i int, s *Session) error {
		_, err := s.Register(procs[i])
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("%s: join callees: %w", scenario, err)
	}
	callerSessions, err := joinAll(ctx, &cfg, cfg.Callers, cfg.Callees, 0, nil)
	if err != nil {
		closeAll(callees)
		return nil, fmt.Errorf("%s: join callers: %w", scenario, err)
	}
	all := append(append([]*Session(nil), callees...), callerSessions...)
	defer func() { closeAll(all) }()

	var stopping atomic.Bool
	var errCount errTally
	rec := NewRecorder()
	var wg sync.WaitGroup

	// Callees: echo each INVOCATION's arguments in a YIELD, one write per read batch.
	for _, s := range callees {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var m Msg
			for {
				b, err := s.Next()
				if err != nil {
					if !stopping.Load() {
						errCount.add("callee read", err)
					}
					return
				}
				if ser.FastType(b) != mInvocation {
					continue
				}
				if err := ser.Parse(b, &m); err != nil {
					errCount.add("callee parse INVOCATION", err)
					continue
				}
				dst := s.Begin()
				dst = ser.AppendYield(dst, m.ID1, &m)
				s.Commit(dst)
				if s.Buffered() == 0 || s.QueuedBytes() > 32<<10 {
					if err := s.Flush(); err != nil && !stopping.Load() {
						errCount.add("callee write", err)
					}
				}
			}
		}()
	}

	callers := make([]*caller, cfg.Callers)
	ring := openLoopRing
	if cfg.Rate == 0 {
		ring = 1
		for ring < 2*cfg.Inflight {
			ring <<= 1
		}
	}
	for i, s := range callerSessions {
		callers[i] = &caller{s: s, sent: make([]atomic.Int64, ring)}
	}
	completed := func() uint64 {
		var n uint64
		for _, c := range callers {
			n += c.done.Load()
		}
		return n
	}
	mon := &Monitor{Label: scenario + " " + cfg.Router, Unit: "calls/s", Count: completed,
		Errors: errCount.Load, Rec: rec, Interval: cfg.Interval, Progress: cfg.Progress}
	mon.Start(cfg.RouterPID)

	// Without warm-up the measured phase starts before the first call.
	warm := cfg.Warmup > 0 && cfg.Count == 0
	t0, done0 := time.Now(), uint64(0)
	if !warm {
		mon.MarkMeasured()
	}
	limit := ^uint64(0)
	if cfg.Count > 0 {
		limit = max(cfg.Count/uint64(cfg.Callers), 1)
	}
	var stopSending atomic.Bool
	var cwg sync.WaitGroup
	for ci, c := range callers {
		payload := PayloadTemplate(cfg.Payload)
		var req atomic.Uint64
		send := func(scheduled int64) {
			r := req.Add(1)
			c.sent[r&uint64(len(c.sent)-1)].Store(scheduled)
			c.outstanding.Add(1)
			dst := c.s.Begin()
			dst = ser.AppendCall(dst, r, procs[(int(r)+ci)%len(procs)], payload)
			c.s.Commit(dst)
		}
		// Reader: record each RESULT; in closed loop, issue the next call.
		cwg.Add(1)
		go func() {
			defer cwg.Done()
			var m Msg
			for {
				if stopSending.Load() && c.outstanding.Load() == 0 {
					return
				}
				b, err := c.s.Next()
				if err != nil {
					if !stopping.Load() {
						errCount.add("caller read", err)
					}
					return
				}
				t := ser.FastType(b)
				if t != mResult && t != mError {
					continue
				}
				if err := ser.Parse(b, &m); err != nil {
					errCount.add("caller parse RESULT", err)
					continue
				}
				reqID := m.ID1
				if t == mError {
					reqID = m.ID2
					errCount.add("call failed: "+m.Text, nil)
				} else {
					rec.Record(ci, now()-c.sent[reqID&uint64(len(c.sent)-1)].Load())
					c.done.Add(1)
				}
				c.outstanding.Add(-1)
				if cfg.Rate == 0 && !stopSending.Load() && req.Load() < limit {
					send(now())
				}
				if c.s.Buffered() == 0 {
					if err := c.s.Flush(); err != nil && !stopping.Load() {
						errCount.add("caller write", err)
					}
				}
			}
		}()
		if cfg.Rate == 0 {
			for i := 0; i < cfg.Inflight && uint64(i) < limit; i++ {
				send(now())
			}
			if err := c.s.Flush(); err != nil {
				errCount.add("caller write", err)
			}
			continue
		}
		// Open loop: a pacer per caller sends on schedule, whatever the replies do.
		cwg.Add(1)
		go func() {
			defer cwg.Done()
			rate := cfg.Rate / float64(cfg.Callers)
			t0 := now()
			for !stopSending.Load() && req.Load() < limit {
				due := uint64(float64(now()-t0) * rate / 1e9)
				for n := 0; req.Load() < due && req.Load() < limit && n < 256; n++ {
					send(now())
				}
				if err := c.s.Flush(); err != nil {
					errCount.add("caller write", err)
					return
				}
				if next := t0 + int64(float64(req.Load()+1)*1e9/rate); next > now() {
					time.Sleep(time.Duration(next - now()))
				}
			}
		}()
	}

	allDone := make(chan struct{})
	go func() { cwg.Wait(); close(allDone) }()
	wait := func(d time.Duration) bool {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
			return false
		case <-allDone:
			return true
		case <-ctx.Done():
			return false
		}
	}
	finished := false
	if warm {
		finished = wait(cfg.Warmup)
		mon.MarkMeasured()
		t0, done0 = time.Now(), completed()
	}
	if !finished {
		finished = wait(cfg.Duration)
	}
	// Stop issuing calls; let outstanding ones finish (bounded by DrainTimeout),
	// then unblock the readers.
	stopSending.Store(true)
	tStop := time.Now()
	doneAtStop := completed()
	outstanding := func() int64 {
		var n int64
		for _, c := range callers {
			n += max(c.outstanding.Load(), 0)
		}
		return n
	}
	for drainEnd := time.Now().Add(cfg.DrainTimeout); outstanding() > 0 && time.Now().Before(drainEnd) && ctx.Err() == nil; {
		time.Sleep(time.Millisecond)
	}
	lost := outstanding()
	stopping.Store(true)
	for _, c := range callers {
		c.s.SetReadDeadline(time.Now())
	}
	<-allDone
	series, rcpu, hcpu := mon.Stop()
	if n := mon.StallNote(); n != "" {
		res.Notes = append(res.Notes, n)
	}
	stopping.Store(true)

	res.Elapsed = tStop.Sub(t0).Seconds()
	res.Unit = "calls/s"
	res.Ops = doneAtStop - done0
	res.Throughput = float64(res.Ops) / res.Elapsed
	res.Drops = uint64(lost)
	res.Errors = errCount.Load()
	res.Latency = Summarize(rec.Total())
	res.RouterCPU, res.HarnessCPU = rcpu, hcpu
	res.Series = series
	if n := errCount.note(); n != "" {
		res.Notes = append(res.Notes, n)
	}
	if lost > 0 {
		res.Notes = append(res.Notes, fmt.Sprintf("%d calls got no answer within the %v drain", lost, cfg.DrainTimeout))
	}
	closeAll(all)
	all = nil
	wg.Wait()
	return res.finish(), nil
}
