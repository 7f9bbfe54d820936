package load

import (
	"context"
	"fmt"

	"github.com/wampd/wampd/bench/baseline"
)

// Mixed runs a realistic blend at once: cfg.Sessions idle sessions joined
// first, then pub/sub fan-out (as Fanout) and RPC (as RPC) side by side for
// the same duration. The result's Parts hold each workload's figures, so a
// router that favours one workload shows it.
func Mixed(ctx context.Context, cfg Config) (*Result, error) {
	cfg.Defaults()
	res := newResult("mixed", &cfg, map[string]any{
		"idle_sessions": cfg.Sessions, "subscribers": cfg.Subscribers, "topics": cfg.Topics,
		"callers": cfg.Callers, "callees": cfg.Callees, "inflight": cfg.Inflight, "payload": cfg.Payload,
	})
	var before ProcStat
	if cfg.RouterPID > 0 {
		before, _ = ReadProc(cfg.RouterPID)
	}
	idleCfg := cfg
	idleCfg.Progress = nil
	idle, err := joinAll(ctx, &idleCfg, cfg.Sessions, 1000, idleBufferSize, nil)
	if err != nil {
		return nil, fmt.Errorf("mixed: join idle sessions: %w", err)
	}
	defer closeAll(idle)

	type out struct {
		r   *Result
		err error
	}
	fanCh, rpcCh := make(chan out, 1), make(chan out, 1)
	go func() {
		r, err := Fanout(ctx, cfg)
		fanCh <- out{r, err}
	}()
	rpcCfg := cfg
	rpcCfg.Progress = nil // one live line: the fan-out's
	go func() {
		r, err := RPC(ctx, rpcCfg)
		rpcCh <- out{r, err}
	}()
	f, r := <-fanCh, <-rpcCh
	if f.err != nil {
		return nil, f.err
	}
	if r.err != nil {
		return nil, r.err
	}
	res.Parts = []*Result{f.r, r.r}
	res.Elapsed = max(f.r.Elapsed, r.r.Elapsed)
	res.Errors = f.r.Errors + r.r.Errors
	res.Drops = f.r.Drops + r.r.Drops
	res.Sessions = len(idle)
	// Both parts sample the same router: its CPU is the fan-out part's reading.
	res.RouterCPU = f.r.RouterCPU
	res.HarnessCPU = f.r.HarnessCPU
	if cfg.RouterPID > 0 {
		if after, err := ReadProc(cfg.RouterPID); err == nil {
			res.RouterRSSBeforeKB, res.RouterRSSAfterKB = before.RSSKB, after.RSSKB
		}
	}
	return res.finish(), nil
}

// Baseline runs bench/baseline: the same number of loopback receivers as the
// fan-out's subscribers, frames of the size of the fan-out's EVENT, batched
// writes. Its deliveries/s is the machine's limit for a broker's fan-out.
func Baseline(ctx context.Context, cfg Config) (*Result, error) {
	cfg.Defaults()
	frame := EventFrameSize(cfg.Endpoint.Serializer, cfg.Payload)
	res := newResult("baseline", &cfg, map[string]any{"subscribers": cfg.Subscribers, "frame": frame, "batch": cfg.Batch})
	res.Router = "baseline"
	self := newCPUMeter(0)
	r, err := baseline.Run(ctx, baseline.Config{Subscribers: cfg.Subscribers, FrameSize: frame, Batch: cfg.Batch, Duration: cfg.Duration})
	if err != nil {
		return nil, fmt.Errorf("baseline: %w", err)
	}
	res.HarnessCPU = self.average()
	res.Elapsed = r.Elapsed.Seconds()
	res.Unit = "deliveries/s"
	res.Ops = r.Deliveries
	res.Throughput = r.PerSecond
	res.Notes = append(res.Notes, fmt.Sprintf("%.1f MB/s over loopback", r.BytesPerSec/1e6))
	return res.finish(), nil
}

// EventFrameSize estimates the bytes of one EVENT on the wire (WebSocket
// header included) carrying a payload-byte argument, for the baseline.
func EventFrameSize(ser Serializer, payload int) int {
	p := PayloadTemplate(payload)
	var dst []byte
	if ser == JSON {
		dst = fmt.Appendf(dst, `[36,1234567890123,1234567890123,{},["%s"]]`, p)
	} else {
		m := ser.AppendPublish(nil, 1234567890123, "", p) // same shape and size class as EVENT
		dst = m
	}
	n := len(dst)
	switch {
	case n < 126:
		return n + 2
	case n <= 0xFFFF:
		return n + 4
	}
	return n + 10
}
