package engine

import (
	"crypto/ed25519"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/wampd/wampd/codec"
)

// csKey is a deterministic test key pair.
func csKey(seed byte) (pub string, priv ed25519.PrivateKey) {
	s := make([]byte, ed25519.SeedSize)
	for i := range s {
		s[i] = seed
	}
	priv = ed25519.NewKeyFromSeed(s)
	return hex.EncodeToString(priv.Public().(ed25519.PublicKey)), priv
}

func csRealm() RealmConfig {
	alice, _ := csKey(1)
	alice2, _ := csKey(2)
	bob, _ := csKey(3)
	return RealmConfig{
		Name: "realm1",
		Cryptosign: map[string]CryptosignPrincipal{
			"alice": {PublicKeys: []string{alice, strings.ToUpper(alice2)}, Role: "admin"},
			"bob":   {PublicKeys: []string{bob}},
		},
	}
}

// csChallengeOf sends a cryptosign HELLO and returns the challenge bytes.
func csChallengeOf(t *testing.T, c *client, authid, pubkey string, extra ...map[string]any) []byte {
	t.Helper()
	ae := map[string]any{"pubkey": pubkey}
	for _, e := range extra {
		for k, v := range e {
			ae[k] = v
		}
	}
	fields := []codec.Field{opt("authmethods", []string{"cryptosign"}), opt("authextra", ae)}
	if authid != "" {
		fields = append(fields, opt("authid", authid))
	}
	c.send(hello("realm1", fields...))
	ch := c.expect(codec.Challenge)
	if string(ch.Text) != "cryptosign" {
		t.Fatalf("CHALLENGE method %q", ch.Text)
	}
	d := details(t, ch)
	s, _ := d["challenge"].(string)
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 32 {
		t.Fatalf("CHALLENGE extra %v: challenge is not 32 bytes in hex", d)
	}
	if v, present := d["channel_binding"]; !present || v != nil {
		t.Fatalf("CHALLENGE extra %v: want channel_binding null", d)
	}
	return b
}

// csSign is what a client sends: hex(signature || challenge).
func csSign(priv ed25519.PrivateKey, challenge []byte) string {
	return hex.EncodeToString(append(ed25519.Sign(priv, challenge), challenge...))
}

func TestCryptosignSuccess(t *testing.T) {
	r := newTestRouter(t, csRealm())
	alice, alicePriv := csKey(1)
	alice2, alice2Priv := csKey(2)
	bob, bobPriv := csKey(3)
	for _, tc := range []struct {
		name, authid, pub string
		priv              ed25519.PrivateKey
		wantID, wantRole  string
	}{
		{"with authid", "alice", alice, alicePriv, "alice", "admin"},
		{"second key, upper-case config", "alice", alice2, alice2Priv, "alice", "admin"},
		{"authid found by key", "", strings.ToUpper(alice), alicePriv, "alice", "admin"},
		{"default role", "", bob, bobPriv, "bob", "user"},
	} {
		for _, k := range []codec.Kind{codec.JSON, codec.MsgPack, codec.CBOR} {
			c := connect(t, r, k)
			ch := csChallengeOf(t, c, tc.authid, tc.pub)
			authenticate(c, csSign(tc.priv, ch))
			d := details(t, c.expect(codec.Welcome))
			if d["authid"] != tc.wantID || d["authrole"] != tc.wantRole || d["authmethod"] != "cryptosign" || d["authprovider"] != "static" {
				t.Errorf("%s/%v: WELCOME details %v", tc.name, k, d)
			}
		}
	}
}

func TestCryptosignBareSignature(t *testing.T) {
	r := newTestRouter(t, csRealm())
	alice, priv := csKey(1)
	c := connect(t, r, codec.JSON)
	ch := csChallengeOf(t, c, "alice", alice)
	authenticate(c, hex.EncodeToString(ed25519.Sign(priv, ch)))
	c.expect(codec.Welcome)
}

func TestCryptosignBadSignature(t *testing.T) {
	r := newTestRouter(t, csRealm())
	alice, alicePriv := csKey(1)
	_, bobPriv := csKey(3)
	c := connect(t, r, codec.JSON)

	// Signed with another principal's key.
	ch := csChallengeOf(t, c, "alice", alice)
	authenticate(c, csSign(bobPriv, ch))
	c.expectAbort("wamp.error.authentication_failed")

	// One bit of the signature flipped.
	ch = csChallengeOf(t, c, "alice", alice)
	sig := append(ed25519.Sign(alicePriv, ch), ch...)
	sig[10] ^= 1
	authenticate(c, hex.EncodeToString(sig))
	c.expectAbort("wamp.error.authentication_failed")

	// Junk of every kind.
	for _, junk := range []string{"", "zz", strings.Repeat("g", 192), strings.Repeat("0", 191), strings.Repeat("ab", 200)} {
		csChallengeOf(t, c, "alice", alice)
		authenticate(c, junk)
		c.expectAbort("wamp.error.authentication_failed")
	}

	// Still usable afterwards.
	ch = csChallengeOf(t, c, "alice", alice)
	authenticate(c, csSign(alicePriv, ch))
	c.expect(codec.Welcome)
}

func TestCryptosignUnknownKeyOrAuthID(t *testing.T) {
	r := newTestRouter(t, csRealm())
	stranger, strangerPriv := csKey(9)
	alice, alicePriv := csKey(1)
	c := connect(t, r, codec.JSON)
	// An unknown key is challenged like a known one, and fails even with
	// a perfect signature.
	ch := csChallengeOf(t, c, "", stranger)
	authenticate(c, csSign(strangerPriv, ch))
	c.expectAbort("wamp.error.authentication_failed")
	// Alice's key under bob's name.
	ch = csChallengeOf(t, c, "bob", alice)
	authenticate(c, csSign(alicePriv, ch))
	c.expectAbort("wamp.error.authentication_failed")
	// An authid nobody has.
	ch = csChallengeOf(t, c, "carol", alice)
	authenticate(c, csSign(alicePriv, ch))
	c.expectAbort("wamp.error.authentication_failed")
}

func TestCryptosignReplay(t *testing.T) {
	r := newTestRouter(t, csRealm())
	alice, alicePriv := csKey(1)
	victim := connect(t, r, codec.JSON)
	ch := csChallengeOf(t, victim, "alice", alice)
	sig := csSign(alicePriv, ch)
	authenticate(victim, sig)
	victim.expect(codec.Welcome)

	eve := connect(t, r, codec.JSON)
	csChallengeOf(t, eve, "alice", alice) // a fresh random challenge
	authenticate(eve, sig)
	eve.expectAbort("wamp.error.authentication_failed")
	// The bare signature of the old challenge does not fit the new one either.
	csChallengeOf(t, eve, "alice", alice)
	authenticate(eve, sig[:128])
	eve.expectAbort("wamp.error.authentication_failed")
}

func TestCryptosignHelloErrors(t *testing.T) {
	r := newTestRouter(t, csRealm())
	alice, _ := csKey(1)
	c := connect(t, r, codec.JSON)
	for name, ae := range map[string]map[string]any{
		"no pubkey":         {},
		"short pubkey":      {"pubkey": alice[:60]},
		"pubkey not hex":    {"pubkey": strings.Repeat("x", 64)},
		"pubkey not string": {"pubkey": 42},
		"tls-unique":        {"pubkey": alice, "channel_binding": "tls-unique"},
	} {
		c.send(hello("realm1", opt("authmethods", []string{"cryptosign"}), opt("authextra", ae)))
		m := c.expectAbort("wamp.error.authentication_failed")
		if msg, _ := details(t, m)["message"].(string); msg == "" {
			t.Errorf("%s: ABORT without a message", name)
		}
	}
	// Without authextra at all.
	c.send(hello("realm1", opt("authmethods", []string{"cryptosign"})))
	c.expectAbort("wamp.error.authentication_failed")
	// channel_binding null is "none".
	csChallengeOf(t, c, "alice", alice, map[string]any{"channel_binding": nil})
}

func TestCryptosignExpiredChallenge(t *testing.T) {
	alice, priv := csKey(1)
	a, err := NewCryptosign(map[string]CryptosignPrincipal{"alice": {PublicKeys: []string{alice}}})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	a.(*cryptosign).now = func() time.Time { return now }
	r := newTestRouter(t, RealmConfig{Name: "realm1", Authenticators: []Authenticator{a}})
	c := connect(t, r, codec.JSON)
	ch := csChallengeOf(t, c, "alice", alice)
	now = now.Add(ChallengeTTL + time.Second)
	authenticate(c, csSign(priv, ch))
	c.expectAbort("wamp.error.authentication_failed")
}

// The test vectors of the WAMP-Cryptosign spec without channel binding: the
// signatures a conforming client sends must verify.
func TestCryptosignSpecVectors(t *testing.T) {
	vectors := []struct{ priv, challenge, signature string }{
		{"4d57d97a68f555696620a6d849c0ce582568518d729eb753dc7c732de2804510",
			"ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
			"b32675b221f08593213737bef8240e7c15228b07028e19595294678c90d11c0cae80a357331bfc5cc9fb71081464e6e75013517c2cf067ad566a6b7b728e5d03ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"},
		{"d511fe78e23934b3dadb52fcd022974b80bd92bccc7c5cf404e46cc0a8a2f5cd",
			"b26c1f87c13fc1da14997f1b5a71995dff8fbe0a62fae8473c7bdbd05bfb607d",
			"d4209ad10d5aff6bfbc009d7e924795de138a63515efc7afc6b01b7fe5201372190374886a70207b042294af5bd64ce725cd8dceb344e6d11c09d1aaaf4d660fb26c1f87c13fc1da14997f1b5a71995dff8fbe0a62fae8473c7bdbd05bfb607d"},
		{"6e1fde9cf9e2359a87420b65a87dc0c66136e66945196ba2475990d8a0c3a25b",
			"b05e6b8ad4d69abf74aa3be3c0ee40ae07d66e1895b9ab09285a2f1192d562d2",
			"7beb282184baadd08f166f16dd683b39cab53816ed81e6955def951cb2ddad1ec184e206746fd82bda075af03711d3d5658fc84a76196b0fa8d1ebc92ef9f30bb05e6b8ad4d69abf74aa3be3c0ee40ae07d66e1895b9ab09285a2f1192d562d2"},
	}
	for i, v := range vectors {
		seed, _ := hex.DecodeString(v.priv)
		pub := hex.EncodeToString(ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey))
		a, err := NewCryptosign(map[string]CryptosignPrincipal{"p": {PublicKeys: []string{pub}}})
		if err != nil {
			t.Fatal(err)
		}
		ch, err := a.Begin(&HelloInfo{Realm: "realm1", AuthExtra: map[string]any{"pubkey": pub}})
		if err != nil {
			t.Fatal(err)
		}
		hex.Decode(ch.(*csChallenge).challenge[:], []byte(v.challenge)) // the vector's challenge
		var got error = ErrAuthFailed
		var id Identity
		ch.Verify(AuthenticateInfo{Signature: v.signature}, func(i Identity, err error) { id, got = i, err })
		if got != nil || id.AuthID != "p" {
			t.Errorf("vector %d: %v (identity %+v)", i, got, id)
		}
	}
}

func TestCryptosignConfigErrors(t *testing.T) {
	alice, _ := csKey(1)
	for name, ps := range map[string]map[string]CryptosignPrincipal{
		"no keys":    {"u": {}},
		"short key":  {"u": {PublicKeys: []string{"abcd"}}},
		"not hex":    {"u": {PublicKeys: []string{strings.Repeat("q", 64)}}},
		"shared key": {"u": {PublicKeys: []string{alice}}, "v": {PublicKeys: []string{alice}}},
	} {
		_, err := NewRouter(Config{Logger: testLogger(), Realms: []RealmConfig{{Name: "realm1", Cryptosign: ps}}})
		if err == nil || !strings.Contains(err.Error(), `"u"`) && !strings.Contains(err.Error(), `"v"`) {
			t.Errorf("%s: NewRouter error %v, want one naming the principal", name, err)
		}
	}
}
