package load

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Storm measures how fast sessions join: cfg.Sessions sessions connect and
// join with cfg.Concurrency at a time (connect + WebSocket/RawSocket
// handshake + HELLO/WELCOME), each join timed; then they all leave.
func Storm(ctx context.Context, cfg Config) (*Result, error) {
	cfg.Defaults()
	return runSessions(ctx, cfg, "storm")
}

// Idle joins cfg.Sessions sessions, holds them idle for cfg.Hold (default
// cfg.Duration) and reports the router's resident memory per session: the
// growth of its VmRSS (/proc/PID/status) over the joins divided by the
// number of sessions. cfg.RouterPID is required for the memory figure.
func Idle(ctx context.Context, cfg Config) (*Result, error) {
	cfg.Defaults()
	return runSessions(ctx, cfg, "idle")
}

func runSessions(ctx context.Context, cfg Config, scenario string) (*Result, error) {
	params := map[string]any{"sessions": cfg.Sessions, "concurrency": cfg.Concurrency,
		"source_addrs": max(len(cfg.Endpoint.LocalAddrs), 1)}
	res := newResult(scenario, &cfg, params)
	rec := NewRecorder()
	var joined, failed atomic.Uint64
	mon := &Monitor{Label: scenario + " " + cfg.Router, Unit: "joins/s", Count: joined.Load,
		Errors: failed.Load, Rec: rec, Interval: cfg.Interval, Progress: cfg.Progress}

	var before ProcStat
	if cfg.RouterPID > 0 {
		var err error
		if before, err = ReadProc(cfg.RouterPID); err != nil {
			return nil, fmt.Errorf("%s: router pid %d: %w", scenario, cfg.RouterPID, err)
		}
	}
	mon.Start(cfg.RouterPID)
	mon.MarkMeasured()

	var firstErr atomic.Value
	t0 := time.Now()
	var h holder
	var err error
	if cfg.Procs > 1 {
		h, err = joinSharded(ctx, cfg, rec, &joined, &failed, &firstErr)
		if err != nil {
			mon.Stop()
			return nil, fmt.Errorf("%s: %w", scenario, err)
		}
	} else {
		h = joinLocal(ctx, cfg, rec, &joined, &failed, &firstErr)
	}
	defer h.close()
	elapsed := time.Since(t0)
	joinCPU := 100 * cpuDelta(cfg.RouterPID, before) / elapsed.Seconds()
	res.Sessions = int(joined.Load())
	res.Elapsed = elapsed.Seconds()
	res.Unit = "joins/s"
	res.Ops = joined.Load()
	res.Throughput = float64(res.Ops) / res.Elapsed
	res.Errors = failed.Load()
	res.Latency = Summarize(rec.Total())
	if e := firstErr.Load(); e != nil {
		res.Notes = append(res.Notes, "first join error: "+e.(string))
	}

	if scenario == "idle" {
		hold := cfg.Hold
		if hold <= 0 {
			hold = cfg.Duration
		}
		// Let the router settle (deferred allocations, GC) before reading
		// memory; then hold and check every session is still there.
		waitCtx(ctx, min(hold, 2*time.Second))
		if cfg.RouterPID > 0 {
			after, err := ReadProc(cfg.RouterPID)
			if err == nil {
				res.RouterRSSBeforeKB, res.RouterRSSAfterKB = before.RSSKB, after.RSSKB
				if res.Sessions > 0 && after.RSSKB > before.RSSKB {
					res.BytesPerSession = float64(after.RSSKB-before.RSSKB) * 1024 / float64(res.Sessions)
				}
			}
		}
		waitCtx(ctx, hold-min(hold, 2*time.Second))
		if alive := h.alive(); alive < res.Sessions {
			res.Notes = append(res.Notes, fmt.Sprintf("%d of %d sessions were closed by the router while idle", res.Sessions-alive, res.Sessions))
			res.Drops = uint64(res.Sessions - alive)
		}
	} else if cfg.RouterPID > 0 {
		if after, err := ReadProc(cfg.RouterPID); err == nil {
			res.RouterRSSBeforeKB, res.RouterRSSAfterKB = before.RSSKB, after.RSSKB
			if res.Sessions > 0 && after.RSSKB > before.RSSKB {
				res.BytesPerSession = float64(after.RSSKB-before.RSSKB) * 1024 / float64(res.Sessions)
			}
		}
	}
	res.Series, res.RouterCPU, res.HarnessCPU = mon.Stop()
	if n := mon.StallNote(); n != "" {
		res.Notes = append(res.Notes, n)
	}
	res.RouterCPU = joinCPU // the join phase: what a storm costs the router
	if cfg.Procs > 1 {
		res.Params["procs"] = cfg.Procs
		res.Notes = append(res.Notes, fmt.Sprintf("sessions held by %d child processes; harness CPU counts the parent only", cfg.Procs))
	}
	return res.finish(), nil
}

// holder keeps joined sessions open until close.
type holder interface {
	alive() int // sessions the router has not closed
	close()
}

// localHolder holds sessions joined by this process. On Linux a keepalive
// epoll goroutine answers the router's pings while they are held.
type localHolder struct {
	ss      []*Session
	aliveKA func() int
	stopKA  func()
}

func (l *localHolder) alive() int {
	if l.aliveKA != nil {
		return l.aliveKA()
	}
	return countAlive(l.ss)
}

func (l *localHolder) close() {
	if l.stopKA != nil {
		l.stopKA() // closes the sockets it took over
		l.stopKA = nil
	}
	closeAll(l.ss)
}

// joinLocal joins cfg.Sessions sessions from this process. Idle sessions keep
// a small read buffer and no goroutine: 100k of them must stay cheap on the
// harness side too.
func joinLocal(ctx context.Context, cfg Config, rec *Recorder, joined, failed *atomic.Uint64, firstErr *atomic.Value) holder {
	// The join phase is bounded too: a router that stops accepting would
	// otherwise cost every remaining session its full dial timeout.
	if cfg.JoinTimeout <= 0 {
		cfg.JoinTimeout = defaultJoinTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.JoinTimeout)
	defer cancel()
	sessions := make([]*Session, cfg.Sessions)
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < min(cfg.Concurrency, cfg.Sessions); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= cfg.Sessions {
					return
				}
				start := now()
				s, err := Join(ctx, cfg.Endpoint, cfg.Realm, cfg.IndexBase+i, idleBufferSize)
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				rec.Record(i, now()-start)
				joined.Add(1)
				sessions[i] = s
			}
		}()
	}
	wg.Wait()
	if ctx.Err() != nil {
		firstErr.CompareAndSwap(nil, fmt.Sprintf("join phase stopped after %v", cfg.JoinTimeout))
	}
	h := &localHolder{ss: sessions}
	if epollSupported {
		if alive, stop, err := startKeepalive(sessions); err == nil {
			h.aliveKA, h.stopKA = alive, stop
		}
	}
	return h
}

// defaultJoinTimeout bounds the join phase of storm and idle runs.
const defaultJoinTimeout = 2 * time.Minute

// cpuDelta is the router CPU seconds used since before.
func cpuDelta(pid int, before ProcStat) float64 {
	if pid <= 0 {
		return 0
	}
	ps, err := ReadProc(pid)
	if err != nil {
		return 0
	}
	return (ps.CPU - before.CPU).Seconds()
}

// countAlive checks, without blocking, which idle sessions the router still
// holds open: a closed one has a pending EOF or close frame.
func countAlive(ss []*Session) int {
	var alive atomic.Int64
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < 128; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(ss) {
					return
				}
				s := ss[i]
				if s == nil {
					continue
				}
				s.SetReadDeadline(time.Now().Add(time.Millisecond))
				_, err := s.br.Peek(1)
				s.SetReadDeadline(time.Time{})
				if err == nil {
					// Something arrived (a ping, say): the session is alive.
					alive.Add(1)
					continue
				}
				if ne, ok := err.(interface{ Timeout() bool }); ok && ne.Timeout() {
					alive.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	return int(alive.Load())
}
