// Command wampbench drives any WAMP v2 router with load and reports what it
// sustains: fan-out deliveries/s, RPC calls/s, latency percentiles, session
// join rate and memory per idle session, next to the CPU the router and the
// harness itself used.
//
//	wampbench fanout  -url ws://127.0.0.1:8080/ws -subscribers 1000 -duration 10s
//	wampbench rpc     -callers 4 -inflight 16 -callees 2
//	wampbench latency                     (1 call in flight)  or  -rate 5000 (open loop)
//	wampbench storm   -sessions 10000 -concurrency 64
//	wampbench idle    -sessions 100000 -src 127.0.0.2-127.0.0.9 -router-pid PID
//	wampbench mixed   -sessions 1000 -subscribers 100 -callers 4
//	wampbench baseline -subscribers 1000      (the machine's limit, no router)
//	wampbench report  -dir bench/results      (wampd vs nexus table from compare.sh)
//
// Any scenario takes -sweep NAME=V1,V2,... to run once per value and plot the
// sweep. -json prints the result as JSON on stdout; -out DIR writes the JSON
// and SVG plots there.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/wampd/wampd/bench/load"
)

var scenarios = map[string]func(context.Context, load.Config) (*load.Result, error){
	"fanout":   load.Fanout,
	"rpc":      load.RPC,
	"latency":  load.LatencyScenario,
	"storm":    load.Storm,
	"idle":     load.Idle,
	"mixed":    load.Mixed,
	"baseline": load.Baseline,
}

const usage = `usage: wampbench SCENARIO [flags]
scenarios: fanout rpc latency storm idle mixed baseline
           report -dir DIR   (comparison table of a compare.sh run)
run "wampbench SCENARIO -h" for the flags`

func main() {
	if load.IsChild() { // a -procs child holding a share of the sessions
		os.Exit(load.ChildMain())
	}
	if len(os.Args) < 2 || strings.HasPrefix(os.Args[1], "-") {
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
	name := os.Args[1]
	var err error
	if name == "report" {
		err = report(os.Args[2:])
	} else {
		err = run(name, os.Args[2:])
	}
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "wampbench:", err)
		os.Exit(1)
	}
}

// options are the flags of a scenario run besides load.Config.
type options struct {
	url, serializer, src, sweep, out, name string
	json, quiet                            bool
	wait                                   time.Duration
	cpuProfile                             string
}

func parseFlags(scenario string, args []string) (load.Config, options, error) {
	var cfg load.Config
	var o options
	fs := flag.NewFlagSet("wampbench "+scenario, flag.ContinueOnError)
	fs.StringVar(&o.url, "url", "ws://127.0.0.1:8080/ws", "router URL: ws://host:port/path (WebSocket) or tcp://host:port (RawSocket)")
	fs.StringVar(&o.serializer, "serializer", "msgpack", "msgpack or json")
	fs.StringVar(&cfg.Realm, "realm", "realm1", "realm to join")
	fs.StringVar(&cfg.Router, "router", "router", "router name for reports")
	fs.IntVar(&cfg.RouterPID, "router-pid", 0, "router process ID: its CPU and RSS are read from /proc")
	fs.DurationVar(&cfg.Duration, "duration", 10*time.Second, "measured phase")
	fs.DurationVar(&cfg.Warmup, "warmup", time.Second, "warm-up before the measured phase (not with -count: a count-bounded run is measured whole)")
	fs.Uint64Var(&cfg.Count, "count", 0, "stop after this many events published / calls made (0: by -duration)")
	fs.DurationVar(&cfg.Interval, "interval", 500*time.Millisecond, "sampling interval of the time series and progress line")
	fs.DurationVar(&cfg.DrainTimeout, "drain", 3*time.Second, "at the end, how long to wait for in-flight events and calls")
	fs.IntVar(&cfg.Subscribers, "subscribers", 0, "fanout/mixed/baseline: subscribers (default 100)")
	fs.IntVar(&cfg.Topics, "topics", 0, "fanout: topics the subscribers spread over (default 1)")
	fs.IntVar(&cfg.Payload, "payload", 0, "bytes of the event/call argument (default 64)")
	fs.IntVar(&cfg.Window, "window", 0, "fanout closed loop: events in flight ahead of the slowest subscriber (default 50; keep it under the router's per-session queue: nexus drops past 64)")
	fs.Float64Var(&cfg.Rate, "rate", 0, "open loop: offered events/s (fanout) or calls/s (latency); 0 = closed loop")
	fs.StringVar(&cfg.SubReader, "sub-reader", "epoll", "fanout: how subscribers read: epoll (a few goroutines poll all sockets; cheapest) or goroutine (one per subscriber)")
	fs.DurationVar(&cfg.PollDelay, "poll-delay", 0, "fanout, epoll reader: pause after each batch of reads so frames accumulate (cheaper harness; adds up to this to latency)")
	fs.IntVar(&cfg.SampleEvery, "sample-every", 0, "fanout: each subscriber times 1 event in N (default 16)")
	fs.IntVar(&cfg.Callers, "callers", 0, "rpc/latency: caller sessions (default rpc 4, latency 1)")
	fs.IntVar(&cfg.Callees, "callees", 0, "rpc/latency: callee sessions, one procedure each (default rpc 2, latency 1)")
	fs.IntVar(&cfg.Inflight, "inflight", 0, "rpc: calls in flight per caller (default 16; latency: 1)")
	fs.IntVar(&cfg.Sessions, "sessions", 0, "storm/idle: sessions; mixed: idle background sessions (default 50; keep it under the router's per-session queue: nexus drops past 64)")
	fs.IntVar(&cfg.Concurrency, "concurrency", 0, "concurrent joins (default 64)")
	fs.DurationVar(&cfg.JoinTimeout, "join-timeout", 2*time.Minute, "storm/idle: bound on the whole join phase")
	fs.IntVar(&cfg.Procs, "procs", 1, "storm/idle: spread the sessions over this many processes (each has its own open-file limit)")
	fs.DurationVar(&cfg.Hold, "hold", 0, "idle: how long to hold the sessions (default -duration)")
	fs.StringVar(&o.src, "src", "", "source addresses to spread connections over, e.g. 127.0.0.2-127.0.0.9 (each gives ~28k ephemeral ports)")
	fs.IntVar(&cfg.Batch, "batch", 0, "baseline: frames per write (default 16)")
	fs.StringVar(&o.sweep, "sweep", "", "run once per value: NAME=V1,V2,... (subscribers, topics, payload, window, rate, callers, callees, inflight, sessions, concurrency)")
	fs.BoolVar(&o.json, "json", false, "print the result as JSON on stdout (the summary goes to stderr)")
	fs.StringVar(&o.out, "out", "", "directory for NAME.json and SVG plots")
	fs.StringVar(&o.name, "name", "", "file name prefix in -out (default: the scenario)")
	fs.BoolVar(&o.quiet, "quiet", false, "no live progress line")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write the harness's own CPU profile here (is the harness cheap enough?)")
	fs.DurationVar(&o.wait, "wait", 0, "wait up to this long for the router to accept connections")
	if err := fs.Parse(args); err != nil {
		return cfg, o, err
	}
	if fs.NArg() > 0 {
		return cfg, o, fmt.Errorf("unexpected arguments %v", fs.Args())
	}
	ser, err := load.ParseSerializer(o.serializer)
	if err != nil {
		return cfg, o, err
	}
	addrs, err := load.ParseAddrRange(o.src)
	if err != nil {
		return cfg, o, err
	}
	cfg.Endpoint = load.Endpoint{URL: o.url, Serializer: ser, LocalAddrs: addrs}
	if !o.quiet {
		cfg.Progress = os.Stderr
	}
	if o.name == "" {
		o.name = scenario
	}
	return cfg, o, nil
}

func run(scenario string, args []string) error {
	fn, ok := scenarios[scenario]
	if !ok {
		return fmt.Errorf("unknown scenario %q\n%s", scenario, usage)
	}
	cfg, o, err := parseFlags(scenario, args)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if o.wait > 0 && scenario != "baseline" {
		if err := waitForRouter(ctx, o.url, o.wait); err != nil {
			return err
		}
	}
	if o.out != "" {
		if err := os.MkdirAll(o.out, 0o755); err != nil {
			return err
		}
	}
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	summary := io.Writer(os.Stdout)
	if o.json {
		summary = os.Stderr
	}

	if o.sweep != "" {
		return runSweep(ctx, scenario, fn, cfg, o, summary)
	}
	res, err := fn(ctx, cfg)
	if err != nil {
		return err
	}
	res.Summary(summary)
	if o.json {
		if err := writeJSONTo(os.Stdout, res); err != nil {
			return err
		}
	}
	if o.out != "" {
		base := filepath.Join(o.out, o.name)
		if err := load.WriteJSON(base+".json", res); err != nil {
			return err
		}
		files, err := load.PlotResult(base, res)
		if err != nil {
			return err
		}
		fmt.Fprintf(summary, "  wrote:      %s.json %s\n", base, strings.Join(files, " "))
	}
	return nil
}

func runSweep(ctx context.Context, scenario string, fn func(context.Context, load.Config) (*load.Result, error), cfg load.Config, o options, summary io.Writer) error {
	param, list, ok := strings.Cut(o.sweep, "=")
	if !ok || list == "" {
		return fmt.Errorf("-sweep wants NAME=V1,V2,..., got %q", o.sweep)
	}
	sw := &load.Sweep{Param: param}
	for _, v := range strings.Split(list, ",") {
		c := cfg
		if err := setParam(&c, param, v); err != nil {
			return err
		}
		c.Router = cfg.Router
		res, err := fn(ctx, c)
		if err != nil {
			return fmt.Errorf("sweep %s=%s: %w", param, v, err)
		}
		res.Summary(summary)
		sw.Values = append(sw.Values, v)
		sw.Results = append(sw.Results, res)
		if ctx.Err() != nil {
			break
		}
	}
	load.SweepTable(summary, sw)
	if o.json {
		if err := writeJSONTo(os.Stdout, sw); err != nil {
			return err
		}
	}
	if o.out != "" {
		base := filepath.Join(o.out, o.name+"_sweep_"+param)
		if err := load.WriteJSON(base+".json", sw); err != nil {
			return err
		}
		files, err := load.PlotSweep(base, sw)
		if err != nil {
			return err
		}
		fmt.Fprintf(summary, "wrote %s.json %s\n", base, strings.Join(files, " "))
	}
	return nil
}

func setParam(c *load.Config, name, v string) error {
	ints := map[string]*int{
		"subscribers": &c.Subscribers, "topics": &c.Topics, "payload": &c.Payload, "window": &c.Window,
		"callers": &c.Callers, "callees": &c.Callees, "inflight": &c.Inflight, "sessions": &c.Sessions,
		"concurrency": &c.Concurrency, "batch": &c.Batch,
	}
	if name == "rate" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return fmt.Errorf("-sweep rate: %w", err)
		}
		c.Rate = f
		return nil
	}
	p, ok := ints[name]
	if !ok {
		return fmt.Errorf("-sweep: unknown parameter %q", name)
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		return fmt.Errorf("-sweep %s: bad value %q", name, v)
	}
	*p = n
	return nil
}

func writeJSONTo(w io.Writer, v any) error { return load.EncodeJSON(w, v) }

// waitForRouter polls the router's TCP port until it accepts a connection.
func waitForRouter(ctx context.Context, rawURL string, d time.Duration) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(d)
	for {
		c, err := net.DialTimeout("tcp", u.Host, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("router at %s not reachable after %v: %w", u.Host, d, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func report(args []string) error {
	fs := flag.NewFlagSet("wampbench report", flag.ContinueOnError)
	dir := fs.String("dir", "bench/results", "directory written by bench/compare.sh")
	if err := fs.Parse(args); err != nil {
		return err
	}
	return load.CompareReport(*dir, os.Stdout)
}
