// Package clienttest is a conformance suite for WAMP routers driven through
// wampd's Go client. Any router can be checked: give Run its endpoints.
// wampd's client tests run it against an in-process wampd; the nexus peer
// module runs it against nexus.
package clienttest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wampd/wampd/client"
	"github.com/wampd/wampd/codec"
)

// Env describes the router under test.
type Env struct {
	// WebSocketURL (ws://host:port/ws) and RawSocketURL (rs://host:port);
	// either may be empty to skip that transport.
	WebSocketURL, RawSocketURL string
	Realm                      string
	// TicketAuthID and Ticket, when set, name a ticket user of Realm.
	TicketAuthID, Ticket string
	// CRAAuthID and CRASecret, when set, name a wampcra user (unsalted).
	CRAAuthID, CRASecret string
	// NoJSONBinary: the router does not convert binary for JSON peers to
	// the spec's "\u0000"+base64 string (nexus sends plain base64), so
	// binary values are only checked between binary serializers.
	NoJSONBinary bool
	// Skip lists subtests to skip (by name), for features the router lacks.
	Skip []string
}

const timeout = 5 * time.Second

// Run runs every subtest against env.
func Run(t *testing.T, env Env) {
	tests := []struct {
		name string
		fn   func(t *testing.T, env Env)
	}{
		{"Join", testJoin},
		{"CallRegister", testCallRegister},
		{"CallError", testCallError},
		{"NoSuchProcedure", testNoSuchProcedure},
		{"ProgressiveResults", testProgressive},
		{"CancelCall", testCancel},
		{"PubSub", testPubSub},
		{"PublishRawInline", testPublishRaw},
		{"PublisherDisclosure", testDisclosure},
		{"PatternSubscriptions", testPatterns},
		{"EligibleExclude", testEligibleExclude},
		{"CrossSerializer", testCrossSerializer},
		{"Unsubscribe", testUnsubscribe},
		{"Concurrent", testConcurrent},
		{"LeaveHooks", testLeaveHooks},
		{"Ticket", testTicket},
		{"WAMPCRA", testCRA},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, s := range env.Skip {
				if s == tc.name {
					t.Skip("skipped by Env.Skip")
				}
			}
			tc.fn(t, env)
		})
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	t.Cleanup(cancel)
	return ctx
}

// Connect joins env's realm over the WebSocket URL (or RawSocket when the
// WebSocket URL is empty) and closes the session at cleanup.
func Connect(t *testing.T, env Env, kind codec.Kind, opts client.Options) *client.Session {
	t.Helper()
	url := env.WebSocketURL
	if url == "" {
		url = env.RawSocketURL
	}
	return ConnectURL(t, url, env.Realm, kind, opts)
}

// ConnectURL joins realm at url with serializer kind, closing the session at cleanup.
func ConnectURL(t *testing.T, url, realm string, kind codec.Kind, opts client.Options) *client.Session {
	t.Helper()
	opts.Serializer = kind
	s, err := client.Connect(ctxT(t), url, realm, opts)
	if err != nil {
		t.Fatalf("connect %s (%v): %v", url, kind, err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func urls(env Env) map[string]string {
	m := map[string]string{}
	if env.WebSocketURL != "" {
		m["websocket"] = env.WebSocketURL
	}
	if env.RawSocketURL != "" {
		m["rawsocket"] = env.RawSocketURL
	}
	return m
}

func testJoin(t *testing.T, env Env) {
	for name, url := range urls(env) {
		for _, k := range codec.Kinds {
			t.Run(name+"/"+k.String(), func(t *testing.T) {
				s := ConnectURL(t, url, env.Realm, k, client.Options{})
				if s.ID() == 0 || s.ID() > codec.MaxID {
					t.Fatalf("session ID %d out of range", s.ID())
				}
				if d := s.Details(); d == nil || d.Realm != env.Realm {
					t.Fatalf("details %+v", d)
				}
				// A round trip proves the serializer works both ways.
				echo(t, s, s)
			})
		}
	}
	_, err := client.Connect(ctxT(t), firstURL(env), "no.such.realm.for.clienttest", client.Options{})
	var we *client.Error
	if !errors.As(err, &we) {
		t.Fatalf("join unknown realm: got %v, want *client.Error", err)
	}
}

func firstURL(env Env) string {
	if env.WebSocketURL != "" {
		return env.WebSocketURL
	}
	return env.RawSocketURL
}

var procN atomic.Int64

func uniq(prefix string) string {
	return fmt.Sprintf("clienttest.%s.%d.%d", prefix, time.Now().UnixNano(), procN.Add(1))
}

// echo registers an echo procedure on callee and calls it from caller.
func echo(t *testing.T, callee, caller *client.Session) {
	t.Helper()
	proc := uniq("echo")
	reg, err := callee.Register(ctxT(t), proc, func(ctx context.Context, inv *client.Invocation) (*client.Result, error) {
		return &client.Result{Args: inv.Args, Kwargs: inv.Kwargs}, nil
	}, client.RegisterOptions{})
	if err != nil {
		t.Fatalf("register: %v", err)
	}
	defer callee.Unregister(ctxT(t), reg)
	args := []any{"hello", uint64(42), int64(-7), 1.5, true, nil, []any{"x", uint64(1)}, map[string]any{"k": "v"}}
	kw := map[string]any{"name": "wampd", "n": uint64(3), "list": []any{uint64(1), uint64(2)}}
	res, err := caller.Call(ctxT(t), proc, args, kw, client.CallOptions{})
	if err != nil {
		t.Fatalf("call: %v", err)
	}
	if got, want := fmt.Sprint(res.Args), fmt.Sprint(args); got != want {
		t.Fatalf("args: got %s, want %s", got, want)
	}
	if got, want := fmt.Sprint(res.Kwargs), fmt.Sprint(kw); got != want {
		t.Fatalf("kwargs: got %s, want %s", got, want)
	}
}

func testCallRegister(t *testing.T, env Env) {
	for name, url := range urls(env) {
		t.Run(name, func(t *testing.T) {
			callee := ConnectURL(t, url, env.Realm, codec.JSON, client.Options{})
			caller := ConnectURL(t, url, env.Realm, codec.MsgPack, client.Options{})
			echo(t, callee, caller)
			if env.NoJSONBinary {
				callee = ConnectURL(t, url, env.Realm, codec.CBOR, client.Options{})
			}
			// Binary survives (JSON carries it as "\u0000"+base64).
			proc := uniq("bin")
			if _, err := callee.Register(ctxT(t), proc, func(ctx context.Context, inv *client.Invocation) (*client.Result, error) {
				b, ok := inv.Args[0].([]byte)
				if !ok {
					return nil, fmt.Errorf("arg is %T, not []byte", inv.Args[0])
				}
				return &client.Result{Args: []any{append(b, '!')}}, nil
			}, client.RegisterOptions{}); err != nil {
				t.Fatal(err)
			}
			res, err := caller.Call(ctxT(t), proc, []any{[]byte{0, 1, 2}}, nil, client.CallOptions{})
			if err != nil {
				t.Fatalf("call binary: %v", err)
			}
			if b, _ := res.Args[0].([]byte); !bytes.Equal(b, []byte{0, 1, 2, '!'}) {
				t.Fatalf("binary result %#v", res.Args)
			}
		})
	}
}

func testCallError(t *testing.T, env Env) {
	callee := Connect(t, env, codec.JSON, client.Options{})
	caller := Connect(t, env, codec.JSON, client.Options{})
	proc := uniq("fail")
	if _, err := callee.Register(ctxT(t), proc, func(ctx context.Context, inv *client.Invocation) (*client.Result, error) {
		return nil, &client.Error{URI: "com.example.failed", Args: []any{"bad input"}, Kwargs: map[string]any{"code": uint64(7)}}
	}, client.RegisterOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err := caller.Call(ctxT(t), proc, nil, nil, client.CallOptions{})
	var we *client.Error
	if !errors.As(err, &we) || we.URI != "com.example.failed" {
		t.Fatalf("got %v, want *client.Error com.example.failed", err)
	}
	if fmt.Sprint(we.Args) != "[bad input]" || fmt.Sprint(we.Kwargs["code"]) != "7" {
		t.Fatalf("error payload %v %v", we.Args, we.Kwargs)
	}
	// A plain Go error becomes wamp.error.runtime_error.
	proc2 := uniq("plainfail")
	if _, err := callee.Register(ctxT(t), proc2, func(ctx context.Context, inv *client.Invocation) (*client.Result, error) {
		return nil, errors.New("boom")
	}, client.RegisterOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err = caller.Call(ctxT(t), proc2, nil, nil, client.CallOptions{})
	if !errors.As(err, &we) || we.URI != client.ErrURIRuntime {
		t.Fatalf("got %v, want %s", err, client.ErrURIRuntime)
	}
}

func testNoSuchProcedure(t *testing.T, env Env) {
	s := Connect(t, env, codec.JSON, client.Options{})
	_, err := s.Call(ctxT(t), uniq("missing"), nil, nil, client.CallOptions{})
	var we *client.Error
	if !errors.As(err, &we) || we.URI != client.ErrURINoSuchProcedure {
		t.Fatalf("got %v, want %s", err, client.ErrURINoSuchProcedure)
	}
}

func testProgressive(t *testing.T, env Env) {
	callee := Connect(t, env, codec.JSON, client.Options{})
	caller := Connect(t, env, codec.CBOR, client.Options{})
	proc := uniq("progress")
	if _, err := callee.Register(ctxT(t), proc, func(ctx context.Context, inv *client.Invocation) (*client.Result, error) {
		for i := 1; i <= 3; i++ {
			if err := inv.Progress(&client.Result{Args: []any{i}}); err != nil {
				return nil, err
			}
		}
		return &client.Result{Args: []any{"done"}}, nil
	}, client.RegisterOptions{}); err != nil {
		t.Fatal(err)
	}
	var got []any
	res, err := caller.Call(ctxT(t), proc, nil, nil, client.CallOptions{OnProgress: func(r *client.Result) {
		got = append(got, r.Args...)
	}})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != "[1 2 3]" || fmt.Sprint(res.Args) != "[done]" {
		t.Fatalf("progress %v final %v", got, res.Args)
	}
}

func testCancel(t *testing.T, env Env) {
	callee := Connect(t, env, codec.JSON, client.Options{})
	caller := Connect(t, env, codec.JSON, client.Options{})
	proc := uniq("slow")
	interrupted := make(chan struct{})
	if _, err := callee.Register(ctxT(t), proc, func(ctx context.Context, inv *client.Invocation) (*client.Result, error) {
		select {
		case <-ctx.Done():
			close(interrupted)
			return nil, ctx.Err()
		case <-time.After(timeout):
			return &client.Result{}, nil
		}
	}, client.RegisterOptions{}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := caller.Call(ctx, proc, nil, nil, client.CallOptions{CancelMode: client.CancelKill})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("call returned after %v", d)
	}
	select {
	case <-interrupted:
	case <-time.After(3 * time.Second):
		t.Fatal("callee was not interrupted after CANCEL")
	}
	// The session stays usable.
	echo(t, callee, caller)
}

func testPubSub(t *testing.T, env Env) {
	for name, url := range urls(env) {
		t.Run(name, func(t *testing.T) {
			sub := ConnectURL(t, url, env.Realm, codec.MsgPack, client.Options{})
			pub := ConnectURL(t, url, env.Realm, codec.JSON, client.Options{})
			topic := uniq("topic")
			got := make(chan *client.Event, 10)
			if _, err := sub.Subscribe(ctxT(t), topic, func(ev *client.Event) {
				cp := *ev
				got <- &cp
			}, client.SubscribeOptions{}); err != nil {
				t.Fatal(err)
			}
			if err := pub.Publish(ctxT(t), topic, []any{"a", uint64(1)}, map[string]any{"b": 2.5}, client.PublishOptions{Acknowledge: true}); err != nil {
				t.Fatalf("publish: %v", err)
			}
			ev := recvEvent(t, got)
			if fmt.Sprint(ev.Args) != "[a 1]" || fmt.Sprint(ev.Kwargs) != "map[b:2.5]" {
				t.Fatalf("event payload %v %v", ev.Args, ev.Kwargs)
			}
			if ev.Topic != topic || ev.Publication == 0 {
				t.Fatalf("event topic %q publication %d", ev.Topic, ev.Publication)
			}
			if ev.Publisher != 0 {
				t.Fatalf("publisher %d disclosed without disclose_me", ev.Publisher)
			}
			// The publisher is excluded by default, and included on request.
			mine := make(chan *client.Event, 10)
			if _, err := pub.Subscribe(ctxT(t), topic, func(ev *client.Event) { cp := *ev; mine <- &cp }, client.SubscribeOptions{}); err != nil {
				t.Fatal(err)
			}
			if err := pub.Publish(ctxT(t), topic, []any{"x"}, nil, client.PublishOptions{Acknowledge: true}); err != nil {
				t.Fatal(err)
			}
			recvEvent(t, got)
			if err := pub.Publish(ctxT(t), topic, []any{"y"}, nil, client.PublishOptions{Acknowledge: true, ExcludeMe: client.Bool(false)}); err != nil {
				t.Fatal(err)
			}
			if ev := recvEvent(t, mine); fmt.Sprint(ev.Args) != "[y]" {
				t.Fatalf("own event %v, want [y] (the excluded [x] must not arrive)", ev.Args)
			}
		})
	}
}

func recvEvent(t *testing.T, ch chan *client.Event) *client.Event {
	t.Helper()
	select {
	case ev := <-ch:
		return ev
	case <-time.After(timeout):
		t.Fatal("no event")
		return nil
	}
}

func noEvent(t *testing.T, ch chan *client.Event, d time.Duration) {
	t.Helper()
	select {
	case ev := <-ch:
		t.Fatalf("unexpected event %v", ev.Args)
	case <-time.After(d):
	}
}

func testPublishRaw(t *testing.T, env Env) {
	for _, k := range codec.Kinds {
		t.Run(k.String(), func(t *testing.T) {
			sub := Connect(t, env, k, client.Options{})
			pub := Connect(t, env, k, client.Options{})
			topic := uniq("raw")
			args, err := codec.AppendAny(k, nil, []any{"payload", uint64(99)})
			if err != nil {
				t.Fatal(err)
			}
			got := make(chan []byte, 1)
			if _, err := sub.Subscribe(ctxT(t), topic, func(ev *client.Event) {
				if ev.Args != nil {
					t.Errorf("raw subscription got decoded args")
				}
				got <- bytes.Clone(ev.ArgsRaw.Bytes) // inline: copy before returning
			}, client.SubscribeOptions{Raw: true, Inline: true}); err != nil {
				t.Fatal(err)
			}
			if err := pub.PublishRaw(ctxT(t), topic, codec.Raw{Kind: k, Bytes: args}, codec.Raw{}, client.PublishOptions{Acknowledge: true}); err != nil {
				t.Fatal(err)
			}
			select {
			case b := <-got:
				v, err := codec.DecodeAny(codec.Raw{Kind: k, Bytes: b})
				if err != nil || fmt.Sprint(v) != "[payload 99]" {
					t.Fatalf("raw args %q decode to %v, %v", b, v, err)
				}
			case <-time.After(timeout):
				t.Fatal("no event")
			}
		})
	}
}

func testPatterns(t *testing.T, env Env) {
	sub := Connect(t, env, codec.JSON, client.Options{})
	pub := Connect(t, env, codec.JSON, client.Options{})
	base := uniq("pat")
	pre := make(chan *client.Event, 10)
	wild := make(chan *client.Event, 10)
	if _, err := sub.Subscribe(ctxT(t), base+".a", func(ev *client.Event) { cp := *ev; pre <- &cp }, client.SubscribeOptions{Match: client.MatchPrefix}); err != nil {
		t.Fatal(err)
	}
	if _, err := sub.Subscribe(ctxT(t), base+"..c", func(ev *client.Event) { cp := *ev; wild <- &cp }, client.SubscribeOptions{Match: client.MatchWildcard}); err != nil {
		t.Fatal(err)
	}
	if err := pub.Publish(ctxT(t), base+".a.b", []any{1}, nil, client.PublishOptions{Acknowledge: true}); err != nil {
		t.Fatal(err)
	}
	if ev := recvEvent(t, pre); ev.Topic != base+".a.b" {
		t.Fatalf("prefix event topic %q", ev.Topic)
	}
	if err := pub.Publish(ctxT(t), base+".x.c", []any{2}, nil, client.PublishOptions{Acknowledge: true}); err != nil {
		t.Fatal(err)
	}
	if ev := recvEvent(t, wild); ev.Topic != base+".x.c" {
		t.Fatalf("wildcard event topic %q", ev.Topic)
	}
	noEvent(t, pre, 100*time.Millisecond)
	// Prefix registration: the invocation names the called procedure.
	if _, err := sub.Register(ctxT(t), base+".proc", func(ctx context.Context, inv *client.Invocation) (*client.Result, error) {
		return &client.Result{Args: []any{inv.Procedure}}, nil
	}, client.RegisterOptions{Match: client.MatchPrefix}); err != nil {
		t.Fatal(err)
	}
	res, err := pub.Call(ctxT(t), base+".proc.one", nil, nil, client.CallOptions{})
	if err != nil || fmt.Sprint(res.Args) != "["+base+".proc.one]" {
		t.Fatalf("prefix call: %v %v", res, err)
	}
}

func testEligibleExclude(t *testing.T, env Env) {
	pub := Connect(t, env, codec.JSON, client.Options{})
	a := Connect(t, env, codec.JSON, client.Options{})
	b := Connect(t, env, codec.JSON, client.Options{})
	topic := uniq("filter")
	ca := make(chan *client.Event, 10)
	cb := make(chan *client.Event, 10)
	for _, x := range []struct {
		s  *client.Session
		ch chan *client.Event
	}{{a, ca}, {b, cb}} {
		ch := x.ch
		if _, err := x.s.Subscribe(ctxT(t), topic, func(ev *client.Event) { cp := *ev; ch <- &cp }, client.SubscribeOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := pub.Publish(ctxT(t), topic, []any{"only-a"}, nil, client.PublishOptions{Acknowledge: true, Eligible: []client.ID{a.ID()}}); err != nil {
		t.Fatal(err)
	}
	if ev := recvEvent(t, ca); fmt.Sprint(ev.Args) != "[only-a]" {
		t.Fatalf("a got %v", ev.Args)
	}
	if err := pub.Publish(ctxT(t), topic, []any{"not-a"}, nil, client.PublishOptions{Acknowledge: true, Exclude: []client.ID{a.ID()}}); err != nil {
		t.Fatal(err)
	}
	if ev := recvEvent(t, cb); fmt.Sprint(ev.Args) != "[not-a]" {
		t.Fatalf("b got %v (must not have got only-a)", ev.Args)
	}
	noEvent(t, ca, 100*time.Millisecond)
}

func testCrossSerializer(t *testing.T, env Env) {
	topic := uniq("cross")
	subs := map[codec.Kind]chan *client.Event{}
	for _, k := range codec.Kinds {
		s := Connect(t, env, k, client.Options{})
		ch := make(chan *client.Event, 10)
		subs[k] = ch
		if _, err := s.Subscribe(ctxT(t), topic, func(ev *client.Event) { cp := *ev; ch <- &cp }, client.SubscribeOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, pk := range codec.Kinds {
		pub := Connect(t, env, pk, client.Options{})
		want := []any{pk.String(), uint64(1) << 40, int64(-3), []byte("bin"), map[string]any{"f": 0.25}}
		if env.NoJSONBinary {
			want[3] = "bin"
		}
		if err := pub.Publish(ctxT(t), topic, want, map[string]any{"from": pk.String()}, client.PublishOptions{Acknowledge: true}); err != nil {
			t.Fatal(err)
		}
		for sk, ch := range subs {
			ev := recvEvent(t, ch)
			if fmt.Sprint(ev.Args) != fmt.Sprint(want) || ev.Kwargs["from"] != pk.String() {
				t.Fatalf("%v -> %v: got %v %v, want %v", pk, sk, ev.Args, ev.Kwargs, want)
			}
		}
	}
}

func testUnsubscribe(t *testing.T, env Env) {
	s := Connect(t, env, codec.JSON, client.Options{})
	pub := Connect(t, env, codec.JSON, client.Options{})
	topic := uniq("unsub")
	ch1 := make(chan *client.Event, 10)
	ch2 := make(chan *client.Event, 10)
	sub1, err := s.Subscribe(ctxT(t), topic, func(ev *client.Event) { cp := *ev; ch1 <- &cp }, client.SubscribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sub2, err := s.Subscribe(ctxT(t), topic, func(ev *client.Event) { cp := *ev; ch2 <- &cp }, client.SubscribeOptions{Inline: true})
	if err != nil {
		t.Fatal(err)
	}
	if sub1.ID() != sub2.ID() {
		t.Fatalf("same topic, different subscription IDs %d %d", sub1.ID(), sub2.ID())
	}
	if err := s.Unsubscribe(ctxT(t), sub1); err != nil {
		t.Fatal(err)
	}
	if err := pub.Publish(ctxT(t), topic, []any{1}, nil, client.PublishOptions{Acknowledge: true}); err != nil {
		t.Fatal(err)
	}
	recvEvent(t, ch2)
	if err := s.Unsubscribe(ctxT(t), sub2); err != nil {
		t.Fatal(err)
	}
	if err := pub.Publish(ctxT(t), topic, []any{2}, nil, client.PublishOptions{Acknowledge: true}); err != nil {
		t.Fatal(err)
	}
	noEvent(t, ch1, 100*time.Millisecond)
	noEvent(t, ch2, 50*time.Millisecond)

	proc := uniq("unreg")
	reg, err := s.Register(ctxT(t), proc, func(ctx context.Context, inv *client.Invocation) (*client.Result, error) {
		return nil, nil
	}, client.RegisterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pub.Call(ctxT(t), proc, nil, nil, client.CallOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := s.Unregister(ctxT(t), reg); err != nil {
		t.Fatal(err)
	}
	_, err = pub.Call(ctxT(t), proc, nil, nil, client.CallOptions{})
	var we *client.Error
	if !errors.As(err, &we) || we.URI != client.ErrURINoSuchProcedure {
		t.Fatalf("call after unregister: %v", err)
	}
}

func testConcurrent(t *testing.T, env Env) {
	callee := Connect(t, env, codec.MsgPack, client.Options{})
	caller := Connect(t, env, codec.JSON, client.Options{})
	sub := Connect(t, env, codec.CBOR, client.Options{})
	proc := uniq("add")
	if _, err := callee.Register(ctxT(t), proc, func(ctx context.Context, inv *client.Invocation) (*client.Result, error) {
		a, _ := client.AsInt64(inv.Args[0])
		b, _ := client.AsInt64(inv.Args[1])
		return &client.Result{Args: []any{a + b}}, nil
	}, client.RegisterOptions{}); err != nil {
		t.Fatal(err)
	}
	topic := uniq("conc")
	const workers, per = 8, 50
	var events atomic.Int64
	all := make(chan struct{})
	if _, err := sub.Subscribe(ctxT(t), topic, func(ev *client.Event) {
		if events.Add(1) == workers*per {
			close(all)
		}
	}, client.SubscribeOptions{Raw: true}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range per {
				res, err := caller.Call(ctxT(t), proc, []any{w, i}, nil, client.CallOptions{})
				if err != nil {
					errs <- err
					return
				}
				if n, _ := client.AsInt64(res.Args[0]); n != int64(w+i) {
					errs <- fmt.Errorf("%d+%d = %v", w, i, res.Args[0])
					return
				}
				if err := caller.Publish(ctxT(t), topic, []any{i}, nil, client.PublishOptions{}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	select {
	case <-all:
	case <-time.After(timeout):
		t.Fatalf("got %d of %d events", events.Load(), workers*per)
	}
}

func testLeaveHooks(t *testing.T, env Env) {
	var mu sync.Mutex
	var order []string
	add := func(s string) { mu.Lock(); order = append(order, s); mu.Unlock() }
	s, err := client.Connect(ctxT(t), firstURL(env), env.Realm, client.Options{
		OnConnect:    func(*client.Session) { add("connect") },
		OnJoin:       func(*client.Session, *client.SessionDetails) { add("join") },
		OnReady:      func(*client.Session) { add("ready") },
		OnLeave:      func(_ *client.Session, reason string) { add("leave:" + reason) },
		OnDisconnect: func(_ *client.Session, err error) { add(fmt.Sprint("disconnect:", err)) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Leave(ctxT(t)); err != nil {
		t.Fatalf("leave: %v", err)
	}
	select {
	case <-s.Done():
	case <-time.After(timeout):
		t.Fatal("Done not closed after Leave")
	}
	mu.Lock()
	got := fmt.Sprint(order)
	mu.Unlock()
	if want := "[connect join ready leave:wamp.close.normal disconnect:<nil>]"; got != want {
		t.Fatalf("hooks %s, want %s", got, want)
	}
	if _, err := s.Call(ctxT(t), "x", nil, nil, client.CallOptions{}); !errors.Is(err, client.ErrClosed) {
		t.Fatalf("call after leave: %v, want ErrClosed", err)
	}
}

func testTicket(t *testing.T, env Env) {
	if env.TicketAuthID == "" {
		t.Skip("no ticket user in Env")
	}
	s := Connect(t, env, codec.JSON, client.Options{AuthID: env.TicketAuthID, Auth: []client.Authenticator{client.Ticket(env.Ticket)}})
	if d := s.Details(); d.AuthID != env.TicketAuthID || d.AuthMethod != "ticket" {
		t.Fatalf("details %+v", d)
	}
	_, err := client.Connect(ctxT(t), firstURL(env), env.Realm, client.Options{AuthID: env.TicketAuthID, Auth: []client.Authenticator{client.Ticket("wrong")}})
	// Routers answer ABORT; some (nexus) may close before it is flushed.
	if err == nil {
		t.Fatal("wrong ticket: joined")
	}
}

func testCRA(t *testing.T, env Env) {
	if env.CRAAuthID == "" {
		t.Skip("no wampcra user in Env")
	}
	s := Connect(t, env, codec.JSON, client.Options{AuthID: env.CRAAuthID, Auth: []client.Authenticator{client.WAMPCRA(env.CRASecret)}})
	if d := s.Details(); d.AuthID != env.CRAAuthID || d.AuthMethod != "wampcra" {
		t.Fatalf("details %+v", d)
	}
	_, err := client.Connect(ctxT(t), firstURL(env), env.Realm, client.Options{AuthID: env.CRAAuthID, Auth: []client.Authenticator{client.WAMPCRA("wrong")}})
	// Routers answer ABORT; some (nexus) may close before it is flushed.
	if err == nil {
		t.Fatal("wrong secret: joined")
	}
}

func testDisclosure(t *testing.T, env Env) {
	sub := Connect(t, env, codec.JSON, client.Options{})
	pub := Connect(t, env, codec.JSON, client.Options{})
	topic := uniq("disclose")
	got := make(chan *client.Event, 1)
	if _, err := sub.Subscribe(ctxT(t), topic, func(ev *client.Event) { cp := *ev; got <- &cp }, client.SubscribeOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := pub.Publish(ctxT(t), topic, nil, nil, client.PublishOptions{Acknowledge: true, DiscloseMe: true}); err != nil {
		t.Fatal(err)
	}
	if ev := recvEvent(t, got); ev.Publisher != pub.ID() {
		t.Fatalf("publisher %d, want disclosed %d", ev.Publisher, pub.ID())
	}
	proc := uniq("disclose")
	if _, err := sub.Register(ctxT(t), proc, func(ctx context.Context, inv *client.Invocation) (*client.Result, error) {
		return &client.Result{Args: []any{inv.Caller}}, nil
	}, client.RegisterOptions{DiscloseCaller: true}); err != nil {
		t.Fatal(err)
	}
	res, err := pub.Call(ctxT(t), proc, nil, nil, client.CallOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if id, _ := client.AsInt64(res.Args[0]); client.ID(id) != pub.ID() {
		t.Fatalf("caller %v, want disclosed %d", res.Args[0], pub.ID())
	}
}
