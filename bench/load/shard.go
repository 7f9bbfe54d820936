package load

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// One process may open only RLIMIT_NOFILE sockets. For idle and storm runs
// larger than that, the sessions are spread over child processes (the same
// executable, started with childEnv set): each joins its share, reports, and
// holds its sessions until the parent closes its stdin.

const childEnv = "WAMPBENCH_SESSIONS_CHILD"

type childSpec struct {
	URL         string   `json:"url"`
	Serializer  string   `json:"serializer"`
	Realm       string   `json:"realm"`
	LocalAddrs  []string `json:"local_addrs"`
	Sessions    int      `json:"sessions"`
	Concurrency int      `json:"concurrency"`
	IndexBase   int      `json:"index_base"`
	JoinTimeout int64    `json:"join_timeout_ns"`
}

type childReport struct {
	Joined     uint64                 `json:"joined"`
	Failed     uint64                 `json:"failed"`
	FirstError string                 `json:"first_error,omitempty"`
	Hist       *hdrhistogram.Snapshot `json:"hist,omitempty"`
	Alive      int                    `json:"alive"`
}

// IsChild reports whether this process is a session-holding child started
// by a -procs run. Programs embedding the scenarios call it first in main
// (and tests in TestMain) and then ChildMain.
func IsChild() bool { return os.Getenv(childEnv) != "" }

// ChildMain runs the child side and returns the exit code.
func ChildMain() int {
	var spec childSpec
	if err := json.Unmarshal([]byte(os.Getenv(childEnv)), &spec); err != nil {
		fmt.Fprintln(os.Stderr, "wampbench child:", err)
		return 2
	}
	ser, err := ParseSerializer(spec.Serializer)
	if err != nil {
		fmt.Fprintln(os.Stderr, "wampbench child:", err)
		return 2
	}
	cfg := Config{Realm: spec.Realm, Sessions: spec.Sessions, Concurrency: spec.Concurrency, IndexBase: spec.IndexBase,
		JoinTimeout: time.Duration(spec.JoinTimeout)}
	cfg.Endpoint = Endpoint{URL: spec.URL, Serializer: ser}
	for _, a := range spec.LocalAddrs {
		cfg.Endpoint.LocalAddrs = append(cfg.Endpoint.LocalAddrs, net.ParseIP(a))
	}
	rec := NewRecorder()
	var joined, failed atomic.Uint64
	var firstErr atomic.Value
	h := joinLocal(context.Background(), cfg, rec, &joined, &failed, &firstErr)
	rep := childReport{Joined: joined.Load(), Failed: failed.Load(), Hist: rec.Total().Export()}
	if e := firstErr.Load(); e != nil {
		rep.FirstError = e.(string)
	}
	out := json.NewEncoder(os.Stdout)
	if err := out.Encode(rep); err != nil {
		return 1
	}
	io.Copy(io.Discard, os.Stdin) // hold until the parent closes our stdin
	out.Encode(childReport{Alive: h.alive()})
	h.close()
	return 0
}

type child struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *json.Decoder
}

type shardHolder struct {
	children []*child
	released bool
	nAlive   int
}

// release closes the children's stdin and collects their final reports.
func (s *shardHolder) release() {
	if s.released {
		return
	}
	s.released = true
	for _, c := range s.children {
		c.stdin.Close()
	}
	for _, c := range s.children {
		var rep childReport
		if c.out.Decode(&rep) == nil {
			s.nAlive += rep.Alive
		}
		done := make(chan error, 1)
		go func() { done <- c.cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			c.cmd.Process.Kill()
			<-done
		}
	}
}

func (s *shardHolder) alive() int { s.release(); return s.nAlive }
func (s *shardHolder) close()     { s.release() }

// joinSharded starts cfg.Procs children that join cfg.Sessions sessions
// between them, and waits until each has reported.
func joinSharded(ctx context.Context, cfg Config, rec *Recorder, joined, failed *atomic.Uint64, firstErr *atomic.Value) (holder, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find own executable for -procs: %w", err)
	}
	per := (cfg.Sessions + cfg.Procs - 1) / cfg.Procs
	var addrs []string
	for _, a := range cfg.Endpoint.LocalAddrs {
		addrs = append(addrs, a.String())
	}
	h := &shardHolder{}
	fail := func(err error) (holder, error) {
		for _, c := range h.children {
			c.cmd.Process.Kill()
		}
		h.release()
		return nil, err
	}
	for k, left := 0, cfg.Sessions; left > 0; k, left = k+1, left-per {
		spec, _ := json.Marshal(childSpec{URL: cfg.Endpoint.URL, Serializer: cfg.Endpoint.Serializer.String(),
			Realm: cfg.Realm, LocalAddrs: addrs, Sessions: min(per, left),
			Concurrency: max(cfg.Concurrency/cfg.Procs, 1), IndexBase: k * per, JoinTimeout: int64(cfg.JoinTimeout)})
		cmd := exec.Command(exe)
		cmd.Env = append(os.Environ(), childEnv+"="+string(spec))
		cmd.Stderr = os.Stderr
		stdin, err := cmd.StdinPipe()
		if err != nil {
			return fail(err)
		}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			return fail(err)
		}
		if err := cmd.Start(); err != nil {
			return fail(fmt.Errorf("start child %d: %w", k, err))
		}
		h.children = append(h.children, &child{cmd: cmd, stdin: stdin, out: json.NewDecoder(stdout)})
	}
	for k, c := range h.children {
		var rep childReport
		if err := c.out.Decode(&rep); err != nil {
			return fail(fmt.Errorf("child %d: %w", k, err))
		}
		joined.Add(rep.Joined)
		failed.Add(rep.Failed)
		if rep.FirstError != "" {
			firstErr.CompareAndSwap(nil, rep.FirstError)
		}
		if rep.Hist != nil {
			rec.merge(hdrhistogram.Import(rep.Hist))
		}
		if ctx.Err() != nil {
			return fail(ctx.Err())
		}
	}
	if len(h.children) == 0 {
		return nil, errors.New("no sessions to join")
	}
	return h, nil
}
