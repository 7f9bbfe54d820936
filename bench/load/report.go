package load

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// The comparison report reads what bench/compare.sh wrote:
//
//	DIR/wampd/NAME.json, DIR/nexus/NAME.json   one Result per scenario run
//	DIR/baseline/NAME.json                     the machine's limit (no router)
//	DIR/*/fanout_sweep_subscribers.json        sweeps
//	DIR/env.txt                                machine, Go version, command lines
//
// and writes DIR/compare.md plus DIR/compare_*.svg.

// row is one metric of the comparison table.
type row struct {
	name     string // scenario file name
	label    string
	metric   string
	get      func(*Result) float64
	higher   bool    // true: more is better
	target   float64 // wampd/nexus ratio target (0: none)
	baseline string  // baseline file name to compare deliveries/s against
}

func throughput(r *Result) float64 { return r.Throughput }
func p50(r *Result) float64        { return r.Latency.P50 }
func p99(r *Result) float64        { return r.Latency.P99 }
func perSession(r *Result) float64 { return r.BytesPerSession }

var rows = []row{
	{name: "fanout100", label: "fan-out 1→100", metric: "deliveries/s", get: throughput, higher: true, target: 10, baseline: "baseline100"},
	{name: "fanout1000", label: "fan-out 1→1000", metric: "deliveries/s", get: throughput, higher: true, target: 10, baseline: "baseline1000"},
	{name: "rpc64", label: "RPC, 64 calls in flight", metric: "calls/s", get: throughput, higher: true, target: 5},
	{name: "rpc64", label: "RPC, 64 calls in flight", metric: "p99 µs", get: p99},
	{name: "lat1", label: "RPC latency, 1 in flight", metric: "p50 µs", get: p50, target: 0.5},
	{name: "lat1", label: "RPC latency, 1 in flight", metric: "p99 µs", get: p99, target: 0.5},
	{name: "lat1_awake", label: "RPC latency, 1 in flight, vCPUs kept awake", metric: "p50 µs", get: p50, target: 0.5},
	{name: "lat1_awake", label: "RPC latency, 1 in flight, vCPUs kept awake", metric: "p99 µs", get: p99, target: 0.5},
	{name: "latrate", label: "RPC latency, fixed rate (open loop)", metric: "p50 µs", get: p50},
	{name: "latrate", label: "RPC latency, fixed rate (open loop)", metric: "p99 µs", get: p99},
	{name: "latrate_awake", label: "RPC latency, fixed rate, vCPUs kept awake", metric: "p50 µs", get: p50},
	{name: "latrate_awake", label: "RPC latency, fixed rate, vCPUs kept awake", metric: "p99 µs", get: p99},
	{name: "storm", label: "connection storm", metric: "joins/s", get: throughput, higher: true},
	{name: "storm", label: "connection storm", metric: "join p99 µs", get: p99},
	{name: "idle", label: "idle sessions", metric: "router bytes/session", get: perSession},
	{name: "mixed", label: "mixed: fan-out part", metric: "deliveries/s", higher: true,
		get: func(r *Result) float64 { return part(r, 0, throughput) }},
	{name: "mixed", label: "mixed: RPC part", metric: "calls/s", higher: true,
		get: func(r *Result) float64 { return part(r, 1, throughput) }},
}

func part(r *Result, i int, f func(*Result) float64) float64 {
	if i < len(r.Parts) {
		return f(r.Parts[i])
	}
	return math.NaN()
}

func loadIf(path string) *Result {
	r, err := ReadResult(path)
	if err != nil {
		return nil
	}
	return r
}

// runsOf loads NAME.json and its repeats NAME.rK.json.
func runsOf(dir, router, name string) []*Result {
	var out []*Result
	if r := loadIf(filepath.Join(dir, router, name+".json")); r != nil {
		out = append(out, r)
	}
	reps, _ := filepath.Glob(filepath.Join(dir, router, name+".r*.json"))
	for _, p := range reps {
		if r := loadIf(p); r != nil {
			out = append(out, r)
		}
	}
	return out
}

// medianBy returns the run whose f is the median, so one disturbed run on a
// noisy machine does not set the figure. With an even count it takes the
// worse of the two middle runs (higher: whether more is better).
func medianBy(runs []*Result, f func(*Result) float64, higher bool) *Result {
	if len(runs) == 0 {
		return nil
	}
	s := append([]*Result(nil), runs...)
	sort.SliceStable(s, func(i, j int) bool { return f(s[i]) < f(s[j]) })
	if higher {
		return s[(len(s)-1)/2]
	}
	return s[len(s)/2]
}

func fmtVal(v float64, ok bool) string {
	if !ok || math.IsNaN(v) {
		return "—"
	}
	if v >= 1000 {
		return SI(v)
	}
	return trimZeros(fmt.Sprintf("%.1f", v))
}

// CompareReport writes DIR/compare.md and its plots, and prints the table to w.
func CompareReport(dir string, w io.Writer) error {
	maxRuns := 0
	getBy := func(router, name string, f func(*Result) float64, higher bool) *Result {
		runs := runsOf(dir, router, name)
		maxRuns = max(maxRuns, len(runs))
		return medianBy(runs, f, higher)
	}
	get := func(router, name string) *Result { return getBy(router, name, throughput, true) }
	var md strings.Builder
	md.WriteString("# wampd vs nexus\n\n")
	if env, err := os.ReadFile(filepath.Join(dir, "env.txt")); err == nil {
		md.WriteString("```\n" + strings.TrimSpace(string(env)) + "\n```\n\n")
	}
	md.WriteString("Same machine, same harness (`wampbench`), same endpoint and realm, MessagePack over WebSocket; " +
		"each router runs alone. Ratio = wampd / nexus. Targets are ratios (for latency and memory: at most).\n\n")
	md.WriteString("| scenario | metric | wampd | nexus | wampd/nexus | target | met | wampd % of baseline | nexus % of baseline | router CPU wampd / nexus | harness CPU wampd / nexus |\n")
	md.WriteString("|---|---|---:|---:|---:|---:|:-:|---:|---:|---:|---:|\n")
	for _, rw := range rows {
		wr, nr := getBy("wampd", rw.name, rw.get, rw.higher), getBy("nexus", rw.name, rw.get, rw.higher)
		if wr == nil && nr == nil {
			continue
		}
		var wv, nv float64 = math.NaN(), math.NaN()
		if wr != nil {
			wv = rw.get(wr)
		}
		if nr != nil {
			nv = rw.get(nr)
		}
		ratio := wv / nv
		target, met := "", ""
		if rw.target > 0 {
			if rw.higher {
				target = fmt.Sprintf("≥ %g×", rw.target)
			} else {
				target = fmt.Sprintf("≤ %g×", rw.target)
			}
			switch {
			case math.IsNaN(ratio) || math.IsInf(ratio, 0):
				met = "?"
			case rw.higher && ratio >= rw.target, !rw.higher && ratio <= rw.target:
				met = "yes"
			default:
				met = "no"
			}
		}
		metric := rw.metric
		if rw.name == "idle" {
			if wr != nil {
				metric = fmt.Sprintf("%s at %d sessions", rw.metric, wr.Sessions)
			}
			target, met = "≤ 5 KB at 100k", "?"
			if !math.IsNaN(wv) && wr != nil {
				met = map[bool]string{true: "yes", false: "no"}[wv <= 5*1024]
				if wr.Sessions < 100000 {
					met += fmt.Sprintf(" at %dk; 100k not run", wr.Sessions/1000)
				}
			}
		}
		wb, nb := "", ""
		if rw.baseline != "" {
			if br := get("baseline", rw.baseline); br != nil && br.Throughput > 0 {
				wb = fmtPct(wv / br.Throughput)
				nb = fmtPct(nv / br.Throughput)
			}
		}
		cpu := func(r *Result, f func(*Result) float64) string {
			if r == nil {
				return "—"
			}
			return fmt.Sprintf("%.0f%%", f(r))
		}
		ratioS := "—"
		if !math.IsNaN(ratio) && !math.IsInf(ratio, 0) {
			ratioS = fmt.Sprintf("%.2f×", ratio)
		}
		fmt.Fprintf(&md, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s / %s | %s / %s |\n",
			rw.label, metric, fmtVal(wv, wr != nil), fmtVal(nv, nr != nil), ratioS, target, met, wb, nb,
			cpu(wr, func(r *Result) float64 { return r.RouterCPU }), cpu(nr, func(r *Result) float64 { return r.RouterCPU }),
			cpu(wr, func(r *Result) float64 { return r.HarnessCPU }), cpu(nr, func(r *Result) float64 { return r.HarnessCPU }))
	}
	if maxRuns > 1 {
		fmt.Fprintf(&md, "\nEach figure is the median of %d runs (per metric); the router and harness CPU shown are that run's.\n", maxRuns)
	}
	md.WriteString("\n")

	// Errors and drops: a fast run that lost messages is not a fast run.
	md.WriteString("Errors and drops per run (drops: events not delivered, calls not answered, idle sessions closed):\n\n")
	md.WriteString("| run | wampd errors | wampd drops | nexus errors | nexus drops |\n|---|---:|---:|---:|---:|\n")
	for _, name := range []string{"fanout100", "fanout1000", "rpc64", "lat1", "lat1_awake", "latrate", "latrate_awake", "storm", "idle", "mixed"} {
		wr, nr := runsOf(dir, "wampd", name), runsOf(dir, "nexus", name)
		if len(wr) == 0 && len(nr) == 0 {
			continue
		}
		// Summed over every run, not only the median one: a loss anywhere counts.
		f := func(rs []*Result, drops bool) string {
			if len(rs) == 0 {
				return "—"
			}
			var n uint64
			for _, r := range rs {
				if drops {
					n += r.Drops
				} else {
					n += r.Errors
				}
			}
			return fmt.Sprint(n)
		}
		fmt.Fprintf(&md, "| %s | %s | %s | %s | %s |\n", name, f(wr, false), f(wr, true), f(nr, false), f(nr, true))
	}
	md.WriteString("\n")

	plots, err := comparePlots(dir, get)
	if err != nil {
		return err
	}
	for _, p := range plots {
		fmt.Fprintf(&md, "![%s](%s)\n\n", strings.TrimSuffix(p, ".svg"), p)
	}
	if err := os.WriteFile(filepath.Join(dir, "compare.md"), []byte(md.String()), 0o644); err != nil {
		return fmt.Errorf("load: write compare.md: %w", err)
	}
	_, err = io.WriteString(w, md.String())
	return err
}

func fmtPct(f float64) string {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return "—"
	}
	return fmt.Sprintf("%.1f%%", 100*f)
}

// comparePlots draws the side-by-side charts; it returns their file names (relative to dir).
func comparePlots(dir string, get func(router, name string) *Result) ([]string, error) {
	var files []string
	val := func(router, name string, f func(*Result) float64) float64 {
		if r := get(router, name); r != nil {
			return f(r)
		}
		return math.NaN()
	}
	routers := []string{"wampd", "nexus"}

	// Fan-out deliveries/s next to the machine's limit.
	fan := &BarChart{Title: "Fan-out deliveries/s (higher is better, log scale)", YLabel: "deliveries/s", LogY: true,
		Groups: []string{"1 → 100 subscribers", "1 → 1000 subscribers"}, Names: []string{"wampd", "nexus", "baseline (machine limit)"}}
	for _, r := range routers {
		fan.Values = append(fan.Values, []float64{val(r, "fanout100", throughput), val(r, "fanout1000", throughput)})
	}
	fan.Values = append(fan.Values, []float64{val("baseline", "baseline100", throughput), val("baseline", "baseline1000", throughput)})
	if err := writeFile(filepath.Join(dir, "compare_fanout.svg"), fan.SVG()); err != nil {
		return nil, err
	}
	files = append(files, "compare_fanout.svg")

	rpc := &BarChart{Title: "RPC calls/s, 64 calls in flight (higher is better)", YLabel: "calls/s",
		Groups: []string{"4 callers × 16 in flight → 2 callees"}, Names: routers}
	lat := &BarChart{Title: "RPC latency (lower is better, log scale)", YLabel: "µs", LogY: true,
		Groups: []string{"1 in flight\np50", "1 in flight\np99", "1 in flight\nawake p50", "1 in flight\nawake p99",
			"fixed rate\np50", "fixed rate\np99", "64 in flight\np99"},
		Names: routers}
	for _, r := range routers {
		rpc.Values = append(rpc.Values, []float64{val(r, "rpc64", throughput)})
		lat.Values = append(lat.Values, []float64{val(r, "lat1", p50), val(r, "lat1", p99),
			val(r, "lat1_awake", p50), val(r, "lat1_awake", p99),
			val(r, "latrate", p50), val(r, "latrate", p99), val(r, "rpc64", p99)})
	}
	for _, c := range []struct {
		file  string
		chart *BarChart
	}{{"compare_rpc.svg", rpc}, {"compare_latency.svg", lat}} {
		if err := writeFile(filepath.Join(dir, c.file), c.chart.SVG()); err != nil {
			return nil, err
		}
		files = append(files, c.file)
	}

	// Ratios against the targets.
	ratio := &BarChart{Title: "wampd / nexus (throughput: higher is better; latency, memory: lower)", YLabel: "ratio (log)", LogY: true,
		RefLine: 1, RefLabel: "parity", Names: []string{"wampd / nexus", "target"}}
	var rv, tv []float64
	for _, rw := range rows {
		if rw.target == 0 {
			continue
		}
		w, n := val("wampd", rw.name, rw.get), val("nexus", rw.name, rw.get)
		ratio.Groups = append(ratio.Groups, rw.name+"\n"+rw.metric)
		rv = append(rv, w/n)
		tv = append(tv, rw.target)
	}
	ratio.Values = [][]float64{rv, tv}
	if err := writeFile(filepath.Join(dir, "compare_ratio.svg"), ratio.SVG()); err != nil {
		return nil, err
	}
	files = append(files, "compare_ratio.svg")

	if wi, ni := get("wampd", "idle"), get("nexus", "idle"); wi != nil || ni != nil {
		mem := &BarChart{Title: "Router memory per idle session (lower is better)", YLabel: "bytes/session",
			Groups: []string{"idle sessions"}, Names: routers, RefLine: 5 * 1024, RefLabel: "target 5 KB"}
		mem.Values = [][]float64{{val("wampd", "idle", perSession)}, {val("nexus", "idle", perSession)}}
		if wi != nil {
			mem.Groups[0] = fmt.Sprintf("%d idle sessions", wi.Sessions)
		}
		if err := writeFile(filepath.Join(dir, "compare_memory.svg"), mem.SVG()); err != nil {
			return nil, err
		}
		files = append(files, "compare_memory.svg")
	}

	// Sweep: deliveries/s against the number of subscribers.
	lc := &LineChart{Title: "Fan-out deliveries/s vs subscribers (log scales)", XLabel: "subscribers", YLabel: "deliveries/s", LogX: true, LogY: true}
	for _, r := range append(routers, "baseline") {
		sw, err := readSweep(filepath.Join(dir, r, "fanout_sweep_subscribers.json"))
		if err != nil {
			continue
		}
		s := Series{Name: r, Dashed: r == "baseline"}
		for i, v := range sw.Values {
			var x float64
			fmt.Sscan(v, &x)
			s.X = append(s.X, x)
			s.Y = append(s.Y, sw.Results[i].Throughput)
		}
		lc.Series = append(lc.Series, s)
	}
	if len(lc.Series) > 0 {
		if err := writeFile(filepath.Join(dir, "compare_sweep.svg"), lc.SVG()); err != nil {
			return nil, err
		}
		files = append(files, "compare_sweep.svg")
	}

	// Memory per idle session against the number of sessions: the trend
	// toward the 100k target when the machine cannot hold 100k sockets.
	mc := &LineChart{Title: "Router memory per idle session vs sessions (lower is better)", XLabel: "idle sessions",
		YLabel: "bytes per session"}
	for _, r := range routers {
		// idle_sessions_N.json (one fresh router each) plus the main idle run.
		paths, _ := filepath.Glob(filepath.Join(dir, r, "idle_sessions_*.json"))
		paths = append(paths, filepath.Join(dir, r, "idle.json"))
		var pts []*Result
		for _, p := range paths {
			if res := loadIf(p); res != nil && res.Sessions > 0 {
				pts = append(pts, res)
			}
		}
		if len(pts) < 2 {
			continue
		}
		sort.Slice(pts, func(i, j int) bool { return pts[i].Sessions < pts[j].Sessions })
		s := Series{Name: r}
		for _, p := range pts {
			s.X = append(s.X, float64(p.Sessions))
			s.Y = append(s.Y, p.BytesPerSession)
		}
		mc.Series = append(mc.Series, s)
	}
	if len(mc.Series) > 0 {
		t := Series{Name: "target 5 KB", Dashed: true}
		for _, x := range mc.Series[0].X {
			t.X = append(t.X, x)
			t.Y = append(t.Y, 5*1024)
		}
		mc.Series = append(mc.Series, t)
		if err := writeFile(filepath.Join(dir, "compare_idle_sweep.svg"), mc.SVG()); err != nil {
			return nil, err
		}
		files = append(files, "compare_idle_sweep.svg")
	}

	// Throughput over time, both routers on one chart, per scenario.
	for _, name := range []string{"fanout1000", "rpc64"} {
		tc := &LineChart{Title: name + ": throughput over time", XLabel: "seconds since the measured phase began (negative: warm-up)"}
		for _, r := range routers {
			res := get(r, name)
			if res == nil {
				continue
			}
			tc.YLabel = res.Unit
			s := Series{Name: r}
			for _, p := range res.Series {
				s.X = append(s.X, p.T)
				s.Y = append(s.Y, p.Rate)
			}
			tc.Series = append(tc.Series, s)
		}
		if len(tc.Series) == 0 {
			continue
		}
		f := "compare_" + name + "_time.svg"
		if err := writeFile(filepath.Join(dir, f), tc.SVG()); err != nil {
			return nil, err
		}
		files = append(files, f)
	}
	return files, nil
}

func readSweep(path string) (*Sweep, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var sw Sweep
	if err := json.Unmarshal(b, &sw); err != nil {
		return nil, err
	}
	return &sw, nil
}
