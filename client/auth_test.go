package client

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"testing"
)

// The expected values were computed independently (Python hashlib/hmac).
func TestWAMPCRA(t *testing.T) {
	const challenge = `{"authid": "peter", "nonce": "x"}`
	sig, _, err := WAMPCRA("secret1").Respond(context.Background(), &Challenge{Method: "wampcra", Extra: map[string]any{"challenge": challenge}})
	if err != nil || sig != "qFb01ARTeXrrH9fTC2ewT4OlSKIkV66RkFISqVAv6hM=" {
		t.Fatalf("unsalted: %q, %v", sig, err)
	}
	salted := map[string]any{"challenge": challenge, "salt": "salt123", "iterations": uint64(100), "keylen": uint64(16)}
	sig, _, err = WAMPCRA("secret2").Respond(context.Background(), &Challenge{Method: "wampcra", Extra: salted})
	if err != nil || sig != "JLTN1f3Xk2+fFp1BfeDaJ/Jsh57PkWNKmX5Ys1VvkQY=" {
		t.Fatalf("salted: %q, %v", sig, err)
	}
	if k, _ := DeriveKey("secret2", "salt123", 100, 16); k != "LG5/FwnS5WvgmlEyLPk/pQ==" {
		t.Fatalf("derived key %q", k)
	}
	if _, _, err := WAMPCRA("x").Respond(context.Background(), &Challenge{Extra: map[string]any{}}); err == nil {
		t.Fatal("challenge without challenge string accepted")
	}
}

func TestCryptosign(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	a := Cryptosign(priv)
	if got := a.AuthExtra()["pubkey"]; got != hex.EncodeToString(pub) {
		t.Fatalf("pubkey %v", got)
	}
	challenge := hex.EncodeToString(make([]byte, 32))
	sig, _, err := a.Respond(context.Background(), &Challenge{Method: "cryptosign", Extra: map[string]any{"challenge": challenge}})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := hex.DecodeString(sig)
	if err != nil || len(raw) != 96 {
		t.Fatalf("signature %q: %v", sig, err)
	}
	if !ed25519.Verify(pub, raw[64:], raw[:64]) {
		t.Fatal("signature does not verify")
	}
}

func TestRawSocketLengthExp(t *testing.T) {
	for _, c := range []struct {
		max  int
		want byte
	}{{100, 0}, {512, 0}, {513, 1}, {1024, 1}, {16 << 20, 15}, {1 << 30, 15}} {
		if got := rsLengthExp(c.max); got != c.want {
			t.Errorf("rsLengthExp(%d) = %d, want %d", c.max, got, c.want)
		}
	}
}
