package engine

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/wampd/wampd/codec"
)

// autobahnSaltedKey is Autobahn|Python's
// derive_key("pass word", "salt123", 1000, 32): the key a client derives for
// the salted user below. Computed by Autobahn, not by this package.
const autobahnSaltedKey = "n+b9JjIKc333a4hWw4AW+Wg/jmm/cwnlwaGIM2DOE80="

func craRealm() RealmConfig {
	return RealmConfig{
		Name:      "realm1",
		Anonymous: true,
		Tickets:   map[string]TicketUser{"joe": {Ticket: "t1", Role: "user"}},
		WampCRA: map[string]WampCRAUser{
			"peter": {Secret: "secret123", Role: "backend"},
			"salty": {Secret: "pass word", Role: "frontend", Salt: "salt123", Iterations: 1000, KeyLen: 32},
		},
	}
}

// craSign is what a client computes: base64(HMAC-SHA256(key, challenge)).
func craSign(key, challenge string) string {
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte(challenge))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// craChallengeOf sends a wampcra HELLO for authid and returns the CHALLENGE's
// extra and its decoded challenge object.
func craChallengeOf(t *testing.T, c *client, authid string) (extra map[string]any, text string, obj map[string]any) {
	t.Helper()
	c.send(hello("realm1", opt("authmethods", []string{"wampcra"}), opt("authid", authid)))
	ch := c.expect(codec.Challenge)
	if string(ch.Text) != "wampcra" {
		t.Fatalf("CHALLENGE method %q, want wampcra", ch.Text)
	}
	extra = details(t, ch)
	text, ok := extra["challenge"].(string)
	if !ok {
		t.Fatalf("CHALLENGE extra %v has no challenge string", extra)
	}
	if err := json.Unmarshal([]byte(text), &obj); err != nil {
		t.Fatalf("challenge %q is not a JSON object: %v", text, err)
	}
	return extra, text, obj
}

func authenticate(c *client, sig string) {
	c.send(&codec.Message{Type: codec.Authenticate, Text: []byte(sig)})
}

func TestWampCRASuccess(t *testing.T) {
	r := newTestRouter(t, craRealm())
	for _, k := range []codec.Kind{codec.JSON, codec.MsgPack, codec.CBOR} {
		c := connect(t, r, k)
		extra, text, obj := craChallengeOf(t, c, "peter")
		for _, f := range []string{"salt", "iterations", "keylen"} {
			if _, ok := extra[f]; ok {
				t.Errorf("%v: unsalted user's CHALLENGE has %s: %v", k, f, extra)
			}
		}
		for f, want := range map[string]any{"authid": "peter", "authrole": "backend", "authmethod": "wampcra", "authprovider": "static"} {
			if obj[f] != want {
				t.Errorf("%v: challenge %s = %v, want %v (%s)", k, f, obj[f], want, text)
			}
		}
		if n, _ := obj["nonce"].(string); len(n) < 16 {
			t.Errorf("%v: challenge nonce %q too short", k, n)
		}
		ts, _ := obj["timestamp"].(string)
		if at, err := time.Parse(time.RFC3339, ts); err != nil || time.Since(at) > time.Minute || !strings.HasSuffix(ts, "Z") {
			t.Errorf("%v: challenge timestamp %q is not a current UTC ISO 8601 time (%v)", k, ts, err)
		}
		authenticate(c, craSign("secret123", text))
		w := c.expect(codec.Welcome)
		if sid, _ := obj["session"].(float64); uint64(sid) != w.Session {
			t.Errorf("%v: challenge session %v, WELCOME session %d", k, obj["session"], w.Session)
		}
		d := details(t, w)
		if d["authid"] != "peter" || d["authrole"] != "backend" || d["authmethod"] != "wampcra" || d["authprovider"] != "static" {
			t.Errorf("%v: WELCOME details %v", k, d)
		}
	}
}

func TestWampCRAWrongSecretThenRetry(t *testing.T) {
	r := newTestRouter(t, craRealm())
	c := connect(t, r, codec.JSON)
	_, text, _ := craChallengeOf(t, c, "peter")
	authenticate(c, craSign("secret124", text))
	c.expectAbort("wamp.error.authentication_failed")
	// Not base64 at all: the same answer.
	craChallengeOf(t, c, "peter")
	authenticate(c, "not base64 !!")
	c.expectAbort("wamp.error.authentication_failed")
	// The transport stays usable: the right secret joins.
	_, text, _ = craChallengeOf(t, c, "peter")
	authenticate(c, craSign("secret123", text))
	c.expect(codec.Welcome)
}

func TestWampCRASalted(t *testing.T) {
	r := newTestRouter(t, craRealm())
	c := connect(t, r, codec.MsgPack)
	extra, text, obj := craChallengeOf(t, c, "salty")
	if extra["salt"] != "salt123" || !equalJSONish(extra["iterations"], 1000) || !equalJSONish(extra["keylen"], 32) {
		t.Fatalf("salted CHALLENGE extra %v, want salt salt123, iterations 1000, keylen 32", extra)
	}
	if obj["authrole"] != "frontend" {
		t.Fatalf("challenge %s", text)
	}
	// The password itself is not the key.
	authenticate(c, craSign("pass word", text))
	c.expectAbort("wamp.error.authentication_failed")

	_, text, _ = craChallengeOf(t, c, "salty")
	authenticate(c, craSign(autobahnSaltedKey, text))
	d := details(t, c.expect(codec.Welcome))
	if d["authid"] != "salty" || d["authrole"] != "frontend" || d["authmethod"] != "wampcra" {
		t.Fatalf("WELCOME details %v", d)
	}
}

func TestWampCRAUnknownUser(t *testing.T) {
	r := newTestRouter(t, craRealm())
	c := connect(t, r, codec.JSON)
	// An unknown user gets a challenge shaped like a real one (here with a
	// salt, since the realm has salted users), stable across attempts.
	extra, text, obj := craChallengeOf(t, c, "mallory")
	if obj["authid"] != "mallory" || obj["authrole"] != "user" || obj["authmethod"] != "wampcra" {
		t.Fatalf("unknown user's challenge %s", text)
	}
	salt, _ := extra["salt"].(string)
	if salt == "" || !equalJSONish(extra["iterations"], 1000) || !equalJSONish(extra["keylen"], 32) {
		t.Fatalf("unknown user's CHALLENGE extra %v: want a salt like the real users'", extra)
	}
	authenticate(c, craSign("secret123", text))
	c.expectAbort("wamp.error.authentication_failed")
	extra2, text2, _ := craChallengeOf(t, c, "mallory")
	if extra2["salt"] != salt {
		t.Fatalf("unknown user's salt changed between attempts: %v then %v", salt, extra2["salt"])
	}
	authenticate(c, craSign("", text2))
	c.expectAbort("wamp.error.authentication_failed")

	// A realm without salted users sends no salt to unknown users either.
	r2 := newTestRouter(t, RealmConfig{Name: "realm1", WampCRA: map[string]WampCRAUser{"peter": {Secret: "s"}}})
	c2 := connect(t, r2, codec.JSON)
	if extra, _, _ := craChallengeOf(t, c2, "nobody"); extra["salt"] != nil {
		t.Fatalf("unsalted realm sent a salt to an unknown user: %v", extra)
	}
}

func TestWampCRAReplay(t *testing.T) {
	r := newTestRouter(t, craRealm())
	victim := connect(t, r, codec.JSON)
	_, text, _ := craChallengeOf(t, victim, "peter")
	sig := craSign("secret123", text)
	authenticate(victim, sig)
	victim.expect(codec.Welcome)

	// An eavesdropper replays the signature: its challenge has another
	// nonce and session, so the old signature is worthless.
	eve := connect(t, r, codec.JSON)
	_, text2, _ := craChallengeOf(t, eve, "peter")
	if text2 == text {
		t.Fatal("two challenges were identical")
	}
	authenticate(eve, sig)
	eve.expectAbort("wamp.error.authentication_failed")
}

func TestWampCRAExpiredChallenge(t *testing.T) {
	a, err := NewWampCRA(map[string]WampCRAUser{"peter": {Secret: "secret123"}})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	a.(*wampCRA).now = func() time.Time { return now }
	r := newTestRouter(t, RealmConfig{Name: "realm1", Authenticators: []Authenticator{a}})
	c := connect(t, r, codec.JSON)
	_, text, _ := craChallengeOf(t, c, "peter")
	now = now.Add(ChallengeTTL + time.Second)
	authenticate(c, craSign("secret123", text))
	c.expectAbort("wamp.error.authentication_failed")
}

func TestWampCRAChallengeAnsweredOnce(t *testing.T) {
	a, err := NewWampCRA(map[string]WampCRAUser{"peter": {Secret: "k"}})
	if err != nil {
		t.Fatal(err)
	}
	ch, err := a.Begin(&HelloInfo{Realm: "realm1", Session: 7, AuthID: "peter", AuthMethods: []string{"wampcra"}})
	if err != nil {
		t.Fatal(err)
	}
	sig := craSign("k", ch.Extra()["challenge"].(string))
	var errs []error
	for range 2 {
		ch.Verify(AuthenticateInfo{Signature: sig}, func(id Identity, err error) { errs = append(errs, err) })
	}
	if len(errs) != 2 || errs[0] != nil || errs[1] == nil {
		t.Fatalf("verify twice: %v, want success then failure", errs)
	}
}

func TestWampCRAMissingAuthID(t *testing.T) {
	r := newTestRouter(t, craRealm())
	c := connect(t, r, codec.JSON)
	c.send(hello("realm1", opt("authmethods", []string{"wampcra"})))
	c.expectAbort("wamp.error.authentication_failed")
}

// WELCOME names the method actually used, whichever the client listed first.
func TestWelcomeAuthMethodIsTheOneUsed(t *testing.T) {
	r := newTestRouter(t, craRealm())
	c := connect(t, r, codec.JSON)
	c.send(hello("realm1", opt("authmethods", []string{"cryptosign", "ticket", "wampcra"}), opt("authid", "joe")))
	if ch := c.expect(codec.Challenge); string(ch.Text) != "ticket" {
		t.Fatalf("CHALLENGE for %q, want ticket (cryptosign is not configured)", ch.Text)
	}
	authenticate(c, "t1")
	if d := details(t, c.expect(codec.Welcome)); d["authmethod"] != "ticket" {
		t.Fatalf("WELCOME authmethod %v", d["authmethod"])
	}
}

func TestWampCRAConfigErrors(t *testing.T) {
	for name, u := range map[string]WampCRAUser{
		"empty secret":   {Secret: ""},
		"bad iterations": {Secret: "s", Salt: "x", Iterations: -1},
		"bad keylen":     {Secret: "s", Salt: "x", KeyLen: 5000},
	} {
		_, err := NewRouter(Config{Logger: testLogger(), Realms: []RealmConfig{{Name: "realm1", WampCRA: map[string]WampCRAUser{"u": u}}}})
		if err == nil || !strings.Contains(err.Error(), `"u"`) {
			t.Errorf("%s: NewRouter error %v, want one naming the user", name, err)
		}
	}
}

func TestWampCRASaltedKeyMatchesAutobahn(t *testing.T) {
	a, err := NewWampCRA(map[string]WampCRAUser{"salty": {Secret: "pass word", Salt: "salt123"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := string(a.(*wampCRA).users["salty"].key); got != autobahnSaltedKey {
		t.Fatalf("derived key %q, want Autobahn's %q", got, autobahnSaltedKey)
	}
}

// fixedAuth is a stand-in Authenticator that admits everyone as "custom".
type fixedAuth struct{ method string }

func (f fixedAuth) Method() string                      { return f.method }
func (f fixedAuth) Begin(*HelloInfo) (Challenge, error) { return fixedChallenge{}, nil }
func (fixedChallenge) Extra() map[string]any            { return nil }
func (fixedChallenge) Verify(_ AuthenticateInfo, done func(Identity, error)) {
	done(Identity{AuthID: "x", AuthRole: "custom"}, nil)
}

type fixedChallenge struct{}

// RealmConfig.Authenticators overrides the built-in method of the same name.
func TestAuthenticatorsOverrideBuiltinWampCRA(t *testing.T) {
	rc := craRealm()
	rc.Authenticators = []Authenticator{fixedAuth{"wampcra"}}
	r := newTestRouter(t, rc)
	c := connect(t, r, codec.JSON)
	c.send(hello("realm1", opt("authmethods", []string{"wampcra"}), opt("authid", "peter")))
	c.expect(codec.Challenge)
	authenticate(c, "anything")
	if d := details(t, c.expect(codec.Welcome)); d["authrole"] != "custom" || d["authmethod"] != "wampcra" {
		t.Fatalf("WELCOME details %v: the configured Authenticator should have answered", d)
	}
}
