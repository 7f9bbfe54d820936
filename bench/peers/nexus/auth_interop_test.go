package main

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"log"
	"net"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/gammazero/nexus/v3/router"
	"github.com/gammazero/nexus/v3/router/auth"
	"golang.org/x/crypto/pbkdf2"

	"github.com/wampd/wampd/client"
)

// testKeys is a nexus KeyStore with one salted wampcra user and one cryptosign user.
type testKeys struct {
	craKey []byte // derived (salted) wampcra key
	pubkey ed25519.PublicKey
}

func (k testKeys) AuthKey(authid, method string) ([]byte, error) {
	switch {
	case authid == "salty" && method == "wampcra":
		return k.craKey, nil
	case authid == "signer" && method == "cryptosign":
		return k.pubkey, nil
	}
	return nil, errors.New("no such user")
}

func (k testKeys) PasswordInfo(authid string) (string, int, int) {
	if authid == "salty" {
		return "pepper", 32, 1000
	}
	return "", 0, 0
}
func (k testKeys) AuthRole(string) (string, error) { return "user", nil }
func (k testKeys) Provider() string                { return "test" }

// TestAuthInterop checks salted wampcra (PBKDF2 key derivation) and
// cryptosign against nexus's own implementations.
func TestAuthInterop(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	// nexus expects the base64 text of the derived key as the HMAC key.
	dk := pbkdf2.Key([]byte("salted-secret"), []byte("pepper"), 1000, 32, sha256.New)
	keys := testKeys{craKey: []byte(base64.StdEncoding.EncodeToString(dk)), pubkey: pub}
	r, err := router.NewRouter(&router.Config{RealmConfigs: []*router.RealmConfig{{
		URI: "realm1",
		Authenticators: []auth.Authenticator{
			auth.NewCRAuthenticator(keys, time.Second),
			auth.NewCryptoSignAuthenticator(keys, time.Second),
		},
	}}}, log.New(os.Stderr, "nexus ", log.LstdFlags))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: router.NewWebsocketServer(r), ReadHeaderTimeout: time.Second}
	go func() { _ = hs.Serve(ln) }()
	defer hs.Close()
	url := "ws://" + ln.Addr().String() + "/ws"

	for _, tc := range []struct {
		name   string
		opts   client.Options
		method string
		ok     bool
	}{
		{"wampcra-salted", client.Options{AuthID: "salty", Auth: []client.Authenticator{client.WAMPCRA("salted-secret")}}, "wampcra", true},
		{"wampcra-salted-wrong", client.Options{AuthID: "salty", Auth: []client.Authenticator{client.WAMPCRA("nope")}}, "", false},
		{"cryptosign", client.Options{AuthID: "signer", Auth: []client.Authenticator{client.Cryptosign(priv)}}, "cryptosign", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			s, err := client.Connect(ctx, url, "realm1", tc.opts)
			if !tc.ok {
				if err == nil {
					s.Close()
					t.Fatal("joined with a wrong secret")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if d := s.Details(); d.AuthMethod != tc.method || d.AuthID != tc.opts.AuthID {
				t.Fatalf("details %+v", d)
			}
		})
	}
}
