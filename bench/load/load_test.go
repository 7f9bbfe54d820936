package load

import (
	"encoding/xml"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestEnvelopeRoundTrip(t *testing.T) {
	p := PayloadTemplate(100)
	StampPayload(p, 0x123456789)
	for _, ser := range []Serializer{MsgPack, JSON} {
		call := ser.AppendCall(nil, 42, "com.example.proc", p)
		if got := ser.FastType(call); got != mCall {
			t.Fatalf("%s: FastType(CALL) = %d", ser, got)
		}
		if ts, ok := Timestamp(call); !ok || ts != 0x123456789 {
			t.Fatalf("%s: Timestamp = %x, %v", ser, ts, ok)
		}
		// Build an INVOCATION the way a router would and echo it as YIELD.
		var inv []byte
		if ser == JSON {
			inv = []byte(`[68, 7, 99, {"procedure":"com.example.proc","x":[1,{"a":"]}"}]}, ["` + string(p) + `"], {"k":1}]`)
		} else {
			inv = append(inv, 0x96, 68, 7, 99, 0x81, 0xa1, 'a', 0xc0)
			inv = append(inv, call[len(call)-(len(p)+3):]...) // [payload]
			inv = append(inv, 0x80)                           // {}
		}
		var m Msg
		if err := ser.Parse(inv, &m); err != nil {
			t.Fatalf("%s: parse INVOCATION: %v", ser, err)
		}
		if m.Type != mInvocation || m.ID1 != 7 || m.ID2 != 99 {
			t.Fatalf("%s: INVOCATION parsed as %+v", ser, m)
		}
		y := ser.AppendYield(nil, m.ID1, &m)
		var ym Msg
		if err := ser.Parse(y, &ym); err != nil {
			t.Fatalf("%s: parse own YIELD: %v", ser, err)
		}
		if ts, ok := Timestamp(y); !ok || ts != 0x123456789 {
			t.Fatalf("%s: YIELD lost the payload: %q", ser, y)
		}
		if ser == JSON && !strings.HasSuffix(string(y), `{"k":1}]`) {
			t.Fatalf("JSON YIELD = %s", y)
		}
	}
}

func TestParseRejectsGarbage(t *testing.T) {
	inputs := [][]byte{nil, {0x93}, {0x93, 36, 0xff}, []byte(`[36,`), []byte(`[36,1,2,{"a":"`), []byte(`{}`), []byte(`[8,48,1,{},`)}
	for _, ser := range []Serializer{MsgPack, JSON} {
		for _, in := range inputs {
			var m Msg
			_ = ser.Parse(in, &m) // must not panic
		}
	}
	var m Msg
	if err := JSON.Parse([]byte(`[3,{"message":"no"},"wamp.error.no_such_realm"]`), &m); err != nil || m.Text != "wamp.error.no_such_realm" {
		t.Fatalf("ABORT: %v %+v", err, m)
	}
	if err := JSON.Parse([]byte(`[8,48,5,{},"wamp.error.no_such_procedure"]`), &m); err != nil || m.ID2 != 5 || m.Text != "wamp.error.no_such_procedure" {
		t.Fatalf("ERROR: %v %+v", err, m)
	}
}

func TestParseAddrRange(t *testing.T) {
	ips, err := ParseAddrRange("127.0.0.2-127.0.0.5,127.0.1.1")
	if err != nil || len(ips) != 5 || ips[3].String() != "127.0.0.5" || ips[4].String() != "127.0.1.1" {
		t.Fatalf("got %v, %v", ips, err)
	}
	if _, err := ParseAddrRange("127.0.0.9-127.0.0.2"); err == nil {
		t.Fatal("descending range accepted")
	}
}

func TestRecorderPercentiles(t *testing.T) {
	r := NewRecorder()
	for i := 1; i <= 1000; i++ {
		r.Record(i, int64(i)*1000) // 1..1000 µs
	}
	l := Summarize(r.Total())
	if l.Count != 1000 || math.Abs(l.P50-500) > 2 || math.Abs(l.P99-990) > 3 || math.Abs(l.Max-1000) > 2 {
		t.Fatalf("summary %+v", l)
	}
}

func TestReadProcSelf(t *testing.T) {
	ps, err := ReadProc(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if ps.RSSKB == 0 {
		t.Fatalf("RSS 0: %+v", ps)
	}
}

// The plots must be well-formed SVG a browser (or rsvg-convert) can open.
func TestPlotsAreWellFormedSVG(t *testing.T) {
	dir := t.TempDir()
	r := &Result{Scenario: "fanout", Router: "wampd", Unit: "deliveries/s", Latency: Latency{Count: 3}}
	for i := range 10 {
		r.Series = append(r.Series, Sample{T: float64(i) - 1, Rate: 1e5 * float64(i), P50: 100, P99: 1000 + float64(i), RouterCPU: 90, HarnessCPU: 30})
	}
	files, err := PlotResult(filepath.Join(dir, "x"), r)
	if err != nil || len(files) != 3 {
		t.Fatalf("files %v, %v", files, err)
	}
	sw := &Sweep{Param: "subscribers", Values: []string{"1", "10", "100", "1000"}}
	for range sw.Values {
		sw.Results = append(sw.Results, r)
	}
	more, err := PlotSweep(filepath.Join(dir, "s"), sw)
	if err != nil {
		t.Fatal(err)
	}
	bar := &BarChart{Title: "t <&>", YLabel: "y", LogY: true, Groups: []string{"a\nb", "c"}, Names: []string{"wampd", "nexus"},
		Values: [][]float64{{1e6, math.NaN()}, {1e4, 10}}, RefLine: 1, RefLabel: "parity"}
	bf := filepath.Join(dir, "bar.svg")
	if err := os.WriteFile(bf, bar.SVG(), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, f := range append(append(files, more...), bf) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		d := xml.NewDecoder(strings.NewReader(string(b)))
		for {
			_, err := d.Token()
			if err != nil {
				if err.Error() != "EOF" {
					t.Fatalf("%s: %v", f, err)
				}
				break
			}
		}
		if strings.Contains(string(b), "NaN") || strings.Contains(string(b), "Inf") {
			t.Fatalf("%s has NaN/Inf coordinates", f)
		}
	}
}
