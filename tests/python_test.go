package tests

import (
	"strings"
	"testing"
	"time"
)

// transportCase is one way of reaching the router: transport + serializer.
type transportCase struct {
	transport  string // websocket | rawsocket
	serializer string // json | msgpack | cbor
}

func (c transportCase) String() string { return c.transport + "-" + c.serializer }

func (c transportCase) url(r *router) string {
	if c.transport == "rawsocket" {
		return r.rsURL()
	}
	return r.wsURL()
}

var pythonTransports = []transportCase{
	{"websocket", "json"}, {"websocket", "msgpack"}, {"websocket", "cbor"},
	{"rawsocket", "json"}, {"rawsocket", "msgpack"}, {"rawsocket", "cbor"},
}

// pythonScenarios maps each scenario of tests/python/scenario.py to what a user of
// the guide expects from it.
var pythonScenarios = map[string]func(k *checker){
	// Guide: register com.myapp.add2, call it with 2, 3.
	"rpc": func(k *checker) {
		k.want("registered", `true`)
		k.want("add2", `5`)
		k.want("echo_args", `[1, "two", [3.5, true, null], {"k": "v"}]`)
		k.want("echo_kwargs", `{"a": 1, "u": "üß中"}`)
		k.want("after_unregister", `"wamp.error.no_such_procedure"`)
	},
	// 1 MB text and 256 KiB bytes through CALL/INVOCATION/YIELD/RESULT and PUBLISH/EVENT.
	"big": func(k *checker) {
		k.want("big_call", `[true, true, true]`)
		k.want("big_event", `[true, true]`)
	},
	// Guide: subscribe to com.myapp.oncounter, counter events arrive in order.
	"pubsub": func(k *checker) {
		k.want("subscribed", `true`)
		k.want("events", `[0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20]`)
		k.want("event_kwargs", `[{"label": "last", "nested": {"a": [1, 2]}}]`)
		k.want("after_unsubscribe", `[]`)
	},
	// A callee lost mid-call: the caller gets an error instead of waiting forever.
	"callee_gone": func(k *checker) {
		v, _ := k.value("in_flight")
		if s, ok := v.(string); !ok || !strings.HasPrefix(s, "wamp.error.") {
			k.fail("call to a callee that disconnected mid-call: got %v, want a wamp.error.* error", v)
		}
	},
	// Guide: Session Lifecycle (subclass callbacks) and Component listener events.
	"lifecycle": func(k *checker) {
		k.want("session_lifecycle", `["created", "connect", "challenge:ticket", "join:user",
			"leave:wamp.close.goodbye_and_out", "disconnect"]`)
		k.want("component_events", `["connect", "join", "ready", "leave:wamp.close.goodbye_and_out", "disconnect"]`)
	},
	// Guide: leave() then join() again on the same transport gives a second session.
	"rejoin": func(k *checker) {
		k.want("joins", `2`)
		k.want("distinct_sessions", `true`)
		k.want("leaves", `["wamp.close.goodbye_and_out", "wamp.close.goodbye_and_out"]`)
		k.want("acked", `[true]`)
	},
	// Guide tip: exclude_me defaults to true; exclude_me=False delivers to the publisher.
	"exclude_me": func(k *checker) {
		k.want("publisher_got", `["included"]`)
		k.want("other_got", `["default", "included"]`)
	},
	// Guide tip: acknowledge=True returns a Publication with an ID.
	"acknowledge": func(k *checker) {
		a, b := k.wantID("publication_id"), k.wantID("second_id")
		if a == b {
			k.fail("two publications got the same ID %v", a)
		}
		k.want("unacknowledged", `"None"`)
	},
	"errors": func(k *checker) {
		k.want("oops", `"com.myapp.error.oops"`)
		k.want("oops_args", `[1, 2]`)
		k.want("oops_kwargs", `{"x": 3}`)
		k.want("no_such", `"wamp.error.no_such_procedure"`)
		k.want("twice", `"wamp.error.procedure_already_exists"`)
		k.want("double", `42`)
	},
	"ticket": func(k *checker) {
		k.want("authid", `"joe"`)
		k.want("authrole", `"user"`)
		k.want("authmethod", `"ticket"`)
		k.want("session_id", `true`)
		k.want("ping", `"pong"`)
		k.want("wrong_ticket", `"wamp.error.authentication_failed"`)
		k.want("unknown_user", `"wamp.error.authentication_failed"`)
		k.want("anonymous_authmethod", `"anonymous"`)
		k.want("unknown_realm", `"wamp.error.no_such_realm"`)
	},
}

// scenario.py's sub, pub, callee, caller and shutdown entries are not in this
// matrix: TestCrossLanguage and TestShutdown drive them.

// TestAutobahnPython runs every guide scenario with Autobahn|Python on Twisted and on
// asyncio, over WebSocket (json, msgpack, cbor) and RawSocket (json, msgpack, cbor).
func TestAutobahnPython(t *testing.T) {
	skipShort(t)
	requirePython(t)
	r := startRouter(t)

	// One process per (flavor, transport) runs all scenarios: Twisted's start-up
	// alone costs ~0.5 s of CPU, so 84 processes would dominate the run time.
	var clients []scenarioClient
	for _, flavor := range []string{"twisted", "asyncio"} {
		for _, tc := range pythonTransports {
			c := clientCase{flavor, tc}
			clients = append(clients, scenarioClient{spec: pythonClient(t, c.String(), c.pythonArgs(r)...), r: r, checks: pythonScenarios})
		}
	}
	runScenarios(t, clients, 4)
}

// TestShutdown stops the router (SIGTERM) under a joined session: the client must
// see the router's GOODBYE wamp.close.system_shutdown, not a dropped connection.
func TestShutdown(t *testing.T) {
	skipShort(t)
	requirePython(t)
	r := startRouter(t)
	var clients []*proc
	for _, tc := range []transportCase{{"websocket", "json"}, {"rawsocket", "msgpack"}} {
		p := startProc(t, pythonClient(t, "shutdown/"+tc.String(), append(clientCase{"asyncio", tc}.pythonArgs(r), "shutdown")...))
		if err := p.waitLine(`"ready"`, 30*time.Second); err != nil {
			t.Fatalf("%v\n%s", err, r.logTail())
		}
		clients = append(clients, p)
	}
	r.stop(t)
	for _, p := range clients {
		k := check(t, r, p.result(15*time.Second).scenario("shutdown"))
		k.want("left", `"wamp.close.system_shutdown"`)
	}
}
