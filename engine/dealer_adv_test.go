package engine

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/wampd/wampd/codec"
)

// helloFeatures is a HELLO announcing caller and callee features.
func helloFeatures(realm string, caller, callee map[string]any) *codec.Message {
	m := &codec.Message{Type: codec.Hello, URI: []byte(realm)}
	m.Details.Fields = []codec.Field{{Key: "roles", Value: codec.AnyValue(map[string]any{
		"caller":     map[string]any{"features": caller},
		"callee":     map[string]any{"features": callee},
		"subscriber": map[string]any{}, "publisher": map[string]any{},
	})}}
	return m
}

// joinWith joins realm1 announcing the given features for both roles.
func joinWith(t testing.TB, r *Router, k codec.Kind, features ...string) *client {
	t.Helper()
	f := map[string]any{}
	for _, name := range features {
		f[name] = true
	}
	c := connect(t, r, k)
	c.send(helloFeatures("realm1", f, f))
	c.id = c.expect(codec.Welcome).Session
	return c
}

func (c *client) registerWith(req codec.ID, proc string, opts ...codec.Field) codec.ID {
	c.t.Helper()
	m := &codec.Message{Type: codec.Register, Request: req, URI: []byte(proc)}
	m.Details.Fields = opts
	c.send(m)
	r := c.expect(codec.Registered)
	if r.Request != req {
		c.t.Fatalf("REGISTERED for %d, want %d", r.Request, req)
	}
	return r.Registration
}

func callMsg(req codec.ID, proc string, args []any, opts ...codec.Field) *codec.Message {
	m := &codec.Message{Type: codec.Call, Request: req, URI: []byte(proc), ArgsAny: args}
	m.Details.Fields = opts
	return m
}

func yieldMsg(inv codec.ID, args []any, opts ...codec.Field) *codec.Message {
	m := &codec.Message{Type: codec.Yield, Request: inv, ArgsAny: args}
	m.Details.Fields = opts
	return m
}

// waitFor polls the client until a frame arrives (timers run elsewhere).
func (c *client) waitFor(typ codec.Type, within time.Duration) *codec.Message {
	c.t.Helper()
	deadline := time.Now().Add(within)
	for c.pending() == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	return c.expect(typ)
}

func TestSharedRegistrationPolicies(t *testing.T) {
	for _, tc := range []struct {
		invoke string
		want   []int // which callee (index) serves calls 0..5
	}{
		{"roundrobin", []int{0, 1, 2, 0, 1, 2}},
		{"first", []int{0, 0, 0, 0, 0, 0}},
		{"last", []int{2, 2, 2, 2, 2, 2}},
	} {
		t.Run(tc.invoke, func(t *testing.T) {
			r := newTestRouter(t)
			caller := join(t, r, codec.JSON, "realm1")
			var callees []*client
			var regID codec.ID
			for i := range 3 {
				c := join(t, r, codec.MsgPack, "realm1")
				id := c.registerWith(1, "com.shared", opt("invoke", tc.invoke))
				if i > 0 && id != regID {
					t.Fatalf("callee %d got registration %d, want the shared %d", i, id, regID)
				}
				regID = id
				callees = append(callees, c)
			}
			for n, want := range tc.want {
				caller.send(callMsg(codec.ID(n+1), "com.shared", []any{n}))
				for i, c := range callees {
					if i == want {
						inv := c.expect(codec.Invocation)
						c.send(yieldMsg(inv.Request, []any{i}))
					} else {
						c.expectNothing()
					}
				}
				res := caller.expect(codec.Result)
				if args, _ := payload(t, res); res.Request != codec.ID(n+1) || !equalJSONish(args, []any{want}) {
					t.Fatalf("call %d answered by %v, want callee %d", n, args, want)
				}
			}
		})
	}
}

func TestSharedRegistrationRandomAndLeave(t *testing.T) {
	r := newTestRouter(t)
	caller := join(t, r, codec.JSON, "realm1")
	a := join(t, r, codec.JSON, "realm1")
	b := join(t, r, codec.JSON, "realm1")
	a.registerWith(1, "com.rand", opt("invoke", "random"))
	b.registerWith(1, "com.rand", opt("invoke", "random"))
	seen := map[*client]int{}
	for n := range 64 {
		caller.send(callMsg(codec.ID(n+1), "com.rand", nil))
		for _, c := range []*client{a, b} {
			if inv := c.next(); inv != nil {
				seen[c]++
				c.send(yieldMsg(inv.Request, nil))
			}
		}
		caller.expect(codec.Result)
	}
	if seen[a] == 0 || seen[b] == 0 || seen[a]+seen[b] != 64 {
		t.Fatalf("random spread a=%d b=%d over 64 calls", seen[a], seen[b])
	}
	// One callee leaves: the registration lives on with the other.
	a.peer.Closed()
	caller.send(callMsg(100, "com.rand", nil))
	inv := b.expect(codec.Invocation)
	b.send(yieldMsg(inv.Request, nil))
	caller.expect(codec.Result)
	b.peer.Closed()
	caller.send(callMsg(101, "com.rand", nil))
	caller.expectError(codec.Call, 101, "wamp.error.no_such_procedure")
}

func TestSharedRegistrationConflicts(t *testing.T) {
	r := newTestRouter(t)
	a := join(t, r, codec.JSON, "realm1")
	b := join(t, r, codec.JSON, "realm1")
	a.registerWith(1, "com.single")
	b.send(&codec.Message{Type: codec.Register, Request: 1, URI: []byte("com.single"), Details: codec.Dict{Fields: []codec.Field{opt("invoke", "roundrobin")}}})
	b.expectError(codec.Register, 1, "wamp.error.procedure_exists_with_different_invocation_policy")
	b.send(&codec.Message{Type: codec.Register, Request: 2, URI: []byte("com.single")})
	b.expectError(codec.Register, 2, "wamp.error.procedure_already_exists")

	a.registerWith(3, "com.rr", opt("invoke", "roundrobin"))
	b.send(&codec.Message{Type: codec.Register, Request: 3, URI: []byte("com.rr"), Details: codec.Dict{Fields: []codec.Field{opt("invoke", "first")}}})
	b.expectError(codec.Register, 3, "wamp.error.procedure_exists_with_different_invocation_policy")
	a.send(&codec.Message{Type: codec.Register, Request: 4, URI: []byte("com.rr"), Details: codec.Dict{Fields: []codec.Field{opt("invoke", "roundrobin")}}})
	a.expectError(codec.Register, 4, "wamp.error.procedure_already_exists") // same session twice
	b.send(&codec.Message{Type: codec.Register, Request: 5, URI: []byte("com.x"), Details: codec.Dict{Fields: []codec.Field{opt("invoke", "sometimes")}}})
	b.expectError(codec.Register, 5, "wamp.error.invalid_argument")
	b.send(&codec.Message{Type: codec.Register, Request: 6, URI: []byte("com.x"), Details: codec.Dict{Fields: []codec.Field{opt("match", "regex")}}})
	b.expectError(codec.Register, 6, "wamp.error.invalid_argument")
	b.send(&codec.Message{Type: codec.Register, Request: 7, URI: []byte("wamp.registration.mine")})
	b.expectError(codec.Register, 7, "wamp.error.invalid_uri")
}

// TestPatternRegistrationPrecedence runs the spec's examples: exact beats
// the longest prefix beats the best wildcard.
func TestPatternRegistrationPrecedence(t *testing.T) {
	r := newTestRouter(t)
	caller := join(t, r, codec.JSON, "realm1")
	regs := []struct{ uri, match string }{
		{"a1.b2.c3.d4.e55", "exact"},
		{"a1.b2.c3", "prefix"},
		{"a1.b2.c3.d4", "prefix"},
		{"a1.b2..d4.e5", "wildcard"},
		{"a1.b2.c3..e5", "wildcard"},
		{"a1.b2..d4.e5..g7", "wildcard"},
		{"a1.b2..d4..f6.g7", "wildcard"},
	}
	callees := make([]*client, len(regs))
	for i, rg := range regs {
		callees[i] = join(t, r, codec.JSON, "realm1")
		callees[i].registerWith(1, rg.uri, opt("match", rg.match))
	}
	for n, tc := range []struct {
		uri  string
		want int // index into regs, -1 for no_such_procedure
	}{
		{"a1.b2.c3.d4.e55", 0},
		{"a1.b2.c3.d98.e74", 1},
		{"a1.b2.c3.d4.e325", 2},
		{"a1.b2.c55.d4.e5", 3},
		{"a1.b2.c3.d4.e5", 2}, // the prefix a1.b2.c3.d4 matches too and beats wildcards
		{"a1.b2.c88.d4.e5.f6.g7", 5},
		{"a2.b2.c2.d2.e2", -1},
	} {
		req := codec.ID(n + 1)
		caller.send(callMsg(req, tc.uri, []any{n}))
		if tc.want < 0 {
			caller.expectError(codec.Call, req, "wamp.error.no_such_procedure")
			continue
		}
		for i, c := range callees {
			if i != tc.want {
				c.expectNothing()
				continue
			}
			inv := c.expect(codec.Invocation)
			d := details(t, inv)
			if regs[i].match == "exact" {
				if _, ok := d["procedure"]; ok {
					t.Fatalf("exact registration got details.procedure %v", d)
				}
			} else if d["procedure"] != tc.uri {
				t.Fatalf("%s: details.procedure = %v", tc.uri, d["procedure"])
			}
			c.send(yieldMsg(inv.Request, nil))
		}
		caller.expect(codec.Result)
	}
}

func TestPatternRegistrationWildcardOnly(t *testing.T) {
	r := newTestRouter(t)
	caller := join(t, r, codec.CBOR, "realm1")
	a := join(t, r, codec.MsgPack, "realm1")
	b := join(t, r, codec.JSON, "realm1")
	a.registerWith(1, "a1.b2..d4.e5", opt("match", "wildcard"))
	b.registerWith(1, "a1.b2.c3..e5", opt("match", "wildcard"))
	caller.send(callMsg(1, "a1.b2.c3.d4.e5", nil)) // spec: RPC 5 (longer first portion)
	b.expect(codec.Invocation)
	a.expectNothing()
	caller.send(callMsg(2, "a1.b2.c3.d4", nil)) // wrong component count
	caller.expectError(codec.Call, 2, "wamp.error.no_such_procedure")
	// Unregistering the pattern removes it from matching (cache invalidated).
	b.peer.Closed()
	caller.expectError(codec.Call, 1, "wamp.error.canceled")
	caller.send(callMsg(3, "a1.b2.c3.d4.e5", nil))
	if d := details(t, a.expect(codec.Invocation)); d["procedure"] != "a1.b2.c3.d4.e5" {
		t.Fatalf("details %v", d)
	}
}

func TestProgressiveCallResults(t *testing.T) {
	r := newTestRouter(t)
	caller := join(t, r, codec.JSON, "realm1")
	callee := join(t, r, codec.MsgPack, "realm1")
	callee.register(1, "com.progress")
	caller.send(callMsg(7, "com.progress", []any{3}, opt("receive_progress", true)))
	inv := callee.expect(codec.Invocation)
	if d := details(t, inv); d["receive_progress"] != true {
		t.Fatalf("INVOCATION details %v, want receive_progress", d)
	}
	for i := range 3 {
		callee.send(yieldMsg(inv.Request, []any{i}, opt("progress", true)))
		res := caller.expect(codec.Result)
		args, _ := payload(t, res)
		if res.Request != 7 || details(t, res)["progress"] != true || !equalJSONish(args, []any{i}) {
			t.Fatalf("progressive RESULT %d: %v %v", i, detailsString(res), args)
		}
	}
	callee.send(yieldMsg(inv.Request, []any{"done"}))
	res := caller.expect(codec.Result)
	if _, ok := details(t, res)["progress"]; ok {
		t.Fatalf("final RESULT marked progress: %s", detailsString(res))
	}
	callee.send(yieldMsg(inv.Request, []any{"late"}, opt("progress", true)))
	caller.expectNothing()

	// A caller that did not ask for progress gets only the final result.
	caller.send(callMsg(8, "com.progress", nil))
	inv = callee.expect(codec.Invocation)
	if _, ok := details(t, inv)["receive_progress"]; ok {
		t.Fatal("receive_progress forwarded though the caller did not ask")
	}
	callee.send(yieldMsg(inv.Request, []any{1}, opt("progress", true)))
	callee.send(yieldMsg(inv.Request, []any{2}))
	if args, _ := payload(t, caller.expect(codec.Result)); !equalJSONish(args, []any{2}) {
		t.Fatalf("final args %v", args)
	}
	caller.expectNothing()
}

// TestCalleeLeavesMidProgressiveCall: the results already delivered stay
// delivered, and the caller learns at once that the call failed.
func TestCalleeLeavesMidProgressiveCall(t *testing.T) {
	r := newTestRouter(t)
	caller := join(t, r, codec.CBOR, "realm1")
	callee := join(t, r, codec.JSON, "realm1")
	callee.register(1, "com.stream")
	caller.send(callMsg(1, "com.stream", nil, opt("receive_progress", true)))
	inv := callee.expect(codec.Invocation)
	callee.send(yieldMsg(inv.Request, []any{"a"}, opt("progress", true)))
	callee.send(yieldMsg(inv.Request, []any{"b"}, opt("progress", true)))
	callee.peer.Closed()
	for _, want := range []string{"a", "b"} {
		res := caller.expect(codec.Result)
		if args, _ := payload(t, res); !equalJSONish(args, []any{want}) {
			t.Fatalf("progress %v, want %s", args, want)
		}
	}
	e := caller.expectError(codec.Call, 1, "wamp.error.canceled")
	if args, _ := payload(t, e); !equalJSONish(args, []any{"callee disconnected"}) {
		t.Fatalf("error args %v", args)
	}
	caller.expectNothing()
}

func TestProgressiveCallInvocations(t *testing.T) {
	r := newTestRouter(t)
	caller := joinWith(t, r, codec.JSON, "progressive_call_invocations", "progressive_call_results")
	callee := joinWith(t, r, codec.MsgPack, "progressive_call_invocations", "call_canceling")
	shared := join(t, r, codec.JSON, "realm1") // a second callee that must never see a chunk
	callee.registerWith(1, "com.upload.", opt("match", "prefix"), opt("invoke", "first"))
	shared.registerWith(1, "com.upload.", opt("match", "prefix"), opt("invoke", "first"))

	caller.send(callMsg(5, "com.upload.file", []any{"chunk0"}, opt("progress", true), opt("disclose_me", true), opt("receive_progress", true)))
	first := callee.expect(codec.Invocation)
	d := details(t, first)
	if d["progress"] != true || d["procedure"] != "com.upload.file" || d["caller"] == nil {
		t.Fatalf("first INVOCATION details %v", d)
	}
	callee.send(yieldMsg(first.Request, []any{"ack0"}, opt("progress", true)))
	if res := caller.expect(codec.Result); details(t, res)["progress"] != true {
		t.Fatalf("progressive result %s", detailsString(res))
	}
	caller.send(callMsg(5, "com.upload.file", []any{"chunk1"}, opt("progress", true)))
	caller.send(callMsg(5, "com.upload.file", []any{"chunk2"})) // final
	for i, wantProgress := range []bool{true, false} {
		inv := callee.expect(codec.Invocation)
		d := details(t, inv)
		args, _ := payload(t, inv)
		if inv.Request != first.Request || inv.Registration != first.Registration {
			t.Fatalf("chunk %d went to invocation %d, want %d", i+1, inv.Request, first.Request)
		}
		if _, has := d["progress"]; has != wantProgress || d["procedure"] != "com.upload.file" || d["caller"] == nil {
			t.Fatalf("chunk %d details %v (options are frozen from the first CALL)", i+1, d)
		}
		if !equalJSONish(args, []any{fmt.Sprintf("chunk%d", i+1)}) {
			t.Fatalf("chunk %d args %v", i+1, args)
		}
	}
	shared.expectNothing()
	callee.send(yieldMsg(first.Request, []any{"stored"}))
	if args, _ := payload(t, caller.expect(codec.Result)); !equalJSONish(args, []any{"stored"}) {
		t.Fatalf("final %v", args)
	}
	// The request ID is free again: a plain call with it is a new call.
	caller.send(callMsg(5, "com.upload.x", nil))
	if inv := callee.expect(codec.Invocation); inv.Request == first.Request {
		t.Fatal("a new call reused the finished invocation")
	}
}

func TestProgressiveCallInvocationsUnsupported(t *testing.T) {
	r := newTestRouter(t)
	plainCallee := join(t, r, codec.JSON, "realm1")
	plainCallee.register(1, "com.plain")
	noCancel := joinWith(t, r, codec.JSON, "progressive_call_invocations")
	noCancel.register(1, "com.nocancel")
	caller := joinWith(t, r, codec.JSON, "progressive_call_invocations")
	caller.send(callMsg(1, "com.plain", nil, opt("progress", true)))
	caller.expectError(codec.Call, 1, "wamp.error.feature_not_supported")
	caller.send(callMsg(2, "com.nocancel", nil, opt("progress", true)))
	caller.expectError(codec.Call, 2, "wamp.error.feature_not_supported")
	plainCallee.expectNothing()

	// A caller that did not announce the feature (wampy does not) is still
	// served when the callee supports it.
	able := joinWith(t, r, codec.JSON, "progressive_call_invocations", "call_canceling")
	able.register(1, "com.able")
	quiet := join(t, r, codec.JSON, "realm1")
	quiet.send(callMsg(1, "com.able", []any{"c0"}, opt("progress", true)))
	quiet.send(callMsg(1, "com.able", []any{"c1"}))
	first, last := able.expect(codec.Invocation), able.expect(codec.Invocation)
	if first.Request != last.Request {
		t.Fatalf("chunks went to invocations %d and %d", first.Request, last.Request)
	}
	able.send(yieldMsg(first.Request, nil))
	quiet.expect(codec.Result)
}

// TestProgressiveInvocationCallerLeaves: the callee gets INTERRUPT
// killnowait when the streaming caller goes away.
func TestProgressiveInvocationCallerLeaves(t *testing.T) {
	r := newTestRouter(t)
	caller := joinWith(t, r, codec.JSON, "progressive_call_invocations")
	callee := joinWith(t, r, codec.JSON, "progressive_call_invocations", "call_canceling")
	callee.register(1, "com.up")
	caller.send(callMsg(1, "com.up", []any{1}, opt("progress", true)))
	inv := callee.expect(codec.Invocation)
	caller.peer.Closed()
	in := callee.expect(codec.Interrupt)
	if in.Request != inv.Request || details(t, in)["mode"] != "killnowait" {
		t.Fatalf("INTERRUPT %d %s", in.Request, detailsString(in))
	}
	callee.send(&codec.Message{Type: codec.Error, ErrorType: codec.Invocation, Request: inv.Request, URI: []byte("wamp.error.canceled")})
	callee.expectNothing()
}

func TestCallCancelModes(t *testing.T) {
	for _, tc := range []struct {
		name          string
		calleeFeature string // "" = callee without call_canceling
		mode          string // "" = default
		interrupt     string // INTERRUPT mode the callee gets, "" = none
		waitForCallee bool   // kill: the caller's ERROR comes from the callee
	}{
		{"skip", "call_canceling", "skip", "", false},
		{"kill", "call_canceling", "kill", "kill", true},
		{"killnowait", "call_canceling", "killnowait", "killnowait", false},
		{"default-is-killnowait", "call_canceling", "", "killnowait", false},
		{"spelling-variant", "call_cancelling", "killnowait", "killnowait", false},
		{"kill-degrades-to-skip", "", "kill", "", false},
		{"killnowait-degrades-to-skip", "", "killnowait", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newTestRouter(t)
			caller := joinWith(t, r, codec.JSON, "call_canceling")
			var callee *client
			if tc.calleeFeature != "" {
				callee = joinWith(t, r, codec.MsgPack, tc.calleeFeature)
			} else {
				callee = join(t, r, codec.MsgPack, "realm1")
			}
			callee.register(1, "com.slow")
			caller.send(callMsg(9, "com.slow", nil, opt("receive_progress", true)))
			inv := callee.expect(codec.Invocation)
			c := &codec.Message{Type: codec.Cancel, Request: 9}
			if tc.mode != "" {
				c.Details.Fields = []codec.Field{opt("mode", tc.mode)}
			}
			caller.send(c)
			if tc.interrupt != "" {
				in := callee.expect(codec.Interrupt)
				if in.Request != inv.Request || details(t, in)["mode"] != tc.interrupt {
					t.Fatalf("INTERRUPT %d %s, want mode %s", in.Request, detailsString(in), tc.interrupt)
				}
			} else {
				callee.expectNothing()
			}
			if tc.waitForCallee {
				caller.expectNothing()
				caller.send(c) // a second CANCEL sends no second INTERRUPT
				callee.expectNothing()
				callee.send(yieldMsg(inv.Request, []any{"partial"}, opt("progress", true)))
				caller.expect(codec.Result) // still running: progress still flows
				callee.send(&codec.Message{Type: codec.Error, ErrorType: codec.Invocation, Request: inv.Request,
					URI: []byte("wamp.error.canceled"), ArgsAny: []any{"stopped"}})
				e := caller.expectError(codec.Call, 9, "wamp.error.canceled")
				if args, _ := payload(t, e); !equalJSONish(args, []any{"stopped"}) {
					t.Fatalf("kill: caller got %v, want the callee's error", args)
				}
				return
			}
			caller.expectError(codec.Call, 9, "wamp.error.canceled")
			// Whatever the callee answers now is dropped.
			callee.send(yieldMsg(inv.Request, []any{"late"}, opt("progress", true)))
			callee.send(yieldMsg(inv.Request, []any{"late"}))
			caller.expectNothing()
			caller.send(c) // canceling a finished call does nothing
			caller.expectNothing()
			callee.expectNothing()
		})
	}
	t.Run("bad-mode", func(t *testing.T) {
		r := newTestRouter(t)
		caller := join(t, r, codec.JSON, "realm1")
		caller.send(&codec.Message{Type: codec.Cancel, Request: 1, Details: codec.Dict{Fields: []codec.Field{opt("mode", "maybe")}}})
		caller.expectError(codec.Cancel, 1, "wamp.error.invalid_argument")
	})
}

func TestCallTimeout(t *testing.T) {
	r := newTestRouter(t)
	caller := join(t, r, codec.JSON, "realm1")
	callee := joinWith(t, r, codec.CBOR, "call_canceling")
	plain := join(t, r, codec.JSON, "realm1")
	callee.register(1, "com.slow")
	plain.register(1, "com.plain")

	caller.send(callMsg(1, "com.slow", nil, opt("timeout", 30)))
	inv := callee.expect(codec.Invocation)
	start := time.Now()
	e := caller.waitFor(codec.Error, 5*time.Second)
	if e.ErrorType != codec.Call || e.Request != 1 || string(e.URI) != "wamp.error.timeout" {
		t.Fatalf("got ERROR %d %d %q", e.ErrorType, e.Request, e.URI)
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Fatalf("timeout fired after %v", el)
	}
	in := callee.waitFor(codec.Interrupt, 5*time.Second)
	if in.Request != inv.Request || details(t, in)["mode"] != "killnowait" {
		t.Fatalf("INTERRUPT %d %s", in.Request, detailsString(in))
	}
	callee.send(yieldMsg(inv.Request, []any{"too late"}))
	caller.expectNothing()

	// A callee without call_canceling gets no INTERRUPT; the caller still times out.
	caller.send(callMsg(2, "com.plain", nil, opt("timeout", 20)))
	inv = plain.expect(codec.Invocation)
	caller.waitFor(codec.Error, 5*time.Second)
	plain.send(yieldMsg(inv.Request, nil))
	plain.expectNothing()
	caller.expectNothing()

	// Answered in time: no error afterwards.
	caller.send(callMsg(3, "com.slow", nil, opt("timeout", 40)))
	inv = callee.expect(codec.Invocation)
	callee.send(yieldMsg(inv.Request, []any{"quick"}))
	caller.expect(codec.Result)
	time.Sleep(80 * time.Millisecond)
	caller.expectNothing()
	callee.expectNothing()

	// A caller leaving stops its timers.
	caller.send(callMsg(4, "com.slow", nil, opt("timeout", 20)))
	callee.expect(codec.Invocation)
	caller.peer.Closed()
	callee.expect(codec.Interrupt) // caller gone
	time.Sleep(60 * time.Millisecond)
	callee.expectNothing()
}

func TestCallerIdentification(t *testing.T) {
	r := newTestRouter(t, RealmConfig{Name: "realm1", Anonymous: true,
		Tickets: map[string]TicketUser{"joe": {Ticket: "s3cret", Role: "user"}}})
	caller := connect(t, r, codec.JSON)
	caller.send(hello("realm1", opt("authmethods", []any{"ticket"}), opt("authid", "joe")))
	caller.expect(codec.Challenge)
	caller.send(&codec.Message{Type: codec.Authenticate, Text: []byte("s3cret")})
	caller.id = caller.expect(codec.Welcome).Session
	callee := join(t, r, codec.MsgPack, "realm1")
	discloser := join(t, r, codec.MsgPack, "realm1")
	callee.register(1, "com.who")
	discloser.registerWith(1, "com.who.always", opt("disclose_caller", true))

	check := func(inv *codec.Message, want bool) {
		t.Helper()
		d := details(t, inv)
		if !want {
			for _, k := range []string{"caller", "caller_authid", "caller_authrole"} {
				if _, ok := d[k]; ok {
					t.Fatalf("caller disclosed without asking: %v", d)
				}
			}
			return
		}
		if !equalJSONish(d["caller"], caller.id) || d["caller_authid"] != "joe" || d["caller_authrole"] != "user" {
			t.Fatalf("disclosure %v, want session %d joe/user", d, caller.id)
		}
	}
	caller.send(callMsg(1, "com.who", nil))
	check(callee.expect(codec.Invocation), false)
	caller.send(callMsg(2, "com.who", nil, opt("disclose_me", true)))
	check(callee.expect(codec.Invocation), true)
	caller.send(callMsg(3, "com.who.always", nil))
	check(discloser.expect(codec.Invocation), true)
}

func TestPayloadPassthruMode(t *testing.T) {
	r := newTestRouter(t)
	caller := joinWith(t, r, codec.JSON, "payload_passthru_mode")
	callee := joinWith(t, r, codec.MsgPack, "payload_passthru_mode")
	callee.register(1, "com.secret")
	blob := []byte{0, 1, 2, 0xff}
	ppt := []codec.Field{opt("ppt_scheme", "x_test"), opt("ppt_serializer", "cbor"), opt("ppt_cipher", "xsalsa20poly1305"), opt("ppt_keyid", "k1")}
	want := map[string]any{"ppt_scheme": "x_test", "ppt_serializer": "cbor", "ppt_cipher": "xsalsa20poly1305", "ppt_keyid": "k1"}
	hasPPT := func(m *codec.Message) {
		t.Helper()
		d := details(t, m)
		for k, v := range want {
			if d[k] != v {
				t.Fatalf("%d details %v, want ppt_* %v", m.Type, d, want)
			}
		}
		args, _ := payload(t, m)
		if len(args) != 1 || fmt.Sprint(args[0]) != fmt.Sprint(blob) {
			t.Fatalf("payload %v, want the binary item untouched", args)
		}
	}
	caller.send(callMsg(1, "com.secret", []any{blob}, ppt...))
	inv := callee.expect(codec.Invocation)
	hasPPT(inv)
	callee.send(yieldMsg(inv.Request, []any{blob}, ppt...))
	hasPPT(caller.expect(codec.Result))

	caller.send(callMsg(2, "com.secret", []any{blob}, ppt...))
	inv = callee.expect(codec.Invocation)
	callee.send(&codec.Message{Type: codec.Error, ErrorType: codec.Invocation, Request: inv.Request, URI: []byte("com.err"),
		ArgsAny: []any{blob}, Details: codec.Dict{Fields: ppt}})
	hasPPT(caller.expectError(codec.Call, 2, "com.err"))

	// A callee that did not announce the feature cannot be called with ppt.
	plain := join(t, r, codec.JSON, "realm1")
	plain.register(1, "com.plain")
	caller.send(callMsg(3, "com.plain", []any{blob}, ppt...))
	caller.expectError(codec.Call, 3, "wamp.error.feature_not_supported")
	plain.expectNothing()
	// A caller that did not announce it violates the protocol.
	plain.send(callMsg(4, "com.secret", []any{blob}, ppt...))
	plain.expectAbort("wamp.error.protocol_violation")
}

func TestRegistrationMetaAPI(t *testing.T) {
	r := newTestRouter(t, RealmConfig{Name: "realm1", Anonymous: true}, RealmConfig{Name: "realm2", Anonymous: true})
	watcher := join(t, r, codec.JSON, "realm1")
	other := join(t, r, codec.JSON, "realm2")
	topics := []string{"wamp.registration.on_create", "wamp.registration.on_register", "wamp.registration.on_unregister", "wamp.registration.on_delete"}
	subs := map[codec.ID]string{}
	for i, tp := range topics {
		subs[watcher.subscribe(codec.ID(i+1), tp)] = tp
		other.subscribe(codec.ID(i+1), tp)
	}
	a := join(t, r, codec.MsgPack, "realm1")
	b := join(t, r, codec.CBOR, "realm1")
	regID := a.registerWith(1, "com.meta.", opt("match", "prefix"), opt("invoke", "roundrobin"))
	b.registerWith(1, "com.meta.", opt("match", "prefix"), opt("invoke", "roundrobin"))
	exactID := a.register(2, "com.exact")

	event := func(topic string) []any {
		t.Helper()
		ev := watcher.expect(codec.Event)
		if subs[ev.Subscription] != topic {
			t.Fatalf("event on %s, want %s", subs[ev.Subscription], topic)
		}
		args, _ := payload(t, ev)
		return args
	}
	args := event("wamp.registration.on_create")
	d, _ := args[1].(map[string]any)
	if !equalJSONish(args[0], a.id) || !equalJSONish(d["id"], regID) || d["uri"] != "com.meta." || d["match"] != "prefix" || d["invoke"] != "roundrobin" || d["created"] == nil {
		t.Fatalf("on_create %v", args)
	}
	if args := event("wamp.registration.on_register"); !equalJSONish(args, []any{a.id, regID}) {
		t.Fatalf("on_register %v", args)
	}
	if args := event("wamp.registration.on_register"); !equalJSONish(args, []any{b.id, regID}) {
		t.Fatalf("second on_register %v (no on_create for a shared join)", args)
	}
	event("wamp.registration.on_create")
	event("wamp.registration.on_register")
	other.expectNothing() // another realm sees nothing

	call := func(req codec.ID, proc string, args ...any) *codec.Message {
		t.Helper()
		watcher.send(callMsg(req, proc, args))
		return watcher.next()
	}
	result := func(m *codec.Message) any {
		t.Helper()
		if m == nil || m.Type != codec.Result {
			t.Fatalf("meta call: %v", m)
		}
		args, _ := payload(t, m)
		return args[0]
	}
	lists, _ := result(call(10, "wamp.registration.list")).(map[string]any)
	if !equalJSONish(lists["exact"], []any{exactID}) || !equalJSONish(lists["prefix"], []any{regID}) || !equalJSONish(lists["wildcard"], []any{}) {
		t.Fatalf("list %v", lists)
	}
	if v := result(call(11, "wamp.registration.lookup", "com.meta.", map[string]any{"match": "prefix"})); !equalJSONish(v, regID) {
		t.Fatalf("lookup prefix %v", v)
	}
	if v := result(call(12, "wamp.registration.lookup", "com.meta.")); v != nil {
		t.Fatalf("lookup exact com.meta. = %v, want null", v)
	}
	if v := result(call(13, "wamp.registration.match", "com.meta.x.y")); !equalJSONish(v, regID) {
		t.Fatalf("match %v", v)
	}
	if v := result(call(14, "wamp.registration.match", "com.exact")); !equalJSONish(v, exactID) {
		t.Fatalf("match exact %v", v)
	}
	if v := result(call(15, "wamp.registration.match", "org.none")); v != nil {
		t.Fatalf("match miss %v", v)
	}
	if g, _ := result(call(16, "wamp.registration.get", regID)).(map[string]any); g["uri"] != "com.meta." || g["invoke"] != "roundrobin" {
		t.Fatalf("get %v", g)
	}
	if v := result(call(17, "wamp.registration.list_callees", regID)); !equalJSONish(v, []any{a.id, b.id}) {
		t.Fatalf("list_callees %v", v)
	}
	if v := result(call(18, "wamp.registration.count_callees", regID)); !equalJSONish(v, 2) {
		t.Fatalf("count_callees %v", v)
	}
	watcher.send(callMsg(19, "wamp.registration.get", []any{999999}))
	watcher.expectError(codec.Call, 19, "wamp.error.no_such_registration")
	watcher.send(callMsg(20, "wamp.registration.count_callees", []any{"x"}))
	watcher.expectError(codec.Call, 20, "wamp.error.invalid_argument")
	// Another realm does not see realm1's registrations.
	other.send(callMsg(21, "wamp.registration.get", []any{regID}))
	other.expectError(codec.Call, 21, "wamp.error.no_such_registration")

	a.send(&codec.Message{Type: codec.Unregister, Request: 3, Registration: regID})
	a.expect(codec.Unregistered)
	if args := event("wamp.registration.on_unregister"); !equalJSONish(args, []any{a.id, regID}) {
		t.Fatalf("on_unregister %v", args)
	}
	b.peer.Closed() // the last callee leaving deletes it
	if args := event("wamp.registration.on_unregister"); !equalJSONish(args, []any{b.id, regID}) {
		t.Fatalf("on_unregister %v", args)
	}
	if args := event("wamp.registration.on_delete"); !equalJSONish(args, []any{b.id, regID}) {
		t.Fatalf("on_delete %v", args)
	}
	watcher.send(callMsg(30, "wamp.registration.get", []any{regID}))
	watcher.expectError(codec.Call, 30, "wamp.error.no_such_registration")
	other.expectNothing()
}

// TestDealerRace runs calls with timeouts, cancels, progressive results and
// callees leaving concurrently; the race detector and the invariant "every
// call gets exactly one final answer" are the checks.
func TestDealerRace(t *testing.T) {
	r := newTestRouter(t)
	const callers, calls = 4, 150
	var wg sync.WaitGroup
	stop := make(chan struct{})
	// Callees answer from their own goroutines (as their loops would).
	for i := range 3 {
		callee := joinWith(t, r, codec.MsgPack, "call_canceling")
		callee.registerWith(1, "com.race", opt("invoke", "roundrobin"))
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mu sync.Mutex
			n := 0
			for {
				select {
				case <-stop:
					return
				default:
				}
				mu.Lock()
				m := callee.next()
				mu.Unlock()
				if m == nil {
					time.Sleep(50 * time.Microsecond)
					continue
				}
				if m.Type != codec.Invocation {
					continue
				}
				n++
				if n%3 == 0 {
					callee.send(yieldMsg(m.Request, []any{1}, opt("progress", true)))
				}
				callee.send(yieldMsg(m.Request, []any{2}))
				if i == 2 && n == 40 {
					callee.peer.Closed() // one callee vanishes mid-run
					return
				}
			}
		}()
	}
	done := make(chan int, callers)
	for range callers {
		caller := join(t, r, codec.JSON, "realm1")
		go func() {
			answered := map[codec.ID]bool{}
			for n := range calls {
				req := codec.ID(n + 1)
				opts := []codec.Field{opt("receive_progress", true)}
				if n%5 == 0 {
					opts = append(opts, opt("timeout", 1))
				}
				caller.send(callMsg(req, "com.race", nil, opts...))
				if n%7 == 0 {
					caller.send(&codec.Message{Type: codec.Cancel, Request: req})
				}
			}
			deadline := time.Now().Add(10 * time.Second)
			for len(answered) < calls && time.Now().Before(deadline) {
				m := caller.next()
				if m == nil {
					time.Sleep(time.Millisecond)
					continue
				}
				if m.Type == codec.Result && details(t, m)["progress"] == true {
					if answered[m.Request] {
						t.Errorf("progress after the final answer of %d", m.Request)
					}
					continue
				}
				if answered[m.Request] {
					t.Errorf("two final answers for %d", m.Request)
				}
				answered[m.Request] = true
			}
			done <- len(answered)
		}()
	}
	for range callers {
		if n := <-done; n != calls {
			t.Errorf("a caller got %d of %d answers", n, calls)
		}
	}
	close(stop)
	wg.Wait()
}

// TestAdvancedCallAllocs: shared and pattern registrations and progressive
// results keep the call path free of allocations (pattern matches come from
// the generation-checked cache).
func TestAdvancedCallAllocs(t *testing.T) {
	for _, tc := range []struct {
		name, proc, call string
		regOpts          []codec.Field
		callOpts         []codec.Field
		callees          int
		progress         bool
	}{
		{name: "roundrobin", proc: "com.rr", call: "com.rr", regOpts: []codec.Field{opt("invoke", "roundrobin")}, callees: 3},
		{name: "prefix", proc: "com.pre.", call: "com.pre.x", regOpts: []codec.Field{opt("match", "prefix")}, callees: 1},
		{name: "wildcard", proc: "com..x", call: "com.a.x", regOpts: []codec.Field{opt("match", "wildcard")}, callees: 1},
		{name: "progressive", proc: "com.p", call: "com.p", callOpts: []codec.Field{opt("receive_progress", true), opt("disclose_me", true)}, callees: 1, progress: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newTestRouter(t)
			k := codec.MsgPack
			var sinks []*sinkConn
			var peers []Peer
			for range tc.callees {
				c, p := joinSink(t, r, k)
				reg := &codec.Message{Type: codec.Register, Request: 1, URI: []byte(tc.proc)}
				reg.Details.Fields = tc.regOpts
				p.Handle(mustEncode(t, k, reg))
				sinks, peers = append(sinks, c), append(peers, p)
			}
			callerConn, caller := joinSink(t, r, k)
			call := mustEncode(t, k, callMsg(1, tc.call, []any{1, "two"}, tc.callOpts...))
			// YIELDs with pre-encoded payloads: re-encoding them must not be what allocates.
			rawArgs, _ := codec.AppendAny(k, nil, []any{"ok"})
			prog := &codec.Message{Type: codec.Yield, Args: rawArgs, PayloadKind: k}
			prog.Details.Fields = []codec.Field{{Key: "progress", Value: codec.BoolValue(true)}}
			final := &codec.Message{Type: codec.Yield, Args: rawArgs, PayloadKind: k}
			var inv codec.Message
			buf := make([]byte, 0, 256)
			counts := make([]int, len(sinks))
			for i, s := range sinks {
				counts[i] = s.count
			}
			rt := func() {
				caller.Handle(call)
				for i, s := range sinks {
					if s.count == counts[i] {
						continue
					}
					counts[i] = s.count
					if err := codec.Decode(k, s.last, &inv); err != nil || inv.Type != codec.Invocation {
						panic(fmt.Sprintf("no invocation: %v", err))
					}
					if tc.progress {
						prog.Request = inv.Request
						buf, _ = codec.Append(k, buf[:0], prog)
						peers[i].Handle(buf)
					}
					final.Request = inv.Request
					buf, _ = codec.Append(k, buf[:0], final)
					peers[i].Handle(buf)
				}
			}
			rt()
			before := callerConn.count
			if allocs := testing.AllocsPerRun(100, rt); allocs != 0 {
				t.Fatalf("%s call allocates %.1f times", tc.name, allocs)
			}
			want := 101
			if tc.progress {
				want = 202
			}
			if callerConn.count-before != want {
				t.Fatalf("caller got %d results, want %d", callerConn.count-before, want)
			}
		})
	}
}

// TestUnregisterKeepsPendingCalls: a callee that unregisters still answers
// the invocations it already got; new calls go to the other callees.
func TestUnregisterKeepsPendingCalls(t *testing.T) {
	r := newTestRouter(t)
	caller := join(t, r, codec.JSON, "realm1")
	a := join(t, r, codec.JSON, "realm1")
	b := join(t, r, codec.JSON, "realm1")
	regID := a.registerWith(1, "com.p", opt("invoke", "first"))
	b.registerWith(1, "com.p", opt("invoke", "first"))
	caller.send(callMsg(1, "com.p", nil))
	inv := a.expect(codec.Invocation)
	a.send(&codec.Message{Type: codec.Unregister, Request: 2, Registration: regID})
	a.expect(codec.Unregistered)
	caller.send(callMsg(2, "com.p", nil))
	invB := b.expect(codec.Invocation)
	a.send(yieldMsg(inv.Request, []any{"a"}))
	b.send(yieldMsg(invB.Request, []any{"b"}))
	for _, want := range []string{"a", "b"} {
		res := caller.expect(codec.Result)
		if args, _ := payload(t, res); !equalJSONish(args, []any{want}) {
			t.Fatalf("result %v, want %s", args, want)
		}
	}
}

// TestTimeoutEdges: timeout 0 means none; an enormous timeout does not
// overflow into an immediate one; a callee that refuses the INVOCATION
// fails a timed call once.
func TestTimeoutEdges(t *testing.T) {
	r := newTestRouter(t)
	caller := join(t, r, codec.JSON, "realm1")
	callee := joinWith(t, r, codec.JSON, "call_canceling")
	callee.register(1, "com.t")
	caller.send(callMsg(1, "com.t", nil, opt("timeout", 0)))
	caller.send(callMsg(2, "com.t", nil, opt("timeout", uint64(1)<<62)))
	inv1, inv2 := callee.expect(codec.Invocation), callee.expect(codec.Invocation)
	time.Sleep(30 * time.Millisecond)
	caller.expectNothing()
	callee.send(yieldMsg(inv1.Request, nil))
	callee.send(yieldMsg(inv2.Request, nil))
	caller.expect(codec.Result)
	caller.expect(codec.Result)

	callee.conn.refuse.Store(true)
	caller.send(callMsg(3, "com.t", nil, opt("timeout", 50)))
	caller.expectError(codec.Call, 3, "wamp.error.canceled")
	time.Sleep(100 * time.Millisecond)
	caller.expectNothing() // the timer was stopped: no second answer
}

// TestProgressiveStreamsBounded: progressive calls that end before their
// final chunk do not pile up in the caller's stream set.
func TestProgressiveStreamsBounded(t *testing.T) {
	r := newTestRouter(t)
	caller := joinWith(t, r, codec.MsgPack, "progressive_call_invocations")
	callee := joinWith(t, r, codec.MsgPack, "progressive_call_invocations", "call_canceling")
	callee.register(1, "com.up")
	for n := range maxStreams + 100 {
		req := codec.ID(n + 1)
		caller.send(callMsg(req, "com.up", nil, opt("progress", true)))
		inv := callee.expect(codec.Invocation)
		callee.send(&codec.Message{Type: codec.Error, ErrorType: codec.Invocation, Request: inv.Request, URI: []byte("com.fail")})
		caller.expectError(codec.Call, req, "com.fail")
	}
	s := caller.peer.(*peer).sess.Load()
	if n := len(s.dl.streams); n > maxStreams {
		t.Fatalf("%d stream entries kept for ended calls", n)
	}
	// A late chunk of an ended call is dropped, not routed as a new call.
	caller.send(callMsg(codec.ID(maxStreams+100), "com.up", []any{"late"}, opt("progress", true)))
	callee.expectNothing()
}
