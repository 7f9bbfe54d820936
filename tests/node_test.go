package tests

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"
)

// nodeTransports: autobahn-js ships JSON, MessagePack (msgpack5) and CBOR (cbor)
// serializers, and a Node-only RawSocket transport that speaks JSON only; wampy ships
// JSON, MessagePack (msgpackr) and CBOR (cbor-x) over WebSocket only.
var nodeTransports = map[string][]transportCase{
	"autobahn": {{"websocket", "json"}, {"websocket", "msgpack"}, {"websocket", "cbor"}, {"rawsocket", "json"}},
	"wampy":    {{"websocket", "json"}, {"websocket", "msgpack"}, {"websocket", "cbor"}},
}

// nodeCases is every Node library with every transport and serializer it supports.
func nodeCases() []clientCase {
	var cases []clientCase
	for _, lib := range slices.Sorted(maps.Keys(nodeTransports)) {
		for _, tc := range nodeTransports[lib] {
			cases = append(cases, clientCase{lib, tc})
		}
	}
	return cases
}

func nodeScenarios(lib string) map[string]func(k *checker) {
	return map[string]func(k *checker){
		"rpc": func(k *checker) {
			k.want("add2", `5`)
			k.want("echo_args", `[1, "two", [3.5, true, null], {"k": "v"}]`)
			k.want("echo_kwargs", `{"a": 1, "u": "üß中"}`)
		},
		"pubsub": func(k *checker) {
			k.want("events", `[0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20]`)
			k.want("event_kwargs", `[{"label": "last"}]`)
			k.want("after_unsubscribe", `[]`)
			if lib == "wampy" {
				// wampy 8.0.2 cannot send exclude_me=false: only the default is checked.
				k.want("publisher_got", `[]`)
			} else {
				k.want("publisher_got", `["included"]`)
			}
			k.wantID("publication_id")
		},
		"errors": func(k *checker) {
			k.want("oops", `"com.myapp.error.oops"`)
			k.want("oops_args", `[1, 2]`)
			k.want("oops_kwargs", `{"x": 3}`)
			k.want("no_such", `"wamp.error.no_such_procedure"`)
			k.want("twice", `"wamp.error.procedure_already_exists"`)
		},
		"ticket": func(k *checker) {
			k.want("authid", `"joe"`)
			k.want("authrole", `"user"`)
			k.want("authmethod", `"ticket"`)
			k.want("wrong_ticket", `"wamp.error.authentication_failed"`)
		},
	}
}

// TestNodeClients runs RPC, PubSub, errors and ticket auth with autobahn-js and wampy
// over every serializer (and transport) each library supports.
func TestNodeClients(t *testing.T) {
	skipShort(t)
	requireNode(t)
	r := startRouter(t)
	var clients []scenarioClient
	for _, c := range nodeCases() {
		clients = append(clients, scenarioClient{spec: nodeClient(t, c.String(), c.nodeArgs(r)...), r: r, checks: nodeScenarios(c.lib)})
	}
	runScenarios(t, clients, 4)
}

// peer is one client library configuration in a cross-language test.
type peer struct {
	lang       string // python | node
	lib        string // twisted | asyncio (python); autobahn | wampy (node)
	transport  string
	serializer string
}

func (p peer) String() string {
	short := map[string]string{"websocket": "ws", "rawsocket": "rs"}[p.transport]
	return fmt.Sprintf("%s-%s-%s", p.lib, short, p.serializer)
}

func (p peer) spec(t *testing.T, r *router, role, topic string, count int) clientSpec {
	c := clientCase{p.lib, transportCase{p.transport, p.serializer}}
	args := []string{"--topic", topic, "--count", fmt.Sprint(count), role}
	name := role + ":" + p.String()
	if p.lang == "python" {
		return pythonClient(t, name, append(c.pythonArgs(r), args...)...)
	}
	return nodeClient(t, name, append(c.nodeArgs(r), args...)...)
}

// binaryAsSeenBy is how the test payload's bytes show in a subscriber's output.
// Autobahn|Python decodes the JSON "\u0000"+base64 convention into bytes; the Node
// libraries leave it as that string on JSON and give a Buffer on MessagePack/CBOR.
func binaryAsSeenBy(p peer) any {
	bin := []byte{0x00, 0x01, 0x02, 0xfe, 0xff, 'h', 'e', 'l', 'l', 'o'}
	if p.lang == "node" && p.serializer == "json" {
		return "\u0000" + base64.StdEncoding.EncodeToString(bin)
	}
	return map[string]any{"$bytes": fmt.Sprintf("%x", bin)}
}

// crossPair is one cross-library test: a server side that must be ready first
// (subscriber or callee) and a client side (publisher or caller).
type crossPair struct {
	kind           string // pubsub | rpc
	client, server peer
}

// TestCrossLanguage publishes (calls) from one library/serializer and subscribes
// (serves the call) with another: the router must transcode arguments between JSON,
// MessagePack and CBOR, including binary values (MessagePack bin, CBOR byte string,
// JSON "\u0000"+base64), on EVENT and on INVOCATION/RESULT.
func TestCrossLanguage(t *testing.T) {
	skipShort(t)
	requirePython(t)
	requireNode(t)
	r := startRouter(t)
	py := func(flavor, tr, ser string) peer { return peer{"python", flavor, tr, ser} }
	js := func(lib, tr, ser string) peer { return peer{"node", lib, tr, ser} }
	ws, rs := "websocket", "rawsocket"
	pairs := []crossPair{
		{"pubsub", js("autobahn", ws, "json"), js("wampy", ws, "msgpack")},
		{"pubsub", py("twisted", ws, "cbor"), js("autobahn", ws, "json")},
		{"pubsub", js("wampy", ws, "cbor"), py("asyncio", ws, "json")},
		{"pubsub", py("twisted", rs, "msgpack"), js("wampy", ws, "json")},
		{"pubsub", js("autobahn", ws, "msgpack"), py("asyncio", ws, "cbor")},
		{"pubsub", js("wampy", ws, "msgpack"), js("autobahn", ws, "cbor")},
		{"pubsub", js("autobahn", rs, "json"), py("twisted", rs, "msgpack")},
		{"pubsub", js("wampy", ws, "json"), js("autobahn", ws, "msgpack")},
		{"pubsub", py("asyncio", ws, "json"), py("twisted", rs, "cbor")},
		{"pubsub", py("asyncio", rs, "cbor"), js("wampy", ws, "cbor")},
		{"rpc", js("wampy", ws, "json"), py("twisted", ws, "msgpack")},
		{"rpc", py("asyncio", ws, "cbor"), js("autobahn", ws, "json")},
		{"rpc", js("autobahn", ws, "msgpack"), js("wampy", ws, "cbor")},
		{"rpc", py("twisted", rs, "json"), py("asyncio", ws, "cbor")},
		{"rpc", js("autobahn", rs, "json"), js("autobahn", ws, "msgpack")},
	}
	const count = 5
	type outcome struct{ client, server *clientResult }
	outcomes := make([]outcome, len(pairs))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 3) // each pair is two processes
	for i, pair := range pairs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			serverRole, clientRole := "sub", "pub"
			if pair.kind == "rpc" {
				serverRole, clientRole = "callee", "caller"
			}
			uri := fmt.Sprintf("com.myapp.cross.%s%d", pair.kind, i)
			spec := pair.server.spec(t, r, serverRole, uri, count)
			server, err := launchProc(spec)
			if err != nil {
				outcomes[i] = outcome{server: &clientResult{name: spec.name, args: spec.argv, err: err}}
				return
			}
			defer server.stop()
			if err := server.waitLine(`"ready"`, 30*time.Second); err != nil {
				outcomes[i] = outcome{server: server.result(time.Second)}
				outcomes[i].server.err = err
				return
			}
			client := runClient(pair.client.spec(t, r, clientRole, uri, count))
			outcomes[i] = outcome{client: client, server: server.result(30 * time.Second)}
		}()
	}
	wg.Wait()
	for i, pair := range pairs {
		t.Run(fmt.Sprintf("%s/%s_to_%s", pair.kind, pair.client, pair.server), func(t *testing.T) {
			o := outcomes[i]
			if pair.kind == "pubsub" {
				if o.client != nil {
					check(t, r, o.client.scenario("pub")).wantID("publication_id")
				}
				checkPayloads(check(t, r, o.server.scenario("sub")), "event", pair.server, count)
				return
			}
			check(t, r, o.server.scenario("callee"))
			if o.client == nil {
				t.Fatal("caller did not run: the callee never got ready")
			}
			checkPayloads(check(t, r, o.client.scenario("caller")), "result", pair.client, count)
		})
	}
}

// checkPayloads checks the key lines ("event" or "result") of a receiver: count
// payloads in order, each [n, "text-ü", <binary>] + {bin: <binary>, n: n, nested: {l: [1, 2]}}.
func checkPayloads(k *checker, key string, receiver peer, count int) {
	k.t.Helper()
	bin := binaryAsSeenBy(receiver)
	var got []any
	for _, l := range k.c.lines {
		if e, ok := l[key]; ok {
			got = append(got, e)
		}
	}
	var want []any
	for n := 0; n < count; n++ {
		want = append(want, map[string]any{
			"args":   []any{n, "text-ü", bin},
			"kwargs": map[string]any{"bin": bin, "n": n, "nested": map[string]any{"l": []any{1, 2}}},
		})
	}
	if !jsonEqual(got, want) {
		g, _ := json.Marshal(got)
		w, _ := json.Marshal(want)
		k.fail("%s (%s) got %s payloads\n  %s\nwant\n  %s", k.c.name, receiver, key, g, w)
	}
}
