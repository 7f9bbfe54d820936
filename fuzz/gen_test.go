package fuzz

import (
	"github.com/wampd/wampd/codec"
)

// input reads fuzz bytes as a stream of small decisions. Past the end it
// yields zeros, so every input, however short, is a complete program.
type input struct{ b []byte }

func (in *input) empty() bool { return len(in.b) == 0 }

func (in *input) byte() byte {
	if len(in.b) == 0 {
		return 0
	}
	c := in.b[0]
	in.b = in.b[1:]
	return c
}

// pick returns a number in [0, n).
func (in *input) pick(n int) int { return int(in.byte()) % n }

func (in *input) bytes(n int) []byte {
	if n > len(in.b) {
		n = len(in.b)
	}
	out := in.b[:n:n]
	in.b = in.b[n:]
	return out
}

// The well-known names the generator prefers, so that sessions of one input
// meet on the same topics and procedures (and the witness's).
var (
	realms = []string{"realm1", "realm1", "realm1", "nosuchrealm", "", "realm1.sub"}
	uris   = []string{
		"com.a", "com.a", "com.a.b", "com", "com..b", "com.a.", ".com", "com a", "",
		witnessTopic, witnessProc, "fuzz.witness",
		"wamp.session.count", "wamp.session.list", "wamp.session.get", "wamp.session.kill",
		"wamp.session.kill_all", "wamp.session.kill_by_authrole", "wamp.session.add_testament",
		"wamp.session.flush_testaments", "wamp.subscription.list", "wamp.subscription.lookup",
		"wamp.subscription.match", "wamp.subscription.get", "wamp.subscription.get_events",
		"wamp.subscription.list_subscribers", "wamp.registration.list", "wamp.registration.lookup",
		"wamp.registration.match", "wamp.registration.get", "wamp.registration.list_callees",
		"wamp.session.on_join", "wamp.session.on_leave", "wamp.registration.on_create",
		"wamp.error.x", "wamp.close.normal", "com.error",
	}
	optKeys = []string{
		"match", "invoke", "acknowledge", "exclude_me", "disclose_me", "receive_progress",
		"progress", "timeout", "eligible", "exclude", "eligible_authid", "exclude_authid",
		"eligible_authrole", "exclude_authrole", "retain", "get_retained", "mode",
		"ppt_scheme", "ppt_serializer", "disclose_caller", "authid", "authmethods",
		"authextra", "roles", "message", "reason",
	}
	strVals = []string{
		"prefix", "wildcard", "exact", "roundrobin", "random", "first", "last", "single",
		"kill", "killnowait", "skip", "joe", "anonymous", "ticket", "user", "wamp", "x",
		"com.a", "destroyed", "detached", "",
	}
)

// value builds a Go value for an option or argument; depth bounds nesting.
func (in *input) value(depth int) any {
	switch in.pick(14) {
	case 0:
		return true
	case 1:
		return false
	case 2:
		return int64(in.byte())
	case 3:
		return -int64(in.byte()) - 1
	case 4:
		return uint64(codec.MaxID) + uint64(in.byte())
	case 5:
		return strVals[in.pick(len(strVals))]
	case 6:
		return string(in.bytes(in.pick(12)))
	case 7:
		return float64(in.byte()) / 3
	case 8:
		return nil
	case 9:
		return in.bytes(in.pick(8)) // binary
	case 10, 11:
		if depth <= 0 {
			return []any{}
		}
		l := make([]any, in.pick(4))
		for i := range l {
			l[i] = in.value(depth - 1)
		}
		return l
	default:
		if depth <= 0 {
			return map[string]any{}
		}
		m := map[string]any{}
		for range in.pick(4) {
			m[optKeys[in.pick(len(optKeys))]] = in.value(depth - 1)
		}
		return m
	}
}

// options fills a message's Options/Details with fuzz-chosen keys.
func (in *input) options(m *codec.Message) {
	for range in.pick(5) {
		m.Details.Fields = append(m.Details.Fields, codec.Field{
			Key: optKeys[in.pick(len(optKeys))], Value: codec.AnyValue(in.value(2)),
		})
	}
}

// payload sets Arguments and sometimes ArgumentsKw.
func (in *input) payload(m *codec.Message) {
	switch in.pick(6) {
	case 0, 1:
	case 2:
		m.ArgsAny = []any{}
	case 3:
		m.ArgsAny = []any{in.value(2), in.value(1)}
	case 4:
		m.ArgsAny = []any{in.value(3)}
		m.KwAny = map[string]any{"k": in.value(2)}
	default:
		m.KwAny = map[string]any{optKeys[in.pick(len(optKeys))]: in.value(2)}
	}
}

func (in *input) uri() []byte {
	if in.pick(8) == 0 {
		return in.bytes(in.pick(16))
	}
	return []byte(uris[in.pick(len(uris))])
}

// id picks an ID: mostly one this connection saw (pool), sometimes an edge.
func (in *input) id(pool []codec.ID) codec.ID {
	switch b := in.byte(); b % 8 {
	case 0:
		return codec.MaxID
	case 1:
		return uint64(in.byte()) + 1
	case 2, 3:
		return uint64(b%4) + 1
	default:
		if len(pool) == 0 {
			return 1
		}
		return pool[int(in.byte())%len(pool)]
	}
}

// hello builds a HELLO: anonymous, ticket (right or wrong ticket follows in
// AUTHENTICATE), or odd authmethods, with client roles and features.
func (in *input) hello(m *codec.Message) {
	m.Type = codec.Hello
	m.URI = []byte(realms[in.pick(len(realms))])
	feats := map[string]any{}
	for _, f := range []string{"call_canceling", "progressive_call_results", "payload_passthru_mode", "call_timeout"} {
		if in.pick(2) == 0 {
			feats[f] = true
		}
	}
	roles := map[string]any{
		"caller": map[string]any{"features": feats}, "callee": map[string]any{"features": feats},
		"publisher": map[string]any{}, "subscriber": map[string]any{},
	}
	m.Details.Fields = append(m.Details.Fields, codec.Field{Key: "roles", Value: codec.AnyValue(roles)})
	switch in.pick(5) {
	case 0, 1: // anonymous by default
	case 2:
		m.Details.Fields = append(m.Details.Fields,
			codec.Field{Key: "authmethods", Value: codec.AnyValue([]string{"ticket"})},
			codec.Field{Key: "authid", Value: codec.StringValue("joe")})
	case 3:
		m.Details.Fields = append(m.Details.Fields,
			codec.Field{Key: "authmethods", Value: codec.AnyValue([]any{"wampcra", "ticket", 1})},
			codec.Field{Key: "authid", Value: codec.AnyValue(in.value(0))})
	default:
		m.Details.Fields = append(m.Details.Fields, codec.Field{Key: "authmethods", Value: codec.AnyValue(in.value(1))})
	}
}

// message builds one client message of a fuzz-chosen type with fuzz-chosen
// IDs, URIs, options and payload. Router-only types are included on purpose.
func (in *input) message(m *codec.Message, s *slot) {
	m.Reset()
	switch in.pick(20) {
	case 0, 1:
		in.hello(m)
	case 2:
		m.Type = codec.Authenticate
		m.Text = []byte([]string{"s3cret", "wrong", ""}[in.pick(3)])
	case 3:
		m.Type = codec.Goodbye
		m.URI = []byte("wamp.close.close_realm")
		in.options(m)
	case 4:
		m.Type = codec.Abort
		m.URI = in.uri()
	case 5, 6:
		m.Type = codec.Publish
		m.Request = s.nextRequest()
		m.URI = in.uri()
		in.options(m)
		in.payload(m)
	case 7:
		m.Type = codec.Subscribe
		m.Request = s.nextRequest()
		m.URI = in.uri()
		in.options(m)
	case 8:
		m.Type = codec.Unsubscribe
		m.Request = s.nextRequest()
		m.Subscription = in.id(s.subs)
	case 9, 10:
		m.Type = codec.Call
		m.Request = s.callRequest(in)
		m.URI = in.uri()
		in.options(m)
		in.payload(m)
	case 11:
		m.Type = codec.Cancel
		m.Request = in.id(s.calls)
		in.options(m)
	case 12:
		m.Type = codec.Register
		m.Request = s.nextRequest()
		m.URI = in.uri()
		in.options(m)
	case 13:
		m.Type = codec.Unregister
		m.Request = s.nextRequest()
		m.Registration = in.id(s.regs)
	case 14, 15:
		m.Type = codec.Yield
		m.Request = in.id(s.invs)
		in.options(m)
		in.payload(m)
	case 16:
		m.Type = codec.Error
		m.ErrorType = []codec.Type{codec.Invocation, codec.Invocation, codec.Call, codec.Publish}[in.pick(4)]
		m.Request = in.id(s.invs)
		m.URI = in.uri()
		in.payload(m)
	case 17:
		m.Type = codec.Interrupt
		m.Request = in.id(s.invs)
	case 18:
		m.Type = codec.Event
		m.Subscription = in.id(s.subs)
		m.Publication = 1
	default:
		m.Type = codec.Welcome
		m.Session = 1
	}
}
