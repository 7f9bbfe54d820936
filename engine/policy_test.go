package engine

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/wampd/wampd/codec"
)

func TestAuthorization(t *testing.T) {
	az := StaticAuthorizer{
		"anonymous": {{Prefix: "public.", Actions: ActionSubscribe | ActionCall}},
		"backend":   {{Prefix: "", Actions: ActionAll}},
	}
	r := newTestRouter(t, RealmConfig{Name: "realm1", Anonymous: true, Authorizer: az,
		Tickets: map[string]TicketUser{"svc": {Ticket: "t", Role: "backend"}}})
	anon := join(t, r, codec.JSON, "realm1")
	svc := connect(t, r, codec.JSON)
	svc.send(hello("realm1", opt("authmethods", []string{"ticket"}), opt("authid", "svc")))
	svc.expect(codec.Challenge)
	svc.send(&codec.Message{Type: codec.Authenticate, Text: []byte("t")})
	svc.expect(codec.Welcome)

	anon.send(&codec.Message{Type: codec.Subscribe, Request: 1, URI: []byte("private.x")})
	anon.expectError(codec.Subscribe, 1, "wamp.error.not_authorized")
	anon.send(&codec.Message{Type: codec.Register, Request: 2, URI: []byte("public.proc")})
	anon.expectError(codec.Register, 2, "wamp.error.not_authorized")
	anon.send(publishMsg(3, "public.news", nil, nil)) // unacknowledged: dropped silently
	anon.expectNothing()
	anon.send(publishMsg(4, "public.news", nil, nil, opt("acknowledge", true)))
	anon.expectError(codec.Publish, 4, "wamp.error.not_authorized")
	anon.subscribe(5, "public.news")

	svc.register(1, "public.proc")
	svc.register(2, "private.proc")
	anon.send(&codec.Message{Type: codec.Call, Request: 6, URI: []byte("private.proc")})
	anon.expectError(codec.Call, 6, "wamp.error.not_authorized")
	anon.send(&codec.Message{Type: codec.Call, Request: 7, URI: []byte("public.proc")})
	inv := svc.expect(codec.Invocation)
	svc.send(&codec.Message{Type: codec.Yield, Request: inv.Request})
	anon.expect(codec.Result)
	svc.send(publishMsg(3, "public.news", []any{"hi"}, nil))
	anon.expect(codec.Event)
}

func TestProtocolViolations(t *testing.T) {
	cases := []struct {
		name  string
		setup func(c *client) // runs after join, when joined is true
		join  bool
		msg   []byte
		msgFn func(c *client)
	}{
		{name: "message before HELLO", msg: []byte(`[32,1,{},"com.topic"]`)},
		{name: "not JSON", msg: []byte(`{{{`)},
		{name: "not a message before HELLO", msg: []byte(`"hello"`)},
		{name: "unknown type", join: true, msg: []byte(`[99,1,{}]`)},
		{name: "wrong arity", join: true, msg: []byte(`[32,1,{}]`)},
		{name: "wrong element type", join: true, msg: []byte(`[32,"x",{},"com.topic"]`)},
		{name: "EVENT from client", join: true, msg: []byte(`[36,1,2,{}]`)},
		{name: "RESULT from client", join: true, msg: []byte(`[50,1,{}]`)},
		{name: "WELCOME from client", join: true, msg: []byte(`[2,1,{}]`)},
		{name: "ERROR for a CALL from client", join: true, msg: []byte(`[8,48,1,{},"com.err"]`)},
		{name: "HELLO while established", join: true, msg: []byte(`[1,"realm1",{}]`)},
		{name: "AUTHENTICATE without challenge", join: true, msg: []byte(`[5,"sig",{}]`)},
		{name: "reused in-flight request ID", join: true, msgFn: func(c *client) {
			c.send(&codec.Message{Type: codec.Call, Request: 5, URI: []byte("com.proc")})
			c.send(&codec.Message{Type: codec.Call, Request: 5, URI: []byte("com.proc")})
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newTestRouter(t)
			callee := join(t, r, codec.JSON, "realm1")
			callee.register(1, "com.proc")
			bystander := join(t, r, codec.JSON, "realm1")
			bystander.subscribe(1, "com.topic")

			var c *client
			if tc.join {
				c = join(t, r, codec.JSON, "realm1")
			} else {
				c = connect(t, r, codec.JSON)
			}
			if tc.msgFn != nil {
				tc.msgFn(c)
				callee.expect(codec.Invocation) // the first CALL went through
			} else {
				c.sendRaw(tc.msg)
			}
			a := c.expectAbort("wamp.error.protocol_violation")
			if msg, _ := details(t, a)["message"].(string); msg == "" {
				t.Fatal("ABORT protocol_violation without a message in details")
			}
			if !c.conn.isClosed() {
				t.Fatal("offender's connection not closed")
			}
			c.sendRaw([]byte(`[1,"realm1",{}]`)) // dead: ignored
			c.expectNothing()
			c.peer.Closed()

			// Nobody else is affected.
			bystander.send(publishMsg(2, "com.topic", []any{1}, nil, opt("exclude_me", false)))
			bystander.expect(codec.Event)
			bystander.send(&codec.Message{Type: codec.Call, Request: 3, URI: []byte("com.proc")})
			inv := callee.expect(codec.Invocation)
			callee.send(&codec.Message{Type: codec.Yield, Request: inv.Request})
			bystander.expect(codec.Result)
			if callee.conn.isClosed() || bystander.conn.isClosed() {
				t.Fatal("a bystander was closed")
			}
		})
	}
}

func TestUnknownYieldIsNotAViolation(t *testing.T) {
	r := newTestRouter(t)
	c := join(t, r, codec.JSON, "realm1")
	c.send(&codec.Message{Type: codec.Yield, Request: 12345})
	c.send(&codec.Message{Type: codec.Error, ErrorType: codec.Invocation, Request: 777, URI: []byte("com.err")})
	c.expectNothing()
	if c.conn.isClosed() {
		t.Fatal("closed")
	}
	c.subscribe(1, "com.still.works")
}

func TestCallerLeavesLateYieldDropped(t *testing.T) {
	r := newTestRouter(t)
	callee := join(t, r, codec.JSON, "realm1")
	caller := join(t, r, codec.JSON, "realm1")
	callee.register(1, "com.slow")
	caller.send(&codec.Message{Type: codec.Call, Request: 1, URI: []byte("com.slow")})
	inv := callee.expect(codec.Invocation)
	caller.peer.Closed()
	callee.send(&codec.Message{Type: codec.Yield, Request: inv.Request, ArgsAny: []any{1}})
	caller.expectNothing()
	callee.expectNothing()
	s := r.realms["realm1"]
	if n := s.sessionCount(); n != 1 {
		t.Fatalf("%d sessions, want 1", n)
	}
}

func TestBackPressure(t *testing.T) {
	t.Run("event dropped and counted", func(t *testing.T) {
		r := newTestRouter(t)
		pub := join(t, r, codec.JSON, "realm1")
		slow := join(t, r, codec.JSON, "realm1")
		fast := join(t, r, codec.MsgPack, "realm1")
		slow.subscribe(1, "com.t")
		fast.subscribe(1, "com.t")
		slow.conn.refuse.Store(true)
		for i := range 3 {
			pub.send(publishMsg(codec.ID(i+1), "com.t", []any{i}, nil))
		}
		for range 3 {
			fast.expect(codec.Event)
		}
		sess := slow.peer.(*peer).sess.Load()
		if n := sess.DroppedEvents(); n != 3 {
			t.Fatalf("dropped %d events, want 3", n)
		}
		if slow.conn.isClosed() {
			t.Fatal("slow subscriber closed; events should only be dropped")
		}
		// An operator sees the count through the session meta API.
		got := pub.result(9, "wamp.session.get", []any{slow.id}, nil)
		d, _ := got[0].(map[string]any)
		if !equalJSONish(d["dropped_events"], 3) {
			t.Fatalf("wamp.session.get dropped_events = %v, want 3", d["dropped_events"])
		}
	})
	t.Run("invocation refused fails the call", func(t *testing.T) {
		r := newTestRouter(t)
		callee := join(t, r, codec.JSON, "realm1")
		caller := join(t, r, codec.JSON, "realm1")
		callee.register(1, "com.p")
		callee.conn.refuse.Store(true)
		caller.send(&codec.Message{Type: codec.Call, Request: 9, URI: []byte("com.p")})
		caller.expectError(codec.Call, 9, "wamp.error.canceled")
		callee.conn.refuse.Store(false)
		// The taken-back invocation is gone: a YIELD for it is dropped.
		callee.send(&codec.Message{Type: codec.Yield, Request: 1})
		caller.expectNothing()
		// And the request ID is free again.
		caller.send(&codec.Message{Type: codec.Call, Request: 9, URI: []byte("com.p")})
		inv := callee.expect(codec.Invocation)
		callee.send(&codec.Message{Type: codec.Yield, Request: inv.Request})
		caller.expect(codec.Result)
	})
	t.Run("caller not reading results is closed", func(t *testing.T) {
		r := newTestRouter(t)
		callee := join(t, r, codec.JSON, "realm1")
		caller := join(t, r, codec.JSON, "realm1")
		callee.register(1, "com.p")
		caller.send(&codec.Message{Type: codec.Call, Request: 1, URI: []byte("com.p")})
		inv := callee.expect(codec.Invocation)
		caller.conn.refuse.Store(true)
		callee.send(&codec.Message{Type: codec.Yield, Request: inv.Request})
		if !caller.conn.isClosed() {
			t.Fatal("caller that cannot take its RESULT was not closed")
		}
		if callee.conn.isClosed() {
			t.Fatal("callee closed")
		}
	})
}

func TestShutdown(t *testing.T) {
	r := newTestRouter(t)
	polite := join(t, r, codec.JSON, "realm1")
	rude := join(t, r, codec.CBOR, "realm1")
	idle := connect(t, r, codec.JSON)

	done := make(chan struct{})
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		r.Shutdown(ctx)
		close(done)
	}()
	waitFor(t, func() bool { return polite.pending() > 0 && rude.pending() > 0 })
	for _, c := range []*client{polite, rude} {
		g := c.expect(codec.Goodbye)
		if string(g.URI) != "wamp.close.system_shutdown" {
			t.Fatalf("GOODBYE %q", g.URI)
		}
	}
	polite.send(&codec.Message{Type: codec.Goodbye, URI: []byte("wamp.close.goodbye_and_out")})
	<-done // rude never answers: bounded by the context
	for _, c := range []*client{polite, rude, idle} {
		if !c.conn.isClosed() {
			t.Fatal("connection left open after Shutdown")
		}
	}
	late := connect(t, r, codec.JSON)
	if !late.conn.isClosed() {
		t.Fatal("connection attached after Shutdown left open")
	}

	// Everyone answers: Shutdown returns without waiting for the deadline.
	r2 := newTestRouter(t)
	a := join(t, r2, codec.JSON, "realm1")
	done2 := make(chan struct{})
	start := time.Now()
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		r2.Shutdown(ctx)
		close(done2)
	}()
	waitFor(t, func() bool { return a.pending() > 0 })
	a.expect(codec.Goodbye)
	a.send(&codec.Message{Type: codec.Goodbye, URI: []byte("wamp.close.goodbye_and_out")})
	<-done2
	if time.Since(start) > 5*time.Second {
		t.Fatal("Shutdown waited for its deadline although every session answered")
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestConcurrentStress runs sessions that subscribe, publish, call and
// disconnect concurrently (each on its own goroutine, like event loops), for
// the race detector, and checks that nothing is left behind.
func TestConcurrentStress(t *testing.T) {
	r := newTestRouter(t)
	const workers, rounds = 6, 60
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			kinds := []codec.Kind{codec.JSON, codec.MsgPack, codec.CBOR}
			for round := range rounds {
				c := join(t, r, kinds[(w+round)%3], "realm1")
				c.subscribe(1, fmt.Sprintf("com.topic.%d", round%3))
				proc := fmt.Sprintf("com.proc.%d.%d", w, round%2)
				c.send(&codec.Message{Type: codec.Register, Request: 2, URI: []byte(proc)})
				c.send(publishMsg(3, fmt.Sprintf("com.topic.%d", (round+1)%3), []any{w, round}, nil))
				c.send(&codec.Message{Type: codec.Call, Request: 4, URI: []byte(fmt.Sprintf("com.proc.%d.%d", (w+1)%workers, round%2))})
				// Answer whatever invocations reached us so far.
				for m := c.next(); m != nil; m = c.next() {
					if m.Type == codec.Invocation {
						c.send(&codec.Message{Type: codec.Yield, Request: m.Request})
					}
				}
				if round%2 == 0 {
					c.send(&codec.Message{Type: codec.Goodbye, URI: []byte("wamp.close.close_realm")})
				}
				c.peer.Closed()
			}
		}()
	}
	wg.Wait()
	if n := r.realms["realm1"].sessionCount(); n != 0 {
		t.Fatalf("%d sessions left", n)
	}
	for i := range r.realms["realm1"].broker.exact.shards {
		if n := len(r.realms["realm1"].broker.exact.shards[i].m); n != 0 {
			t.Fatalf("%d subscriptions left in shard %d", n, i)
		}
	}
}
