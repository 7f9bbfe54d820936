package load

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"sort"
	"strings"
	"time"
)

// Config holds every scenario's parameters (each scenario reads its own).
type Config struct {
	Endpoint  Endpoint
	Realm     string
	Router    string // label for reports ("wampd", "nexus")
	RouterPID int    // 0: router CPU/RSS not reported

	Duration     time.Duration // measured phase
	Warmup       time.Duration // before the measured phase (not counted)
	Count        uint64        // stop after this many operations (0: by Duration only)
	Interval     time.Duration // sampling interval of the time series
	DrainTimeout time.Duration // how long to wait for in-flight deliveries at the end
	Progress     io.Writer     // live progress line (nil: silent)

	// fanout
	Subscribers int
	Topics      int
	Payload     int     // bytes of the PUBLISH/CALL argument
	Window      int     // closed loop: events in flight ahead of the slowest subscriber
	Rate        float64 // open loop: offered events/s (fanout) or calls/s (latency); 0: closed loop
	SampleEvery int     // subscribers time 1 event in SampleEvery
	// SubReader is how subscribers read: "epoll" (default on Linux: a few
	// goroutines each polling many sockets, cheapest) or "goroutine" (one per subscriber).
	SubReader string
	// PollDelay (epoll reader) pauses after each batch so frames accumulate
	// and each read returns more of them: a cheaper harness, at the cost of
	// up to PollDelay added to the measured fan-out latency.
	PollDelay time.Duration

	// rpc / latency
	Callers  int
	Callees  int
	Inflight int

	// storm / idle
	Sessions    int
	Concurrency int
	Hold        time.Duration
	// Procs > 1 spreads the sessions over that many child processes (each
	// with its own file-descriptor limit), for more sessions than one process
	// may open. IndexBase offsets the source-address rotation (set for children).
	Procs       int
	IndexBase   int
	JoinTimeout time.Duration // bound on the whole join phase (default 2 min)

	// baseline
	Batch int
}

// Defaults fills unset parameters.
func (c *Config) Defaults() {
	def := func(p *int, v int) {
		if *p <= 0 {
			*p = v
		}
	}
	def(&c.Subscribers, 100)
	def(&c.Topics, 1)
	def(&c.Payload, 64)
	def(&c.Window, 50)
	def(&c.SampleEvery, 16)
	def(&c.Callers, 4)
	def(&c.Callees, 2)
	def(&c.Inflight, 16)
	def(&c.Sessions, 1000)
	def(&c.Concurrency, 64)
	def(&c.Batch, 16)
	if c.Realm == "" {
		c.Realm = "realm1"
	}
	if c.Duration <= 0 {
		c.Duration = 10 * time.Second
	}
	if c.Interval <= 0 {
		c.Interval = 500 * time.Millisecond
	}
	if c.DrainTimeout <= 0 {
		c.DrainTimeout = 3 * time.Second
	}
	if c.Router == "" {
		c.Router = "router"
	}
}

// Result is what one scenario run measured. Rates are per second of the
// measured phase; latencies in microseconds; CPU in percent of one core.
type Result struct {
	Scenario   string         `json:"scenario"`
	Router     string         `json:"router"`
	URL        string         `json:"url"`
	Serializer string         `json:"serializer"`
	Params     map[string]any `json:"params"`
	Started    time.Time      `json:"started"`
	Elapsed    float64        `json:"elapsed_s"`
	Unit       string         `json:"unit"`
	Ops        uint64         `json:"ops"`
	Throughput float64        `json:"throughput"`
	Published  uint64         `json:"published,omitempty"`
	Expected   uint64         `json:"expected,omitempty"`
	Drops      uint64         `json:"drops"`
	Errors     uint64         `json:"errors"`
	Latency    Latency        `json:"latency"`
	RouterCPU  float64        `json:"router_cpu_pct"`
	HarnessCPU float64        `json:"harness_cpu_pct"`
	// Memory (storm, idle): router RSS before and after the sessions joined.
	RouterRSSBeforeKB uint64    `json:"router_rss_before_kb,omitempty"`
	RouterRSSAfterKB  uint64    `json:"router_rss_after_kb,omitempty"`
	BytesPerSession   float64   `json:"router_bytes_per_session,omitempty"`
	Sessions          int       `json:"sessions,omitempty"`
	Series            []Sample  `json:"series,omitempty"`
	Parts             []*Result `json:"parts,omitempty"`
	// LoadAvg is the machine's 1-minute load average when the run started
	// and when it ended: on a shared 2-core machine, read every figure next to it.
	LoadAvg [2]float64 `json:"loadavg"`
	Notes   []string   `json:"notes,omitempty"`
}

func newResult(scenario string, cfg *Config, params map[string]any) *Result {
	return &Result{
		LoadAvg:    [2]float64{loadAvg(), 0},
		Scenario:   scenario,
		Router:     cfg.Router,
		URL:        cfg.Endpoint.URL,
		Serializer: cfg.Endpoint.Serializer.String(),
		Params:     params,
		Started:    time.Now().UTC(),
	}
}

// WriteJSON writes v indented to path.
func WriteJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// EncodeJSON writes v indented to w.
func EncodeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// ReadResult loads a Result written by WriteJSON.
func ReadResult(path string) (*Result, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r Result
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("load: %s: %w", path, err)
	}
	return &r, nil
}

// Summary writes a human-readable report of r.
func (r *Result) Summary(w io.Writer) {
	fmt.Fprintf(w, "%s against %s (%s, %s)\n", r.Scenario, r.Router, r.URL, r.Serializer)
	keys := make([]string, 0, len(r.Params))
	for k := range r.Params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var ps []string
	for _, k := range keys {
		ps = append(ps, fmt.Sprintf("%s=%v", k, r.Params[k]))
	}
	if len(ps) > 0 {
		fmt.Fprintf(w, "  params:     %s\n", strings.Join(ps, " "))
	}
	if r.Unit != "" {
		fmt.Fprintf(w, "  throughput: %s %s (%d in %.2fs)\n", fmtRate(r.Throughput), r.Unit, r.Ops, r.Elapsed)
	}
	if r.Published > 0 {
		fmt.Fprintf(w, "  published:  %d events, expected %d deliveries\n", r.Published, r.Expected)
	}
	fmt.Fprintf(w, "  errors:     %d   drops: %d\n", r.Errors, r.Drops)
	if l := r.Latency; l.Count > 0 {
		fmt.Fprintf(w, "  latency:    p50 %s  p90 %s  p99 %s  p99.9 %s  max %s  (%d samples)\n",
			fmtUS(l.P50), fmtUS(l.P90), fmtUS(l.P99), fmtUS(l.P999), fmtUS(l.Max), l.Count)
	}
	if r.Sessions > 0 {
		fmt.Fprintf(w, "  sessions:   %d joined\n", r.Sessions)
	}
	if r.RouterRSSAfterKB > 0 {
		fmt.Fprintf(w, "  router rss: %.1f MB -> %.1f MB", float64(r.RouterRSSBeforeKB)/1024, float64(r.RouterRSSAfterKB)/1024)
		if r.BytesPerSession > 0 {
			fmt.Fprintf(w, "  = %.0f bytes per session", r.BytesPerSession)
		}
		fmt.Fprintln(w)
	}
	if r.Scenario == "baseline" {
		fmt.Fprintf(w, "  cpu:        %.0f%% (senders and receivers, one process)   machine load %.1f -> %.1f\n",
			r.HarnessCPU, r.LoadAvg[0], r.LoadAvg[1])
	} else {
		fmt.Fprintf(w, "  cpu:        router %.0f%%  harness %.0f%% (of one core)   machine load %.1f -> %.1f\n",
			r.RouterCPU, r.HarnessCPU, r.LoadAvg[0], r.LoadAvg[1])
	}
	for _, n := range r.Notes {
		fmt.Fprintf(w, "  note:       %s\n", n)
	}
	for _, p := range r.Parts {
		fmt.Fprint(w, "  part: ")
		p.Summary(w)
	}
}

// Sweep is a scenario run once per value of one parameter.
type Sweep struct {
	Param   string    `json:"param"`
	Values  []string  `json:"values"`
	Results []*Result `json:"results"`
}

// ParseAddrRange parses source addresses: "127.0.0.2-127.0.0.9" or a comma list.
func ParseAddrRange(s string) ([]net.IP, error) {
	if s == "" {
		return nil, nil
	}
	var out []net.IP
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a := net.ParseIP(strings.TrimSpace(lo)).To4()
		if a == nil {
			return nil, fmt.Errorf("load: bad source address %q", lo)
		}
		if !isRange {
			out = append(out, a)
			continue
		}
		b := net.ParseIP(strings.TrimSpace(hi)).To4()
		if b == nil || a[0] != b[0] || a[1] != b[1] || a[2] != b[2] || b[3] < a[3] {
			return nil, fmt.Errorf("load: bad source range %q (same /24, ascending)", part)
		}
		for x := int(a[3]); x <= int(b[3]); x++ {
			out = append(out, net.IPv4(a[0], a[1], a[2], byte(x)).To4())
		}
	}
	return out, nil
}

// waitCtx sleeps d or until ctx ends.
func waitCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// SweepTable prints one line per swept value.
func SweepTable(w io.Writer, sw *Sweep) {
	if len(sw.Results) == 0 {
		return
	}
	fmt.Fprintf(w, "\n%-12s %14s %10s %10s %10s %8s %8s %8s %8s\n", sw.Param, sw.Results[0].Unit,
		"p50", "p99", "p99.9", "errors", "drops", "rtr cpu", "h cpu")
	for i, r := range sw.Results {
		fmt.Fprintf(w, "%-12s %14s %10s %10s %10s %8d %8d %7.0f%% %7.0f%%\n", sw.Values[i], fmtRate(r.Throughput),
			fmtUS(r.Latency.P50), fmtUS(r.Latency.P99), fmtUS(r.Latency.P999), r.Errors, r.Drops, r.RouterCPU, r.HarnessCPU)
	}
}

// loadAvg reads the 1-minute load average (0 if unavailable).
func loadAvg() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	var v float64
	fmt.Sscan(string(b), &v)
	return v
}

// finish stamps the end-of-run load average.
func (r *Result) finish() *Result {
	r.LoadAvg[1] = loadAvg()
	return r
}
