package tests

import "testing"

// metaScenarios maps each scenario of tests/python/advanced/meta_session.py to
// what a user of the session and testament meta API expects.
var metaScenarios = map[string]func(k *checker){
	// wamp.session.on_join/on_leave (exact, prefix and wildcard subscriptions),
	// count/list/get with authrole filters, reserved wamp. URIs.
	"session_meta": func(k *checker) {
		k.want("on_join", `{"authid": "joe", "authrole": "user", "authmethod": "ticket", "authprovider": "static"}`)
		k.want("on_join_transport", `["peer", "type"]`)
		k.want("count", `2`)
		k.want("count_user", `1`)
		k.want("count_user_anonymous", `2`)
		k.want("count_nobody", `0`)
		k.want("list_is_ours", `true`)
		k.want("list_user", `true`)
		k.want("get", `{"authid": "joe", "authrole": "user", "authmethod": "ticket", "authprovider": "static"}`)
		k.want("get_session_matches", `true`)
		k.want("get_unknown", `"wamp.error.no_such_session"`)
		k.want("register_reserved", `"wamp.error.invalid_uri"`)
		k.want("on_leave", `["joe", "user"]`)
		k.want("prefix_topics", `["wamp.session.on_join", "wamp.session.on_leave"]`)
		k.want("wildcard_topics", `["wamp.session.on_leave"]`)
		k.want("count_after_leave", `1`)
	},
	// kill / kill_by_authid / kill_by_authrole: the victims get GOODBYE with the
	// reason and message given; the caller is never killed by kill_by_*.
	"session_kill": func(k *checker) {
		k.want("kill_self", `"wamp.error.no_such_session"`)
		k.want("kill_unknown", `"wamp.error.no_such_session"`)
		k.want("kill_bad_reason", `"wamp.error.invalid_uri"`)
		k.want("killed", `["com.example.kicked", "bye"]`)
		k.want("count_after_kill", `1`)
		k.want("kill_by_authid", `2`)
		k.want("kill_by_authid_leaves", `[["wamp.close.normal", "joes out"], ["wamp.close.normal", "joes out"]]`)
		k.want("caller_alive", `true`)
		k.want("kill_by_authrole", `2`)
		k.want("kill_by_authrole_leaves", `[["wamp.close.killed", null], ["wamp.close.killed", null]]`)
		k.want("kill_own_role", `0`)
		k.want("caller_alive_after_role", `true`)
		k.want("count_final", `1`)
	},
	// add_testament / flush_testaments; testaments published on GOODBYE
	// (detached scope first) and when the transport is lost.
	"testament": func(k *checker) {
		k.want("flushed", `1`)
		k.want("bad_scope", `"wamp.error.invalid_argument"`)
		k.want("bad_topic", `"wamp.error.invalid_uri"`)
		k.want("on_goodbye", `[[["detached"], {}], [["destroyed", 1], {"who": "s"}]]`)
		k.want("on_transport_lost", `[["lost"], {"why": "transport"}]`)
	},
}

// TestAdvancedMetaPython runs the meta API scenarios with Autobahn|Python on
// Twisted and asyncio, covering WebSocket and RawSocket and all three
// serializers. Each client gets a router of its own: the scenarios count and
// kill sessions, so they must not see another client's.
func TestAdvancedMetaPython(t *testing.T) {
	skipShort(t)
	requirePython(t)
	var clients []scenarioClient
	for _, c := range pythonMix {
		r := startRouter(t)
		spec := pythonScript(t, c.String(), "python/advanced", "meta_session.py", c.pythonArgs(r)...)
		clients = append(clients, scenarioClient{spec: spec, r: r, checks: metaScenarios})
	}
	runScenarios(t, clients, 2)
}

// metaNodeScenarios maps each scenario of tests/js/advanced/meta_session.js to
// what a user of the meta API expects.
var metaNodeScenarios = map[string]func(k *checker){
	"session_meta": func(k *checker) {
		k.want("on_join", `{"authid": "joe", "authrole": "user", "authmethod": "ticket"}`)
		k.want("count", `2`)
		k.want("count_user", `1`)
		k.want("list_has_joe", `true`)
		k.want("get", `{"authid": "joe", "authrole": "user", "session_matches": true}`)
		k.want("get_unknown", `"wamp.error.no_such_session"`)
		k.want("on_leave", `["joe", "user"]`)
	},
	"testament": func(k *checker) {
		k.want("flushed", `1`)
		k.want("testaments", `[[["bye"], {"who": "js"}]]`)
	},
}

// TestAdvancedMetaNode calls the session and testament meta API from
// autobahn-js (WebSocket json/cbor, RawSocket json) and wampy (WebSocket
// json), each on a router of its own. (wampy msgpack/cbor SUBSCRIBE
// currently fails in the codec, see TestNodeClients.)
func TestAdvancedMetaNode(t *testing.T) {
	skipShort(t)
	requireNode(t)
	cases := []clientCase{
		{"autobahn", transportCase{"websocket", "json"}},
		{"autobahn", transportCase{"websocket", "cbor"}},
		{"autobahn", transportCase{"rawsocket", "json"}},
		{"wampy", transportCase{"websocket", "json"}},
	}
	var clients []scenarioClient
	for _, c := range cases {
		r := startRouter(t)
		spec := nodeScript(t, c.String(), "js/advanced", "meta_session.js", c.nodeArgs(r)...)
		clients = append(clients, scenarioClient{spec: spec, r: r, checks: metaNodeScenarios})
	}
	runScenarios(t, clients, 2)
}
