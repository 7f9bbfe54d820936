package client_test

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/wampd/wampd/client"
	"github.com/wampd/wampd/client/clienttest"
	"github.com/wampd/wampd/codec"
	"github.com/wampd/wampd/engine"
	"github.com/wampd/wampd/netpoll"
)

func TestMain(m *testing.M) {
	// IgnoreCurrent: gnet's package-level worker pool starts goroutines at init.
	goleak.VerifyTestMain(m, goleak.IgnoreCurrent())
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// testKey is the cryptosign key of the in-process router's "signer".
var testKey = ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))

// wampd is an in-process wampd router listening on ephemeral ports.
type wampd struct {
	router *engine.Router
	srv    *netpoll.Server
	ws, rs string // bound addresses
}

func startWampd(t testing.TB, wsAddr, rsAddr string) *wampd {
	t.Helper()
	r, err := engine.NewRouter(engine.Config{
		Realms: []engine.RealmConfig{{
			Name:      "realm1",
			Anonymous: true,
			Tickets:   map[string]engine.TicketUser{"alice": {Ticket: "s3cret", Role: "user"}},
			WampCRA: map[string]engine.WampCRAUser{
				"bob":   {Secret: "cr-secret"},
				"salty": {Secret: "salted-secret", Salt: "pepper", Iterations: 500, KeyLen: 32},
			},
			Cryptosign: map[string]engine.CryptosignPrincipal{
				"signer": {PublicKeys: []string{hex.EncodeToString(testKey.Public().(ed25519.PublicKey))}},
			},
		}},
		Logger: quiet,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var srv *netpoll.Server
	for {
		srv, err = netpoll.Listen(ctx, netpoll.Config{WebSocketAddr: wsAddr, RawSocketAddr: rsAddr, Logger: quiet, Loops: 2}, r)
		if err == nil {
			break
		}
		// A restart on the same ports may race the old listeners' release.
		if ctx.Err() != nil || !strings.Contains(err.Error(), "address already in use") {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	addrs := srv.Addrs()
	w := &wampd{router: r, srv: srv, ws: addrs[0].String(), rs: addrs[1].String()}
	t.Cleanup(w.stop)
	return w
}

func (w *wampd) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	w.router.Shutdown(ctx)
	_ = w.srv.Stop(ctx)
}

func (w *wampd) env() clienttest.Env {
	return clienttest.Env{
		WebSocketURL: "ws://" + w.ws + "/ws",
		RawSocketURL: "rs://" + w.rs,
		Realm:        "realm1",
		TicketAuthID: "alice",
		Ticket:       "s3cret",
		CRAAuthID:    "bob",
		CRASecret:    "cr-secret",
	}
}

// TestWampd runs the client conformance suite against an in-process wampd.
func TestWampd(t *testing.T) {
	w := startWampd(t, "127.0.0.1:0", "127.0.0.1:0")
	clienttest.Run(t, w.env())
}

// TestReconnect stops the router under a session and starts a new one on the
// same ports: the session must rejoin and restore its registration and
// subscription by itself.
func TestReconnect(t *testing.T) {
	w := startWampd(t, "127.0.0.1:0", "127.0.0.1:0")
	env := w.env()
	var joins, disconnects atomic.Int32
	ready := make(chan struct{}, 4)
	s, err := client.Connect(context.Background(), env.WebSocketURL, env.Realm, client.Options{
		Reconnect:    &client.ReconnectOptions{InitialDelay: 20 * time.Millisecond, MaxDelay: 200 * time.Millisecond},
		OnJoin:       func(*client.Session, *client.SessionDetails) { joins.Add(1) },
		OnDisconnect: func(*client.Session, error) { disconnects.Add(1) },
		OnReady:      func(*client.Session) { ready <- struct{}{} },
		Logger:       quiet,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	<-ready
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := s.Register(ctx, "test.reconnect.echo", func(ctx context.Context, inv *client.Invocation) (*client.Result, error) {
		return &client.Result{Args: inv.Args}, nil
	}, client.RegisterOptions{}); err != nil {
		t.Fatal(err)
	}
	events := make(chan *client.Event, 10)
	sub, err := s.Subscribe(ctx, "test.reconnect.topic", func(ev *client.Event) { cp := *ev; events <- &cp }, client.SubscribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	firstID := s.ID()

	w.stop()
	w2 := startWampd(t, w.ws, w.rs)
	select {
	case <-ready:
	case <-ctx.Done():
		t.Fatal("session did not reconnect")
	}
	if s.ID() == 0 || s.ID() == firstID || joins.Load() != 2 || disconnects.Load() != 1 {
		t.Fatalf("after reconnect: id %d (was %d), joins %d, disconnects %d", s.ID(), firstID, joins.Load(), disconnects.Load())
	}
	if sub.ID() == 0 {
		t.Fatal("subscription not restored")
	}
	other := clienttest.ConnectURL(t, w2.env().WebSocketURL, "realm1", codec.MsgPack, client.Options{})
	res, err := other.Call(ctx, "test.reconnect.echo", []any{"again"}, nil, client.CallOptions{})
	if err != nil || fmt.Sprint(res.Args) != "[again]" {
		t.Fatalf("call restored registration: %v %v", res, err)
	}
	if err := other.Publish(ctx, "test.reconnect.topic", []any{"ev"}, nil, client.PublishOptions{Acknowledge: true}); err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-events:
		if fmt.Sprint(ev.Args) != "[ev]" {
			t.Fatalf("event %v", ev.Args)
		}
	case <-ctx.Done():
		t.Fatal("restored subscription got no event")
	}
}

// TestNoReconnect: without Reconnect, losing the router ends the session.
func TestNoReconnect(t *testing.T) {
	w := startWampd(t, "127.0.0.1:0", "127.0.0.1:0")
	s, err := client.Connect(context.Background(), "rs://"+w.rs, "realm1", client.Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	w.stop()
	select {
	case <-s.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("session did not end with its connection")
	}
	if _, err := s.Call(context.Background(), "x", nil, nil, client.CallOptions{}); !errors.Is(err, client.ErrNotConnected) && !errors.Is(err, client.ErrClosed) {
		t.Fatalf("call on ended session: %v", err)
	}
}

// TestConnectErrors: bad URLs and refused connections fail fast with context.
func TestConnectErrors(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := client.Connect(ctx, "http://127.0.0.1:1/ws", "realm1", client.Options{}); err == nil {
		t.Fatal("http:// URL accepted")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	if _, err := client.Connect(ctx, "rs://"+addr, "realm1", client.Options{}); err == nil {
		t.Fatal("connect to closed port succeeded")
	}
	// A server that accepts but never answers: the context bounds the join.
	ln, err = net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			defer c.Close()
			_, _ = io.Copy(io.Discard, c)
		}
	}()
	short, cancel2 := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel2()
	if _, err := client.Connect(short, "rs://"+ln.Addr().String(), "realm1", client.Options{}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("silent server: %v, want DeadlineExceeded", err)
	}
}

// TestCloseFromCallbacks: Close called from a hook, an event handler or an
// invocation handler returns and leaves no goroutine behind (TestMain checks).
func TestCloseFromCallbacks(t *testing.T) {
	w := startWampd(t, "127.0.0.1:0", "127.0.0.1:0")
	url := "ws://" + w.ws + "/ws"
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	wait := func(what string, s *client.Session) {
		t.Helper()
		select {
		case <-s.Done():
		case <-ctx.Done():
			t.Fatalf("%s: session not done", what)
		}
	}

	t.Run("OnDisconnect", func(t *testing.T) {
		w2 := startWampd(t, "127.0.0.1:0", "127.0.0.1:0")
		closed := make(chan error, 1)
		s, err := client.Connect(ctx, "rs://"+w2.rs, "realm1", client.Options{
			Logger:       quiet,
			Reconnect:    &client.ReconnectOptions{InitialDelay: time.Hour},
			OnDisconnect: func(s *client.Session, _ error) { closed <- s.Close() },
		})
		if err != nil {
			t.Fatal(err)
		}
		w2.stop()
		select {
		case <-closed:
		case <-ctx.Done():
			t.Fatal("Close in OnDisconnect did not return")
		}
		wait("OnDisconnect", s)
	})
	t.Run("EventHandler", func(t *testing.T) {
		s := clienttest.ConnectURL(t, url, "realm1", codec.JSON, client.Options{Logger: quiet})
		closed := make(chan error, 1)
		if _, err := s.Subscribe(ctx, "close.me", func(*client.Event) { closed <- s.Close() }, client.SubscribeOptions{}); err != nil {
			t.Fatal(err)
		}
		pub := clienttest.ConnectURL(t, url, "realm1", codec.JSON, client.Options{Logger: quiet})
		if err := pub.Publish(ctx, "close.me", nil, nil, client.PublishOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := <-closed; err != nil {
			t.Fatalf("Close in event handler: %v", err)
		}
		wait("EventHandler", s)
	})
	t.Run("InvocationHandler", func(t *testing.T) {
		s := clienttest.ConnectURL(t, url, "realm1", codec.JSON, client.Options{Logger: quiet})
		closed := make(chan error, 1)
		if _, err := s.Register(ctx, "close.me", func(ctx context.Context, _ *client.Invocation) (*client.Result, error) {
			closed <- s.Close()
			return nil, nil
		}, client.RegisterOptions{}); err != nil {
			t.Fatal(err)
		}
		caller := clienttest.ConnectURL(t, url, "realm1", codec.JSON, client.Options{Logger: quiet})
		cctx, ccancel := context.WithTimeout(ctx, 2*time.Second)
		defer ccancel()
		_, _ = caller.Call(cctx, "close.me", nil, nil, client.CallOptions{}) // the callee left: any answer
		if err := <-closed; err != nil {
			t.Fatalf("Close in invocation handler: %v", err)
		}
		wait("InvocationHandler", s)
	})
}

// TestAuthWampd: salted wampcra and cryptosign against wampd's authenticators.
func TestAuthWampd(t *testing.T) {
	w := startWampd(t, "127.0.0.1:0", "127.0.0.1:0")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, tc := range []struct {
		name, method string
		opts         client.Options
		ok           bool
	}{
		{"wampcra-salted", "wampcra", client.Options{AuthID: "salty", Auth: []client.Authenticator{client.WAMPCRA("salted-secret")}}, true},
		{"wampcra-salted-wrong", "", client.Options{AuthID: "salty", Auth: []client.Authenticator{client.WAMPCRA("nope")}}, false},
		{"cryptosign", "cryptosign", client.Options{AuthID: "signer", Auth: []client.Authenticator{client.Cryptosign(testKey)}}, true},
		{"cryptosign-wrong-key", "", client.Options{AuthID: "signer", Auth: []client.Authenticator{
			client.Cryptosign(ed25519.NewKeyFromSeed(bytes32(1)))}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.Logger = quiet
			s, err := client.Connect(ctx, "ws://"+w.ws+"/ws", "realm1", tc.opts)
			if !tc.ok {
				if err == nil {
					s.Close()
					t.Fatal("joined with wrong credentials")
				}
				var we *client.Error
				if !errors.As(err, &we) {
					t.Fatalf("got %v, want an ABORT as *client.Error", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if d := s.Details(); d.AuthMethod != tc.method || d.AuthID != tc.opts.AuthID {
				t.Fatalf("details %+v", d)
			}
		})
	}
}

func bytes32(b byte) []byte {
	s := make([]byte, 32)
	s[0] = b
	return s
}
