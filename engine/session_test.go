package engine

import (
	"errors"
	"sync"
	"testing"

	"github.com/wampd/wampd/codec"
)

func TestAnonymousWelcome(t *testing.T) {
	r := newTestRouter(t)
	c := connect(t, r, codec.JSON)
	c.send(hello("realm1"))
	w := c.expect(codec.Welcome)
	if w.Session < 1 || w.Session > codec.MaxID {
		t.Fatalf("session id %d out of [1, 2^53]", w.Session)
	}
	d := details(t, w)
	if d["authrole"] != "anonymous" || d["authmethod"] != "anonymous" || d["realm"] != "realm1" {
		t.Fatalf("welcome details %v", d)
	}
	if s, _ := d["authid"].(string); s == "" {
		t.Fatalf("welcome without authid: %v", d)
	}
	roles, _ := d["roles"].(map[string]any)
	broker, _ := roles["broker"].(map[string]any)
	feats, _ := broker["features"].(map[string]any)
	if feats["publisher_exclusion"] != true {
		t.Fatalf("broker features %v", roles)
	}
	if _, ok := roles["dealer"]; !ok {
		t.Fatalf("no dealer role: %v", roles)
	}
}

func TestHandshakeAborts(t *testing.T) {
	r := newTestRouter(t,
		RealmConfig{Name: "realm1", Anonymous: true},
		RealmConfig{Name: "closed", Tickets: map[string]TicketUser{"joe": {Ticket: "s3cret", Role: "user"}}},
	)
	c := connect(t, r, codec.JSON)
	c.send(hello("nope"))
	c.expectAbort("wamp.error.no_such_realm")
	if c.conn.isClosed() {
		t.Fatal("router closed the transport after ABORT no_such_realm; the client may retry")
	}
	c.send(hello("closed"))
	c.expectAbort("wamp.error.no_auth_method")
	c.send(hello("closed", opt("authmethods", []string{"anonymous"})))
	c.expectAbort("wamp.error.no_auth_method")
	c.send(hello("realm1"))
	c.expect(codec.Welcome)
}

func TestTicketAuth(t *testing.T) {
	r := newTestRouter(t, RealmConfig{Name: "realm1", Tickets: map[string]TicketUser{"joe": {Ticket: "s3cret", Role: "backend"}}})
	c := connect(t, r, codec.JSON)

	// Wrong ticket: ABORT, and the client may try again on the same transport.
	c.send(hello("realm1", opt("authmethods", []string{"ticket"}), opt("authid", "joe")))
	ch := c.expect(codec.Challenge)
	if string(ch.Text) != "ticket" {
		t.Fatalf("challenge method %q", ch.Text)
	}
	c.send(&codec.Message{Type: codec.Authenticate, Text: []byte("wrong")})
	c.expectAbort("wamp.error.authentication_failed")

	// Unknown user: indistinguishable from a wrong ticket.
	c.send(hello("realm1", opt("authmethods", []string{"ticket"}), opt("authid", "eve")))
	c.expect(codec.Challenge)
	c.send(&codec.Message{Type: codec.Authenticate, Text: []byte("s3cret")})
	c.expectAbort("wamp.error.authentication_failed")

	c.send(hello("realm1", opt("authmethods", []string{"wampcra", "ticket"}), opt("authid", "joe")))
	c.expect(codec.Challenge)
	c.send(&codec.Message{Type: codec.Authenticate, Text: []byte("s3cret")})
	w := c.expect(codec.Welcome)
	d := details(t, w)
	if d["authid"] != "joe" || d["authrole"] != "backend" || d["authmethod"] != "ticket" {
		t.Fatalf("welcome details %v", d)
	}
}

// asyncAuth answers Verify later, from another goroutine.
type asyncAuth struct {
	release chan struct{}
	done    chan struct{}
	mu      sync.Mutex
	hello   HelloInfo
}

func (a *asyncAuth) Method() string { return "async" }
func (a *asyncAuth) Begin(h *HelloInfo) (Challenge, error) {
	a.mu.Lock()
	a.hello = *h
	a.mu.Unlock()
	return asyncChallenge{a, h.AuthID}, nil
}

type asyncChallenge struct {
	a      *asyncAuth
	authid string
}

func (c asyncChallenge) Extra() map[string]any { return map[string]any{"nonce": "abc"} }
func (c asyncChallenge) Verify(in AuthenticateInfo, done func(Identity, error)) {
	go func() {
		<-c.a.release
		if in.Signature == "good" {
			done(Identity{AuthID: c.authid, AuthRole: "async-role", AuthExtra: map[string]any{"bound": true}}, nil)
		} else {
			done(Identity{}, errors.New("bad signature"))
		}
		c.a.done <- struct{}{}
	}()
}

func TestAsyncAuthenticator(t *testing.T) {
	a := &asyncAuth{release: make(chan struct{}), done: make(chan struct{}, 1)}
	r := newTestRouter(t, RealmConfig{Name: "realm1", Authenticators: []Authenticator{a}})
	c := connect(t, r, codec.JSON)
	c.send(hello("realm1", opt("authmethods", []string{"async"}), opt("authid", "ann"),
		opt("authextra", map[string]any{"pubkey": "abcd"})))
	ch := c.expect(codec.Challenge)
	if d := details(t, ch); d["nonce"] != "abc" {
		t.Fatalf("challenge extra %v", d)
	}
	c.send(&codec.Message{Type: codec.Authenticate, Text: []byte("good")})
	c.expectNothing() // the loop did not wait for the authenticator
	a.release <- struct{}{}
	<-a.done
	w := c.expect(codec.Welcome)
	d := details(t, w)
	if d["authid"] != "ann" || d["authrole"] != "async-role" || d["authmethod"] != "async" {
		t.Fatalf("welcome details %v", d)
	}
	if extra, _ := d["authextra"].(map[string]any); extra["bound"] != true {
		t.Fatalf("welcome authextra %v", d["authextra"])
	}
	a.mu.Lock()
	h := a.hello
	a.mu.Unlock()
	if h.Session != w.Session || h.AuthExtra["pubkey"] != "abcd" || h.AuthID != "ann" || h.Realm != "realm1" {
		t.Fatalf("authenticator saw %+v; welcome session %d", h, w.Session)
	}

	// A connection that goes away while Verify runs gets nothing afterwards.
	c2 := connect(t, r, codec.JSON)
	c2.send(hello("realm1", opt("authmethods", []string{"async"}), opt("authid", "bob")))
	c2.expect(codec.Challenge)
	c2.send(&codec.Message{Type: codec.Authenticate, Text: []byte("good")})
	c2.peer.Closed()
	a.release <- struct{}{}
	<-a.done
	c2.expectNothing()
	if n := r.realms["realm1"].sessionCount(); n != 1 {
		t.Fatalf("%d sessions, want 1", n)
	}

	// A message while Verify runs is a protocol violation.
	c3 := connect(t, r, codec.JSON)
	c3.send(hello("realm1", opt("authmethods", []string{"async"})))
	c3.expect(codec.Challenge)
	c3.send(&codec.Message{Type: codec.Authenticate, Text: []byte("bad")})
	c3.send(&codec.Message{Type: codec.Subscribe, Request: 1, URI: []byte("a.b")})
	c3.expectAbort("wamp.error.protocol_violation")
	a.release <- struct{}{}
	<-a.done
	c3.expectNothing()
}

func TestGoodbyeAndRejoin(t *testing.T) {
	r := newTestRouter(t)
	c := join(t, r, codec.JSON, "realm1")
	other := join(t, r, codec.JSON, "realm1")
	c.subscribe(1, "com.x")
	c.register(2, "com.proc")
	first := c.id

	c.send(&codec.Message{Type: codec.Goodbye, URI: []byte("wamp.close.close_realm")})
	g := c.expect(codec.Goodbye)
	if string(g.URI) != "wamp.close.goodbye_and_out" {
		t.Fatalf("GOODBYE reason %q", g.URI)
	}
	if c.conn.isClosed() {
		t.Fatal("router closed the transport after GOODBYE")
	}
	// The registration is gone: someone else may register it.
	other.register(3, "com.proc")
	other.send(publishMsg(4, "com.x", []any{1}, nil))

	c.send(hello("realm1"))
	w := c.expect(codec.Welcome)
	if w.Session == first {
		t.Fatal("rejoined session reuses the session ID")
	}
	c.expectNothing() // the old subscription did not survive
}

func TestPubSub(t *testing.T) {
	r := newTestRouter(t)
	pub := join(t, r, codec.JSON, "realm1")
	s1 := join(t, r, codec.JSON, "realm1")
	s2 := join(t, r, codec.JSON, "realm1")
	id1 := s1.subscribe(1, "com.myapp.topic")
	id2 := s2.subscribe(1, "com.myapp.topic")
	if id1 != id2 {
		t.Fatalf("subscribers of one topic got subscription IDs %d and %d", id1, id2)
	}
	if again := s1.subscribe(2, "com.myapp.topic"); again != id1 {
		t.Fatalf("second subscribe from one session: %d, want %d", again, id1)
	}
	pubSub := pub.subscribe(1, "com.myapp.topic")

	pub.send(publishMsg(10, "com.myapp.topic", []any{"hello", 42}, map[string]any{"k": "v"}))
	pub.expectNothing() // excluded by default, and no PUBLISHED without acknowledge
	var pubID codec.ID
	for _, s := range []*client{s1, s2} {
		ev := s.expect(codec.Event)
		if ev.Subscription != id1 {
			t.Fatalf("event subscription %d, want %d", ev.Subscription, id1)
		}
		if pubID == 0 {
			pubID = ev.Publication
		} else if ev.Publication != pubID {
			t.Fatal("subscribers saw different publication IDs")
		}
		args, kw := payload(t, ev)
		if !equalJSONish(args, []any{"hello", 42}) || !equalJSONish(kw, map[string]any{"k": "v"}) {
			t.Fatalf("event payload %v %v", args, kw)
		}
		s.expectNothing() // one event, even though s1 subscribed twice
	}

	pub.send(publishMsg(11, "com.myapp.topic", nil, nil, opt("exclude_me", false), opt("acknowledge", true)))
	ev := pub.expect(codec.Event)
	if ev.Subscription != pubSub || ev.Args != nil || ev.Kw != nil {
		t.Fatalf("own event %+v", ev)
	}
	ack := pub.expect(codec.Published)
	if ack.Request != 11 || ack.Publication != ev.Publication {
		t.Fatalf("PUBLISHED %d/%d, event publication %d", ack.Request, ack.Publication, ev.Publication)
	}
	s1.expect(codec.Event)
	s2.expect(codec.Event)

	// Unsubscribe stops events; a second unsubscribe is an error.
	s1.send(&codec.Message{Type: codec.Unsubscribe, Request: 5, Subscription: id1})
	if u := s1.expect(codec.Unsubscribed); u.Request != 5 {
		t.Fatalf("UNSUBSCRIBED for %d", u.Request)
	}
	s1.send(&codec.Message{Type: codec.Unsubscribe, Request: 6, Subscription: id1})
	s1.expectError(codec.Unsubscribe, 6, "wamp.error.no_such_subscription")
	pub.send(publishMsg(12, "com.myapp.topic", []any{1}, nil))
	s1.expectNothing()
	s2.expect(codec.Event)

	// Publishing to a topic nobody subscribed is fine; invalid URIs are not.
	pub.send(publishMsg(13, "com.nobody", nil, nil, opt("acknowledge", true)))
	pub.expect(codec.Published)
	pub.send(publishMsg(14, "com..bad", nil, nil, opt("acknowledge", true)))
	pub.expectError(codec.Publish, 14, "wamp.error.invalid_uri")
	pub.send(&codec.Message{Type: codec.Subscribe, Request: 15, URI: []byte("bad uri")})
	pub.expectError(codec.Subscribe, 15, "wamp.error.invalid_uri")
}

func TestCrossSerializerPubSub(t *testing.T) {
	r := newTestRouter(t)
	pub := join(t, r, codec.JSON, "realm1")
	subs := []*client{
		join(t, r, codec.MsgPack, "realm1"),
		join(t, r, codec.CBOR, "realm1"),
		join(t, r, codec.JSON, "realm1"),
		join(t, r, codec.MsgPack, "realm1"),
	}
	for _, s := range subs {
		s.subscribe(1, "com.mixed")
	}
	args := []any{"text", 1, -5, 2.5, true, nil, []any{"nested", map[string]any{"a": 1}}, []byte{0, 1, 2, 255}}
	kw := map[string]any{"name": "ünïcode", "n": 123456789}
	pub.send(publishMsg(1, "com.mixed", args, kw))
	// Subscribers of one serializer receive byte-identical frames: the EVENT
	// was encoded once per serializer, not once per subscriber.
	subs[0].conn.mu.Lock()
	subs[3].conn.mu.Lock()
	same := string(subs[0].conn.frames[len(subs[0].conn.frames)-1]) == string(subs[3].conn.frames[len(subs[3].conn.frames)-1])
	subs[3].conn.mu.Unlock()
	subs[0].conn.mu.Unlock()
	if !same {
		t.Fatal("two msgpack subscribers got different EVENT bytes")
	}
	for _, s := range subs {
		ev := s.expect(codec.Event)
		if ev.PayloadKind != s.conn.kind {
			t.Fatalf("%v subscriber got payload in %v", s.conn.kind, ev.PayloadKind)
		}
		gotArgs, gotKw := payload(t, ev)
		if !equalJSONish(gotArgs, args) || !equalJSONish(gotKw, kw) {
			t.Fatalf("%v subscriber payload\n got %#v %#v\nwant %#v %#v", s.conn.kind, gotArgs, gotKw, args, kw)
		}
	}
}

func TestRealmIsolation(t *testing.T) {
	r := newTestRouter(t, RealmConfig{Name: "realm1", Anonymous: true}, RealmConfig{Name: "realm2", Anonymous: true})
	a := join(t, r, codec.JSON, "realm1")
	b := join(t, r, codec.JSON, "realm2")
	a.subscribe(1, "com.topic")
	b.register(1, "com.proc")
	a.register(2, "com.proc") // same procedure in another realm: no conflict
	b.send(publishMsg(2, "com.topic", []any{1}, nil, opt("acknowledge", true)))
	b.expect(codec.Published)
	a.expectNothing()
	c := join(t, r, codec.JSON, "realm1")
	c.send(&codec.Message{Type: codec.Call, Request: 1, URI: []byte("com.proc")})
	inv := a.expect(codec.Invocation)
	b.expectNothing()
	a.send(&codec.Message{Type: codec.Yield, Request: inv.Request})
	c.expect(codec.Result)
}

func TestRPC(t *testing.T) {
	r := newTestRouter(t)
	callee := join(t, r, codec.MsgPack, "realm1")
	caller := join(t, r, codec.JSON, "realm1")
	regID := callee.register(1, "com.myapp.add2")
	callee.send(&codec.Message{Type: codec.Register, Request: 2, URI: []byte("com.myapp.add2")})
	callee.expectError(codec.Register, 2, "wamp.error.procedure_already_exists")
	caller.send(&codec.Message{Type: codec.Register, Request: 2, URI: []byte("com.myapp.add2")})
	caller.expectError(codec.Register, 2, "wamp.error.procedure_already_exists")

	caller.send(&codec.Message{Type: codec.Call, Request: 7, URI: []byte("com.myapp.add2"), ArgsAny: []any{2, 3}, KwAny: map[string]any{"x": "y"}})
	inv := callee.expect(codec.Invocation)
	if inv.Registration != regID {
		t.Fatalf("INVOCATION registration %d, want %d", inv.Registration, regID)
	}
	args, kw := payload(t, inv)
	if !equalJSONish(args, []any{2, 3}) || !equalJSONish(kw, map[string]any{"x": "y"}) {
		t.Fatalf("invocation payload %v %v", args, kw)
	}
	callee.send(&codec.Message{Type: codec.Yield, Request: inv.Request, ArgsAny: []any{5}})
	res := caller.expect(codec.Result)
	if res.Request != 7 {
		t.Fatalf("RESULT for %d", res.Request)
	}
	if args, _ := payload(t, res); !equalJSONish(args, []any{5}) {
		t.Fatalf("result args %v", args)
	}
	// A second YIELD for the same invocation is dropped, not a violation.
	callee.send(&codec.Message{Type: codec.Yield, Request: inv.Request, ArgsAny: []any{6}})
	caller.expectNothing()
	callee.expectNothing()
	if callee.conn.isClosed() {
		t.Fatal("late YIELD closed the callee")
	}

	// The same request ID may be used again once the call is answered.
	caller.send(&codec.Message{Type: codec.Call, Request: 7, URI: []byte("com.myapp.add2")})
	inv = callee.expect(codec.Invocation)
	callee.send(&codec.Message{Type: codec.Error, ErrorType: codec.Invocation, Request: inv.Request,
		URI: []byte("com.myapp.error.overflow"), ArgsAny: []any{"too big"}, KwAny: map[string]any{"max": 10}})
	e := caller.expectError(codec.Call, 7, "com.myapp.error.overflow")
	if args, kw := payload(t, e); !equalJSONish(args, []any{"too big"}) || !equalJSONish(kw, map[string]any{"max": 10}) {
		t.Fatalf("error payload %v %v", args, kw)
	}

	caller.send(&codec.Message{Type: codec.Call, Request: 8, URI: []byte("com.myapp.nothing")})
	caller.expectError(codec.Call, 8, "wamp.error.no_such_procedure")
	caller.send(&codec.Message{Type: codec.Call, Request: 9, URI: []byte("com.myapp.")})
	caller.expectError(codec.Call, 9, "wamp.error.invalid_uri")
	callee.send(&codec.Message{Type: codec.Register, Request: 3, URI: []byte("")})
	callee.expectError(codec.Register, 3, "wamp.error.invalid_uri")

	// Unregister; the second time and someone else's registration are errors.
	caller.send(&codec.Message{Type: codec.Unregister, Request: 10, Registration: regID})
	caller.expectError(codec.Unregister, 10, "wamp.error.no_such_registration")
	callee.send(&codec.Message{Type: codec.Unregister, Request: 4, Registration: regID})
	if u := callee.expect(codec.Unregistered); u.Request != 4 {
		t.Fatalf("UNREGISTERED for %d", u.Request)
	}
	callee.send(&codec.Message{Type: codec.Unregister, Request: 5, Registration: regID})
	callee.expectError(codec.Unregister, 5, "wamp.error.no_such_registration")
	caller.send(&codec.Message{Type: codec.Call, Request: 11, URI: []byte("com.myapp.add2")})
	caller.expectError(codec.Call, 11, "wamp.error.no_such_procedure")
}

func TestCalleeLeavesFailsPendingCalls(t *testing.T) {
	for _, how := range []string{"goodbye", "disconnect", "violation"} {
		t.Run(how, func(t *testing.T) {
			r := newTestRouter(t)
			callee := join(t, r, codec.JSON, "realm1")
			caller1 := join(t, r, codec.CBOR, "realm1")
			caller2 := join(t, r, codec.JSON, "realm1")
			callee.register(1, "com.slow")
			caller1.send(&codec.Message{Type: codec.Call, Request: 1, URI: []byte("com.slow")})
			caller1.send(&codec.Message{Type: codec.Call, Request: 2, URI: []byte("com.slow")})
			caller2.send(&codec.Message{Type: codec.Call, Request: 1, URI: []byte("com.slow")})
			for range 3 {
				callee.expect(codec.Invocation)
			}
			switch how {
			case "goodbye":
				callee.send(&codec.Message{Type: codec.Goodbye, URI: []byte("wamp.close.close_realm")})
			case "disconnect":
				callee.peer.Closed()
			case "violation":
				callee.sendRaw([]byte(`[99]`))
			}
			got := map[codec.ID]bool{}
			for range 2 {
				e := caller1.expect(codec.Error)
				if e.ErrorType != codec.Call || string(e.URI) != "wamp.error.canceled" {
					t.Fatalf("caller got ERROR %d %q", e.ErrorType, e.URI)
				}
				got[e.Request] = true
			}
			if !got[1] || !got[2] {
				t.Fatalf("canceled requests %v, want 1 and 2", got)
			}
			e := caller2.expectError(codec.Call, 1, "wamp.error.canceled")
			if args, _ := payload(t, e); !equalJSONish(args, []any{"callee disconnected"}) {
				t.Fatalf("canceled args %v", args)
			}
			caller2.send(&codec.Message{Type: codec.Call, Request: 2, URI: []byte("com.slow")})
			caller2.expectError(codec.Call, 2, "wamp.error.no_such_procedure")
		})
	}
}

func TestUnsupportedPolicies(t *testing.T) {
	r := newTestRouter(t)
	c := join(t, r, codec.JSON, "realm1")
	c.send(&codec.Message{Type: codec.Subscribe, Request: 1, URI: []byte("com."), Details: codec.Dict{Fields: []codec.Field{opt("match", "regex")}}})
	c.expectError(codec.Subscribe, 1, "wamp.error.invalid_argument")
	c.send(&codec.Message{Type: codec.Register, Request: 2, URI: []byte("com.p"), Details: codec.Dict{Fields: []codec.Field{opt("invoke", "nonsense")}}})
	c.expectError(codec.Register, 2, "wamp.error.invalid_argument")
	c.send(&codec.Message{Type: codec.Subscribe, Request: 3, URI: []byte("com.t"), Details: codec.Dict{Fields: []codec.Field{opt("match", "exact")}}})
	c.expect(codec.Subscribed)
}

func TestNewRouterValidates(t *testing.T) {
	for _, cfg := range []Config{
		{},
		{Realms: []RealmConfig{{Name: ""}}},
		{Realms: []RealmConfig{{Name: "bad realm"}}},
		{Realms: []RealmConfig{{Name: "a"}, {Name: "a"}}},
	} {
		if _, err := NewRouter(cfg); err == nil {
			t.Errorf("NewRouter(%+v) accepted", cfg)
		}
	}
}
