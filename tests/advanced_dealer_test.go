package tests

import "testing"

// Dealer features of the Advanced Profile with real clients: Autobahn|Python
// (Twisted and asyncio) through its own API, a raw RawSocket client for the options
// Autobahn|Python has no API for (against Autobahn peers where they take part), and
// autobahn-js and wampy through their APIs. Scripts: tests/python/advanced/dealer_*.py,
// tests/js/advanced_dealer.js.

// dealerAutobahnScenarios: dealer_autobahn.py, what a user of each feature expects.
var dealerAutobahnScenarios = map[string]func(k *checker){
	// RegisterOptions(invoke=...)
	"shared": func(k *checker) {
		k.want("shared_roundrobin", `[0, 1, 2, 0, 1, 2]`)
		k.want("shared_first", `[0, 0, 0, 0, 0, 0]`)
		k.want("shared_last", `[2, 2, 2, 2, 2, 2]`)
		k.want("shared_same_id", `true`)
		k.want("shared_random_ok", `true`)
		k.want("shared_conflicts", `["wamp.error.procedure_exists_with_different_invocation_policy", "wamp.error.procedure_already_exists"]`)
		k.want("shared_after_leave", `[1, 2, 1, 2]`)
	},
	// RegisterOptions(match=..., details_arg=...): exact > longest prefix > wildcard.
	"pattern": func(k *checker) {
		k.want("pattern", `{".a.exact": ["exact", null], ".a.zzz": ["prefix", "BASE.a.zzz"],
			".a.b.c": ["prefix-longer", "BASE.a.b.c"], ".q.x": ["wildcard", "BASE.q.x"],
			".q.y": "wamp.error.no_such_procedure"}`)
	},
	// CallOptions(on_progress=...)
	"progress": func(k *checker) {
		k.want("progress_updates", `[[0, 0], [1, 1], [2, 4], [3, 9]]`)
		k.want("progress_final", `"done"`)
	},
	// A callee vanishing mid-call: delivered progress stays, the caller fails at once.
	"callee_leaves": func(k *checker) {
		k.want("vanish_error", `"wamp.error.canceled"`)
		k.want("vanish_progress", `["a", "b"]`)
		k.want("vanish_fast", `true`)
	},
	// Cancelling the call's Deferred/Future: CANCEL → INTERRUPT to the callee.
	"cancel": func(k *checker) {
		k.want("cancel_outcome", `"CancelledError"`)
		k.want("cancel_callee", `["started", "interrupted"]`)
		k.want("cancel_after", `"alive"`)
	},
	// CallOptions(timeout=ms): router-side timer.
	"timeout": func(k *checker) {
		k.want("timeout_error", `"wamp.error.timeout"`)
		k.want("timeout_elapsed_ok", `true`)
		k.want("timeout_callee", `["started", "interrupted"]`)
		k.want("timeout_in_time", `"finished"`)
	},
	// wamp.registration.* procedures and events.
	"meta": func(k *checker) {
		k.want("meta", `{"lookup": true, "lookup_prefix": null, "match": true,
			"get": [true, "exact", "roundrobin", true], "callees": true, "count": 2, "listed": true,
			"missing": "wamp.error.no_such_registration"}`)
		k.want("meta_events", `[["on_create", true], ["on_register", true], ["on_register", true],
			["on_unregister", true], ["on_unregister", true], ["on_delete", true]]`)
	},
}

// dealerRawScenarios: dealer_raw.py (options sent on the wire).
var dealerRawScenarios = map[string]func(k *checker){
	"disclose": func(k *checker) {
		k.want("disclose_plain", `[null, null, null]`)
		k.want("disclose_me", `[true, true, "anonymous"]`)
		k.want("disclose_caller", `[true, "anonymous"]`)
		k.want("disclose_caller_result", `"done"`)
	},
	"progressive_invocations": func(k *checker) {
		k.want("chunks", `[["c0", true], ["c1", true], ["c2", false]]`)
		k.want("same_invocation", `true`)
		k.want("upload_results", `[["got 3", true], ["stored", false]]`)
		k.want("progressive_unsupported", `"wamp.error.feature_not_supported"`)
	},
	"passthru": func(k *checker) {
		k.want("ppt_invocation", `[true, true]`)
		k.want("ppt_result", `[true, true]`)
		k.want("ppt_unsupported", `"wamp.error.feature_not_supported"`)
	},
	"cancel_modes": func(k *checker) {
		k.want("kill", `[true, "kill", true, "wamp.error.canceled", ["stopped by callee"]]`)
		k.want("killnowait", `["wamp.error.canceled", true]`)
		k.want("skip", `["wamp.error.canceled", true, true]`)
	},
}

// dealerJSScenarios: tests/js/advanced_dealer.js with autobahn-js.
var dealerJSScenarios = map[string]func(k *checker){
	"shared": func(k *checker) {
		k.want("js_roundrobin", `[0, 1, 2, 0, 1, 2]`)
		k.want("js_shared_id", `true`)
		k.want("js_conflict", `"wamp.error.procedure_exists_with_different_invocation_policy"`)
	},
	"pattern":  func(k *checker) { k.want("js_pattern", `[["prefix", "BASE.a.b"], ["wildcard", "BASE.q.x"]]`) },
	"progress": func(k *checker) { k.want("js_progress", `[0, 1, 2]`); k.want("js_final", `"done"`) },
	"disclose": func(k *checker) { k.want("js_disclose", `[[false, null], [true, "anonymous"], [true]]`) },
	"timeout_cancel": func(k *checker) {
		k.want("js_timeout", `["wamp.error.timeout", true]`)
		k.want("js_cancel_kill_degraded", `["wamp.error.canceled", true]`)
	},
}

// dealerWampyScenarios: the same file's wampy scenarios.
var dealerWampyScenarios = map[string]func(k *checker){
	"wampy_shared": func(k *checker) {
		k.want("wampy_roundrobin", `[0, 1, 0, 1]`)
		k.want("wampy_wildcard", `"BASE.any.x"`)
	},
	"wampy_progress": func(k *checker) { k.want("wampy_progress", `[0, 1, 2]`); k.want("wampy_final", `"done"`) },
	"wampy_options": func(k *checker) {
		k.want("wampy_disclose", `[false, true]`)
		k.want("wampy_timeout", `"wamp.error.timeout"`)
		k.want("wampy_cancel", `"wamp.error.canceled"`)
	},
	// wampy announces payload_passthru_mode as caller and callee.
	"wampy_passthru": func(k *checker) {
		k.want("wampy_ppt", `["x_custom", "x_custom", "secret", "v"]`)
		k.want("wampy_progressive_unsupported", `"wamp.error.feature_not_supported"`)
	},
}

func TestAdvancedDealer(t *testing.T) {
	skipShort(t)
	requirePython(t)
	r := startRouter(t)

	var clients []scenarioClient
	add := func(spec clientSpec, checks map[string]func(k *checker)) {
		clients = append(clients, scenarioClient{spec: spec, r: r, checks: checks})
	}
	transports := []transportCase{{"websocket", "json"}, {"websocket", "cbor"}, {"rawsocket", "msgpack"}}
	for _, flavor := range []string{"twisted", "asyncio"} {
		for _, tc := range transports {
			c := clientCase{flavor, tc}
			add(pythonScript(t, "autobahn-python/"+c.String(), "python/advanced", "dealer_autobahn.py", c.pythonArgs(r)...),
				dealerAutobahnScenarios)
		}
	}
	add(pythonScript(t, "raw+autobahn-python", "python/advanced", "dealer_raw.py", "--url", r.wsURL(), "--rawsocket", r.rsAddr),
		dealerRawScenarios)
	requireNode(t)
	for _, ser := range []string{"json", "msgpack", "cbor"} {
		args := []string{"--url", r.wsURL(), "--serializer", ser}
		add(nodeScript(t, "autobahn-js/websocket-"+ser, "js", "advanced_dealer.js", args...), dealerJSScenarios)
		add(nodeScript(t, "wampy/websocket-"+ser, "js", "advanced_dealer.js", args...), dealerWampyScenarios)
	}
	runScenarios(t, clients, 4)
}
