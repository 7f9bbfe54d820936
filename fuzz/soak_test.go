//go:build soak

package fuzz

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/wampd/wampd/client"
	"github.com/wampd/wampd/codec"
)

// The soak test: `make soak` (or go test -tags soak -run TestSoak ./fuzz
// -soaktime 10m). It builds wampd with -race, starts it on loopback
// ephemeral ports and drives it with mixed traffic for -soaktime:
// callers and shared-registration callees, publishers and subscribers on
// WebSocket and RawSocket with all three serializers, connect/disconnect
// churn (clean GOODBYE and abrupt TCP close), and slow consumers whose
// event handler blocks the connection so that the router's outbound bound
// and slow-consumer policy are exercised. At the end it checks that wampd's
// stderr has no data race, panic or fatal error, that every call got an
// answer, that the realm is empty again once the clients left, and that
// the process's RSS and thread count return near their level after the
// warm-up, and that SIGTERM shuts wampd down cleanly.
var soakTime = flag.Duration("soaktime", 10*time.Minute, "how long the soak test drives traffic")

func TestSoak(t *testing.T) {
	total := *soakTime
	warm := min(total/5, time.Minute)
	soakPhase := total - warm

	w := startWampd(t)
	defer w.kill()
	t.Logf("wampd pid %d, ws %s, rawsocket %s", w.cmd.Process.Pid, w.wsURL, w.rsURL)
	idle := w.status(t)
	t.Logf("idle: rss %d KiB, threads %d", idle.rssKiB, idle.threads)

	st := &soakStats{}
	t.Logf("warm-up traffic for %v", warm)
	runTraffic(t, w, st, warm)
	w.expectEmptyRealm(t)
	warmIdle := w.settle(t, procStatus{}, 10*time.Second)
	t.Logf("after warm-up: rss %d KiB, threads %d; %s", warmIdle.rssKiB, warmIdle.threads, st)

	t.Logf("soak traffic for %v", soakPhase)
	peak := runTraffic(t, w, st, soakPhase)
	t.Logf("peak during soak: rss %d KiB, threads %d; %s", peak.rssKiB, peak.threads, st)
	w.expectEmptyRealm(t)
	// Back near the warm level: the main phase is several times longer
	// than the warm-up, so a per-connection or per-message leak shows.
	limit := procStatus{rssKiB: warmIdle.rssKiB*3/2 + 32<<10, threads: warmIdle.threads + 8}
	end := w.settle(t, limit, time.Minute)
	t.Logf("after soak: rss %d KiB (limit %d), threads %d (limit %d)", end.rssKiB, limit.rssKiB, end.threads, limit.threads)
	if end.rssKiB > limit.rssKiB {
		t.Errorf("RSS did not come back: %d KiB after the soak, %d KiB after warm-up", end.rssKiB, warmIdle.rssKiB)
	}
	if end.threads > limit.threads {
		t.Errorf("threads did not come back: %d after the soak, %d after warm-up", end.threads, warmIdle.threads)
	}

	if n := st.unanswered.Load(); n > 0 {
		t.Errorf("%d calls got no answer", n)
	}
	if n := st.failures.Load(); n > 0 {
		t.Errorf("%d unexpected failures (see log)", n)
	}
	w.stop(t)
	w.checkStderr(t)
}

// ---- the wampd process ----

type wampd struct {
	cmd    *exec.Cmd
	stderr *os.File
	wsURL  string
	rsURL  string
	done   chan error
}

func startWampd(t *testing.T) *wampd {
	dir := t.TempDir()
	bin := filepath.Join(dir, "wampd")
	build := exec.Command("go", "build", "-race", "-o", bin, "./cmd/wampd")
	build.Dir = ".."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build -race ./cmd/wampd: %v\n%s", err, out)
	}
	errf, err := os.Create(filepath.Join(dir, "wampd.stderr"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-ws", "127.0.0.1:0", "-rawsocket", "127.0.0.1:0",
		"-ticket", "soak:soakpw:user", "-max-pending", strconv.Itoa(1<<20), "-log-level", "info")
	// At info wampd logs every join and leave: stderr goes to a file, which
	// is also where the 'listening' lines with the bound ports are read.
	cmd.Stderr = errf
	cmd.Env = append(os.Environ(), "GORACE=halt_on_error=0")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w := &wampd{cmd: cmd, stderr: errf, done: make(chan error, 1)}
	go func() { w.done <- cmd.Wait() }()
	addrRE := regexp.MustCompile(`listening transport=(\w+) addr=(\S+)`)
	deadline := time.Now().Add(60 * time.Second)
	for w.wsURL == "" || w.rsURL == "" {
		if time.Now().After(deadline) {
			t.Fatalf("wampd did not report its listeners; stderr:\n%s", w.stderrText())
		}
		select {
		case err := <-w.done:
			t.Fatalf("wampd exited: %v\n%s", err, w.stderrText())
		case <-time.After(50 * time.Millisecond):
		}
		for _, m := range addrRE.FindAllStringSubmatch(w.stderrText(), -1) {
			switch m[1] {
			case "websocket":
				w.wsURL = "ws://" + m[2] + "/ws"
			case "rawsocket":
				w.rsURL = "tcp://" + m[2]
			}
		}
	}
	return w
}

func (w *wampd) stderrText() string {
	b, _ := os.ReadFile(w.stderr.Name())
	return string(b)
}

func (w *wampd) kill() {
	if w.cmd.ProcessState == nil {
		_ = w.cmd.Process.Kill()
	}
}

// stop sends SIGTERM: wampd must say GOODBYE, stop and exit 0 in time.
func (w *wampd) stop(t *testing.T) {
	_ = w.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-w.done:
		if err != nil {
			t.Errorf("wampd exited with %v after SIGTERM", err)
		}
	case <-time.After(30 * time.Second):
		t.Errorf("wampd still running 30s after SIGTERM")
	}
}

var badStderr = []string{"WARNING: DATA RACE", "panic:", "fatal error:"}

func (w *wampd) checkStderr(t *testing.T) {
	text := w.stderrText()
	if n := strings.Count(text, "level=ERROR"); n > 0 {
		t.Logf("wampd logged %d errors, e.g. %s", n, firstLine(text[strings.Index(text, "level=ERROR"):]))
	}
	for _, bad := range badStderr {
		if i := strings.Index(text, bad); i >= 0 {
			end := min(len(text), i+4000)
			t.Errorf("wampd stderr has %q:\n%s", bad, text[i:end])
		}
	}
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

type procStatus struct{ rssKiB, threads int }

func (w *wampd) status(t *testing.T) procStatus {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", w.cmd.Process.Pid))
	if err != nil {
		t.Fatalf("read /proc status: %v", err)
	}
	var ps procStatus
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "VmRSS:":
			ps.rssKiB, _ = strconv.Atoi(f[1])
		case "Threads:":
			ps.threads, _ = strconv.Atoi(f[1])
		}
	}
	return ps
}

// settle waits (up to max) for RSS and threads to fall under limit (a zero
// limit: just wait a few seconds) and returns the last reading.
func (w *wampd) settle(t *testing.T, limit procStatus, max time.Duration) procStatus {
	deadline := time.Now().Add(max)
	if limit.rssKiB == 0 {
		deadline = time.Now().Add(5 * time.Second)
	}
	for {
		ps := w.status(t)
		if limit.rssKiB > 0 && ps.rssKiB <= limit.rssKiB && ps.threads <= limit.threads {
			return ps
		}
		if time.Now().After(deadline) {
			return ps
		}
		time.Sleep(time.Second)
	}
}

// expectEmptyRealm: once every client has left, only the checker's own
// session is in the realm (sessions of closed connections are gone).
func (w *wampd) expectEmptyRealm(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := client.Connect(ctx, w.wsURL, "realm1", client.Options{Logger: quietLogger()})
	if err != nil {
		t.Fatalf("checker connect: %v", err)
	}
	defer s.Close()
	for {
		res, err := s.Call(ctx, "wamp.session.count", nil, nil, client.CallOptions{})
		if err != nil {
			t.Fatalf("wamp.session.count: %v", err)
		}
		if len(res.Args) == 1 && res.Args[0] == uint64(1) {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("sessions linger after every client left: wamp.session.count = %v", res.Args)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// ---- traffic ----

type soakStats struct {
	calls, answered, unanswered, callErrors atomic.Int64
	published, events, slowEvents           atomic.Int64
	joins, abrupt                           atomic.Int64
	failures                                atomic.Int64
}

func (s *soakStats) String() string {
	return fmt.Sprintf("calls %d (answered %d, wamp errors %d, unanswered %d), published %d, events %d (slow consumers blocked %d times), joins %d, abrupt closes %d, failures %d",
		s.calls.Load(), s.answered.Load(), s.callErrors.Load(), s.unanswered.Load(), s.published.Load(),
		s.events.Load(), s.slowEvents.Load(), s.joins.Load(), s.abrupt.Load(), s.failures.Load())
}

func (s *soakStats) fail(t *testing.T, format string, args ...any) {
	if s.failures.Add(1) <= 20 {
		t.Logf("FAILURE: "+format, args...)
	}
}

var serializers = []codec.Kind{codec.JSON, codec.MsgPack, codec.CBOR}

func (w *wampd) url(i int) string {
	if i%2 == 0 {
		return w.wsURL
	}
	return w.rsURL
}

func (w *wampd) join(ctx context.Context, st *soakStats, i int, opts client.Options) (*client.Session, error) {
	opts.Serializer = serializers[i%len(serializers)]
	opts.Logger = quietLogger()
	if i%5 == 4 {
		opts.AuthID = "soak"
		opts.Auth = []client.Authenticator{client.Ticket("soakpw")}
	}
	s, err := client.Connect(ctx, w.url(i/len(serializers)), "realm1", opts)
	if err == nil {
		st.joins.Add(1)
	}
	return s, err
}

// runTraffic drives every kind of client for d and waits until they all
// left. It returns the highest RSS/threads seen meanwhile.
func runTraffic(t *testing.T, w *wampd, st *soakStats, d time.Duration) procStatus {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var wg sync.WaitGroup
	run := func(n int, fn func(i int)) {
		for i := range n {
			wg.Add(1)
			go func() { defer wg.Done(); fn(i) }()
		}
	}

	// Callees: a shared round-robin echo and a slow procedure.
	var callees []*client.Session
	echo := func(_ context.Context, inv *client.Invocation) (*client.Result, error) {
		return &client.Result{ArgsRaw: inv.ArgsRaw, KwRaw: inv.KwRaw}, nil
	}
	slow := func(ctx context.Context, _ *client.Invocation) (*client.Result, error) {
		select {
		case <-time.After(20 * time.Millisecond):
		case <-ctx.Done():
		}
		return &client.Result{Args: []any{"slow"}}, nil
	}
	for i := range 3 {
		s, err := w.join(ctx, st, i, client.Options{})
		if err != nil {
			t.Fatalf("callee join: %v", err)
		}
		if _, err := s.Register(ctx, "soak.echo", echo, client.RegisterOptions{Invoke: client.InvokeRoundRobin, Raw: true}); err != nil {
			t.Fatalf("register: %v", err)
		}
		if _, err := s.Register(ctx, "soak.slow."+strconv.Itoa(i), slow, client.RegisterOptions{}); err != nil {
			t.Fatalf("register: %v", err)
		}
		callees = append(callees, s)
	}

	// Slow consumers: the inline handler blocks the receive goroutine until
	// the phase ends, so the connection stops reading.
	release := make(chan struct{})
	var slowSessions []*client.Session
	for i := range 3 {
		s, err := w.join(ctx, st, i+1, client.Options{})
		if err != nil {
			t.Fatalf("slow consumer join: %v", err)
		}
		if _, err := s.Subscribe(ctx, "soak.topic", func(*client.Event) {
			select {
			case <-release: // draining what queued up while blocked
			default:
				st.slowEvents.Add(1)
				<-release
			}
		}, client.SubscribeOptions{Inline: true, Raw: true}); err != nil {
			t.Fatalf("subscribe: %v", err)
		}
		slowSessions = append(slowSessions, s)
	}

	// Subscribers that keep up, on the main topic and by prefix.
	run(4, func(i int) {
		s, err := w.join(ctx, st, i, client.Options{})
		if err != nil {
			st.fail(t, "subscriber join: %v", err)
			return
		}
		defer s.Close()
		opts := client.SubscribeOptions{Raw: true}
		topic := "soak.topic"
		if i%2 == 1 {
			topic, opts.Match = "soak", client.MatchPrefix
		}
		if _, err := s.Subscribe(ctx, topic, func(*client.Event) { st.events.Add(1) }, opts); err != nil {
			st.fail(t, "subscribe: %v", err)
			return
		}
		<-ctx.Done()
	})

	// Publishers: payloads from a few bytes to 64 KiB.
	run(3, func(i int) {
		s, err := w.join(ctx, st, i+2, client.Options{})
		if err != nil {
			st.fail(t, "publisher join: %v", err)
			return
		}
		defer s.Close()
		rng := rand.New(rand.NewPCG(uint64(i), 7))
		for ctx.Err() == nil {
			size := 8 << rng.IntN(14)
			err := s.Publish(ctx, "soak.topic", []any{strings.Repeat("x", size), i}, map[string]any{"n": size},
				client.PublishOptions{Acknowledge: rng.IntN(4) == 0})
			if err != nil && ctx.Err() == nil {
				st.fail(t, "publish: %v", err)
			}
			st.published.Add(1)
			time.Sleep(time.Duration(rng.IntN(3)) * time.Millisecond)
		}
	})

	// Callers: every call must be answered (result or WAMP error).
	run(4, func(i int) {
		s, err := w.join(ctx, st, i+1, client.Options{})
		if err != nil {
			st.fail(t, "caller join: %v", err)
			return
		}
		defer s.Close()
		rng := rand.New(rand.NewPCG(uint64(i), 11))
		for ctx.Err() == nil {
			proc := "soak.echo"
			switch rng.IntN(10) {
			case 0:
				proc = "soak.slow." + strconv.Itoa(rng.IntN(3))
			case 1:
				proc = "soak.nothing"
			}
			st.calls.Add(1)
			cctx, ccancel := context.WithTimeout(context.Background(), 30*time.Second)
			res, err := s.Call(cctx, proc, []any{i, strings.Repeat("y", rng.IntN(4096))}, nil, client.CallOptions{})
			ccancel()
			var werr *client.Error
			switch {
			case err == nil:
				st.answered.Add(1)
				if proc == "soak.echo" && (len(res.Args) != 2 || res.Args[0] != uint64(i)) {
					st.fail(t, "echo returned %v", res.Args)
				}
			case errors.As(err, &werr):
				st.answered.Add(1)
				st.callErrors.Add(1)
				if proc != "soak.nothing" {
					st.fail(t, "call %s: %v", proc, err)
				}
			default:
				st.unanswered.Add(1)
				st.fail(t, "call %s not answered: %v", proc, err)
			}
		}
	})

	// Churn: join, do one thing, leave (cleanly or by dropping the socket).
	run(3, func(i int) {
		rng := rand.New(rand.NewPCG(uint64(i), 13))
		for n := 0; ctx.Err() == nil; n++ {
			if rng.IntN(3) == 0 {
				abruptClient(ctx, w, st, rng)
				continue
			}
			s, err := w.join(ctx, st, n, client.Options{})
			if err != nil {
				if ctx.Err() == nil {
					st.fail(t, "churn join: %v", err)
				}
				continue
			}
			switch rng.IntN(3) {
			case 0:
				_, err = s.Subscribe(ctx, "soak.topic", func(*client.Event) {}, client.SubscribeOptions{Raw: true})
			case 1:
				_, err = s.Register(ctx, "soak.churn."+strconv.Itoa(i), echo, client.RegisterOptions{})
			default:
				_, err = s.Call(ctx, "soak.echo", []any{i, "churn"}, nil, client.CallOptions{})
			}
			if err != nil && ctx.Err() == nil {
				st.fail(t, "churn action: %v", err)
			}
			time.Sleep(time.Duration(rng.IntN(20)) * time.Millisecond)
			_ = s.Close()
		}
	})

	// Sample the process while the traffic runs.
	var peak procStatus
	for ctx.Err() == nil {
		ps := w.status(t)
		peak.rssKiB, peak.threads = max(peak.rssKiB, ps.rssKiB), max(peak.threads, ps.threads)
		select {
		case <-ctx.Done():
		case <-time.After(2 * time.Second):
		}
		select {
		case err := <-w.done:
			t.Fatalf("wampd exited during the soak: %v\n%s", err, w.stderrText())
		default:
		}
	}
	wg.Wait()
	close(release)
	for _, s := range append(callees, slowSessions...) {
		_ = s.Close()
	}
	return peak
}

// abruptClient joins over RawSocket by hand, subscribes, and drops the TCP
// connection without GOODBYE (a crashed client).
func abruptClient(ctx context.Context, w *wampd, st *soakStats, rng *rand.Rand) {
	addr := strings.TrimPrefix(w.rsURL, "tcp://")
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	frame := func(s string) []byte { return rsFrame(0, []byte(s)) }
	msgs := append(rsHandshake(codec.JSON), frame(`[1,"realm1",{"roles":{"subscriber":{},"caller":{}}}]`)...)
	msgs = append(msgs, frame(`[32,1,{},"soak.topic"]`)...)
	if rng.IntN(2) == 0 {
		msgs = append(msgs, frame(`[48,2,{},"soak.slow.0",[]]`)...) // in flight when we vanish
	}
	if _, err := c.Write(msgs); err != nil {
		return
	}
	buf := make([]byte, 512)
	_, _ = c.Read(buf) // the handshake reply at least
	time.Sleep(time.Duration(rng.IntN(10)) * time.Millisecond)
	st.abrupt.Add(1)
}
