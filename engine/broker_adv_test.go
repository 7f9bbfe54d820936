package engine

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/wampd/wampd/codec"
)

// subscribeWith subscribes with options and returns the subscription ID.
func (c *client) subscribeWith(req codec.ID, topic string, opts ...codec.Field) codec.ID {
	c.t.Helper()
	m := &codec.Message{Type: codec.Subscribe, Request: req, URI: []byte(topic)}
	m.Details.Fields = opts
	c.send(m)
	s := c.expect(codec.Subscribed)
	if s.Request != req {
		c.t.Fatalf("SUBSCRIBED for %d, want %d", s.Request, req)
	}
	return s.Subscription
}

// joinAs joins realm1 anonymously with the given authid.
func joinAs(t testing.TB, r *Router, authid string) *client {
	t.Helper()
	c := connect(t, r, codec.JSON)
	c.send(hello("realm1", opt("authid", authid)))
	c.id = c.expect(codec.Welcome).Session
	return c
}

// published publishes with acknowledge and returns the publication ID.
func (c *client) published(req codec.ID, topic string, args []any, opts ...codec.Field) codec.ID {
	c.t.Helper()
	c.send(publishMsg(req, topic, args, nil, append(opts, opt("acknowledge", true))...))
	for {
		m := c.next()
		if m == nil {
			c.t.Fatalf("no PUBLISHED for %s", topic)
		}
		if m.Type == codec.Published && m.Request == req {
			return m.Publication
		}
		if m.Type != codec.Event {
			c.t.Fatalf("got type %d (%q) waiting for PUBLISHED", m.Type, m.URI)
		}
	}
}

func TestPublisherIdentification(t *testing.T) {
	r := newTestRouter(t)
	pub := joinAs(t, r, "pubber")
	sub := join(t, r, codec.MsgPack, "realm1")
	sub.subscribe(1, "com.t")

	pub.send(publishMsg(1, "com.t", []any{1}, nil, opt("disclose_me", true)))
	_, _, _, d := sub.event()
	if asInt(d["publisher"]) != int64(pub.id) || d["publisher_authid"] != "pubber" || d["publisher_authrole"] != "anonymous" {
		t.Fatalf("disclosed details %v, want publisher %d/pubber/anonymous", d, pub.id)
	}
	pub.send(publishMsg(2, "com.t", []any{2}, nil))
	if _, _, _, d := sub.event(); len(d) != 0 {
		t.Fatalf("undisclosed publication has details %v", d)
	}
	pub.send(publishMsg(3, "com.t", []any{3}, nil, opt("disclose_me", false)))
	if _, _, _, d := sub.event(); d["publisher"] != nil {
		t.Fatalf("disclose_me=false still disclosed: %v", d)
	}
}

func TestSubscriberBlackWhiteListing(t *testing.T) {
	r := metaRouter(t)
	pub := join(t, r, codec.JSON, "realm1")
	anon := joinAs(t, r, "anna")
	alice := joinTicket(t, r, codec.CBOR, "realm1", "alice", "a") // admin
	bob := joinTicket(t, r, codec.MsgPack, "realm1", "bob", "b")  // user
	all := []*client{anon, alice, bob}
	for _, c := range all {
		c.subscribe(1, "com.list")
	}
	cases := []struct {
		name string
		opts []codec.Field
		want []*client
	}{
		{"none", nil, all},
		{"eligible", []codec.Field{opt("eligible", []any{alice.id, bob.id})}, []*client{alice, bob}},
		{"eligible empty", []codec.Field{opt("eligible", []any{})}, nil},
		{"exclude", []codec.Field{opt("exclude", []any{alice.id})}, []*client{anon, bob}},
		{"eligible and exclude", []codec.Field{opt("eligible", []any{alice.id, bob.id}), opt("exclude", []any{bob.id})}, []*client{alice}},
		{"eligible_authid", []codec.Field{opt("eligible_authid", []string{"anna", "bob"})}, []*client{anon, bob}},
		{"exclude_authid", []codec.Field{opt("exclude_authid", []string{"anna"})}, []*client{alice, bob}},
		{"eligible_authrole", []codec.Field{opt("eligible_authrole", []string{"admin"})}, []*client{alice}},
		{"exclude_authrole", []codec.Field{opt("exclude_authrole", []string{"admin", "anonymous"})}, []*client{bob}},
		{"authrole and authid", []codec.Field{opt("eligible_authrole", []string{"user", "admin"}), opt("exclude_authid", []string{"bob"})}, []*client{alice}},
		{"publisher included", []codec.Field{opt("exclude_me", false), opt("eligible", []any{pub.id, anon.id})}, []*client{anon}},
	}
	pub.subscribe(1, "com.list")
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pub.published(codec.ID(10+i), "com.list", []any{tc.name}, tc.opts...)
			got := map[*client]bool{}
			for _, c := range all {
				for c.pending() > 0 {
					if _, a, _, _ := c.event(); len(a) == 1 && a[0] == tc.name {
						got[c] = true
					}
				}
			}
			for _, c := range all {
				want := false
				for _, w := range tc.want {
					want = want || w == c
				}
				if got[c] != want {
					t.Errorf("session %d (%s) got event: %v, want %v", c.id, c.conn.kind, got[c], want)
				}
			}
			// The publisher never gets its own event unless exclude_me=false
			// and it is eligible.
			for pub.pending() > 0 {
				m := pub.next()
				if m.Type == codec.Event {
					t.Errorf("publisher received its own event")
				}
			}
		})
	}

	// exclude_me=false with no list: the publisher gets it too.
	pub.published(50, "com.list", []any{"me too"}, opt("exclude_me", false))
	// (published() skipped the publisher's own EVENT queued before PUBLISHED.)
	for _, c := range all {
		c.event()
	}

	// A list of the wrong type is an invalid argument, not a crash.
	pub.send(publishMsg(60, "com.list", nil, nil, opt("eligible", "everyone"), opt("acknowledge", true)))
	pub.expectError(codec.Publish, 60, "wamp.error.invalid_argument")
	pub.send(publishMsg(61, "com.list", nil, nil, opt("exclude_authrole", []any{1, 2}), opt("acknowledge", true)))
	pub.expectError(codec.Publish, 61, "wamp.error.invalid_argument")
	for _, c := range all {
		c.expectNothing()
	}
}

func TestPatternBasedSubscription(t *testing.T) {
	r := newTestRouter(t)
	pub := join(t, r, codec.JSON, "realm1")
	a := join(t, r, codec.JSON, "realm1")
	b := join(t, r, codec.CBOR, "realm1")

	exact := a.subscribe(1, "com.myapp.topic.emergency")
	prefix := a.subscribeWith(2, "com.myapp.topic.emergency", opt("match", "prefix"))
	wild := a.subscribeWith(3, "com.myapp..userevent", opt("match", "wildcard"))
	if exact == prefix || prefix == wild {
		t.Fatalf("subscriptions share IDs: %d %d %d", exact, prefix, wild)
	}
	// The same pattern from another session joins the same subscription.
	if got := b.subscribeWith(1, "com.myapp.topic.emergency", opt("match", "prefix")); got != prefix {
		t.Fatalf("second prefix subscriber got subscription %d, want %d", got, prefix)
	}

	type delivery struct {
		sub   codec.ID
		topic any
	}
	publish := func(topic string) (gotA, gotB []delivery) {
		t.Helper()
		pub.send(publishMsg(1, topic, []any{topic}, nil))
		for a.pending() > 0 {
			m := a.expect(codec.Event)
			gotA = append(gotA, delivery{m.Subscription, details(t, m)["topic"]})
		}
		for b.pending() > 0 {
			m := b.expect(codec.Event)
			gotB = append(gotB, delivery{m.Subscription, details(t, m)["topic"]})
		}
		return gotA, gotB
	}
	// An event matching three subscriptions arrives three times, with
	// details.topic on the pattern ones only, same publication ID.
	gotA, gotB := publish("com.myapp.topic.emergency")
	if fmt.Sprint(gotA) != fmt.Sprint([]delivery{{exact, nil}, {prefix, "com.myapp.topic.emergency"}}) {
		t.Fatalf("exact+prefix deliveries %v", gotA)
	}
	if fmt.Sprint(gotB) != fmt.Sprint([]delivery{{prefix, "com.myapp.topic.emergency"}}) {
		t.Fatalf("b's deliveries %v", gotB)
	}
	for _, topic := range []string{"com.myapp.topic.emergency.11", "com.myapp.topic.emergency-low", "com.myapp.topic.emergency.category.severe"} {
		if gotA, _ := publish(topic); len(gotA) != 1 || gotA[0].sub != prefix || gotA[0].topic != topic {
			t.Fatalf("%s: deliveries %v", topic, gotA)
		}
	}
	for _, topic := range []string{"com.myapp.foo.userevent", "com.myapp.bar.userevent"} {
		if gotA, _ := publish(topic); len(gotA) != 1 || gotA[0].sub != wild || gotA[0].topic != topic {
			t.Fatalf("%s: deliveries %v", topic, gotA)
		}
	}
	for _, topic := range []string{"com.myapp.topic.emerge", "com.myapp.foo.userevent.bar", "com.myapp.foo.user", "com.myapp2.foo.userevent"} {
		if gotA, gotB := publish(topic); len(gotA)+len(gotB) != 0 {
			t.Fatalf("%s should match nothing: %v %v", topic, gotA, gotB)
		}
	}
	// One event matching two patterns of one session: both deliveries carry
	// the same publication.
	a.subscribeWith(4, "com.myapp.topic", opt("match", "prefix"))
	pub.send(publishMsg(1, "com.myapp.topic.emergency.x", nil, nil))
	e1, e2 := a.expect(codec.Event), a.expect(codec.Event)
	if e1.Publication != e2.Publication || e1.Subscription == e2.Subscription {
		t.Fatalf("two pattern deliveries: pub %d/%d sub %d/%d", e1.Publication, e2.Publication, e1.Subscription, e2.Subscription)
	}

	// Unsubscribing a pattern stops it at once (the match cache is
	// invalidated by the generation counter).
	a.send(&codec.Message{Type: codec.Unsubscribe, Request: 9, Subscription: wild})
	a.expect(codec.Unsubscribed)
	if gotA, _ := publish("com.myapp.foo.userevent"); len(gotA) != 0 {
		t.Fatalf("unsubscribed wildcard still delivers: %v", gotA)
	}
	// And a new pattern is seen at once by a topic already in the cache.
	w2 := a.subscribeWith(10, "com.myapp..userevent", opt("match", "wildcard"))
	if gotA, _ := publish("com.myapp.foo.userevent"); len(gotA) != 1 || gotA[0].sub != w2 {
		t.Fatalf("resubscribed wildcard: %v", gotA)
	}
}

func TestPatternSubscriptionErrors(t *testing.T) {
	r := newTestRouter(t)
	c := join(t, r, codec.JSON, "realm1")
	for i, tc := range []struct {
		topic, match, uri string
	}{
		{"com.x", "regex", "wamp.error.invalid_argument"},
		{"com.x", "", "wamp.error.invalid_argument"},
		{"", "prefix", "wamp.error.invalid_uri"},
		{"com. x", "wildcard", "wamp.error.invalid_uri"},
		{"com..x", "exact", "wamp.error.invalid_uri"},
	} {
		req := codec.ID(i + 1)
		m := &codec.Message{Type: codec.Subscribe, Request: req, URI: []byte(tc.topic)}
		m.Details.Fields = []codec.Field{opt("match", tc.match)}
		c.send(m)
		c.expectError(codec.Subscribe, req, tc.uri)
	}
	c.send(&codec.Message{Type: codec.Subscribe, Request: 20, URI: []byte("com.x"), Details: codec.Dict{Fields: []codec.Field{opt("match", 1)}}})
	c.expectError(codec.Subscribe, 20, "wamp.error.invalid_argument")
}

// TestPublishAllocsWithPatternsAndHistory: plain publishes to an exact
// subscription stay allocation-free while pattern subscriptions that do not
// match and history rules for other topics exist.
func TestPublishAllocsWithPatternsAndHistory(t *testing.T) {
	r := newTestRouter(t, RealmConfig{Name: "realm1", Anonymous: true, EventHistory: []HistoryRule{
		{Topic: "com.history.only", Limit: 5},
		{Topic: "org.", Match: MatchPrefix},
	}})
	_, pub := joinSink(t, r, codec.JSON)
	var sinks []*sinkConn
	for i, k := range []codec.Kind{codec.JSON, codec.MsgPack, codec.CBOR} {
		c, p := joinSink(t, r, k)
		p.Handle(mustEncode(t, k, &codec.Message{Type: codec.Subscribe, Request: 1, URI: []byte("com.bench.topic")}))
		pm := &codec.Message{Type: codec.Subscribe, Request: 2, URI: fmt.Appendf(nil, "net.other%d.", i)}
		pm.Details.Fields = []codec.Field{opt("match", "prefix")}
		p.Handle(mustEncode(t, k, pm))
		pm = &codec.Message{Type: codec.Subscribe, Request: 3, URI: []byte("com.bench..x")}
		pm.Details.Fields = []codec.Field{opt("match", "wildcard")}
		p.Handle(mustEncode(t, k, pm))
		sinks = append(sinks, c)
	}
	frame := mustEncode(t, codec.JSON, publishMsg(1, "com.bench.topic", []any{"x", 1}, map[string]any{"k": "v"}))
	pub.Handle(frame) // warm the match cache
	before := sinks[0].count
	allocs := testing.AllocsPerRun(200, func() { pub.Handle(frame) })
	if allocs != 0 {
		t.Fatalf("PUBLISH→EVENT with patterns and history rules present allocates %.1f times", allocs)
	}
	if sinks[0].count-before != 201 || sinks[2].count != sinks[0].count {
		t.Fatalf("subscribers got %d/%d events", sinks[0].count-before, sinks[2].count)
	}
}

// BenchmarkPublishPatterns shows that the publish cost does not grow with
// the number of pattern subscriptions that do not match the topic.
func BenchmarkPublishPatterns(b *testing.B) {
	for _, n := range []int{0, 100, 10000} {
		b.Run(fmt.Sprintf("nonmatching=%d", n), func(b *testing.B) {
			r := newTestRouter(b)
			_, pub := joinSink(b, r, codec.MsgPack)
			_, sp := joinSink(b, r, codec.MsgPack)
			sp.Handle(mustEncode(b, codec.MsgPack, &codec.Message{Type: codec.Subscribe, Request: 1, URI: []byte("com.bench.topic")}))
			for i := range n {
				m := &codec.Message{Type: codec.Subscribe, Request: codec.ID(i + 2), URI: fmt.Appendf(nil, "org.p%d.", i)}
				m.Details.Fields = []codec.Field{opt("match", "prefix")}
				if i%2 == 1 {
					m.URI = fmt.Appendf(nil, "org..w%d", i)
					m.Details.Fields = []codec.Field{opt("match", "wildcard")}
				}
				sp.Handle(mustEncode(b, codec.MsgPack, m))
			}
			frame := mustEncode(b, codec.MsgPack, publishMsg(1, "com.bench.topic", []any{"x"}, nil))
			b.ReportAllocs()
			for b.Loop() {
				pub.Handle(frame)
			}
		})
	}
}

func TestPayloadPassthruPublish(t *testing.T) {
	r := newTestRouter(t)
	pub := connect(t, r, codec.MsgPack)
	hm := &codec.Message{Type: codec.Hello, URI: []byte("realm1")}
	hm.Details.Fields = []codec.Field{opt("roles", map[string]any{
		"publisher": map[string]any{"features": map[string]any{"payload_passthru_mode": true}},
	})}
	pub.send(hm)
	pub.expect(codec.Welcome)
	sub := join(t, r, codec.JSON, "realm1")
	sub.subscribe(1, "com.ppt")

	secret := []byte{0, 1, 2, 0xff}
	pub.send(publishMsg(1, "com.ppt", []any{secret}, nil,
		opt("ppt_scheme", "wamp.eth"), opt("ppt_serializer", "cbor"),
		opt("ppt_cipher", "xsalsa20poly1305"), opt("ppt_keyid", "key1")))
	m := sub.expect(codec.Event)
	d := details(t, m)
	for k, v := range map[string]string{"ppt_scheme": "wamp.eth", "ppt_serializer": "cbor", "ppt_cipher": "xsalsa20poly1305", "ppt_keyid": "key1"} {
		if d[k] != v {
			t.Errorf("EVENT.Details.%s = %v, want %q", k, d[k], v)
		}
	}
	if a, _ := payload(t, m); len(a) != 1 || fmt.Sprint(a[0]) != fmt.Sprint(secret) {
		t.Fatalf("payload %v, want the binary item untouched", a)
	}
	// ppt_* without a scheme is not passthru: nothing forwarded.
	pub.send(publishMsg(2, "com.ppt", nil, nil, opt("ppt_keyid", "key1")))
	if d := details(t, sub.expect(codec.Event)); len(d) != 0 {
		t.Fatalf("stray ppt attributes forwarded: %v", d)
	}
	// A publisher that did not announce the feature commits a protocol violation.
	bad := join(t, r, codec.JSON, "realm1")
	bad.send(publishMsg(1, "com.ppt", []any{"x"}, nil, opt("ppt_scheme", "mqtt")))
	bad.expectAbort("wamp.error.protocol_violation")
	sub.expectNothing()
}

func TestEventRetention(t *testing.T) {
	r := metaRouter(t)
	pub := join(t, r, codec.JSON, "realm1")
	pub.published(1, "com.sensor.temp", []any{20}, opt("retain", true))
	pub.published(2, "com.sensor.temp", []any{21}, opt("retain", true))
	pub.published(3, "com.sensor.temp", []any{99}) // not retained: the retained one stays 21
	pub.published(4, "com.sensor.hum", []any{50}, opt("retain", true))
	pub.published(5, "com.sensor.admin", []any{"secret"}, opt("retain", true), opt("eligible_authrole", []string{"admin"}))

	s := join(t, r, codec.MsgPack, "realm1")
	id := s.subscribeWith(1, "com.sensor.temp", opt("get_retained", true))
	m := s.expect(codec.Event)
	if a, _ := payload(t, m); m.Subscription != id || asInt(a[0]) != 21 || details(t, m)["retained"] != true {
		t.Fatalf("retained event sub %d args %v details %v, want 21 retained", m.Subscription, a, details(t, m))
	}
	s.expectNothing()
	// Without get_retained: nothing.
	s.subscribe(2, "com.sensor.hum")
	s.expectNothing()
	// The retained event is only for those who would have got it.
	s.subscribeWith(3, "com.sensor.admin", opt("get_retained", true))
	s.expectNothing()
	admin := joinTicket(t, r, codec.CBOR, "realm1", "alice", "a")
	admin.subscribeWith(1, "com.sensor.admin", opt("get_retained", true))
	if _, a, _, d := admin.event(); a[0] != "secret" || d["retained"] != true {
		t.Fatalf("admin's retained event %v %v", a, d)
	}
	// The publisher itself was excluded (exclude_me default).
	pub.subscribeWith(10, "com.sensor.temp", opt("get_retained", true))
	pub.expectNothing()
	// Pattern subscriptions get the retained event of every matching topic,
	// oldest first, with details.topic.
	p := join(t, r, codec.JSON, "realm1")
	pid := p.subscribeWith(1, "com.sensor.", opt("match", "prefix"), opt("get_retained", true))
	var topics []any
	for p.pending() > 0 {
		sid, _, _, d := p.event()
		if sid != pid || d["retained"] != true {
			t.Fatalf("pattern retained event sub %d details %v", sid, d)
		}
		topics = append(topics, d["topic"])
	}
	if fmt.Sprint(topics) != "[com.sensor.temp com.sensor.hum]" {
		t.Fatalf("pattern retained topics %v", topics)
	}
	// Live events after that carry no retained flag.
	pub.send(publishMsg(9, "com.sensor.temp", []any{22}, nil))
	if _, _, _, d := s.event(); d["retained"] != nil {
		t.Fatalf("live event marked retained: %v", d)
	}
}

func TestEventRetentionBounds(t *testing.T) {
	r := newTestRouter(t, RealmConfig{Name: "realm1", Anonymous: true, MaxRetainedTopics: 2})
	pub := join(t, r, codec.JSON, "realm1")
	for i, topic := range []string{"com.a", "com.b", "com.c", "com.a"} {
		pub.published(codec.ID(i+1), topic, []any{i}, opt("retain", true))
	}
	s := join(t, r, codec.JSON, "realm1")
	s.subscribeWith(1, "com.a", opt("get_retained", true))
	if _, a, _, _ := s.event(); asInt(a[0]) != 3 {
		t.Fatalf("com.a retained %v, want the latest (3)", a)
	}
	s.subscribeWith(2, "com.c", opt("get_retained", true)) // over the bound: not kept
	s.expectNothing()

	off := newTestRouter(t, RealmConfig{Name: "realm1", Anonymous: true, MaxRetainedTopics: -1})
	pub = join(t, off, codec.JSON, "realm1")
	pub.published(1, "com.a", []any{1}, opt("retain", true))
	s = join(t, off, codec.JSON, "realm1")
	s.subscribeWith(1, "com.a", opt("get_retained", true))
	s.expectNothing()
}

func historyRouter(t *testing.T) *Router {
	t.Helper()
	return newTestRouter(t,
		RealmConfig{Name: "realm1", Anonymous: true,
			Tickets: map[string]TicketUser{"alice": {Ticket: "a", Role: "admin"}},
			EventHistory: []HistoryRule{
				{Topic: "com.log.", Match: MatchPrefix, Limit: 3},
				{Topic: "com.log.quiet", Limit: -1},
				{Topic: "com.exact", Limit: 0}, // default limit
			}},
		RealmConfig{Name: "realm2", Anonymous: true, EventHistory: []HistoryRule{{Topic: "com.", Match: MatchPrefix}}})
}

func eventPubs(t *testing.T, res []any) []codec.ID {
	t.Helper()
	list, ok := res[0].([]any)
	if !ok {
		t.Fatalf("get_events result %v is not a list", res)
	}
	var out []codec.ID
	for _, e := range list {
		ev := e.(map[string]any)
		id, _ := toID(ev["publication"])
		out = append(out, id)
	}
	return out
}

func TestEventHistory(t *testing.T) {
	r := historyRouter(t)
	pub := join(t, r, codec.JSON, "realm1")
	var auth []codec.ID
	for i := range 5 {
		auth = append(auth, pub.published(codec.ID(i+1), "com.log.auth", []any{i}, opt("disclose_me", true)))
	}
	basket := pub.published(10, "com.log.basket", []any{"b"}, nil...)
	pub.published(11, "com.log.quiet", []any{"q"}) // exempted by a negative limit
	pub.published(12, "com.log.auth", []any{"eligible"}, opt("eligible", []any{pub.id}))
	adminOnly := pub.published(13, "com.log.basket", []any{"admins"}, opt("eligible_authrole", []string{"admin"}))

	c := join(t, r, codec.MsgPack, "realm1")
	exact := c.subscribe(1, "com.log.auth")
	res := c.result(2, "wamp.subscription.get_events", []any{exact}, nil)
	if got := eventPubs(t, res); fmt.Sprint(got) != fmt.Sprint(auth[2:]) {
		t.Fatalf("history of com.log.auth %v, want the last 3 %v (a session-list event is never stored)", got, auth[2:])
	}
	ev := res[0].([]any)[0].(map[string]any)
	d := ev["details"].(map[string]any)
	if args := ev["args"].([]any); asInt(args[0]) != 2 || d["publisher"] == nil || ev["timestamp"] == nil ||
		asInt(ev["subscription"]) != int64(exact) {
		t.Fatalf("stored event %v", ev)
	}

	// reverse + limit, after/before publication.
	if got := eventPubs(t, c.result(3, "wamp.subscription.get_events", []any{exact}, map[string]any{"reverse": true, "limit": 2})); fmt.Sprint(got) != fmt.Sprint([]codec.ID{auth[4], auth[3]}) {
		t.Fatalf("reverse limit 2: %v", got)
	}
	if got := eventPubs(t, c.result(4, "wamp.subscription.get_events", []any{exact}, map[string]any{"after_publication": auth[2]})); fmt.Sprint(got) != fmt.Sprint(auth[3:]) {
		t.Fatalf("after_publication: %v", got)
	}
	if got := eventPubs(t, c.result(5, "wamp.subscription.get_events", []any{exact}, map[string]any{"until_publication": auth[3], "from_publication": auth[3]})); fmt.Sprint(got) != fmt.Sprint(auth[3:4]) {
		t.Fatalf("from+until publication: %v", got)
	}
	if got := eventPubs(t, c.result(6, "wamp.subscription.get_events", []any{exact}, map[string]any{"before_time": "2000-01-01T00:00:00Z"})); len(got) != 0 {
		t.Fatalf("before_time in the past: %v", got)
	}
	if got := eventPubs(t, c.result(7, "wamp.subscription.get_events", []any{exact}, map[string]any{"from_time": "2000-01-01T00:00:00.000Z"})); len(got) != 3 {
		t.Fatalf("from_time in the past: %v", got)
	}

	// A pattern subscription sees every matching topic's history, in order,
	// with details.topic; the topic option narrows it; the authrole filter
	// of the original publication applies to the caller.
	pat := c.subscribeWith(8, "com.log.", opt("match", "prefix"))
	all := eventPubs(t, c.result(9, "wamp.subscription.get_events", []any{pat}, nil))
	if fmt.Sprint(all) != fmt.Sprint(append(append([]codec.ID{}, auth[2:]...), basket)) {
		t.Fatalf("pattern history %v", all)
	}
	if got := eventPubs(t, c.result(10, "wamp.subscription.get_events", []any{pat}, map[string]any{"topic": "com.log.basket"})); fmt.Sprint(got) != fmt.Sprint([]codec.ID{basket}) {
		t.Fatalf("topic filter: %v", got)
	}
	admin := joinTicket(t, r, codec.CBOR, "realm1", "alice", "a")
	if got := eventPubs(t, admin.result(1, "wamp.subscription.get_events", []any{pat}, map[string]any{"topic": "com.log.basket"})); fmt.Sprint(got) != fmt.Sprint([]codec.ID{basket, adminOnly}) {
		t.Fatalf("admin sees %v, want the admin-only event too", got)
	}
	res = c.result(11, "wamp.subscription.get_events", []any{pat}, map[string]any{"limit": 1})
	if d := res[0].([]any)[0].(map[string]any)["details"].(map[string]any); d["topic"] != "com.log.auth" {
		t.Fatalf("pattern history details %v", d)
	}

	// Errors.
	c.callErr(12, "wamp.subscription.get_events", []any{12345}, nil, "wamp.error.no_such_subscription")
	c.callErr(13, "wamp.subscription.get_events", []any{exact}, map[string]any{"limit": "ten"}, "wamp.error.invalid_argument")
	c.callErr(14, "wamp.subscription.get_events", nil, nil, "wamp.error.invalid_argument")
	// Another realm cannot read this realm's subscriptions.
	other := join(t, r, codec.JSON, "realm2")
	other.callErr(1, "wamp.subscription.get_events", []any{exact}, nil, "wamp.error.no_such_subscription")

	// History is kept per topic even before anyone subscribes (default limit).
	pub.published(20, "com.exact", []any{1})
	s := c.subscribe(15, "com.exact")
	if got := eventPubs(t, c.result(16, "wamp.subscription.get_events", []any{s}, nil)); len(got) != 1 {
		t.Fatalf("com.exact history %v", got)
	}
}

func TestEventHistoryOffByDefault(t *testing.T) {
	r := newTestRouter(t)
	c := join(t, r, codec.JSON, "realm1")
	id := c.subscribe(1, "com.t")
	c.send(publishMsg(2, "com.t", []any{1}, nil))
	if got := eventPubs(t, c.result(3, "wamp.subscription.get_events", []any{id}, nil)); len(got) != 0 {
		t.Fatalf("history kept without a rule: %v", got)
	}
	c.callErr(4, "wamp.subscription.get_events", []any{id + 100}, nil, "wamp.error.no_such_subscription")
}

func TestSubscriptionMetaEvents(t *testing.T) {
	r := metaRouter(t)
	mon := join(t, r, codec.JSON, "realm1")
	metaTopics := []string{"wamp.subscription.on_create", "wamp.subscription.on_subscribe", "wamp.subscription.on_unsubscribe", "wamp.subscription.on_delete"}
	subIDs := map[codec.ID]string{} // meta subscription → its topic
	for i, topic := range metaTopics {
		subIDs[mon.subscribe(codec.ID(i+1), topic)] = topic
	}
	// Subscriptions to wamp.* topics themselves are quiet.
	mon.expectNothing()

	type metaEv struct {
		topic string
		args  []any
	}
	read := func() []metaEv {
		var out []metaEv
		for mon.pending() > 0 {
			sid, a, _, _ := mon.event()
			out = append(out, metaEv{subIDs[sid], a})
		}
		return out
	}

	a := join(t, r, codec.MsgPack, "realm1")
	sid := a.subscribeWith(1, "com.watched", opt("match", "prefix"))
	got := read()
	if len(got) != 2 || got[0].topic != "wamp.subscription.on_create" || got[1].topic != "wamp.subscription.on_subscribe" {
		t.Fatalf("first subscribe: %v", got)
	}
	det := got[0].args[1].(map[string]any)
	if asInt(got[0].args[0]) != int64(a.id) || asInt(det["id"]) != int64(sid) || det["uri"] != "com.watched" || det["match"] != "prefix" || det["created"] == nil {
		t.Fatalf("on_create args %v", got[0].args)
	}
	if asInt(got[1].args[0]) != int64(a.id) || asInt(got[1].args[1]) != int64(sid) {
		t.Fatalf("on_subscribe args %v", got[1].args)
	}
	b := join(t, r, codec.JSON, "realm1")
	b.subscribeWith(1, "com.watched", opt("match", "prefix"))
	if got := read(); len(got) != 1 || got[0].topic != "wamp.subscription.on_subscribe" || asInt(got[0].args[0]) != int64(b.id) {
		t.Fatalf("second subscriber: %v", got)
	}
	a.send(&codec.Message{Type: codec.Unsubscribe, Request: 2, Subscription: sid})
	a.expect(codec.Unsubscribed)
	if got := read(); len(got) != 1 || got[0].topic != "wamp.subscription.on_unsubscribe" || asInt(got[0].args[0]) != int64(a.id) || asInt(got[0].args[1]) != int64(sid) {
		t.Fatalf("unsubscribe: %v", got)
	}
	// The last subscriber leaving (transport gone) unsubscribes and deletes.
	b.peer.Closed()
	got = read()
	if len(got) != 2 || got[0].topic != "wamp.subscription.on_unsubscribe" || got[1].topic != "wamp.subscription.on_delete" ||
		asInt(got[1].args[0]) != int64(b.id) || asInt(got[1].args[1]) != int64(sid) {
		t.Fatalf("leave: %v", got)
	}
	// Another realm's subscriptions produce no events here.
	o := join(t, r, codec.JSON, "realm2")
	o.subscribe(1, "com.watched")
	if got := read(); len(got) != 0 {
		t.Fatalf("realm2 leaked meta events: %v", got)
	}
}

func TestSubscriptionMetaProcedures(t *testing.T) {
	r := metaRouter(t)
	a := join(t, r, codec.JSON, "realm1")
	b := join(t, r, codec.CBOR, "realm1")
	exact := a.subscribe(1, "com.m.topic")
	b.subscribe(1, "com.m.topic")
	prefix := a.subscribeWith(2, "com.m.", opt("match", "prefix"))
	wild := b.subscribeWith(2, "com..topic", opt("match", "wildcard"))
	o := join(t, r, codec.JSON, "realm2")
	otherExact := o.subscribe(1, "com.m.topic")

	q := join(t, r, codec.MsgPack, "realm1")
	lists := q.result(1, "wamp.subscription.list", nil, nil)[0].(map[string]any)
	if !equalJSONish(lists, map[string]any{"exact": []any{exact}, "prefix": []any{prefix}, "wildcard": []any{wild}}) {
		t.Fatalf("list %v", lists)
	}
	if got := q.result(2, "wamp.subscription.lookup", []any{"com.m.topic"}, nil); asInt(got[0]) != int64(exact) {
		t.Fatalf("lookup exact %v", got)
	}
	if got := q.result(3, "wamp.subscription.lookup", []any{"com.m.", map[string]any{"match": "prefix"}}, nil); asInt(got[0]) != int64(prefix) {
		t.Fatalf("lookup prefix %v", got)
	}
	if got := q.result(4, "wamp.subscription.lookup", []any{"com.nothing"}, nil); got[0] != nil {
		t.Fatalf("lookup of nothing %v, want null", got)
	}
	if got := idSet(q.result(5, "wamp.subscription.match", []any{"com.m.topic"}, nil)[0]); len(got) != 3 || !got[exact] || !got[prefix] || !got[wild] {
		t.Fatalf("match %v", got)
	}
	if got := q.result(6, "wamp.subscription.match", []any{"org.none"}, nil); got[0] != nil {
		t.Fatalf("match of nothing %v, want null", got)
	}
	det := q.result(7, "wamp.subscription.get", []any{wild}, nil)[0].(map[string]any)
	if asInt(det["id"]) != int64(wild) || det["uri"] != "com..topic" || det["match"] != "wildcard" || det["created"] == nil {
		t.Fatalf("get %v", det)
	}
	if got := idSet(q.result(8, "wamp.subscription.list_subscribers", []any{exact}, nil)[0]); len(got) != 2 || !got[a.id] || !got[b.id] {
		t.Fatalf("list_subscribers %v", got)
	}
	if got := q.result(9, "wamp.subscription.count_subscribers", []any{exact}, nil); asInt(got[0]) != 2 {
		t.Fatalf("count_subscribers %v", got)
	}
	for i, proc := range []string{"wamp.subscription.get", "wamp.subscription.list_subscribers", "wamp.subscription.count_subscribers"} {
		q.callErr(codec.ID(20+i), proc, []any{otherExact}, nil, "wamp.error.no_such_subscription")
		q.callErr(codec.ID(30+i), proc, []any{"x"}, nil, "wamp.error.invalid_argument")
	}
	q.callErr(40, "wamp.subscription.lookup", []any{"com.m.", map[string]any{"match": "regex"}}, nil, "wamp.error.invalid_argument")

	// After everyone left, the subscription is gone.
	a.peer.Closed()
	b.peer.Closed()
	q.callErr(41, "wamp.subscription.get", []any{exact}, nil, "wamp.error.no_such_subscription")
	lists = q.result(42, "wamp.subscription.list", nil, nil)[0].(map[string]any)
	if !equalJSONish(lists, map[string]any{"exact": []any{}, "prefix": []any{}, "wildcard": []any{}}) {
		t.Fatalf("list after leave %v", lists)
	}
}

// TestNullMatchIsExact: wampy (CBOR) sends unset options as undefined.
func TestNullMatchIsExact(t *testing.T) {
	r := newTestRouter(t)
	c := join(t, r, codec.CBOR, "realm1")
	id := c.subscribeWith(1, "com.t", codec.Field{Key: "match", Value: codec.NullValue()}, codec.Field{Key: "get_retained", Value: codec.NullValue()})
	pub := join(t, r, codec.JSON, "realm1")
	pub.send(publishMsg(1, "com.t", nil, nil))
	if m := c.expect(codec.Event); m.Subscription != id {
		t.Fatalf("event for %d, want %d", m.Subscription, id)
	}
}

// TestConcurrentPatternChurn publishes from several goroutines (as from
// several event loops) while other sessions subscribe and unsubscribe
// exact and pattern subscriptions and leave: run with -race. A stable
// subscriber must get every event exactly once per matching subscription.
func TestConcurrentPatternChurn(t *testing.T) {
	r := newTestRouter(t, RealmConfig{Name: "realm1", Anonymous: true,
		EventHistory: []HistoryRule{{Topic: "com.churn.", Match: MatchPrefix, Limit: 10}}})
	stable := join(t, r, codec.MsgPack, "realm1")
	stable.subscribeWith(1, "com.churn.", opt("match", "prefix"))
	stable.subscribeWith(2, "com.churn..x", opt("match", "wildcard"))
	mon := join(t, r, codec.JSON, "realm1")
	mon.subscribe(1, "wamp.subscription.on_create")
	const pubs, each = 3, 100
	var wg sync.WaitGroup
	for i := range pubs {
		p := join(t, r, codec.JSON, "realm1")
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range each {
				p.send(publishMsg(codec.ID(j+1), fmt.Sprintf("com.churn.%d.x", i), []any{j}, nil, opt("retain", j%10 == 0)))
			}
		}()
	}
	for i := range 2 {
		c := join(t, r, []codec.Kind{codec.CBOR, codec.JSON}[i], "realm1")
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 50 {
				m := &codec.Message{Type: codec.Subscribe, Request: codec.ID(j + 1), URI: fmt.Appendf(nil, "com.churn.%d", j%3)}
				m.Details.Fields = []codec.Field{opt("match", []string{"exact", "prefix", "wildcard"}[j%3]), opt("get_retained", true)}
				c.send(m)
				if j%7 == 6 {
					c.peer.Closed()
					return
				}
			}
		}()
	}
	wg.Wait()
	got := 0
	for stable.pending() > 0 {
		stable.expect(codec.Event)
		got++
	}
	if got != 2*pubs*each {
		t.Fatalf("stable subscriber got %d events, want %d (prefix + wildcard for each publish)", got, 2*pubs*each)
	}
}

// FuzzBrokerOptions feeds arbitrary PUBLISH and SUBSCRIBE options (black/
// whitelists, retain, get_retained, match, ppt_*) through the broker with
// exact and pattern subscribers and a history: nothing may panic and an
// ordinary publish must still reach its subscriber afterwards.
func FuzzBrokerOptions(f *testing.F) {
	for _, s := range []string{
		`{"eligible":[1,2,3],"exclude":[2],"acknowledge":true}`, `{"eligible":"x","acknowledge":true}`,
		`{"exclude_authid":["a",1]}`, `{"eligible_authrole":[]}`, `{"retain":true,"exclude_authrole":["anonymous"]}`,
		`{"ppt_scheme":"x","ppt_keyid":1}`, `{"disclose_me":true,"retain":"yes"}`, `{"exclude":[-1,1.5,null]}`,
		`{"match":"prefix","get_retained":true}`, `{"match":"wildcard"}`, `{"match":["x"]}`, `{}`, `[]`, `null`,
		`{"eligible":[9007199254740993]}`, `{"a":{"b":[1,{"c":2}]},"acknowledge":false}`,
	} {
		f.Add([]byte(s), "com.f.t")
		f.Add([]byte(s), "com.f.")
	}
	f.Fuzz(func(t *testing.T, opts []byte, topic string) {
		r := newTestRouter(t, RealmConfig{Name: "realm1", Anonymous: true,
			EventHistory: []HistoryRule{{Topic: "com.", Match: MatchPrefix, Limit: 2}}})
		sub := join(t, r, codec.JSON, "realm1")
		sub.subscribe(1, "com.f.t")
		sub.subscribeWith(2, "com.f", opt("match", "prefix"))
		c := join(t, r, codec.JSON, "realm1")
		tb, _ := codec.AppendAny(codec.JSON, nil, topic)
		c.sendRaw(fmt.Appendf(nil, `[16,1,%s,%s,[1]]`, opts, tb))
		c.sendRaw(fmt.Appendf(nil, `[32,2,%s,%s]`, opts, tb))
		c.sendRaw(fmt.Appendf(nil, `[48,3,{},"wamp.subscription.get_events",[1],%s]`, opts))
		c.peer.Closed()
		for sub.next() != nil {
		}
		p := join(t, r, codec.JSON, "realm1")
		p.send(publishMsg(1, "com.f.t", []any{"after"}, nil))
		if m := sub.expect(codec.Event); m == nil {
			t.Fatal("no event after fuzzed input")
		}
		sub.expect(codec.Event) // the prefix subscription
	})
}

func TestEventHistoryMaxAge(t *testing.T) {
	r := newTestRouter(t, RealmConfig{Name: "realm1", Anonymous: true, EventHistory: []HistoryRule{
		{Topic: "com.old", MaxAge: 50 * time.Millisecond},
		{Topic: "com.keep"},
	}})
	pub := join(t, r, codec.JSON, "realm1")
	pub.published(1, "com.old", []any{1})
	pub.published(2, "com.keep", []any{1})
	c := join(t, r, codec.JSON, "realm1")
	old, keep := c.subscribe(1, "com.old"), c.subscribe(2, "com.keep")
	if got := eventPubs(t, c.result(3, "wamp.subscription.get_events", []any{old}, nil)); len(got) != 1 {
		t.Fatalf("fresh event missing: %v", got)
	}
	time.Sleep(80 * time.Millisecond)
	pub.published(3, "com.old", []any{2})
	if got := eventPubs(t, c.result(4, "wamp.subscription.get_events", []any{old}, nil)); len(got) != 1 {
		t.Fatalf("after MaxAge: %v, want only the new event", got)
	}
	if got := eventPubs(t, c.result(5, "wamp.subscription.get_events", []any{keep}, nil)); len(got) != 1 {
		t.Fatalf("rule without MaxAge lost its event: %v", got)
	}
}

// TestPublishOptionsAllocs: disclosure, acknowledge and black/whitelists do
// not allocate either (the filter comes from a pool, lists are parsed in place).
func TestPublishOptionsAllocs(t *testing.T) {
	if brokerRace {
		t.Skip("sync.Pool drops items at random under the race detector")
	}
	r := newTestRouter(t)
	_, pub := joinSink(t, r, codec.JSON)
	sink, sp := joinSink(t, r, codec.CBOR)
	sp.Handle(mustEncode(t, codec.CBOR, &codec.Message{Type: codec.Subscribe, Request: 1, URI: []byte("com.t")}))
	for _, o := range [][]codec.Field{
		{opt("acknowledge", true), opt("disclose_me", true)},
		{opt("eligible_authrole", []string{"anonymous"}), opt("exclude", []any{1, 2, 3}), opt("exclude_authid", []string{"x"})},
	} {
		frame := mustEncode(t, codec.JSON, publishMsg(1, "com.t", []any{"x"}, nil, o...))
		pub.Handle(frame)
		before := sink.count
		if a := testing.AllocsPerRun(100, func() { pub.Handle(frame) }); a != 0 {
			t.Fatalf("publish with %v allocates %.1f times", o, a)
		}
		if sink.count-before != 101 {
			t.Fatalf("subscriber got %d of 101 events", sink.count-before)
		}
	}
}
