package tests

import (
	"crypto/ed25519"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// csSeed is device1's Ed25519 private key (seed) in the auth config; the Python
// client gets it on its command line.
const csSeed = "5a1b2c3d4e5f60718293a4b5c6d7e8f90112233445566778899aabbccddeeff0"

// authConfig is a -config file exercising every authentication method and role
// permissions. The listener addresses in it are placeholders: the -ws and
// -rawsocket flags override them (which the test relies on).
func authConfig(t *testing.T) string {
	t.Helper()
	seed, _ := hex.DecodeString(csSeed)
	pub := hex.EncodeToString(ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey))
	cfg := fmt.Sprintf(`{
  "listen": {"websocket": "127.0.0.1:1", "rawsocket": "127.0.0.1:2", "websocket_path": "/ws"},
  "log_level": "debug",
  "realms": [{
    "name": "realm1",
    "anonymous": true,
    "ticket": {"joe": {"ticket": "secret123", "role": "user"}},
    "wampcra": {
      "peter": {"secret": "secret123", "role": "backend"},
      "salty": {"secret": "a password", "role": "user", "salt": "salt123", "iterations": 1000, "keylen": 32}
    },
    "cryptosign": {"device1": {"pubkeys": [%q], "role": "device"}},
    "roles": {
      "anonymous": [{"uri": "com.example.public.", "allow": ["subscribe", "call"]}],
      "user": [{"uri": "com.example.", "allow": ["publish", "subscribe", "call"]}],
      "device": [{"uri": "com.example.device.", "allow": ["publish"]}],
      "backend": [{"uri": "", "allow": ["all"]}]
    }
  }]
}`, pub)
	p := filepath.Join(t.TempDir(), "wampd-auth.json")
	if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// startRouterWithConfig runs wampd with -config on free ports (given as flags,
// which override the file's listeners) and waits until both listeners accept.
func startRouterWithConfig(t *testing.T, config string) *router {
	t.Helper()
	bin := routerBinary(t)
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ { // a free port can be taken before we bind it
		ws, rs := freePort(t), freePort(t)
		r := &router{stderr: &lockedBuffer{}, exited: make(chan struct{}), wsAddr: ws, rsAddr: rs}
		r.cmd = exec.Command(bin, "-config", config, "-ws", ws, "-rawsocket", rs)
		r.cmd.Stdout, r.cmd.Stderr = r.stderr, r.stderr
		if err := r.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { r.cmd.Wait(); close(r.exited) }()
		lastErr = waitListening(r)
		if lastErr == nil {
			t.Cleanup(func() { r.stop(t) })
			return r
		}
	}
	t.Fatalf("starting router with -config: %v", lastErr)
	return nil
}

func waitListening(r *router) error {
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-r.exited:
			return fmt.Errorf("router exited during startup (%v)\n%s", r.cmd.ProcessState, r.logTail())
		default:
		}
		if strings.Count(r.stderr.String(), "listening") >= 2 && dialable(r.wsAddr) && dialable(r.rsAddr) {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	r.cmd.Process.Kill()
	<-r.exited
	return fmt.Errorf("router did not listen on %s and %s within 20s\n%s", r.wsAddr, r.rsAddr, r.logTail())
}

func requireNaCl(t *testing.T) {
	t.Helper()
	out, err := exec.Command(pythonBin, "-c", "import nacl.signing; from autobahn.wamp.cryptosign import CryptosignKey").CombinedOutput()
	if err != nil {
		t.Fatalf("PyNaCl (python3-nacl) is missing for %s: %v\n%s\n%s", pythonBin, err, out, installHint)
	}
}

var authScenarios = map[string]func(k *checker){
	"wampcra": func(k *checker) {
		k.want("cra", `{"authid": "peter", "authrole": "backend", "authmethod": "wampcra", "authprovider": "static"}`)
		k.want("cra_challenge_session", `true`)
		k.want("cra_challenge_keys", `["authid", "authmethod", "authprovider", "authrole", "nonce", "session", "timestamp"]`)
		k.want("cra_salted", `false`)
		k.want("cra_ping", `"pong"`)
		k.want("cra_salted_user", `{"authid": "salty", "authrole": "user", "authmethod": "wampcra", "authprovider": "static"}`)
		k.want("cra_salt", `["salt123", 1000, 32]`)
		k.want("cra_wrong_secret", `"wamp.error.authentication_failed"`)
		k.want("cra_wrong_password", `"wamp.error.authentication_failed"`)
		k.want("cra_unknown_user", `"wamp.error.authentication_failed"`)
		k.want("cra_component", `{"authid": "salty", "authrole": "user", "authmethod": "wampcra", "authprovider": "static"}`)
	},
	"cryptosign": func(k *checker) {
		k.want("cs", `{"authid": "device1", "authrole": "device", "authmethod": "cryptosign", "authprovider": "static"}`)
		k.want("cs_challenge_len", `64`)
		k.want("cs_publish_ok", `true`)
		k.want("cs_call", `"wamp.error.not_authorized"`)
		k.want("cs_by_key", `{"authid": "device1", "authrole": "device", "authmethod": "cryptosign", "authprovider": "static"}`)
		k.want("cs_unknown_key", `"wamp.error.authentication_failed"`)
		k.want("cs_wrong_key", `"wamp.error.authentication_failed"`)
		k.want("cs_component", `{"authid": "device1", "authrole": "device", "authmethod": "cryptosign", "authprovider": "static"}`)
	},
	"roles": func(k *checker) {
		v, _ := k.value("anon")
		if m, ok := v.(map[string]any); !ok || m["authrole"] != "anonymous" || m["authmethod"] != "anonymous" {
			k.fail("anonymous join: %v", v)
		}
		k.want("anon_permissions", `{"subscribe_public": "allowed", "publish_public": "wamp.error.not_authorized",
			"register_public": "wamp.error.not_authorized", "subscribe_private": "wamp.error.not_authorized"}`)
	},
}

// TestAuthAutobahnPython joins wampd (started with a -config file) with
// Autobahn|Python using WAMP-CRA (plain and salted) and WAMP-Cryptosign, checks
// refusals, and checks the config file's role permissions.
func TestAuthAutobahnPython(t *testing.T) {
	skipShort(t)
	requirePython(t)
	requireNaCl(t)
	r := startRouterWithConfig(t, authConfig(t))

	cases := []clientCase{
		{"twisted", transportCase{"websocket", "json"}},
		{"asyncio", transportCase{"rawsocket", "msgpack"}},
		{"twisted", transportCase{"rawsocket", "cbor"}},
		{"asyncio", transportCase{"websocket", "cbor"}},
	}
	var clients []scenarioClient
	for _, c := range cases {
		spec := pythonScript(t, c.String(), "python/auth", "auth_scenarios.py", append(c.pythonArgs(r), "--cs-privkey", csSeed)...)
		clients = append(clients, scenarioClient{spec: spec, r: r, checks: authScenarios})
	}
	runScenarios(t, clients, 2)
	if !strings.Contains(r.stderr.String(), "authentication failed") {
		t.Errorf("router logged no failed authentication\n%s", r.logTail())
	}
}

// TestConfigFileRejected: a broken -config file stops wampd at start-up with an
// error naming the file and the field.
func TestConfigFileRejected(t *testing.T) {
	skipShort(t)
	bin := routerBinary(t)
	p := filepath.Join(t.TempDir(), "bad.json")
	os.WriteFile(p, []byte(`{"realms": [{"name": "realm1", "wampcra": {"peter": {"role": "user"}}}]}`), 0o600)
	out, err := exec.Command(bin, "-config", p, "-ws", "127.0.0.1:0", "-rawsocket", "").CombinedOutput()
	if err == nil {
		t.Fatalf("wampd started with a broken config:\n%s", out)
	}
	if want := p + ": realms[0].wampcra.peter.secret: missing"; !strings.Contains(string(out), want) {
		t.Fatalf("wampd output %q, want it to contain %q", out, want)
	}
}
