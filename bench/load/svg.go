package load

import (
	"bytes"
	"fmt"
	"html"
	"math"
	"os"
	"strings"
)

// Hand-written SVG charts: a line chart (time series, sweeps) and a grouped
// bar chart (router comparison). No dependencies; readable in a browser or
// rendered with rsvg-convert.

var palette = []string{"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#17becf"}

// Series is one line of a LineChart.
type Series struct {
	Name   string
	X, Y   []float64
	Dashed bool
}

// LineChart plots series against a shared X axis.
type LineChart struct {
	Title, XLabel, YLabel string
	LogX, LogY            bool
	Series                []Series
}

const (
	chartW, chartH                         = 860, 440
	marginL, marginR, marginT, marginB     = 90, 30, 50, 95
	plotW                                  = chartW - marginL - marginR
	plotH                                  = chartH - marginT - marginB
	fontFamily                             = "DejaVu Sans, Helvetica, Arial, sans-serif"
	axisColor, gridColor, textColor, bgCol = "#333", "#ddd", "#222", "#fff"
)

// axis maps data values to pixels.
type axis struct {
	lo, hi float64
	log    bool
}

func (a axis) frac(v float64) float64 {
	if a.log {
		v = math.Log10(math.Max(v, 1e-12))
		return (v - math.Log10(a.lo)) / (math.Log10(a.hi) - math.Log10(a.lo))
	}
	return (v - a.lo) / (a.hi - a.lo)
}

// ticks returns tick values: 1-2-5 steps, or powers of ten on a log axis.
func (a axis) ticks() []float64 {
	var t []float64
	if a.log {
		for e := math.Floor(math.Log10(a.lo)); e <= math.Ceil(math.Log10(a.hi)); e++ {
			if v := math.Pow(10, e); v >= a.lo*0.999 && v <= a.hi*1.001 {
				t = append(t, v)
			}
		}
		return t
	}
	step := niceStep((a.hi - a.lo) / 5)
	for v := math.Ceil(a.lo/step) * step; v <= a.hi+step*1e-9; v += step {
		t = append(t, v)
	}
	return t
}

func niceStep(raw float64) float64 {
	if raw <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if raw <= m*p {
			return m * p
		}
	}
	return 10 * p
}

// makeAxis chooses a range covering vals (from zero for linear axes).
func makeAxis(vals []float64, log bool, fromZero bool) axis {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, v := range vals {
		if math.IsNaN(v) || math.IsInf(v, 0) || (log && v <= 0) {
			continue
		}
		lo, hi = math.Min(lo, v), math.Max(hi, v)
	}
	if math.IsInf(lo, 1) {
		lo, hi = 0, 1
		if log {
			lo, hi = 1, 10
		}
	}
	if log {
		lo = math.Pow(10, math.Floor(math.Log10(lo)))
		hi = math.Pow(10, math.Ceil(math.Log10(hi)))
		if hi <= lo {
			hi = lo * 10
		}
		return axis{lo: lo, hi: hi, log: true}
	}
	if fromZero && lo > 0 {
		lo = 0
	}
	if hi <= lo {
		hi = lo + 1
	}
	step := niceStep((hi - lo) / 5)
	return axis{lo: math.Floor(lo/step) * step, hi: math.Ceil(hi/step) * step}
}

// SI formats a value compactly: 1.2M, 340k, 12.5, 0.25.
func SI(v float64) string {
	a := math.Abs(v)
	switch {
	case a >= 1e9:
		return trimZeros(fmt.Sprintf("%.2f", v/1e9)) + "G"
	case a >= 1e6:
		return trimZeros(fmt.Sprintf("%.2f", v/1e6)) + "M"
	case a >= 1e3:
		return trimZeros(fmt.Sprintf("%.1f", v/1e3)) + "k"
	case a >= 10 || a == 0:
		return trimZeros(fmt.Sprintf("%.1f", v))
	}
	return trimZeros(fmt.Sprintf("%.3f", v))
}

func trimZeros(s string) string {
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}

type svgBuf struct{ bytes.Buffer }

func (b *svgBuf) text(x, y float64, anchor string, size int, weight, s string) {
	fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="%s" font-size="%d" font-weight="%s" fill="%s">%s</text>`+"\n",
		x, y, anchor, size, weight, textColor, html.EscapeString(s))
}

func (b *svgBuf) open(title string) {
	fmt.Fprintf(b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="%s">`+"\n",
		chartW, chartH, chartW, chartH, fontFamily)
	fmt.Fprintf(b, `<rect width="100%%" height="100%%" fill="%s"/>`+"\n", bgCol)
	b.text(chartW/2, 28, "middle", 17, "bold", title)
}

// yAxis draws horizontal grid lines and labels.
func (b *svgBuf) yAxis(ya axis, label string) {
	for _, t := range ya.ticks() {
		y := marginT + plotH*(1-ya.frac(t))
		fmt.Fprintf(b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="%s"/>`+"\n", marginL, y, marginL+plotW, y, gridColor)
		b.text(marginL-8, y+4, "end", 12, "normal", SI(t))
	}
	fmt.Fprintf(b, `<text transform="translate(22,%d) rotate(-90)" text-anchor="middle" font-size="13" fill="%s">%s</text>`+"\n",
		marginT+plotH/2, textColor, html.EscapeString(label))
	fmt.Fprintf(b, `<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="%s"/>`+"\n", marginL, marginT, plotW, plotH, axisColor)
}

// legend draws names in a row under the X axis label.
func (b *svgBuf) legend(names []string, dashed []bool) {
	x := float64(marginL)
	y := float64(chartH - 18)
	for i, n := range names {
		col := palette[i%len(palette)]
		dash := ""
		if i < len(dashed) && dashed[i] {
			dash = ` stroke-dasharray="6,4"`
		}
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="3"%s/>`+"\n", x, y-4, x+26, y-4, col, dash)
		b.text(x+32, y, "start", 13, "normal", n)
		x += 32 + float64(8*len(n)) + 28
	}
}

// SVG renders the chart.
func (c *LineChart) SVG() []byte {
	var xs, ys []float64
	for _, s := range c.Series {
		xs = append(xs, s.X...)
		ys = append(ys, s.Y...)
	}
	xa := makeAxis(xs, c.LogX, false)
	ya := makeAxis(ys, c.LogY, true)
	var b svgBuf
	b.open(c.Title)
	b.yAxis(ya, c.YLabel)
	for _, t := range xa.ticks() {
		x := marginL + plotW*xa.frac(t)
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="%s"/>`+"\n", x, marginT, x, marginT+plotH, gridColor)
		b.text(x, marginT+plotH+18, "middle", 12, "normal", SI(t))
	}
	b.text(marginL+plotW/2, marginT+plotH+40, "middle", 13, "normal", c.XLabel)
	var names []string
	var dashed []bool
	for i, s := range c.Series {
		col := palette[i%len(palette)]
		var pts []string
		for k := range s.X {
			if k >= len(s.Y) || math.IsNaN(s.Y[k]) || (c.LogY && s.Y[k] <= 0) || (c.LogX && s.X[k] <= 0) {
				continue
			}
			x := marginL + plotW*xa.frac(s.X[k])
			y := marginT + plotH*(1-ya.frac(s.Y[k]))
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x, y))
		}
		dash := ""
		if s.Dashed {
			dash = ` stroke-dasharray="6,4"`
		}
		fmt.Fprintf(&b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="2.2"%s/>`+"\n", strings.Join(pts, " "), col, dash)
		if len(pts) <= 24 {
			for _, p := range pts {
				xy := strings.Split(p, ",")
				fmt.Fprintf(&b, `<circle cx="%s" cy="%s" r="3.5" fill="%s"/>`+"\n", xy[0], xy[1], col)
			}
		}
		names = append(names, s.Name)
		dashed = append(dashed, s.Dashed)
	}
	b.legend(names, dashed)
	b.WriteString("</svg>\n")
	return b.Bytes()
}

// BarChart is a grouped bar chart: one group per label, one bar per name.
type BarChart struct {
	Title, YLabel string
	Groups        []string    // X labels
	Names         []string    // one per bar in a group (legend)
	Values        [][]float64 // [name][group]
	LogY          bool
	RefLine       float64 // drawn as a dashed horizontal line when > 0 (e.g. a target)
	RefLabel      string
}

// SVG renders the chart.
func (c *BarChart) SVG() []byte {
	var all []float64
	for _, v := range c.Values {
		all = append(all, v...)
	}
	if c.RefLine > 0 {
		all = append(all, c.RefLine)
	}
	ya := makeAxis(all, c.LogY, true)
	var b svgBuf
	b.open(c.Title)
	b.yAxis(ya, c.YLabel)
	groupW := float64(plotW) / float64(max(len(c.Groups), 1))
	barW := groupW * 0.8 / float64(max(len(c.Names), 1))
	base := ya.lo
	for g, label := range c.Groups {
		gx := marginL + groupW*float64(g) + groupW*0.1
		for n := range c.Names {
			if g >= len(c.Values[n]) {
				continue
			}
			v := c.Values[n][g]
			if math.IsNaN(v) || (c.LogY && v <= 0) {
				continue
			}
			y0 := marginT + plotH*(1-ya.frac(base))
			y1 := marginT + plotH*(1-ya.frac(v))
			x := gx + barW*float64(n)
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"/>`+"\n",
				x, y1, barW-2, math.Max(y0-y1, 0.5), palette[n%len(palette)])
			b.text(x+barW/2-1, y1-4, "middle", 11, "normal", SI(v))
		}
		lines := strings.Split(label, "\n")
		for k, l := range lines {
			b.text(gx+groupW*0.4, float64(marginT+plotH+18+15*k), "middle", 12, "normal", l)
		}
	}
	if c.RefLine > 0 {
		y := marginT + plotH*(1-ya.frac(c.RefLine))
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#555" stroke-width="1.5" stroke-dasharray="6,4"/>`+"\n",
			marginL, y, marginL+plotW, y)
		b.text(marginL+plotW-4, y-5, "end", 12, "normal", c.RefLabel)
	}
	b.legend(c.Names, nil)
	b.WriteString("</svg>\n")
	return b.Bytes()
}

// PlotResult writes a run's time series: base_throughput.svg (rate and
// CPU) and, when latency was measured, base_latency.svg (p50/p99 per
// interval). It returns the files written.
func PlotResult(base string, r *Result) ([]string, error) {
	if len(r.Series) == 0 {
		return nil, nil
	}
	var files []string
	var t, rate, rcpu, hcpu, p50, p99 []float64
	for _, s := range r.Series {
		t = append(t, s.T)
		rate = append(rate, s.Rate)
		rcpu = append(rcpu, s.RouterCPU)
		hcpu = append(hcpu, s.HarnessCPU)
		p50 = append(p50, s.P50)
		p99 = append(p99, s.P99)
	}
	tc := &LineChart{
		Title:  fmt.Sprintf("%s on %s: %s over time", r.Scenario, r.Router, r.Unit),
		XLabel: "seconds since the measured phase began (negative: warm-up)", YLabel: r.Unit,
		Series: []Series{{Name: r.Unit, X: t, Y: rate}},
	}
	if err := writeFile(base+"_throughput.svg", tc.SVG()); err != nil {
		return nil, err
	}
	files = append(files, base+"_throughput.svg")
	cc := &LineChart{
		Title:  fmt.Sprintf("%s on %s: CPU over time", r.Scenario, r.Router),
		XLabel: "seconds since the measured phase began", YLabel: "% of one core",
		Series: []Series{{Name: "router", X: t, Y: rcpu}, {Name: "harness", X: t, Y: hcpu, Dashed: true}},
	}
	if err := writeFile(base+"_cpu.svg", cc.SVG()); err != nil {
		return nil, err
	}
	files = append(files, base+"_cpu.svg")
	if r.Latency.Count > 0 {
		lc := &LineChart{
			Title:  fmt.Sprintf("%s on %s: latency per %s interval", r.Scenario, r.Router, intervalOf(r)),
			XLabel: "seconds since the measured phase began", YLabel: "latency (µs, log)", LogY: true,
			Series: []Series{{Name: "p50", X: t, Y: p50}, {Name: "p99", X: t, Y: p99}},
		}
		if err := writeFile(base+"_latency.svg", lc.SVG()); err != nil {
			return nil, err
		}
		files = append(files, base+"_latency.svg")
	}
	return files, nil
}

func intervalOf(r *Result) string {
	if len(r.Series) >= 2 {
		return fmt.Sprintf("%.1fs", r.Series[1].T-r.Series[0].T)
	}
	return "sampling"
}

// PlotSweep writes throughput and latency against the swept parameter.
func PlotSweep(base string, sw *Sweep) ([]string, error) {
	if len(sw.Results) == 0 {
		return nil, nil
	}
	var x, thr, p50, p99 []float64
	numeric := true
	for i, v := range sw.Values {
		var f float64
		if _, err := fmt.Sscan(v, &f); err != nil {
			numeric = false
			f = float64(i + 1)
		}
		x = append(x, f)
		r := sw.Results[i]
		thr = append(thr, r.Throughput)
		p50 = append(p50, r.Latency.P50)
		p99 = append(p99, r.Latency.P99)
	}
	logX := numeric && len(x) > 2 && x[len(x)-1]/math.Max(x[0], 1e-9) >= 50
	r0 := sw.Results[0]
	tc := &LineChart{
		Title:  fmt.Sprintf("%s on %s: %s vs %s", r0.Scenario, r0.Router, r0.Unit, sw.Param),
		XLabel: sw.Param, YLabel: r0.Unit, LogX: logX,
		Series: []Series{{Name: r0.Unit, X: x, Y: thr}},
	}
	if err := writeFile(base+"_throughput.svg", tc.SVG()); err != nil {
		return nil, err
	}
	files := []string{base + "_throughput.svg"}
	if r0.BytesPerSession > 0 {
		var mem []float64
		for _, r := range sw.Results {
			mem = append(mem, r.BytesPerSession)
		}
		mc := &LineChart{
			Title:  fmt.Sprintf("%s on %s: router memory per session vs %s", r0.Scenario, r0.Router, sw.Param),
			XLabel: sw.Param, YLabel: "bytes per session (router VmRSS growth / sessions)", LogX: logX,
			Series: []Series{{Name: "bytes/session", X: x, Y: mem}},
		}
		if err := writeFile(base+"_memory.svg", mc.SVG()); err != nil {
			return nil, err
		}
		files = append(files, base+"_memory.svg")
	}
	if r0.Latency.Count > 0 {
		lc := &LineChart{
			Title:  fmt.Sprintf("%s on %s: latency vs %s", r0.Scenario, r0.Router, sw.Param),
			XLabel: sw.Param, YLabel: "latency (µs, log)", LogX: logX, LogY: true,
			Series: []Series{{Name: "p50", X: x, Y: p50}, {Name: "p99", X: x, Y: p99}},
		}
		if err := writeFile(base+"_latency.svg", lc.SVG()); err != nil {
			return nil, err
		}
		files = append(files, base+"_latency.svg")
	}
	return files, nil
}

func writeFile(path string, b []byte) error {
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("load: write %s: %w", path, err)
	}
	return nil
}
