package client

import (
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
)

// Authenticator answers the router's CHALLENGE for one authentication method.
// Ticket, WAMPCRA and Cryptosign build the standard ones; implement it for others.
type Authenticator interface {
	// Method is the authmethod name offered in HELLO ("ticket", "wampcra", ...).
	Method() string
	// AuthExtra returns entries for HELLO.Details.authextra, or nil.
	AuthExtra() map[string]any
	// Respond computes the AUTHENTICATE signature (and optional extra) for a challenge.
	Respond(ctx context.Context, ch *Challenge) (signature string, extra map[string]any, err error)
}

// Challenge is a CHALLENGE message from the router.
type Challenge struct {
	Method string
	Extra  map[string]any
}

// Ticket authenticates with a static ticket (the router's "ticket" method).
func Ticket(ticket string) Authenticator { return ticketAuth(ticket) }

type ticketAuth string

func (ticketAuth) Method() string            { return "ticket" }
func (ticketAuth) AuthExtra() map[string]any { return nil }
func (t ticketAuth) Respond(context.Context, *Challenge) (string, map[string]any, error) {
	return string(t), nil, nil
}

// WAMPCRA authenticates with challenge-response: the signature is the base64
// HMAC-SHA256 of the challenge string, keyed by the secret, or, when the
// router sends salt/iterations/keylen, by the base64 PBKDF2-SHA256 key derived
// from the secret.
func WAMPCRA(secret string) Authenticator { return craAuth{secret: secret} }

type craAuth struct{ secret string }

func (craAuth) Method() string            { return "wampcra" }
func (craAuth) AuthExtra() map[string]any { return nil }

func (a craAuth) Respond(_ context.Context, ch *Challenge) (string, map[string]any, error) {
	challenge, _ := ch.Extra["challenge"].(string)
	if challenge == "" {
		return "", nil, errors.New("client: wampcra challenge without a challenge string")
	}
	key := []byte(a.secret)
	if salt, ok := ch.Extra["salt"].(string); ok && salt != "" {
		iters, _ := AsInt64(ch.Extra["iterations"])
		keylen, _ := AsInt64(ch.Extra["keylen"])
		dk, err := DeriveKey(a.secret, salt, int(iters), int(keylen))
		if err != nil {
			return "", nil, err
		}
		key = []byte(dk)
	}
	return SignCRA(key, challenge), nil, nil
}

// SignCRA returns base64(HMAC-SHA256(key, challenge)), the wampcra signature.
func SignCRA(key []byte, challenge string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(challenge))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// DeriveKey derives a salted wampcra key: base64(PBKDF2-HMAC-SHA256(secret,
// salt, iterations, keylen)). Zero iterations and keylen take the
// conventional defaults 1000 and 32.
func DeriveKey(secret, salt string, iterations, keylen int) (string, error) {
	if iterations <= 0 {
		iterations = 1000
	}
	if keylen <= 0 {
		keylen = 32
	}
	if iterations > 10_000_000 || keylen > 1024 {
		return "", fmt.Errorf("client: wampcra key derivation parameters out of range (%d iterations, keylen %d)", iterations, keylen)
	}
	k, err := pbkdf2.Key(sha256.New, secret, []byte(salt), iterations, keylen)
	if err != nil {
		return "", fmt.Errorf("client: wampcra key derivation: %w", err)
	}
	return base64.StdEncoding.EncodeToString(k), nil
}

// Cryptosign authenticates with an Ed25519 key: HELLO carries the public key
// (authextra.pubkey, hex) and the signature is hex(sign(challenge) || challenge).
// Channel binding is not supported.
func Cryptosign(key ed25519.PrivateKey) Authenticator { return cryptosignAuth{key: key} }

type cryptosignAuth struct{ key ed25519.PrivateKey }

func (cryptosignAuth) Method() string { return "cryptosign" }

func (a cryptosignAuth) AuthExtra() map[string]any {
	pub, _ := a.key.Public().(ed25519.PublicKey)
	return map[string]any{"pubkey": hex.EncodeToString(pub)}
}

func (a cryptosignAuth) Respond(_ context.Context, ch *Challenge) (string, map[string]any, error) {
	s, _ := ch.Extra["challenge"].(string)
	challenge, err := hex.DecodeString(s)
	if err != nil || len(challenge) == 0 {
		return "", nil, fmt.Errorf("client: cryptosign challenge is not hex: %q", s)
	}
	if len(a.key) != ed25519.PrivateKeySize {
		return "", nil, errors.New("client: cryptosign key has the wrong size")
	}
	sig := ed25519.Sign(a.key, challenge)
	return hex.EncodeToString(sig) + s, nil, nil
}
