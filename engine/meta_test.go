package engine

import (
	"strconv"
	"testing"
	"time"

	"github.com/wampd/wampd/codec"
)

// metaRouter serves realm1 (anonymous, plus ticket users alice (admin), bob
// and carol (user)) and realm2 (anonymous).
func metaRouter(t *testing.T) *Router {
	t.Helper()
	return newTestRouter(t,
		RealmConfig{Name: "realm1", Anonymous: true, Tickets: map[string]TicketUser{
			"alice": {Ticket: "a", Role: "admin"},
			"bob":   {Ticket: "b", Role: "user"},
			"carol": {Ticket: "c", Role: "user"},
		}},
		RealmConfig{Name: "realm2", Anonymous: true})
}

// joinTicket joins realm as a ticket user.
func joinTicket(t *testing.T, r *Router, k codec.Kind, realm, authid, ticket string) *client {
	t.Helper()
	c := connect(t, r, k)
	c.send(hello(realm, opt("authmethods", []string{"ticket"}), opt("authid", authid)))
	c.expect(codec.Challenge)
	c.send(&codec.Message{Type: codec.Authenticate, Text: []byte(ticket)})
	c.id = c.expect(codec.Welcome).Session
	return c
}

// call sends CALL and returns the RESULT or ERROR answering it.
func (c *client) call(req codec.ID, proc string, args []any, kw map[string]any) *codec.Message {
	c.t.Helper()
	c.send(&codec.Message{Type: codec.Call, Request: req, URI: []byte(proc), ArgsAny: args, KwAny: kw})
	for {
		m := c.next()
		if m == nil {
			c.t.Fatalf("no answer to CALL %s", proc)
		}
		if (m.Type == codec.Result || m.Type == codec.Error) && m.Request == req {
			return m
		}
		if m.Type != codec.Event {
			c.t.Fatalf("unexpected message type %d while waiting for the answer to %s", m.Type, proc)
		}
	}
}

// result calls proc and returns the RESULT's positional arguments.
func (c *client) result(req codec.ID, proc string, args []any, kw map[string]any) []any {
	c.t.Helper()
	m := c.call(req, proc, args, kw)
	if m.Type != codec.Result {
		a, _ := payload(c.t, m)
		c.t.Fatalf("%s: ERROR %q %v", proc, m.URI, a)
	}
	a, _ := payload(c.t, m)
	return a
}

// callErr calls proc and checks that it fails with uri.
func (c *client) callErr(req codec.ID, proc string, args []any, kw map[string]any, uri string) {
	c.t.Helper()
	m := c.call(req, proc, args, kw)
	if m.Type != codec.Error || string(m.URI) != uri || m.ErrorType != codec.Call {
		c.t.Fatalf("%s: got type %d %q, want ERROR %q", proc, m.Type, m.URI, uri)
	}
}

// event reads the next EVENT and returns its subscription and payload.
func (c *client) event() (codec.ID, []any, map[string]any, map[string]any) {
	c.t.Helper()
	m := c.expect(codec.Event)
	a, kw := payload(c.t, m)
	return m.Subscription, a, kw, details(c.t, m)
}

func idSet(v any) map[uint64]bool {
	out := map[uint64]bool{}
	l, _ := v.([]any)
	for _, e := range l {
		if n, ok := toID(e); ok {
			out[n] = true
		}
	}
	return out
}

func asInt(v any) int64 { n, _ := normalize(v).(int64); return n }

func TestMetaSessionCountListGet(t *testing.T) {
	for _, k := range []codec.Kind{codec.JSON, codec.MsgPack, codec.CBOR} {
		t.Run(k.String(), func(t *testing.T) {
			r := metaRouter(t)
			anon := join(t, r, k, "realm1")
			alice := joinTicket(t, r, codec.JSON, "realm1", "alice", "a")
			bob := joinTicket(t, r, codec.CBOR, "realm1", "bob", "b")
			other := join(t, r, codec.JSON, "realm2")

			if n := asInt(anon.result(1, "wamp.session.count", nil, nil)[0]); n != 3 {
				t.Fatalf("count = %d, want 3 (other realms and the router itself not counted)", n)
			}
			if n := asInt(anon.result(2, "wamp.session.count", []any{[]any{"admin"}}, nil)[0]); n != 1 {
				t.Fatalf("count(admin) = %d", n)
			}
			if n := asInt(anon.result(3, "wamp.session.count", []any{[]any{"admin", "user", "nobody"}}, nil)[0]); n != 2 {
				t.Fatalf("count(admin,user) = %d", n)
			}
			if n := asInt(anon.result(4, "wamp.session.count", []any{[]any{}}, nil)[0]); n != 0 {
				t.Fatalf("count([]) = %d", n)
			}
			if n := asInt(anon.result(5, "wamp.session.count", []any{nil}, nil)[0]); n != 3 {
				t.Fatalf("count(null) = %d", n)
			}
			anon.callErr(6, "wamp.session.count", []any{"admin"}, nil, "wamp.error.invalid_argument")

			ids := idSet(anon.result(7, "wamp.session.list", nil, nil)[0])
			want := map[uint64]bool{anon.id: true, alice.id: true, bob.id: true}
			if len(ids) != 3 || !ids[anon.id] || !ids[alice.id] || !ids[bob.id] {
				t.Fatalf("list = %v, want %v", ids, want)
			}
			ids = idSet(anon.result(8, "wamp.session.list", []any{[]any{"user", "anonymous"}}, nil)[0])
			if len(ids) != 2 || !ids[anon.id] || !ids[bob.id] {
				t.Fatalf("list(user,anonymous) = %v", ids)
			}

			d, _ := anon.result(9, "wamp.session.get", []any{alice.id}, nil)[0].(map[string]any)
			wantD := map[string]any{"session": alice.id, "authid": "alice", "authrole": "admin",
				"authmethod": "ticket", "authprovider": "static",
				"transport": map[string]any{"type": "test", "peer": "mem"}, "dropped_events": 0}
			if !equalJSONish(d, wantD) {
				t.Fatalf("get = %v\nwant %v", d, wantD)
			}
			d, _ = anon.result(10, "wamp.session.get", []any{anon.id}, nil)[0].(map[string]any)
			if asInt(d["session"]) != int64(anon.id) || d["authrole"] != "anonymous" || d["authmethod"] != "anonymous" {
				t.Fatalf("get(self) = %v", d)
			}
			anon.callErr(11, "wamp.session.get", []any{other.id}, nil, "wamp.error.no_such_session")
			anon.callErr(12, "wamp.session.get", []any{12345}, nil, "wamp.error.no_such_session")
			anon.callErr(13, "wamp.session.get", []any{"x"}, nil, "wamp.error.invalid_argument")
			anon.callErr(14, "wamp.session.get", nil, nil, "wamp.error.invalid_argument")

			// The other realm sees only itself.
			if ids := idSet(other.result(1, "wamp.session.list", nil, nil)[0]); len(ids) != 1 || !ids[other.id] {
				t.Fatalf("realm2 list = %v", ids)
			}
		})
	}
}

func TestMetaSessionJoinLeaveEvents(t *testing.T) {
	r := metaRouter(t)
	watcher := join(t, r, codec.JSON, "realm1")
	joinSub := watcher.subscribe(1, "wamp.session.on_join")
	leaveSub := watcher.subscribe(2, "wamp.session.on_leave")
	watcher2 := join(t, r, codec.CBOR, "realm2")
	watcher2.subscribe(1, "wamp.session.on_join")
	watcher2.subscribe(2, "wamp.session.on_leave")

	alice := joinTicket(t, r, codec.MsgPack, "realm1", "alice", "a")
	sub, args, _, _ := watcher.event()
	if sub != joinSub || len(args) != 1 {
		t.Fatalf("on_join sub %d args %v", sub, args)
	}
	want := map[string]any{"session": alice.id, "authid": "alice", "authrole": "admin",
		"authmethod": "ticket", "authprovider": "static",
		"transport": map[string]any{"type": "test", "peer": "mem"}}
	if !equalJSONish(args[0], want) {
		t.Fatalf("on_join details %v\nwant %v", args[0], want)
	}
	alice.expectNothing() // its own on_join is not for it

	// GOODBYE: on_leave [session, authid, authrole].
	alice.send(&codec.Message{Type: codec.Goodbye, URI: []byte("wamp.close.close_realm")})
	alice.expect(codec.Goodbye)
	sub, args, _, _ = watcher.event()
	if sub != leaveSub || !equalJSONish(args, []any{alice.id, "alice", "admin"}) {
		t.Fatalf("on_leave sub %d args %v", sub, args)
	}

	// Transport lost: on_leave too, once.
	anon := join(t, r, codec.JSON, "realm1")
	watcher.event()
	anon.peer.Closed()
	_, args, _, _ = watcher.event()
	// An anonymous session's authid is its session ID as a string.
	if len(args) != 3 || asInt(args[0]) != int64(anon.id) || args[1] != strconv.FormatUint(anon.id, 10) || args[2] != "anonymous" {
		t.Fatalf("on_leave after transport loss %v", args)
	}
	watcher.expectNothing()

	// ABORT and protocol violation end sessions too.
	ab := join(t, r, codec.JSON, "realm1")
	watcher.event()
	ab.send(&codec.Message{Type: codec.Abort, URI: []byte("wamp.close.bye")})
	_, args, _, _ = watcher.event()
	if asInt(args[0]) != int64(ab.id) {
		t.Fatalf("on_leave after ABORT %v", args)
	}
	bad := join(t, r, codec.JSON, "realm1")
	watcher.event()
	bad.send(&codec.Message{Type: codec.Hello, URI: []byte("realm1")})
	bad.expectAbort("wamp.error.protocol_violation")
	_, args, _, _ = watcher.event()
	if asInt(args[0]) != int64(bad.id) {
		t.Fatalf("on_leave after violation %v", args)
	}

	// Nothing of realm1 reached realm2's watcher.
	watcher2.expectNothing()
	watcher.expectNothing()

	// Shutdown: every remaining session leaves; nobody is left to be told,
	// and nothing breaks.
	shutdownNow(r)
}

func TestMetaEventsReachPatternSubscriptions(t *testing.T) {
	r := metaRouter(t)
	w := join(t, r, codec.JSON, "realm1")
	w.send(&codec.Message{Type: codec.Subscribe, Request: 1, URI: []byte("wamp.session."),
		Details: codec.Dict{Fields: []codec.Field{opt("match", "prefix")}}})
	w.expect(codec.Subscribed)
	w.send(&codec.Message{Type: codec.Subscribe, Request: 2, URI: []byte("wamp..on_leave"),
		Details: codec.Dict{Fields: []codec.Field{opt("match", "wildcard")}}})
	w.expect(codec.Subscribed)
	c := join(t, r, codec.MsgPack, "realm1")
	_, _, _, d := w.event()
	if d["topic"] != "wamp.session.on_join" {
		t.Fatalf("prefix match details %v", d)
	}
	c.send(&codec.Message{Type: codec.Goodbye, URI: []byte("wamp.close.close_realm")})
	c.expect(codec.Goodbye)
	topics := map[any]bool{}
	for i := 0; i < 2; i++ {
		_, _, _, d := w.event()
		topics[d["topic"]] = true
	}
	if !topics["wamp.session.on_leave"] || len(topics) != 1 {
		t.Fatalf("on_leave via prefix and wildcard: %v", topics)
	}
	w.expectNothing()
}

func TestMetaReservedURIs(t *testing.T) {
	r := metaRouter(t)
	w := join(t, r, codec.JSON, "realm1")
	w.subscribe(1, "wamp.session.on_leave")
	c := join(t, r, codec.JSON, "realm1")

	// A client cannot fake a meta event...
	c.send(publishMsg(1, "wamp.session.on_leave", []any{1, "x", "y"}, nil, opt("acknowledge", true)))
	c.expectError(codec.Publish, 1, "wamp.error.invalid_uri")
	c.send(publishMsg(2, "wamp.session.on_leave", []any{1, "x", "y"}, nil))
	c.expectNothing()
	w.expectNothing()
	// ...nor take over a meta procedure or anything else under wamp.
	c.send(&codec.Message{Type: codec.Register, Request: 3, URI: []byte("wamp.session.count")})
	c.expectError(codec.Register, 3, "wamp.error.invalid_uri")
	c.send(&codec.Message{Type: codec.Register, Request: 4, URI: []byte("wamp.my.proc")})
	c.expectError(codec.Register, 4, "wamp.error.invalid_uri")
	// An unknown wamp. procedure is just not there.
	c.callErr(5, "wamp.session.no_such_thing", nil, nil, "wamp.error.no_such_procedure")
	// Ordinary URIs are unaffected.
	c.register(6, "wampish.proc")
}

func TestMetaAuthorizer(t *testing.T) {
	az := StaticAuthorizer{
		"anonymous": {{Prefix: "wamp.session.count", Actions: ActionCall}, {Prefix: "wamp.session.on_", Actions: ActionSubscribe}},
	}
	r := newTestRouter(t, RealmConfig{Name: "realm1", Anonymous: true, Authorizer: az})
	c := join(t, r, codec.JSON, "realm1")
	if n := asInt(c.result(1, "wamp.session.count", nil, nil)[0]); n != 1 {
		t.Fatalf("count %d", n)
	}
	c.callErr(2, "wamp.session.kill_all", nil, nil, "wamp.error.not_authorized")
	c.callErr(3, "wamp.session.list", nil, nil, "wamp.error.not_authorized")
}

// TestMetaEventsWithAuthorizer: meta events come from the router itself, so
// a realm Authorizer that knows nothing of the router's role still lets
// them through to the subscribers it allowed.
func TestMetaEventsWithAuthorizer(t *testing.T) {
	az := StaticAuthorizer{"anonymous": {{Prefix: "wamp.session.on_", Actions: ActionSubscribe}}}
	r := newTestRouter(t, RealmConfig{Name: "realm1", Anonymous: true, Authorizer: az})
	w := join(t, r, codec.JSON, "realm1")
	w.subscribe(1, "wamp.session.on_join")
	c := join(t, r, codec.JSON, "realm1")
	_, args, _, _ := w.event()
	if d, _ := args[0].(map[string]any); asInt(d["session"]) != int64(c.id) {
		t.Fatalf("on_join %v", args)
	}
}

func goodbyeDetails(t *testing.T, g *codec.Message) map[string]any { return details(t, g) }

func TestMetaSessionKill(t *testing.T) {
	r := metaRouter(t)
	killer := join(t, r, codec.JSON, "realm1")
	w := join(t, r, codec.JSON, "realm1")
	w.subscribe(1, "wamp.session.on_leave")
	w.subscribe(2, "com.news")
	victim := joinTicket(t, r, codec.MsgPack, "realm1", "bob", "b")
	victim.subscribe(1, "com.news")
	victim.register(2, "com.victim.proc")
	outsider := join(t, r, codec.JSON, "realm2")

	killer.callErr(1, "wamp.session.kill", []any{killer.id}, nil, "wamp.error.no_such_session")
	killer.callErr(2, "wamp.session.kill", []any{outsider.id}, nil, "wamp.error.no_such_session")
	killer.callErr(3, "wamp.session.kill", []any{999}, nil, "wamp.error.no_such_session")
	killer.callErr(4, "wamp.session.kill", []any{victim.id}, map[string]any{"reason": "not a uri!"}, "wamp.error.invalid_uri")
	killer.callErr(5, "wamp.session.kill", []any{victim.id}, map[string]any{"message": 5}, "wamp.error.invalid_argument")
	killer.callErr(6, "wamp.session.kill", nil, nil, "wamp.error.invalid_argument")
	victim.expectNothing()
	outsider.expectNothing()

	m := killer.call(7, "wamp.session.kill", []any{victim.id}, map[string]any{"reason": "com.myapp.kicked", "message": "go away"})
	if m.Type != codec.Result {
		t.Fatalf("kill answered %d %q", m.Type, m.URI)
	}
	g := victim.expect(codec.Goodbye)
	if string(g.URI) != "com.myapp.kicked" || goodbyeDetails(t, g)["message"] != "go away" {
		t.Fatalf("GOODBYE %q %v", g.URI, goodbyeDetails(t, g))
	}
	_, args, _, _ := w.event()
	if !equalJSONish(args, []any{victim.id, "bob", "user"}) {
		t.Fatalf("on_leave %v", args)
	}
	// Gone at once: not counted, no events, no invocations, even before it
	// answers the GOODBYE.
	if n := asInt(killer.result(8, "wamp.session.count", nil, nil)[0]); n != 2 {
		t.Fatalf("count after kill %d", n)
	}
	killer.send(publishMsg(9, "com.news", []any{"x"}, nil))
	w.event()
	victim.expectNothing()
	if m := killer.call(10, "com.victim.proc", nil, nil); m.Type != codec.Error {
		t.Fatalf("call to a killed callee answered %d", m.Type)
	}
	victim.expectNothing()
	// Its reply finishes it; the transport may join again.
	victim.send(&codec.Message{Type: codec.Goodbye, URI: []byte("wamp.close.goodbye_and_out")})
	victim.expectNothing()
	if victim.conn.isClosed() {
		t.Fatal("transport closed after the GOODBYE exchange")
	}
	victim.send(hello("realm1"))
	victim.expect(codec.Welcome)
	w.expectNothing() // on_leave was published once
	killer.callErr(11, "wamp.session.call_me_maybe", nil, nil, "wamp.error.no_such_procedure")
	w.register(3, "com.victim.proc") // the registration was released

	// Default reason, no message.
	v2 := join(t, r, codec.CBOR, "realm1")
	killer.result(12, "wamp.session.kill", []any{v2.id}, nil)
	g = v2.expect(codec.Goodbye)
	if string(g.URI) != "wamp.close.normal" {
		t.Fatalf("default reason %q", g.URI)
	}
	if _, has := goodbyeDetails(t, g)["message"]; has {
		t.Fatal("message in GOODBYE without a message argument")
	}
	// A second kill of the same session finds nothing.
	killer.callErr(13, "wamp.session.kill", []any{v2.id}, nil, "wamp.error.no_such_session")
	v2.send(&codec.Message{Type: codec.Abort, URI: []byte("wamp.close.bye")}) // ABORT also ends it
	if !v2.conn.isClosed() {
		t.Fatal("ABORT after kill left the transport open")
	}
}

func TestMetaSessionKillPendingInvocation(t *testing.T) {
	r := metaRouter(t)
	killer := join(t, r, codec.JSON, "realm1")
	caller := join(t, r, codec.JSON, "realm1")
	callee := join(t, r, codec.JSON, "realm1")
	callee.register(1, "com.slow")
	caller.send(&codec.Message{Type: codec.Call, Request: 1, URI: []byte("com.slow")})
	callee.expect(codec.Invocation)
	killer.result(1, "wamp.session.kill", []any{callee.id}, nil)
	callee.expect(codec.Goodbye)
	callee.send(&codec.Message{Type: codec.Goodbye, URI: []byte("wamp.close.goodbye_and_out")})
	caller.expectError(codec.Call, 1, "wamp.error.canceled")
}

func TestMetaSessionKillUnansweredCloses(t *testing.T) {
	old := killGrace
	killGrace = 20 * time.Millisecond
	defer func() { killGrace = old }()
	r := metaRouter(t)
	killer := join(t, r, codec.JSON, "realm1")
	rude := join(t, r, codec.JSON, "realm1")
	rude.subscribe(1, "com.x")
	killer.result(1, "wamp.session.kill", []any{rude.id}, nil)
	rude.expect(codec.Goodbye)
	waitFor(t, rude.conn.isClosed)
	rude.peer.Closed() // what the transport does next: loop-owned cleanup
	killer.send(publishMsg(2, "com.x", []any{1}, nil))
	rude.expectNothing()

	// A client that answers in time keeps its transport.
	polite := join(t, r, codec.JSON, "realm1")
	killer.result(3, "wamp.session.kill", []any{polite.id}, nil)
	polite.expect(codec.Goodbye)
	polite.send(&codec.Message{Type: codec.Goodbye, URI: []byte("wamp.close.goodbye_and_out")})
	polite.send(hello("realm1"))
	polite.expect(codec.Welcome)
	time.Sleep(60 * time.Millisecond)
	if polite.conn.isClosed() {
		t.Fatal("grace timer closed a transport whose new session is fine")
	}
}

func TestMetaSessionKillBy(t *testing.T) {
	r := metaRouter(t)
	admin := joinTicket(t, r, codec.JSON, "realm1", "alice", "a")
	admin2 := joinTicket(t, r, codec.JSON, "realm1", "alice", "a")
	bob := joinTicket(t, r, codec.MsgPack, "realm1", "bob", "b")
	carol := joinTicket(t, r, codec.CBOR, "realm1", "carol", "c")
	anon := join(t, r, codec.JSON, "realm1")
	outsider := joinTicket(t, r, codec.JSON, "realm1", "bob", "b") // same authid as bob
	far := join(t, r, codec.JSON, "realm2")

	admin.callErr(1, "wamp.session.kill_by_authid", nil, nil, "wamp.error.invalid_argument")
	admin.callErr(2, "wamp.session.kill_by_authid", []any{"bob"}, map[string]any{"reason": ""}, "wamp.error.invalid_uri")

	// The caller is never killed by kill_by_*, even when it matches.
	if n := asInt(admin.result(3, "wamp.session.kill_by_authid", []any{"alice"}, map[string]any{"message": "bye"})[0]); n != 1 {
		t.Fatalf("kill_by_authid(alice) = %d, want 1 (the caller excluded)", n)
	}
	g := admin2.expect(codec.Goodbye)
	if string(g.URI) != "wamp.close.normal" || details(t, g)["message"] != "bye" {
		t.Fatalf("GOODBYE %q %v", g.URI, details(t, g))
	}
	admin.expectNothing()

	if n := asInt(admin.result(4, "wamp.session.kill_by_authid", []any{"bob"}, nil)[0]); n != 2 {
		t.Fatalf("kill_by_authid(bob) = %d", n)
	}
	bob.expect(codec.Goodbye)
	outsider.expect(codec.Goodbye)

	if n := asInt(admin.result(5, "wamp.session.kill_by_authrole", []any{"user"}, map[string]any{"reason": "wamp.close.killed"})[0]); n != 1 {
		t.Fatalf("kill_by_authrole(user) = %d", n)
	}
	if g := carol.expect(codec.Goodbye); string(g.URI) != "wamp.close.killed" {
		t.Fatalf("GOODBYE %q", g.URI)
	}
	if n := asInt(admin.result(6, "wamp.session.kill_by_authrole", []any{"admin"}, nil)[0]); n != 0 {
		t.Fatalf("kill_by_authrole(admin) = %d (caller excluded)", n)
	}
	if n := asInt(admin.result(7, "wamp.session.kill_by_authrole", []any{"nobody"}, nil)[0]); n != 0 {
		t.Fatalf("kill_by_authrole(nobody) = %d", n)
	}
	if n := asInt(admin.result(8, "wamp.session.kill_all", nil, nil)[0]); n != 1 {
		t.Fatalf("kill_all = %d", n)
	}
	anon.expect(codec.Goodbye)
	far.expectNothing() // never another realm's sessions
	if n := asInt(admin.result(9, "wamp.session.count", nil, nil)[0]); n != 1 {
		t.Fatalf("count after kills %d", n)
	}
}

func TestMetaTestaments(t *testing.T) {
	r := metaRouter(t)
	w := join(t, r, codec.JSON, "realm1")
	destroyedSub := w.subscribe(1, "com.t.destroyed")
	detachedSub := w.subscribe(2, "com.t.detached")
	leaveSub := w.subscribe(3, "wamp.session.on_leave")
	far := join(t, r, codec.JSON, "realm2")
	far.subscribe(1, "com.t.destroyed")

	c := join(t, r, codec.MsgPack, "realm1")
	if a := c.result(1, "wamp.session.add_testament", []any{"com.t.destroyed", []any{"seeya", 1}, map[string]any{"who": "c"}}, nil); len(a) != 0 {
		t.Fatalf("add_testament returned %v", a)
	}
	c.result(2, "wamp.session.add_testament", []any{"com.t.detached", []any{"first"}, map[string]any{}}, map[string]any{"scope": "detached"})
	c.result(3, "wamp.session.add_testament", []any{"com.t.destroyed", []any{"second"}}, map[string]any{"scope": "destroyed", "publish_options": map[string]any{"acknowledge": true}})
	c.result(4, "wamp.session.add_testament", []any{"com.t.destroyed"}, nil)

	c.callErr(5, "wamp.session.add_testament", []any{"com.t.x"}, map[string]any{"scope": "forever"}, "wamp.error.invalid_argument")
	c.callErr(6, "wamp.session.add_testament", []any{"not a uri"}, nil, "wamp.error.invalid_uri")
	c.callErr(7, "wamp.session.add_testament", []any{"wamp.session.on_leave", []any{1}}, nil, "wamp.error.invalid_uri")
	c.callErr(8, "wamp.session.add_testament", []any{"com.t.x", "notalist"}, nil, "wamp.error.invalid_argument")
	c.callErr(9, "wamp.session.add_testament", []any{"com.t.x", []any{}, []any{}}, nil, "wamp.error.invalid_argument")
	c.callErr(10, "wamp.session.add_testament", nil, nil, "wamp.error.invalid_argument")
	c.callErr(11, "wamp.session.add_testament", []any{"com.t.x"}, map[string]any{"publish_options": 3}, "wamp.error.invalid_argument")
	w.expectNothing()

	c.send(&codec.Message{Type: codec.Goodbye, URI: []byte("wamp.close.close_realm")})
	c.expect(codec.Goodbye)
	// detached scope first, then destroyed in the order added, then on_leave.
	sub, args, kw, _ := w.event()
	if sub != detachedSub || !equalJSONish(args, []any{"first"}) || len(kw) != 0 {
		t.Fatalf("first testament: sub %d %v %v", sub, args, kw)
	}
	sub, args, kw, _ = w.event()
	if sub != destroyedSub || !equalJSONish(args, []any{"seeya", 1}) || !equalJSONish(kw, map[string]any{"who": "c"}) {
		t.Fatalf("second testament: sub %d %v %v", sub, args, kw)
	}
	sub, args, _, _ = w.event()
	if sub != destroyedSub || !equalJSONish(args, []any{"second"}) {
		t.Fatalf("third testament: sub %d %v", sub, args)
	}
	sub, args, kw, _ = w.event()
	if sub != destroyedSub || len(args) != 0 || len(kw) != 0 {
		t.Fatalf("fourth testament: sub %d %v %v", sub, args, kw)
	}
	if sub, _, _, _ = w.event(); sub != leaveSub {
		t.Fatalf("on_leave expected, got sub %d", sub)
	}
	w.expectNothing()
	far.expectNothing() // testaments stay in their realm

	// A rejoined session starts without testaments.
	c.send(hello("realm1"))
	c.expect(codec.Welcome)
	c.send(&codec.Message{Type: codec.Goodbye, URI: []byte("wamp.close.close_realm")})
	c.expect(codec.Goodbye)
	if sub, _, _, _ = w.event(); sub != leaveSub {
		t.Fatalf("only on_leave expected, got sub %d", sub)
	}
	w.expectNothing()
}

func TestMetaFlushTestaments(t *testing.T) {
	r := metaRouter(t)
	w := join(t, r, codec.JSON, "realm1")
	w.subscribe(1, "com.t")
	c := join(t, r, codec.CBOR, "realm1")
	for i := 0; i < 2; i++ {
		c.result(codec.ID(1+i), "wamp.session.add_testament", []any{"com.t", []any{"destroyed"}}, nil)
	}
	c.result(3, "wamp.session.add_testament", []any{"com.t", []any{"detached"}}, map[string]any{"scope": "detached"})
	if n := asInt(c.result(4, "wamp.session.flush_testaments", nil, nil)[0]); n != 2 {
		t.Fatalf("flush (default destroyed) = %d", n)
	}
	if n := asInt(c.result(5, "wamp.session.flush_testaments", nil, map[string]any{"scope": "destroyed"})[0]); n != 0 {
		t.Fatalf("second flush = %d", n)
	}
	c.callErr(6, "wamp.session.flush_testaments", nil, map[string]any{"scope": "x"}, "wamp.error.invalid_argument")
	c.peer.Closed() // transport lost: the detached testament is still published
	_, args, _, _ := w.event()
	if !equalJSONish(args, []any{"detached"}) {
		t.Fatalf("testament after transport loss %v", args)
	}
	w.expectNothing()

	d := join(t, r, codec.JSON, "realm1")
	d.result(1, "wamp.session.add_testament", []any{"com.t", []any{"x"}}, map[string]any{"scope": "detached"})
	if n := asInt(d.result(2, "wamp.session.flush_testaments", []any{"detached"}, nil)[0]); n != 1 {
		t.Fatalf("flush(detached) = %d", n)
	}
	d.peer.Closed()
	w.expectNothing()

	// The per-scope bound.
	e := join(t, r, codec.JSON, "realm1")
	for i := 0; i < maxTestaments; i++ {
		e.result(codec.ID(1+i), "wamp.session.add_testament", []any{"com.t"}, nil)
	}
	e.callErr(1000, "wamp.session.add_testament", []any{"com.t"}, nil, "wamp.error.invalid_argument")
	e.result(1001, "wamp.session.add_testament", []any{"com.t"}, map[string]any{"scope": "detached"})
}

func TestMetaTestamentOfKilledSession(t *testing.T) {
	r := metaRouter(t)
	w := join(t, r, codec.JSON, "realm1")
	w.subscribe(1, "com.last.words")
	killer := join(t, r, codec.JSON, "realm1")
	v := join(t, r, codec.JSON, "realm1")
	v.result(1, "wamp.session.add_testament", []any{"com.last.words", []any{"killed"}}, nil)
	killer.result(1, "wamp.session.kill", []any{v.id}, nil)
	_, args, _, _ := w.event()
	if !equalJSONish(args, []any{"killed"}) {
		t.Fatalf("testament %v", args)
	}
	v.expect(codec.Goodbye)
	v.send(&codec.Message{Type: codec.Goodbye, URI: []byte("wamp.close.goodbye_and_out")})
	w.expectNothing() // published once
}

// TestMetaURICheckNoAlloc: the wamp. check is the only cost
// a normal CALL pays, and it allocates nothing (the RPC path's own alloc
// guard is in bench_test.go).
func TestMetaURICheckNoAlloc(t *testing.T) {
	u := []byte("com.myapp.proc")
	if n := testing.AllocsPerRun(100, func() { _ = isMetaURI(u) }); n != 0 {
		t.Fatalf("isMetaURI allocates %v", n)
	}
	if isMetaURI([]byte("wamp")) || isMetaURI([]byte("wamp.")) || !isMetaURI([]byte("wamp.x")) || isMetaURI([]byte("wampx.y")) {
		t.Fatal("isMetaURI wrong")
	}
}

// TestMetaConcurrentJoinLeaveKill races joins, leaves, kills and meta calls
// on different goroutines (like event loops), for the race detector.
func TestMetaConcurrentJoinLeaveKill(t *testing.T) {
	r := metaRouter(t)
	w := join(t, r, codec.JSON, "realm1")
	w.subscribe(1, "wamp.session.on_join")
	w.subscribe(2, "wamp.session.on_leave")
	const n = 8
	done := make(chan *client, n)
	for i := 0; i < n; i++ {
		go func() {
			c := join(t, r, codec.JSON, "realm1")
			c.send(&codec.Message{Type: codec.Call, Request: 1, URI: []byte("wamp.session.add_testament"), ArgsAny: []any{"com.t"}})
			c.send(&codec.Message{Type: codec.Call, Request: 2, URI: []byte("wamp.session.list")})
			done <- c
		}()
	}
	var cs []*client
	for i := 0; i < n; i++ {
		cs = append(cs, <-done)
	}
	killerDone := make(chan struct{})
	go func() {
		defer close(killerDone)
		k := join(t, r, codec.JSON, "realm1")
		k.send(&codec.Message{Type: codec.Call, Request: 1, URI: []byte("wamp.session.kill_all")})
	}()
	for _, c := range cs {
		go c.peer.Closed()
	}
	<-killerDone
	waitFor(t, func() bool { return r.realms["realm1"].sessionCount() <= 2 })
}

// TestMetaJoinLeaveOrderWhenRacing: a session that leaves (transport lost)
// while the goroutine that joined it has not yet published on_join (an
// Authenticator answering off the loop) still yields on_join, then on_leave.
func TestMetaJoinLeaveOrderWhenRacing(t *testing.T) {
	r := metaRouter(t)
	w := join(t, r, codec.JSON, "realm1")
	joinSub := w.subscribe(1, "wamp.session.on_join")
	leaveSub := w.subscribe(2, "wamp.session.on_leave")
	rl := r.realms["realm1"]
	c := &fakeConn{kind: codec.JSON}
	p := r.Attach(c).(*peer)
	s := rl.join(p, 42, Identity{AuthID: "late", AuthRole: "anonymous"})
	s.detach() // the loop's Closed wins the race
	w.expectNothing()
	s.publishJoin()
	if sub, args, _, _ := w.event(); sub != joinSub || asInt(args[0].(map[string]any)["session"]) != 42 {
		t.Fatalf("first event sub %d %v, want on_join", sub, args)
	}
	if sub, args, _, _ := w.event(); sub != leaveSub || !equalJSONish(args, []any{42, "late", "anonymous"}) {
		t.Fatalf("second event sub %d %v, want on_leave", sub, args)
	}
	w.expectNothing()
	s.detach() // idempotent
	w.expectNothing()
}

// TestMetaTestamentPublishOptions: a testament's publish_options are the
// PUBLISH options of its event (here black/whitelisting and retention).
func TestMetaTestamentPublishOptions(t *testing.T) {
	r := metaRouter(t)
	w1 := join(t, r, codec.JSON, "realm1")
	w2 := join(t, r, codec.MsgPack, "realm1")
	w1.subscribe(1, "com.t")
	w2.subscribe(1, "com.t")
	c := join(t, r, codec.CBOR, "realm1")
	c.result(1, "wamp.session.add_testament", []any{"com.t", []any{"only w2"}}, map[string]any{"publish_options": map[string]any{"eligible": []any{w2.id}}})
	c.result(2, "wamp.session.add_testament", []any{"com.t", []any{"kept"}}, map[string]any{"publish_options": map[string]any{"exclude": []any{w1.id, w2.id}, "retain": true}})
	c.peer.Closed()
	if _, args, _, _ := w2.event(); !equalJSONish(args, []any{"only w2"}) {
		t.Fatalf("w2 got %v", args)
	}
	w1.expectNothing()
	w2.expectNothing()
	// The retained testament reaches a later subscriber that asks for it.
	late := join(t, r, codec.JSON, "realm1")
	late.send(&codec.Message{Type: codec.Subscribe, Request: 1, URI: []byte("com.t"),
		Details: codec.Dict{Fields: []codec.Field{opt("get_retained", true)}}})
	late.expect(codec.Subscribed)
	if _, args, _, _ := late.event(); !equalJSONish(args, []any{"kept"}) {
		t.Fatalf("retained testament %v", args)
	}
}

// TestMetaKillAllIsQuiet: per spec, wamp.session.kill_all publishes neither
// on_leave nor the victims' testaments; the caller survives.
func TestMetaKillAllIsQuiet(t *testing.T) {
	r := metaRouter(t)
	admin := join(t, r, codec.JSON, "realm1")
	admin.subscribe(1, "wamp.session.on_leave")
	admin.subscribe(2, "com.t")
	v1 := join(t, r, codec.JSON, "realm1")
	v2 := join(t, r, codec.MsgPack, "realm1")
	v1.result(1, "wamp.session.add_testament", []any{"com.t", []any{"x"}}, nil)
	m := admin.call(3, "wamp.session.kill_all", nil, map[string]any{"reason": "wamp.close.system_shutdown", "message": "maintenance"})
	if a, _ := payload(t, m); m.Type != codec.Result || !equalJSONish(a, []any{2}) {
		t.Fatalf("kill_all answered %d %v", m.Type, a)
	}
	for _, v := range []*client{v1, v2} {
		g := v.expect(codec.Goodbye)
		if string(g.URI) != "wamp.close.system_shutdown" || details(t, g)["message"] != "maintenance" {
			t.Fatalf("GOODBYE %q %v", g.URI, details(t, g))
		}
		v.send(&codec.Message{Type: codec.Goodbye, URI: []byte("wamp.close.goodbye_and_out")})
	}
	admin.expectNothing()
	if n := asInt(admin.result(4, "wamp.session.count", nil, nil)[0]); n != 1 {
		t.Fatalf("count after kill_all %d", n)
	}
}

// TestMetaKilledCalleeSkipped: a killed callee of a shared registration gets
// no more invocations while it finishes leaving; the other callee serves.
func TestMetaKilledCalleeSkipped(t *testing.T) {
	r := metaRouter(t)
	killer := join(t, r, codec.JSON, "realm1")
	a := join(t, r, codec.JSON, "realm1")
	b := join(t, r, codec.JSON, "realm1")
	for _, c := range []*client{a, b} {
		c.send(&codec.Message{Type: codec.Register, Request: 1, URI: []byte("com.shared"),
			Details: codec.Dict{Fields: []codec.Field{opt("invoke", "roundrobin")}}})
		c.expect(codec.Registered)
	}
	killer.result(1, "wamp.session.kill", []any{a.id}, nil)
	a.expect(codec.Goodbye)
	for i := codec.ID(2); i < 6; i++ {
		killer.send(&codec.Message{Type: codec.Call, Request: i, URI: []byte("com.shared")})
		inv := b.expect(codec.Invocation)
		b.send(&codec.Message{Type: codec.Yield, Request: inv.Request})
		if m := killer.expect(codec.Result); m.Request != i {
			t.Fatalf("RESULT for %d, want %d", m.Request, i)
		}
	}
	a.expectNothing()
}
