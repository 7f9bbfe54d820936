package tests

import (
	"context"
	"io"
	"log/slog"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/wampd/wampd/engine"
	"github.com/wampd/wampd/netpoll"
)

// brokerScenarios maps each scenario of tests/python/advanced/broker_autobahn.py
// to what a user of the broker's Advanced Profile features expects.
var brokerScenarios = map[string]func(k *checker){
	// publisher_identification: disclose_me → publisher, publisher_authid, publisher_authrole.
	"identification": func(k *checker) {
		k.want("disclosed", `["disclosed", true, "joe", "user"]`)
		k.want("undisclosed", `["anonymous", null, null, null]`)
	},
	// subscriber_blackwhite_listing: a and b are anonymous, joe has authrole user.
	"blackwhite": func(k *checker) {
		k.want("bwl_a", `["all", "eligible", "eligible_exclude", "exclude_authid"]`)
		k.want("bwl_b", `["all", "exclude", "exclude_authid"]`)
		k.want("bwl_joe", `["all", "eligible", "exclude", "eligible_authid", "eligible_authrole", "exclude_authrole"]`)
	},
	// pattern_based_subscription: [kind, payload, details.topic relative to the
	// base]. (Autobahn fills EventDetails.topic itself for exact subscriptions;
	// the router sends it only for patterns, see engine TestPatternBasedSubscription.)
	"pattern": func(k *checker) {
		k.want("pattern_events", `[
			["exact", ".a.b", ".a.b"], ["prefix", ".a.b", ".a.b"], ["wildcard", ".a.b", ".a.b"],
			["prefix", ".a.b.c", ".a.b.c"],
			["prefix", ".a.c", ".a.c"],
			["wildcard", ".x.b", ".x.b"]]`)
	},
	// event_retention: the latest retained event (2, not the unretained 3), then live ones.
	"retained": func(k *checker) {
		k.want("retained", `[[2, true], [4, null]]`)
	},
	// subscription_meta_api.
	"submeta": func(k *checker) {
		k.want("submeta", `{"same_id": true, "lookup": true, "lookup_exact": null, "match": true,
			"get": [true, "prefix", true, true], "subscribers": true, "count": 2,
			"listed": [true, ["exact", "prefix", "wildcard"]], "missing": "wamp.error.no_such_subscription"}`)
		k.want("submeta_events", `["on_create", "on_subscribe", "on_subscribe", "on_unsubscribe", "on_unsubscribe", "on_delete"]`)
	},
	// payload_passthru_mode on PUBLISH/EVENT (raw client; asyncio + RawSocket only).
	"ppt": func(k *checker) {
		k.want("ppt_details", `{"ppt_cipher": "none", "ppt_keyid": "k1", "ppt_scheme": "mqtt", "ppt_serializer": "mqtt"}`)
		k.want("ppt_payload", `true`)
		k.want("ppt_unannounced", `"wamp.error.protocol_violation"`)
	},
}

func brokerClient(t *testing.T, c clientCase, r *router, scenarios ...string) clientSpec {
	return pythonScript(t, c.String(), "python/advanced", "broker_autobahn.py", append(c.pythonArgs(r), scenarios...)...)
}

// TestAdvancedBrokerPython runs the broker scenarios with Autobahn|Python on
// Twisted and asyncio, over WebSocket and RawSocket with all three
// serializers, against the wampd binary. The scenarios use URIs of their own,
// so all clients share one router.
func TestAdvancedBrokerPython(t *testing.T) {
	skipShort(t)
	requirePython(t)
	r := startRouter(t)
	var clients []scenarioClient
	for _, c := range pythonMix {
		var scenarios []string
		for _, sc := range slices.Sorted(maps.Keys(brokerScenarios)) {
			if sc == "ppt" && (c.lib != "asyncio" || c.tc.transport != "rawsocket") {
				continue // the raw client runs on asyncio streams over RawSocket
			}
			scenarios = append(scenarios, sc)
		}
		clients = append(clients, scenarioClient{spec: brokerClient(t, c, r), r: r, checks: brokerScenarios, scenarios: scenarios})
	}
	runScenarios(t, clients, 2)
}

// TestAdvancedBrokerHistory checks wamp.subscription.get_events from
// Autobahn|Python. History needs configuration (RealmConfig.EventHistory),
// which wampd has no flag for yet, so the router runs in-process: the real
// engine behind the real netpoll listeners.
func TestAdvancedBrokerHistory(t *testing.T) {
	skipShort(t)
	requirePython(t)
	log := &lockedBuffer{}
	rt, err := engine.NewRouter(engine.Config{
		Logger: slog.New(slog.NewTextHandler(log, nil)),
		Realms: []engine.RealmConfig{{
			Name: "realm1", Anonymous: true,
			EventHistory: []engine.HistoryRule{{Topic: "com.hist.", Match: engine.MatchPrefix, Limit: 3}},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	srv, err := netpoll.Listen(ctx, netpoll.Config{
		WebSocketAddr: "127.0.0.1:0", RawSocketAddr: "127.0.0.1:0",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}, rt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer scancel()
		rt.Shutdown(sctx)
		srv.Stop(sctx)
	})
	addrs := srv.Addrs()
	r := &router{stderr: log, wsAddr: addrs[0].String(), rsAddr: addrs[1].String()}
	cases := []clientCase{
		{"twisted", transportCase{"websocket", "json"}},
		{"asyncio", transportCase{"rawsocket", "msgpack"}},
		{"asyncio", transportCase{"websocket", "cbor"}},
	}
	specs := make([]clientSpec, len(cases))
	for i, c := range cases {
		specs[i] = brokerClient(t, c, r, "history")
	}
	results := runAll(specs, 2)
	for i, c := range cases {
		t.Run(c.String(), func(t *testing.T) {
			k := check(t, r, results[i].scenario("history"))
			k.want("history_args", `[[2], [3], [4]]`)
			k.want("history_pubs", `true`)
			k.want("history_fields", `["args", "details", "publication", "subscription", "timestamp"]`)
			k.want("history_reverse", `[4, 3]`)
		})
	}
}

// TestAdvancedBrokerNode runs tests/js/advanced/broker.js with autobahn-js
// (WebSocket json/msgpack/cbor, RawSocket json) and wampy (WebSocket
// json/msgpack/cbor) through the libraries' own subscribe/publish options.
func TestAdvancedBrokerNode(t *testing.T) {
	skipShort(t)
	requireNode(t)
	r := startRouter(t)
	cases := nodeCases()
	scenarios := []string{"blackwhite", "identification", "pattern", "retained"}
	specs := make([]clientSpec, len(cases))
	for i, c := range cases {
		specs[i] = nodeScript(t, c.String(), "js/advanced", "broker.js", append(c.nodeArgs(r), scenarios...)...)
	}
	results := runAll(specs, 2)
	for i, c := range cases {
		t.Run(c.String(), func(t *testing.T) {
			res := results[i]
			check(t, r, res.scenario("pattern")).want("js_pattern",
				`[["prefix", ".a.b", ".a.b"], ["wildcard", ".a.b", ".a.b"], ["prefix", ".a.c", ".a.c"], ["wildcard", ".x.b", ".x.b"]]`)
			check(t, r, res.scenario("identification")).want("js_identification",
				`[["disclosed", true, false], ["plain", false, true]]`)
			check(t, r, res.scenario("blackwhite")).want("js_bwl", `{"a": ["all", "eligible"], "b": ["all", "exclude"]}`)
			check(t, r, res.scenario("retained")).want("js_retained", `[[2, true], [3, false]]`)
		})
	}
}
