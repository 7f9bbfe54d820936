package load

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// epoch is the monotonic origin of every harness timestamp: senders and
// receivers live in this one process, so time.Since(epoch) compares exactly.
var epoch = time.Now()

// now returns nanoseconds since epoch (monotonic).
func now() int64 { return int64(time.Since(epoch)) }

// Histogram range: 1 µs resolution is plenty next to loopback round trips;
// 60 s is far beyond any latency a bounded run can see.
const (
	histLowest  = 1000 // ns
	histHighest = 60e9 // ns
	histDigits  = 3
	histShards  = 16
)

func newHist() *hdrhistogram.Histogram { return hdrhistogram.New(histLowest, histHighest, histDigits) }

// Recorder collects latencies from many goroutines: sharded histograms, each
// holding the run total and the current sampling interval.
type Recorder struct {
	shards [histShards]histShard
}

type histShard struct {
	mu       sync.Mutex
	total    *hdrhistogram.Histogram
	interval *hdrhistogram.Histogram
	_        [40]byte // keep shards on separate cache lines
}

// NewRecorder returns an empty Recorder.
func NewRecorder() *Recorder {
	r := &Recorder{}
	for i := range r.shards {
		r.shards[i].total = newHist()
		r.shards[i].interval = newHist()
	}
	return r
}

// Record adds one latency in nanoseconds. shard spreads writers (any int).
func (r *Recorder) Record(shard int, ns int64) {
	if ns < histLowest {
		ns = histLowest
	}
	if ns > histHighest {
		ns = histHighest
	}
	s := &r.shards[uint(shard)%histShards]
	s.mu.Lock()
	s.total.RecordValue(ns)
	s.interval.RecordValue(ns)
	s.mu.Unlock()
}

// takeInterval merges and clears the interval histograms.
func (r *Recorder) takeInterval() *hdrhistogram.Histogram {
	h := newHist()
	for i := range r.shards {
		s := &r.shards[i]
		s.mu.Lock()
		h.Merge(s.interval)
		s.interval.Reset()
		s.mu.Unlock()
	}
	return h
}

// merge adds a histogram recorded elsewhere (a child process).
func (r *Recorder) merge(h *hdrhistogram.Histogram) {
	s := &r.shards[0]
	s.mu.Lock()
	s.total.Merge(h)
	s.interval.Merge(h)
	s.mu.Unlock()
}

// Reset drops everything recorded so far (end of warm-up).
func (r *Recorder) Reset() {
	for i := range r.shards {
		s := &r.shards[i]
		s.mu.Lock()
		s.total.Reset()
		s.interval.Reset()
		s.mu.Unlock()
	}
}

// Total merges the run's histograms.
func (r *Recorder) Total() *hdrhistogram.Histogram {
	h := newHist()
	for i := range r.shards {
		s := &r.shards[i]
		s.mu.Lock()
		h.Merge(s.total)
		s.mu.Unlock()
	}
	return h
}

// Latency is a latency distribution summary in microseconds.
type Latency struct {
	Count int64   `json:"count"`
	Mean  float64 `json:"mean_us"`
	P50   float64 `json:"p50_us"`
	P90   float64 `json:"p90_us"`
	P99   float64 `json:"p99_us"`
	P999  float64 `json:"p99_9_us"`
	Max   float64 `json:"max_us"`
}

// Summarize reads the percentiles of h.
func Summarize(h *hdrhistogram.Histogram) Latency {
	if h == nil || h.TotalCount() == 0 {
		return Latency{}
	}
	us := func(v int64) float64 { return float64(v) / 1e3 }
	return Latency{
		Count: h.TotalCount(),
		Mean:  h.Mean() / 1e3,
		P50:   us(h.ValueAtQuantile(50)),
		P90:   us(h.ValueAtQuantile(90)),
		P99:   us(h.ValueAtQuantile(99)),
		P999:  us(h.ValueAtQuantile(99.9)),
		Max:   us(h.Max()),
	}
}

// Counter is a cache-line padded atomic counter: one per receiving
// goroutine, so counting a frame never bounces a line between cores.
type Counter struct {
	n atomic.Uint64
	_ [56]byte
}

// Add adds d.
func (c *Counter) Add(d uint64) { c.n.Add(d) }

// Load reads the count.
func (c *Counter) Load() uint64 { return c.n.Load() }

// ---- /proc sampling ----

// clockTicks is USER_HZ: 100 on every Linux configuration Go supports
// without cgo (sysconf is not reachable from pure Go).
const clockTicks = 100

// ProcStat is one reading of a process's CPU time and resident memory.
type ProcStat struct {
	CPU   time.Duration // utime+stime
	RSSKB uint64
}

// ReadProc reads /proc/pid/stat and /proc/pid/status; pid 0 means this process.
func ReadProc(pid int) (ProcStat, error) {
	dir := "/proc/self"
	if pid > 0 {
		dir = "/proc/" + strconv.Itoa(pid)
	}
	var ps ProcStat
	stat, err := os.ReadFile(dir + "/stat")
	if err != nil {
		return ps, fmt.Errorf("load: read process stats: %w", err)
	}
	// The command name may contain spaces: fields start after the last ')'.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return ps, fmt.Errorf("load: malformed %s/stat", dir)
	}
	f := bytes.Fields(stat[i+1:])
	// After ')': state(3) ppid(4) ... utime is field 14, stime 15 (1-based) => f[11], f[12].
	if len(f) < 13 {
		return ps, fmt.Errorf("load: malformed %s/stat", dir)
	}
	ut, _ := strconv.ParseUint(string(f[11]), 10, 64)
	st, _ := strconv.ParseUint(string(f[12]), 10, 64)
	ps.CPU = time.Duration(ut+st) * time.Second / clockTicks
	status, err := os.ReadFile(dir + "/status")
	if err != nil {
		return ps, fmt.Errorf("load: read process status: %w", err)
	}
	if j := bytes.Index(status, []byte("VmRSS:")); j >= 0 {
		fs := bytes.Fields(status[j+len("VmRSS:"):])
		if len(fs) > 0 {
			ps.RSSKB, _ = strconv.ParseUint(string(fs[0]), 10, 64)
		}
	}
	return ps, nil
}

// cpuMeter turns successive ProcStat readings into CPU percent of one core.
type cpuMeter struct {
	pid   int
	ok    bool
	last  ProcStat
	lastT time.Time
	first ProcStat
	t0    time.Time
}

func newCPUMeter(pid int) *cpuMeter {
	m := &cpuMeter{pid: pid}
	if ps, err := ReadProc(pid); err == nil {
		m.ok, m.last, m.first = true, ps, ps
		m.lastT, m.t0 = time.Now(), time.Now()
	}
	return m
}

// restart makes the run average start now (end of warm-up).
func (m *cpuMeter) restart() {
	if ps, err := ReadProc(m.pid); err == nil {
		m.first, m.t0 = ps, time.Now()
	}
}

// sample returns CPU% since the previous sample and the current RSS.
func (m *cpuMeter) sample() (pct float64, rssKB uint64) {
	if !m.ok {
		return 0, 0
	}
	ps, err := ReadProc(m.pid)
	if err != nil {
		m.ok = false
		return 0, 0
	}
	t := time.Now()
	if dt := t.Sub(m.lastT); dt > 0 {
		pct = 100 * float64(ps.CPU-m.last.CPU) / float64(dt)
	}
	m.last, m.lastT = ps, t
	return pct, ps.RSSKB
}

// average returns CPU% since restart.
func (m *cpuMeter) average() float64 {
	if !m.ok {
		return 0
	}
	ps, err := ReadProc(m.pid)
	if err != nil {
		return 0
	}
	dt := time.Since(m.t0)
	if dt <= 0 {
		return 0
	}
	return 100 * float64(ps.CPU-m.first.CPU) / float64(dt)
}

// ---- live monitor ----

// Sample is one point of a run's time series.
type Sample struct {
	T          float64 `json:"t_s"`  // seconds since the measured phase began (negative: warm-up)
	Rate       float64 `json:"rate"` // operations per second in this interval
	P50        float64 `json:"p50_us,omitempty"`
	P99        float64 `json:"p99_us,omitempty"`
	RouterCPU  float64 `json:"router_cpu_pct,omitempty"`
	HarnessCPU float64 `json:"harness_cpu_pct"`
	RouterRSS  uint64  `json:"router_rss_kb,omitempty"`
}

// Monitor samples a running scenario: its operation count, its latency
// recorder, and the CPU and memory of the router and of the harness. It
// prints a live progress line to Progress (stderr) and keeps the series.
type Monitor struct {
	Label    string
	Unit     string
	Count    func() uint64 // total operations so far
	Errors   func() uint64
	Rec      *Recorder // may be nil
	Interval time.Duration
	Progress io.Writer // nil: silent

	router, self *cpuMeter
	mu           sync.Mutex
	series       []Sample
	stamps       []time.Time // wall time of each sample, to re-base T at Stop
	maxGap       time.Duration
	measured     bool      // MarkMeasured was called (the progress line says warm-up before)
	t0           time.Time // start of the measured phase
	lastCount    uint64
	lastT        time.Time
	stop         chan struct{}
	done         chan struct{}
}

// Start begins sampling; routerPID 0 means unknown (router CPU not reported).
func (m *Monitor) Start(routerPID int) {
	if m.Interval <= 0 {
		m.Interval = time.Second
	}
	if routerPID > 0 {
		m.router = newCPUMeter(routerPID)
	}
	m.self = newCPUMeter(0)
	m.t0, m.lastT = time.Now(), time.Now()
	m.stop, m.done = make(chan struct{}), make(chan struct{})
	go m.loop()
}

// MarkMeasured starts the measured phase (after warm-up): the time axis and
// CPU averages restart, the latency recorder is cleared.
func (m *Monitor) MarkMeasured() {
	m.mu.Lock()
	m.t0 = time.Now()
	m.measured = true
	m.mu.Unlock()
	if m.router != nil {
		m.router.restart()
	}
	m.self.restart()
	if m.Rec != nil {
		m.Rec.Reset()
	}
}

func (m *Monitor) loop() {
	defer close(m.done)
	tk := time.NewTicker(m.Interval)
	defer tk.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-tk.C:
			m.tick()
		}
	}
}

func (m *Monitor) tick() {
	t := time.Now()
	c := m.Count()
	rate := float64(c-m.lastCount) / t.Sub(m.lastT).Seconds()
	m.lastCount, m.lastT = c, t
	s := Sample{Rate: rate}
	m.mu.Lock()
	s.T = t.Sub(m.t0).Seconds()
	m.stamps = append(m.stamps, t)
	phase := "warm-up"
	if m.measured {
		phase = "measure"
	}
	m.mu.Unlock()
	if m.Rec != nil {
		l := Summarize(m.Rec.takeInterval())
		s.P50, s.P99 = l.P50, l.P99
	}
	if m.router != nil {
		s.RouterCPU, s.RouterRSS = m.router.sample()
	}
	s.HarnessCPU, _ = m.self.sample()
	m.mu.Lock()
	m.series = append(m.series, s)
	m.mu.Unlock()
	if m.Progress != nil {
		var errs uint64
		if m.Errors != nil {
			errs = m.Errors()
		}
		line := fmt.Sprintf("\r[%s] %s %5.1fs  %s %s", m.Label, phase, s.T, fmtRate(rate), m.Unit)
		if m.Rec != nil && s.P99 > 0 {
			line += fmt.Sprintf("  p50 %s p99 %s", fmtUS(s.P50), fmtUS(s.P99))
		}
		line += fmt.Sprintf("  errors %d  cpu router %.0f%% harness %.0f%%", errs, s.RouterCPU, s.HarnessCPU)
		if s.RouterRSS > 0 {
			line += fmt.Sprintf("  router rss %.0f MB", float64(s.RouterRSS)/1024)
		}
		fmt.Fprintf(m.Progress, "%-120s", line)
	}
}

// Stop ends sampling and returns the series and the measured-phase CPU
// averages (percent of one core) of the router and the harness.
func (m *Monitor) Stop() (series []Sample, routerCPU, harnessCPU float64) {
	close(m.stop)
	<-m.done
	if m.Progress != nil {
		fmt.Fprint(m.Progress, "\r"+fmt.Sprintf("%-120s", "")+"\r")
	}
	if m.router != nil {
		routerCPU = m.router.average()
	}
	harnessCPU = m.self.average()
	m.mu.Lock()
	defer m.mu.Unlock()
	// Re-base the time axis on the measured phase: warm-up samples get negative times.
	for i := range m.series {
		m.series[i].T = m.stamps[i].Sub(m.t0).Seconds()
		if i > 0 {
			m.maxGap = max(m.maxGap, m.stamps[i].Sub(m.stamps[i-1]))
		}
	}
	return m.series, routerCPU, harnessCPU
}

func fmtRate(r float64) string {
	switch {
	case r >= 1e6:
		return fmt.Sprintf("%.2fM", r/1e6)
	case r >= 1e3:
		return fmt.Sprintf("%.1fk", r/1e3)
	}
	return fmt.Sprintf("%.0f", r)
}

func fmtUS(us float64) string {
	switch {
	case us >= 1e6:
		return fmt.Sprintf("%.2fs", us/1e6)
	case us >= 1e3:
		return fmt.Sprintf("%.2fms", us/1e3)
	}
	return fmt.Sprintf("%.0fµs", us)
}

// errTally counts errors and keeps the first one's text for the report.
type errTally struct {
	n     atomic.Uint64
	first atomic.Pointer[string]
}

// add counts one error; what says where it happened.
func (e *errTally) add(what string, err error) {
	e.n.Add(1)
	msg := what
	if err != nil {
		msg += ": " + err.Error()
	}
	e.first.CompareAndSwap(nil, &msg)
}

// Load returns the count.
func (e *errTally) Load() uint64 { return e.n.Load() }

// note returns the first error as a report note, or "".
func (e *errTally) note() string {
	if p := e.first.Load(); p != nil {
		return "first error: " + *p
	}
	return ""
}

// StallNote reports, after Stop, whether the sampler itself was descheduled
// (a gap of more than 3 intervals between samples): on a shared machine that
// means the harness, and likely the router, lost the CPU to other processes.
func (m *Monitor) StallNote() string {
	if m.maxGap > 3*m.Interval {
		return fmt.Sprintf("harness stalled: %.2fs between samples (interval %v); the machine was busy, figures are pessimistic",
			m.maxGap.Seconds(), m.Interval)
	}
	return ""
}
