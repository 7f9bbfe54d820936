package engine

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"sync/atomic"
	"time"
)

// CryptosignPrincipal is one principal of the "cryptosign" method (WAMP-
// Cryptosign): a client proves it holds the private key of one of
// PublicKeys by signing a random challenge with Ed25519.
type CryptosignPrincipal struct {
	// PublicKeys are the principal's Ed25519 public keys, 64 hex digits each.
	PublicKeys []string
	// Role is the authrole the principal gets ("user" when empty).
	Role string
}

type csPrincipal struct {
	authid, role string
}

// cryptosign is the built-in "cryptosign" Authenticator: client
// authentication with channel binding "none" (wampd has no TLS of its own,
// so there is no channel ID to bind to). Immutable after construction.
type cryptosign struct {
	byKey map[[ed25519.PublicKeySize]byte]csPrincipal
	ttl   time.Duration
	now   func() time.Time
}

// NewCryptosign returns the "cryptosign" Authenticator for principals (by
// authid). A public key may belong to one principal only: a client that
// omits authid in HELLO is identified by its key.
func NewCryptosign(principals map[string]CryptosignPrincipal) (Authenticator, error) {
	a := &cryptosign{byKey: make(map[[ed25519.PublicKeySize]byte]csPrincipal), ttl: ChallengeTTL, now: time.Now}
	for id, p := range principals {
		if id == "" {
			return nil, errors.New("cryptosign: empty authid")
		}
		if len(p.PublicKeys) == 0 {
			return nil, fmt.Errorf("cryptosign principal %q: no public keys", id)
		}
		role := p.Role
		if role == "" {
			role = "user"
		}
		for i, s := range p.PublicKeys {
			k, err := parsePublicKey(s)
			if err != nil {
				return nil, fmt.Errorf("cryptosign principal %q: public key %d: %w", id, i, err)
			}
			if other, dup := a.byKey[k]; dup && other.authid != id {
				return nil, fmt.Errorf("cryptosign principal %q: public key %d also belongs to %q", id, i, other.authid)
			}
			a.byKey[k] = csPrincipal{authid: id, role: role}
		}
	}
	return a, nil
}

// parsePublicKey decodes a hex Ed25519 public key.
func parsePublicKey(s string) ([ed25519.PublicKeySize]byte, error) {
	var k [ed25519.PublicKeySize]byte
	if len(s) != 2*len(k) {
		return k, fmt.Errorf("want %d hex digits, got %d characters", 2*len(k), len(s))
	}
	if _, err := hex.Decode(k[:], []byte(s)); err != nil {
		return k, fmt.Errorf("not hex: %w", err)
	}
	return k, nil
}

func (a *cryptosign) Method() string { return "cryptosign" }

func (a *cryptosign) Begin(h *HelloInfo) (Challenge, error) {
	pk, _ := h.AuthExtra["pubkey"].(string)
	if pk == "" {
		return nil, errors.New("cryptosign authentication needs authextra.pubkey (the Ed25519 public key in hex)")
	}
	key, err := parsePublicKey(pk)
	if err != nil {
		return nil, fmt.Errorf("cryptosign authextra.pubkey: %w", err)
	}
	// TLS channel binding needs the TLS session, which wampd does not
	// terminate: refuse it plainly rather than challenge for a signature the
	// client would compute over challenge XOR channel ID and fail.
	if cb, ok := h.AuthExtra["channel_binding"]; ok && cb != nil {
		if s, isStr := cb.(string); !isStr || s != "" {
			return nil, fmt.Errorf("cryptosign channel_binding %v is not supported (only none)", cb)
		}
	}
	// An unknown key, or a key of another authid than the one claimed, still
	// gets a challenge and fails at Verify: nothing tells which keys exist.
	p, known := a.byKey[key]
	if known && h.AuthID != "" && h.AuthID != p.authid {
		known = false
	}
	c := &csChallenge{a: a, key: key, principal: p, known: known, issued: a.now()}
	rand.Read(c.challenge[:])
	c.extra = map[string]any{"challenge": hex.EncodeToString(c.challenge[:]), "channel_binding": nil}
	return c, nil
}

// csChallenge is one cryptosign attempt: the random bytes to be signed.
type csChallenge struct {
	a         *cryptosign
	key       [ed25519.PublicKeySize]byte
	principal csPrincipal
	known     bool
	challenge [32]byte
	issued    time.Time
	extra     map[string]any
	used      atomic.Bool // a challenge is answerable once
}

func (c *csChallenge) Extra() map[string]any { return c.extra }

// Verify accepts the spec's hex(signature || challenge) (96 bytes) and, from
// older clients, the bare 64-byte signature. It answers at once, on the
// loop: one Ed25519 verification (tens of microseconds) costs less than
// handing the work to another goroutine and back.
func (c *csChallenge) Verify(a AuthenticateInfo, done func(Identity, error)) {
	fail := func(why string) {
		done(Identity{}, fmt.Errorf("cryptosign key %x: %s: %w", c.key[:4], why, ErrAuthFailed))
	}
	if c.used.Swap(true) {
		fail("challenge already answered")
		return
	}
	sl := len(a.Signature)
	if sl != 2*ed25519.SignatureSize && sl != 2*(ed25519.SignatureSize+len(c.challenge)) {
		fail(fmt.Sprintf("signature of %d hex digits", sl))
		return
	}
	raw, err := hex.DecodeString(a.Signature)
	if err != nil {
		fail("signature is not hex")
		return
	}
	sig, msg := raw[:ed25519.SignatureSize], raw[ed25519.SignatureSize:]
	if len(msg) > 0 && subtle.ConstantTimeCompare(msg, c.challenge[:]) != 1 {
		fail("signed message is not this challenge") // e.g. a replayed AUTHENTICATE
		return
	}
	if !ed25519.Verify(c.key[:], c.challenge[:], sig) {
		fail("bad signature")
		return
	}
	if !c.known {
		fail("unknown public key or authid")
		return
	}
	if c.a.now().Sub(c.issued) > c.a.ttl {
		fail(fmt.Sprintf("challenge older than %v", c.a.ttl))
		return
	}
	done(Identity{AuthID: c.principal.authid, AuthRole: c.principal.role, AuthMethod: "cryptosign", AuthProvider: "static"}, nil)
}
