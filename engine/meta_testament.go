package engine

// testament_meta_api: wamp.session.add_testament and flush_testaments.
// Testaments are kept on the session (under session.mu) and published by
// session.detach, when the session leaves its realm for whatever reason
// (GOODBYE, transport lost, ABORT, protocol violation, kill, shutdown).

// Testament scopes, in publication order: without session resumption a
// session is detached and destroyed at the same moment, and the spec wants
// detached-scope testaments first.
const (
	testamentDetached = iota
	testamentDestroyed
)

// maxTestaments bounds the testaments one session may keep per scope, so a
// client cannot grow the router's memory without bound.
const maxTestaments = 64

// testament is one event to publish when its session goes away.
type testament struct {
	topic string
	args  []any
	kw    map[string]any
	opts  map[string]any // publish options
}

func init() { metaInits = append(metaInits, registerTestamentMeta) }

func registerTestamentMeta(rl *realm) {
	rl.registerMeta("wamp.session.add_testament", metaAddTestament)
	rl.registerMeta("wamp.session.flush_testaments", metaFlushTestaments)
}

// testamentScope reads the scope keyword argument (default "destroyed").
func testamentScope(v any) (int, bool) {
	switch v {
	case nil, "destroyed":
		return testamentDestroyed, true
	case "detached":
		return testamentDetached, true
	}
	return 0, false
}

// metaAddTestament: add_testament(topic, args, kwargs; publish_options, scope).
func metaAddTestament(a metaArgs) metaReply {
	topic, ok := argString(a.Args, 0)
	if !ok {
		return metaErr(string(uriInvalidArgument), "topic expected")
	}
	if !validURI([]byte(topic)) || isMetaURI([]byte(topic)) {
		return metaErr(string(uriInvalidURI), "invalid testament topic")
	}
	t := testament{topic: topic}
	if v := argAt(a.Args, 1); v != nil {
		l, isList := v.([]any)
		if !isList {
			return metaErr(string(uriInvalidArgument), "args must be a list")
		}
		t.args = l
	}
	if v := argAt(a.Args, 2); v != nil {
		d, isDict := v.(map[string]any)
		if !isDict {
			return metaErr(string(uriInvalidArgument), "kwargs must be a dict")
		}
		t.kw = d
	}
	if v := a.Kw["publish_options"]; v != nil {
		d, isDict := v.(map[string]any)
		if !isDict {
			return metaErr(string(uriInvalidArgument), "publish_options must be a dict")
		}
		t.opts = d
	}
	scope, ok := testamentScope(a.Kw["scope"])
	if !ok {
		return metaErr(string(uriInvalidArgument), "scope must be \"detached\" or \"destroyed\"")
	}
	s := a.Caller
	s.mu.Lock()
	if len(s.testaments[scope]) >= maxTestaments {
		s.mu.Unlock()
		return metaErr(string(uriInvalidArgument), "too many testaments")
	}
	s.testaments[scope] = append(s.testaments[scope], t)
	s.mu.Unlock()
	return metaReply{}
}

// metaFlushTestaments: flush_testaments(; scope) removes the scope's
// testaments and answers how many there were. The scope may also be given
// as the first positional argument.
func metaFlushTestaments(a metaArgs) metaReply {
	v, present := a.Kw["scope"]
	if !present {
		v = argAt(a.Args, 0)
	}
	scope, ok := testamentScope(v)
	if !ok {
		return metaErr(string(uriInvalidArgument), "scope must be \"detached\" or \"destroyed\"")
	}
	s := a.Caller
	s.mu.Lock()
	n := len(s.testaments[scope])
	s.testaments[scope] = nil
	s.mu.Unlock()
	return metaReply{Args: []any{n}}
}
