package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wampd/wampd/engine"
)

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "wampd.json")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestExampleConfig(t *testing.T) {
	o, err := parseFlags([]string{"-config", "example-config.json"})
	if err != nil {
		t.Fatal(err)
	}
	realms, err := applyConfigFile(&o)
	if err != nil {
		t.Fatal(err)
	}
	if o.ws != "127.0.0.1:8080" || o.wsPath != "/ws" || o.rawsocket != "127.0.0.1:8081" ||
		o.maxMessage != 16<<20 || o.maxPending != 8<<20 || !o.compression || o.logLevel != "info" || o.shutdownGrace != 3*time.Second {
		t.Errorf("listener settings not taken from the file: %+v", o)
	}
	if len(realms) != 2 || realms[0].Name != "realm1" || realms[1].Name != "com.example.internal" {
		t.Fatalf("realms %+v", realms)
	}
	r1 := realms[0]
	if !r1.Anonymous || r1.Tickets["joe"] != (engine.TicketUser{Ticket: "secret123", Role: "user"}) ||
		r1.WampCRA["salty"].Salt != "salt123" || r1.WampCRA["peter"].Role != "backend" ||
		len(r1.Cryptosign["device1"].PublicKeys) != 1 || r1.Cryptosign["device1"].Role != "device" {
		t.Errorf("realm1 %+v", r1)
	}
	wantRule := engine.HistoryRule{Topic: "com.example.", Match: engine.MatchPrefix, Limit: 100, MaxAge: time.Hour}
	if len(r1.EventHistory) != 1 || r1.EventHistory[0] != wantRule || r1.MaxHistoryTopics != 1024 || r1.MaxRetainedTopics != 10000 {
		t.Errorf("event history of realm1: %+v, max topics %d/%d", r1.EventHistory, r1.MaxHistoryTopics, r1.MaxRetainedTopics)
	}
	if realms[1].Anonymous || realms[1].Authorizer != nil {
		t.Errorf("realm 2 should be closed to anonymous and have no authorizer: %+v", realms[1])
	}
	// The permissions do what the file says.
	az := r1.Authorizer
	for _, c := range []struct {
		role   string
		action engine.Action
		uri    string
		want   bool
	}{
		{"anonymous", engine.ActionSubscribe, "com.example.public.news", true},
		{"anonymous", engine.ActionCall, "com.example.public.time", true},
		{"anonymous", engine.ActionPublish, "com.example.public.news", false},
		{"anonymous", engine.ActionSubscribe, "com.example.private", false},
		{"device", engine.ActionRegister, "com.example.device.reboot", true},
		{"device", engine.ActionCall, "com.example.device.reboot", false},
		{"backend", engine.ActionRegister, "anything.at.all", true},
		{"stranger", engine.ActionCall, "com.example.public.time", false},
	} {
		if got := az.Authorize(&engine.Identity{AuthRole: c.role}, c.action, []byte(c.uri)); got != c.want {
			t.Errorf("%s %v %s: %v, want %v", c.role, c.action, c.uri, got, c.want)
		}
	}
	// And the engine takes the realms (salted keys derive, public keys parse).
	if _, err := engine.NewRouter(engine.Config{Realms: realms}); err != nil {
		t.Fatalf("engine refuses the example's realms: %v", err)
	}
}

func TestConfigFlagsOverrideListeners(t *testing.T) {
	p := writeConfig(t, `{"listen": {"websocket": "127.0.0.1:1", "rawsocket": "127.0.0.1:2", "websocket_path": "/wamp",
		"compression": true, "max_message": 1000}, "log_level": "warn",
		"realms": [{"name": "realm1", "anonymous": true}]}`)
	o, err := parseFlags([]string{"-config", p, "-ws", "127.0.0.1:0", "-compression=false", "-log-level", "debug"})
	if err != nil {
		t.Fatal(err)
	}
	realms, err := applyConfigFile(&o)
	if err != nil {
		t.Fatal(err)
	}
	if o.ws != "127.0.0.1:0" || o.compression || o.logLevel != "debug" {
		t.Errorf("flags did not win: ws %q compression %v log %q", o.ws, o.compression, o.logLevel)
	}
	if o.rawsocket != "127.0.0.1:2" || o.wsPath != "/wamp" || o.maxMessage != 1000 {
		t.Errorf("file settings not applied: rawsocket %q path %q max %d", o.rawsocket, o.wsPath, o.maxMessage)
	}
	if len(realms) != 1 || !realms[0].Anonymous || realms[0].Authorizer != nil {
		t.Errorf("realms %+v", realms)
	}

	// -ws '' on the command line disables the file's WebSocket listener.
	o, _ = parseFlags([]string{"-config", p, "-ws", ""})
	if _, err := applyConfigFile(&o); err != nil || o.ws != "" {
		t.Errorf("-ws '': ws %q, err %v", o.ws, err)
	}
}

func TestConfigRealmFlagsConflict(t *testing.T) {
	p := writeConfig(t, `{"realms": [{"name": "realm1", "anonymous": true}]}`)
	for _, f := range [][]string{{"-realm", "x"}, {"-ticket", "a:b"}, {"-anonymous=false"}} {
		o, err := parseFlags(append([]string{"-config", p}, f...))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := applyConfigFile(&o); err == nil || !strings.Contains(err.Error(), "cannot be combined with -config") {
			t.Errorf("%v with -config: err %v", f, err)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	const key = "fc698056be61fc1631e17a42184551bcaf111f653702e15cab5dfc76c2c78216"
	for _, c := range []struct{ name, body, want string }{
		{"empty", ``, `: empty file`},
		{"syntax", "{\n  \"realms\": [\n    {\"name\": \"r\",,}\n  ]\n}", `:3:19: invalid character ','`},
		{"unknown field", `{"realms": [{"name": "realm1", "anonymus": true}]}`, `unknown field "anonymus"`},
		{"type", `{"realms": [{"name": "realm1", "anonymous": "yes"}]}`, `realms.anonymous: want bool, got JSON string`},
		{"trailing", `{"realms": [{"name": "realm1", "anonymous": true}]} {}`, `unexpected data after the JSON object`},
		{"no realms", `{}`, `: realms: at least one realm is needed`},
		{"no name", `{"realms": [{"anonymous": true}]}`, `: realms[0].name: missing`},
		{"bad name", `{"realms": [{"name": "a..b", "anonymous": true}]}`, `realms[0].name: "a..b" is not a WAMP URI`},
		{"duplicate realm", `{"realms": [{"name": "r", "anonymous": true}, {"name": "r", "anonymous": true}]}`, `realms[1].name: realm "r" is already realms[0]`},
		{"nobody can join", `{"realms": [{"name": "r"}]}`, `realms[0]: nobody can join realm "r"`},
		{"no ticket", `{"realms": [{"name": "r", "ticket": {"joe": {}}}]}`, `realms[0].ticket.joe.ticket: missing`},
		{"no secret", `{"realms": [{"name": "r", "wampcra": {"peter": {"role": "x"}}}]}`, `realms[0].wampcra.peter.secret: missing`},
		{"iterations without salt", `{"realms": [{"name": "r", "wampcra": {"peter": {"secret": "s", "iterations": 5}}}]}`, `realms[0].wampcra.peter: iterations and keylen need a salt`},
		{"negative iterations", `{"realms": [{"name": "r", "wampcra": {"peter": {"secret": "s", "salt": "x", "iterations": -5}}}]}`, `realms[0].wampcra.peter.iterations: -5 is negative`},
		{"no pubkeys", `{"realms": [{"name": "r", "cryptosign": {"dev": {}}}]}`, `realms[0].cryptosign.dev.pubkeys: at least one public key`},
		{"bad pubkey", `{"realms": [{"name": "r", "cryptosign": {"dev": {"pubkeys": ["` + key + `", "abc"]}}}]}`, `realms[0].cryptosign.dev.pubkeys[1]: want an Ed25519 public key as 64 hex digits, got "abc"`},
		{"shared pubkey", `{"realms": [{"name": "r", "cryptosign": {"a": {"pubkeys": ["` + key + `"]}, "b": {"pubkeys": ["` + strings.ToUpper(key) + `"]}}}]}`, `realms[0].cryptosign.b.pubkeys[0]: the same key is also given for realms[0].cryptosign.a.pubkeys[0]`},
		{"unknown action", `{"realms": [{"name": "r", "anonymous": true, "roles": {"anonymous": [{"uri": "", "allow": ["read"]}]}}]}`, `realms[0].roles.anonymous[0].allow: unknown action "read"`},
		{"no actions", `{"realms": [{"name": "r", "anonymous": true, "roles": {"anonymous": [{"uri": ""}]}}]}`, `realms[0].roles.anonymous[0].allow: no actions`},
		{"no uri", `{"realms": [{"name": "r", "anonymous": true, "roles": {"anonymous": [{"allow": ["call"]}]}}]}`, `realms[0].roles.anonymous[0].uri: missing`},
		{"role not in roles", `{"realms": [{"name": "r", "wampcra": {"peter": {"secret": "s", "role": "admin"}}, "roles": {"user": []}}]}`, `realms[0].wampcra.peter.role: role "admin" is not in realms[0].roles`},
		{"default role not in roles", `{"realms": [{"name": "r", "ticket": {"joe": {"ticket": "t"}}, "roles": {"admin": []}}]}`, `realms[0].ticket.joe.role: role "user" is not in realms[0].roles`},
		{"anonymous not in roles", `{"realms": [{"name": "r", "anonymous": true, "roles": {"user": []}}]}`, `realms[0].anonymous: role "anonymous" is not in realms[0].roles`},
		{"bad log level", `{"log_level": "loud", "realms": [{"name": "r", "anonymous": true}]}`, `: log_level: want debug, info, warn or error, got "loud"`},
		{"bad grace", `{"shutdown_grace": "soon", "realms": [{"name": "r", "anonymous": true}]}`, `: shutdown_grace: want a duration`},
		{"bad max_message", `{"listen": {"max_message": 0}, "realms": [{"name": "r", "anonymous": true}]}`, `: listen.max_message: must be positive`},
		{"bad history match", `{"realms": [{"name": "r", "anonymous": true, "event_history": [{"topic": "a", "match": "regex"}]}]}`, `realms[0].event_history[0]: match "regex"`},
		{"history without topic", `{"realms": [{"name": "r", "anonymous": true, "event_history": [{"limit": 5}]}]}`, `realms[0].event_history[0]: topic: missing`},
		{"bad history age", `{"realms": [{"name": "r", "anonymous": true, "event_history": [{"topic": "a", "max_age": "-1s"}]}]}`, `realms[0].event_history[0]: max_age "-1s"`},
		{"nothing to serve", `{"listen": {"websocket": "", "rawsocket": ""}, "realms": [{"name": "r", "anonymous": true}]}`, `nothing to serve`},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := writeConfig(t, c.body)
			o, err := parseFlags([]string{"-config", p})
			if err != nil {
				t.Fatal(err)
			}
			_, err = applyConfigFile(&o)
			if err == nil {
				t.Fatalf("no error, want one containing %q", c.want)
			}
			if !strings.HasPrefix(err.Error(), p) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q, want %q after the file name %s", err, c.want, p)
			}
		})
	}
}

func TestConfigMissingFile(t *testing.T) {
	o, err := parseFlags([]string{"-config", filepath.Join(t.TempDir(), "nope.json")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := applyConfigFile(&o); err == nil || !strings.Contains(err.Error(), "nope.json") {
		t.Fatalf("missing file: err %v", err)
	}
}
