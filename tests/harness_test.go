// Package tests runs real WAMP client libraries (Autobahn|Python on Twisted and
// asyncio, autobahn-js and wampy on Node) against the wampd binary, doing what the
// WAMP programming guide tells users to do, and checks what a user would check.
//
// The clients are installed by scripts/install-test-deps.sh. Set WAMPD_TEST_ROUTER to
// the path of another router binary that takes wampd's flags to run the same suite
// against it (used to validate the scripts before wampd existed).
package tests

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const (
	pythonBin     = "/usr/bin/python3" // Debian's, which has the python3-autobahn package
	clientTimeout = 60 * time.Second
	installHint   = "run scripts/install-test-deps.sh (as root) to install the WAMP client libraries"
)

var (
	buildOnce sync.Once
	buildPath string
	buildErr  error
	tmpDir    string
)

func TestMain(m *testing.M) {
	flag.Parse()
	dir, err := os.MkdirTemp("", "wampd-tests-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "tests:", err)
		os.Exit(1)
	}
	tmpDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// skipShort skips the slow process-based tests under -short.
func skipShort(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("interop tests start real client processes; skipped with -short")
	}
}

// repoRoot is the module root, one level above this package.
func repoRoot(t *testing.T) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Dir(wd)
}

// routerBinary builds ./cmd/wampd once per test run (with -race when the tests run
// with -race, so data races in the router under real clients fail the suite).
func routerBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("WAMPD_TEST_ROUTER"); p != "" {
		return p
	}
	root := repoRoot(t)
	buildOnce.Do(func() {
		buildPath = filepath.Join(tmpDir, "wampd")
		args := []string{"build", "-o", buildPath}
		if raceEnabled {
			args = append(args, "-race")
		}
		args = append(args, "./cmd/wampd")
		cmd := exec.Command(goTool(), args...)
		cmd.Dir = root
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	})
	if buildErr != nil {
		t.Fatalf("building wampd: %v", buildErr)
	}
	return buildPath
}

func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(runtime.GOROOT(), "bin", "go")
}

// lockedBuffer collects a process's output while tests read it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// tail returns the last n lines of s, for failure messages.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{fmt.Sprintf("... (%d lines before)", len(lines)-n)}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}

// router is one running wampd process.
type router struct {
	stopOnce sync.Once
	cmd      *exec.Cmd
	stderr   *lockedBuffer
	exited   chan struct{}
	wsAddr   string
	rsAddr   string
}

func (r *router) wsURL() string { return "ws://" + r.wsAddr + "/ws" }
func (r *router) rsURL() string { return "rs://" + r.rsAddr }

// logTail is the router's recent stderr, attached to every failure: the last lines
// above debug level (session joins/leaves, protocol violations, errors), which a
// busy debug log would otherwise push out, then the very last lines.
func (r *router) logTail() string {
	log := r.stderr.String()
	var notDebug []string
	for _, l := range strings.Split(log, "\n") {
		if l != "" && !strings.Contains(l, "level=DEBUG") {
			notDebug = append(notDebug, l)
		}
	}
	return "--- router stderr, last non-debug lines ---\n" + tail(strings.Join(notDebug, "\n"), 30) +
		"\n--- router stderr (tail) ---\n" + tail(log, 15)
}

// freePort asks the kernel for an unused loopback port.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startRouter runs wampd on free ports with the flags from the team brief and waits
// until both listeners accept connections. It is stopped (SIGTERM) when the test
// ends, and the test fails if the router crashed, panicked, raced or did not exit
// cleanly.
func startRouter(t *testing.T) *router {
	t.Helper()
	bin := routerBinary(t)
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ { // a free port can be taken before we bind it
		r, err := launchRouter(bin, freePort(t), freePort(t))
		if err == nil {
			t.Cleanup(func() { r.stop(t) })
			return r
		}
		lastErr = err
	}
	t.Fatalf("starting router: %v", lastErr)
	return nil
}

func launchRouter(bin, wsAddr, rsAddr string) (*router, error) {
	r := &router{stderr: &lockedBuffer{}, exited: make(chan struct{}), wsAddr: wsAddr, rsAddr: rsAddr}
	r.cmd = exec.Command(bin,
		"-ws", wsAddr, "-ws-path", "/ws",
		"-rawsocket", rsAddr,
		"-realm", "realm1",
		"-ticket", "joe:secret123:user",
		"-log-level", "debug")
	r.cmd.Stdout = r.stderr
	r.cmd.Stderr = r.stderr
	if err := r.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { r.cmd.Wait(); close(r.exited) }()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-r.exited:
			return nil, fmt.Errorf("router exited during startup (%v)\n%s", r.cmd.ProcessState, r.logTail())
		default:
		}
		if strings.Count(r.stderr.String(), "listening") >= 2 && dialable(wsAddr) && dialable(rsAddr) {
			return r, nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	r.cmd.Process.Kill()
	<-r.exited
	return nil, fmt.Errorf("router did not log two 'listening' lines and accept on %s and %s within 20s\n%s",
		wsAddr, rsAddr, r.logTail())
}

func dialable(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// stop shuts the router down once (a test may stop it itself; cleanup then does nothing).
func (r *router) stop(t *testing.T) {
	r.stopOnce.Do(func() { r.stopNow(t) })
}

func (r *router) stopNow(t *testing.T) {
	select {
	case <-r.exited:
		t.Errorf("router exited before the test ended (%v)\n%s", r.cmd.ProcessState, r.logTail())
		return
	default:
	}
	r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.exited:
	case <-time.After(10 * time.Second):
		r.cmd.Process.Kill()
		<-r.exited
		t.Errorf("router did not shut down within 10s of SIGTERM\n%s", r.logTail())
		return
	}
	log := r.stderr.String()
	for _, bad := range []string{"panic:", "WARNING: DATA RACE", "fatal error:"} {
		if strings.Contains(log, bad) {
			t.Errorf("router stderr contains %q\n%s", bad, tail(log, 200))
		}
	}
	if !r.cmd.ProcessState.Success() {
		t.Errorf("router exited with %v after SIGTERM (want a graceful exit 0)\n%s", r.cmd.ProcessState, r.logTail())
	}
}

// ---- client processes ----

// clientResult is what one client process did.
type clientResult struct {
	name   string
	args   []string
	stdout string
	stderr string
	err    error            // exit status or timeout
	lines  []map[string]any // JSON result lines from stdout
	ok     bool             // printed the final "OK" line
}

// scenario is the part of a multi-scenario client's result tagged with name: its
// lines, and ok when the scenario printed {"ok": true}.
func (c *clientResult) scenario(name string) *clientResult {
	v := *c
	v.name = c.name + "/" + name
	v.lines, v.ok = nil, false
	for _, l := range c.lines {
		if l["scenario"] != name {
			continue
		}
		if l["ok"] == true {
			v.ok = true
		}
		v.lines = append(v.lines, l)
	}
	if v.ok {
		v.err = nil // another scenario in the same process may have failed
	}
	return &v
}

// describe renders everything a CI log needs to explain a failure.
func (c *clientResult) describe() string {
	return fmt.Sprintf("client %s: %s (err=%v)\n--- stdout ---\n%s\n--- stderr (tail) ---\n%s",
		c.name, strings.Join(c.args, " "), c.err, tail(c.stdout, 60), tail(c.stderr, 40))
}

// clientSpec is one client process to run.
type clientSpec struct {
	name string
	dir  string // working directory
	argv []string
}

// pythonScript runs tests/<dir>/<script> (dir slash-separated) with Debian's Python.
func pythonScript(t *testing.T, name, dir, script string, args ...string) clientSpec {
	return clientSpec{name: name, dir: filepath.Join(repoRoot(t), "tests", filepath.FromSlash(dir)),
		argv: append([]string{pythonBin, script}, args...)}
}

// nodeScript runs tests/<dir>/<script> (dir slash-separated) with Node.
func nodeScript(t *testing.T, name, dir, script string, args ...string) clientSpec {
	return clientSpec{name: name, dir: filepath.Join(repoRoot(t), "tests", filepath.FromSlash(dir)),
		argv: append([]string{"node", script}, args...)}
}

func pythonClient(t *testing.T, name string, args ...string) clientSpec {
	return pythonScript(t, name, "python", "scenario.py", args...)
}

func nodeClient(t *testing.T, name string, args ...string) clientSpec {
	return nodeScript(t, name, "js", "scenario.js", args...)
}

// clientCase is one client configuration of a test matrix: lib is the Python
// flavor (twisted | asyncio) or the Node library (autobahn | wampy), tc the way it
// reaches the router.
type clientCase struct {
	lib string
	tc  transportCase
}

func (c clientCase) String() string { return c.lib + "/" + c.tc.String() }

// pythonArgs is the part of a Python scenario script's command line that says
// how to reach r (wampclient.main_args).
func (c clientCase) pythonArgs(r *router) []string {
	return []string{"--flavor", c.lib, "--url", c.tc.url(r), "--transport", c.tc.transport, "--serializer", c.tc.serializer}
}

// nodeArgs is the same for the Node scripts (clients.js parseArgs).
func (c clientCase) nodeArgs(r *router) []string {
	return []string{"--lib", c.lib, "--url", c.tc.url(r), "--transport", c.tc.transport, "--serializer", c.tc.serializer}
}

// pythonMix is four Autobahn|Python clients that cover both flavors, both
// transports and all three serializers, for features whose code does not depend
// on the combination.
var pythonMix = []clientCase{
	{"twisted", transportCase{"websocket", "json"}},
	{"twisted", transportCase{"rawsocket", "cbor"}},
	{"asyncio", transportCase{"websocket", "msgpack"}},
	{"asyncio", transportCase{"rawsocket", "json"}},
}

// scenarioClient is one client process that runs several scenarios of a script
// (one process for all: interpreter start-up would dominate the run time
// otherwise), and what a user expects from each scenario.
type scenarioClient struct {
	spec      clientSpec                  // the script's command line without the scenario names
	r         *router                     // the router it talks to, whose log goes with failures
	checks    map[string]func(k *checker) // scenario name -> its expectations
	scenarios []string                    // the scenarios to run; nil: all of checks, sorted
}

// runScenarios runs the clients, par at a time, each with its scenario names
// appended to its command line (a nil scenarios is filled in), then checks every
// scenario in a subtest named "<client name>/<scenario>", clients and scenarios
// in the order given.
func runScenarios(t *testing.T, clients []scenarioClient, par int) {
	t.Helper()
	specs := make([]clientSpec, len(clients))
	for i := range clients {
		c := &clients[i]
		if c.scenarios == nil {
			c.scenarios = slices.Sorted(maps.Keys(c.checks))
		}
		specs[i] = c.spec
		specs[i].argv = append(slices.Clip(c.spec.argv), c.scenarios...)
	}
	results := runAll(specs, par)
	for i, c := range clients {
		for _, sc := range c.scenarios {
			t.Run(c.spec.name+"/"+sc, func(t *testing.T) {
				c.checks[sc](check(t, c.r, results[i].scenario(sc)))
			})
		}
	}
}

func clientEnv() []string {
	return append(os.Environ(),
		"PYTHONUNBUFFERED=1",        // see output as it happens (guide examples never exit)
		"PYTHONDONTWRITEBYTECODE=1", // no __pycache__ in the work tree
		"NODE_NO_WARNINGS=1",
	)
}

// runClient runs one client to completion (or clientTimeout) and parses its output.
func runClient(spec clientSpec) *clientResult {
	ctx, cancel := context.WithTimeout(context.Background(), clientTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, spec.argv[0], spec.argv[1:]...)
	cmd.Dir = spec.dir
	cmd.Env = clientEnv()
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		err = fmt.Errorf("timed out after %v: %w", clientTimeout, err)
	}
	res := &clientResult{name: spec.name, args: spec.argv, stdout: stdout.String(), stderr: stderr.String(), err: err}
	res.lines, res.ok = parseLines(res.stdout)
	return res
}

// parseLines collects the JSON object lines and whether a line "OK" was printed.
func parseLines(out string) ([]map[string]any, bool) {
	var lines []map[string]any
	ok := false
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "OK" {
			ok = true
			continue
		}
		if strings.HasPrefix(line, "{") {
			var m map[string]any
			if json.Unmarshal([]byte(line), &m) == nil {
				lines = append(lines, m)
			}
		}
	}
	return lines, ok
}

// runAll runs the clients with at most par at a time (client startup is mostly
// interpreter start-up, so a little more than the core count keeps both cores busy).
func runAll(specs []clientSpec, par int) []*clientResult {
	res := make([]*clientResult, len(specs))
	sem := make(chan struct{}, par)
	var wg sync.WaitGroup
	for i, s := range specs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			res[i] = runClient(s)
		}()
	}
	wg.Wait()
	return res
}

// ---- assertions ----

// checker asserts on one client's result lines and prints the full context once on
// the first failure.
type checker struct {
	t      *testing.T
	r      *router
	c      *clientResult
	failed bool
}

func check(t *testing.T, r *router, c *clientResult) *checker {
	t.Helper()
	k := &checker{t: t, r: r, c: c}
	if c.err != nil || !c.ok {
		k.fail("client did not finish with OK")
	}
	return k
}

func (k *checker) fail(format string, args ...any) {
	k.t.Helper()
	msg := fmt.Sprintf(format, args...)
	if !k.failed {
		msg += "\n" + k.c.describe() + "\n" + k.r.logTail()
	}
	k.failed = true
	k.t.Error(msg)
}

// value is the first result line's value for key.
func (k *checker) value(key string) (any, bool) {
	for _, l := range k.c.lines {
		if v, ok := l[key]; ok {
			return v, true
		}
	}
	return nil, false
}

// want checks that the result key equals the JSON literal wantJSON.
func (k *checker) want(key, wantJSON string) {
	k.t.Helper()
	var want any
	if err := json.Unmarshal([]byte(wantJSON), &want); err != nil {
		k.t.Fatalf("bad expectation for %s: %v", key, err)
	}
	got, ok := k.value(key)
	if !ok {
		k.fail("%s: no result line with %q (want %s)", k.c.name, key, wantJSON)
		return
	}
	if !jsonEqual(got, want) {
		gotJSON, _ := json.Marshal(got)
		k.fail("%s: %s = %s, want %s", k.c.name, key, gotJSON, wantJSON)
	}
}

// wantID checks that key holds a WAMP ID: an integer in [1, 2^53].
func (k *checker) wantID(key string) float64 {
	k.t.Helper()
	v, ok := k.value(key)
	f, isNum := v.(float64)
	if !ok || !isNum || f < 1 || f > 1<<53 || f != float64(int64(f)) {
		k.fail("%s: %s = %v, want a WAMP ID (integer in [1, 2^53])", k.c.name, key, v)
	}
	return f
}

func jsonEqual(a, b any) bool {
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(ja, jb) // Marshal sorts map keys
}

// ---- dependencies ----

func requirePython(t *testing.T) {
	t.Helper()
	out, err := exec.Command(pythonBin, "-c", "import autobahn, twisted, txaio, msgpack, cbor2").CombinedOutput()
	if err != nil {
		t.Fatalf("Autobahn|Python is missing for %s: %v\n%s\n%s", pythonBin, err, out, installHint)
	}
}

func requireNode(t *testing.T) {
	t.Helper()
	dir := filepath.Join(repoRoot(t), "tests", "js")
	cmd := exec.Command("node", "-e", `require("autobahn"); require("wampy"); require("ws"); require("websocket")`)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("autobahn-js/wampy are missing in %s/node_modules: %v\n%s\n%s", dir, err, out, installHint)
	}
}

// ---- long-running processes (the guide's examples never exit by themselves) ----

// proc is a client process whose output is watched while it runs.
type proc struct {
	name   string
	argv   []string
	cmd    *exec.Cmd
	stdout *lockedBuffer // result lines
	all    *lockedBuffer // stdout and stderr interleaved, for waiting and diagnostics
	exited chan struct{}
}

// startProc starts a client process that is killed when the test ends. Call it
// from the test goroutine; launchProc is the variant for other goroutines.
func startProc(t *testing.T, spec clientSpec) *proc {
	t.Helper()
	p, err := launchProc(spec)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.stop)
	return p
}

func launchProc(spec clientSpec) (*proc, error) {
	p := &proc{name: spec.name, argv: spec.argv, stdout: &lockedBuffer{}, all: &lockedBuffer{}, exited: make(chan struct{})}
	p.cmd = exec.Command(spec.argv[0], spec.argv[1:]...)
	p.cmd.Dir = spec.dir
	p.cmd.Env = clientEnv()
	p.cmd.Stdout = io.MultiWriter(p.stdout, p.all)
	p.cmd.Stderr = p.all
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", spec.name, err)
	}
	go func() { p.cmd.Wait(); close(p.exited) }()
	return p, nil
}

// result waits up to timeout for the process to exit and returns what it printed.
func (p *proc) result(timeout time.Duration) *clientResult {
	res := &clientResult{name: p.name, args: p.argv}
	select {
	case <-p.exited:
		if !p.cmd.ProcessState.Success() {
			res.err = fmt.Errorf("exit: %v", p.cmd.ProcessState)
		}
	case <-time.After(timeout):
		res.err = fmt.Errorf("still running after %v", timeout)
		p.stop()
	}
	res.stdout, res.stderr = p.stdout.String(), p.all.String()
	res.lines, res.ok = parseLines(res.stdout)
	return res
}

// waitFor waits until the output satisfies cond; it reports the output on timeout
// or if the process exits first.
func (p *proc) waitFor(cond func(out string) bool, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		if cond(p.all.String()) {
			return nil
		}
		select {
		case <-p.exited:
			if cond(p.all.String()) {
				return nil
			}
			return fmt.Errorf("%s exited (%v) before the expected output\n--- %s output ---\n%s",
				p.name, p.cmd.ProcessState, p.name, tail(p.all.String(), 40))
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: expected output not seen within %v\n--- %s output ---\n%s",
				p.name, timeout, p.name, tail(p.all.String(), 40))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (p *proc) waitLine(substr string, timeout time.Duration) error {
	return p.waitFor(func(out string) bool { return strings.Contains(out, substr) }, timeout)
}

// wait waits for the process to exit by itself.
func (p *proc) wait(timeout time.Duration) error {
	select {
	case <-p.exited:
		if !p.cmd.ProcessState.Success() {
			return fmt.Errorf("%s exited with %v\n%s", p.name, p.cmd.ProcessState, tail(p.all.String(), 40))
		}
		return nil
	case <-time.After(timeout):
		return fmt.Errorf("%s still running after %v\n%s", p.name, timeout, tail(p.all.String(), 40))
	}
}

// stop kills the process: clients need no graceful exit, and a vanished client is
// something the router must handle anyway.
func (p *proc) stop() {
	select {
	case <-p.exited:
		return
	default:
	}
	p.cmd.Process.Kill()
	<-p.exited
}
