package bench_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/wampd/wampd/bench/load"
)

func TestMain(m *testing.M) {
	if load.IsChild() { // TestScenarios/idle-procs re-executes this binary
		os.Exit(load.ChildMain())
	}
	os.Exit(m.Run())
}

// TestScenarios runs every wampbench scenario briefly against an in-process
// wampd and checks what a person reading the report would: work was done,
// nothing was lost, latencies and memory were measured.
func TestScenarios(t *testing.T) {
	url := startRouter(t)
	base := load.Config{
		Endpoint:     load.Endpoint{URL: url, Serializer: load.MsgPack},
		Router:       "wampd",
		RouterPID:    os.Getpid(),
		Duration:     300 * time.Millisecond,
		Warmup:       100 * time.Millisecond,
		Interval:     100 * time.Millisecond,
		DrainTimeout: 5 * time.Second,
	}
	ctx := context.Background()
	cases := []struct {
		name string
		run  func(context.Context, load.Config) (*load.Result, error)
		edit func(*load.Config)
	}{
		{"fanout", load.Fanout, func(c *load.Config) { c.Subscribers, c.Topics = 20, 2 }},
		{"fanout-open-loop-json", load.Fanout, func(c *load.Config) {
			c.Subscribers, c.Rate, c.Endpoint.Serializer = 5, 2000, load.JSON
		}},
		{"rpc", load.RPC, func(c *load.Config) { c.Callers, c.Callees, c.Inflight = 2, 2, 8 }},
		{"latency", load.LatencyScenario, nil},
		{"latency-rate", load.LatencyScenario, func(c *load.Config) { c.Rate = 1000 }},
		{"storm", load.Storm, func(c *load.Config) { c.Sessions, c.Concurrency = 200, 16 }},
		{"idle", load.Idle, func(c *load.Config) {
			c.Sessions, c.Concurrency, c.Hold = 300, 16, 200*time.Millisecond
			c.Endpoint.LocalAddrs, _ = load.ParseAddrRange("127.0.0.2-127.0.0.3")
		}},
		{"idle-procs", load.Idle, func(c *load.Config) {
			c.Sessions, c.Concurrency, c.Hold, c.Procs = 300, 16, 200*time.Millisecond, 3
		}},
		{"mixed", load.Mixed, func(c *load.Config) { c.Sessions, c.Subscribers, c.Callers = 50, 10, 2 }},
		{"count-bounded", load.Fanout, func(c *load.Config) { c.Subscribers, c.Count, c.Duration = 3, 500, time.Minute }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := base
			if tc.edit != nil {
				tc.edit(&cfg)
			}
			start := time.Now()
			r, err := tc.run(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			if testing.Verbose() {
				r.Summary(os.Stderr)
			}
			if r.Errors != 0 || r.Drops != 0 {
				t.Fatalf("errors %d drops %d: %v", r.Errors, r.Drops, r.Notes)
			}
			parts := append([]*load.Result{r}, r.Parts...)
			if tc.name == "mixed" {
				parts = r.Parts
			}
			for _, p := range parts {
				if p.Ops == 0 || p.Throughput <= 0 || p.Latency.Count == 0 || p.Latency.P50 <= 0 {
					t.Fatalf("%s measured nothing: %+v", p.Scenario, p)
				}
			}
			if tc.name == "count-bounded" {
				if r.Published != 500 || r.Ops == 0 || time.Since(start) > 20*time.Second {
					t.Fatalf("count bound not honoured: published %d in %v", r.Published, time.Since(start))
				}
			}
			if strings.HasPrefix(tc.name, "idle") && (r.Sessions != 300 || r.RouterRSSAfterKB == 0) {
				t.Fatalf("idle: %d sessions, rss %d KB", r.Sessions, r.RouterRSSAfterKB)
			}
		})
	}
}
