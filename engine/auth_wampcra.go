package engine

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"sync/atomic"
	"time"
)

// WAMP-CRA defaults, the same as Autobahn's derive_key.
const (
	DefaultCRAIterations = 1000
	DefaultCRAKeyLen     = 32
)

// ChallengeTTL is how long a wampcra or cryptosign CHALLENGE stays answerable:
// an AUTHENTICATE arriving later fails, so a challenge leaked or left open on
// an idle connection cannot be answered days later.
const ChallengeTTL = 2 * time.Minute

// WampCRAUser is one user of the "wampcra" method (WAMP Challenge-Response
// Authentication): the client proves it knows Secret by returning
// base64(HMAC-SHA256(key, challenge)).
type WampCRAUser struct {
	// Secret is the shared secret, or with Salt the password the key is
	// derived from.
	Secret string
	// Role is the authrole the user gets ("user" when empty).
	Role string
	// Salt, when not empty, makes the key PBKDF2-HMAC-SHA256(Secret, Salt,
	// Iterations, KeyLen) in base64, as Autobahn's derive_key computes it;
	// the CHALLENGE then carries salt, iterations and keylen so that the
	// client can derive the same key from the password.
	Salt string
	// Iterations and KeyLen parameterize PBKDF2 (0: DefaultCRAIterations,
	// DefaultCRAKeyLen). Ignored without Salt.
	Iterations int
	KeyLen     int
}

// craUser is a WampCRAUser with its HMAC key ready.
type craUser struct {
	key        []byte
	role       string
	salt       string
	iterations int
	keyLen     int
}

// wampCRA is the built-in "wampcra" Authenticator. Immutable after
// construction: safe for concurrent use.
type wampCRA struct {
	users map[string]craUser
	// salted is set when some user has a salt: unknown users then get a
	// fake salt too, so the CHALLENGE does not tell them apart.
	salted               bool
	fakeIter, fakeKeyLen int
	fakeKey              [32]byte // keys the fake salts and the dummy HMAC key
	ttl                  time.Duration
	now                  func() time.Time
}

// NewWampCRA returns the "wampcra" Authenticator for users (by authid).
// Salted keys are derived now, so the cost of PBKDF2 is paid once at start-up
// and never on an event loop.
func NewWampCRA(users map[string]WampCRAUser) (Authenticator, error) {
	a := &wampCRA{users: make(map[string]craUser, len(users)), ttl: ChallengeTTL, now: time.Now}
	rand.Read(a.fakeKey[:])
	ids := make([]string, 0, len(users))
	for id := range users {
		ids = append(ids, id)
	}
	sort.Strings(ids) // deterministic choice of the fake PBKDF2 parameters
	for _, id := range ids {
		u := users[id]
		if id == "" {
			return nil, errors.New("wampcra: empty authid")
		}
		if u.Secret == "" {
			return nil, fmt.Errorf("wampcra user %q: empty secret", id)
		}
		cu := craUser{key: []byte(u.Secret), role: u.Role}
		if cu.role == "" {
			cu.role = "user"
		}
		if u.Salt != "" {
			cu.salt, cu.iterations, cu.keyLen = u.Salt, u.Iterations, u.KeyLen
			if cu.iterations == 0 {
				cu.iterations = DefaultCRAIterations
			}
			if cu.keyLen == 0 {
				cu.keyLen = DefaultCRAKeyLen
			}
			if cu.iterations < 1 || cu.keyLen < 1 || cu.keyLen > 1024 {
				return nil, fmt.Errorf("wampcra user %q: iterations %d and keylen %d must be positive (keylen at most 1024)",
					id, u.Iterations, u.KeyLen)
			}
			dk, err := pbkdf2.Key(sha256.New, u.Secret, []byte(u.Salt), cu.iterations, cu.keyLen)
			if err != nil {
				return nil, fmt.Errorf("wampcra user %q: deriving the key: %w", id, err)
			}
			// The shared key is the base64 text of the derived bytes, not
			// the bytes: that is what clients (Autobahn's derive_key +
			// compute_wcs) feed to HMAC.
			cu.key = []byte(base64.StdEncoding.EncodeToString(dk))
			if !a.salted {
				a.salted, a.fakeIter, a.fakeKeyLen = true, cu.iterations, cu.keyLen
			}
		}
		a.users[id] = cu
	}
	return a, nil
}

func (a *wampCRA) Method() string { return "wampcra" }

// craChallengeText is the JSON object the client signs, fields in the
// spec's order.
type craChallengeText struct {
	AuthID       string `json:"authid"`
	AuthRole     string `json:"authrole"`
	AuthMethod   string `json:"authmethod"`
	AuthProvider string `json:"authprovider"`
	Nonce        string `json:"nonce"`
	Timestamp    string `json:"timestamp"`
	Session      uint64 `json:"session"`
}

func (a *wampCRA) Begin(h *HelloInfo) (Challenge, error) {
	if h.AuthID == "" {
		return nil, errors.New("wampcra authentication needs an authid")
	}
	// An unknown authid gets a challenge that looks like a real one (role
	// "user", a salt when the realm uses salts) and fails at Verify, so that
	// a client cannot probe which users exist.
	u, known := a.users[h.AuthID]
	if !known {
		u = craUser{role: "user"}
		if a.salted {
			m := hmac.New(sha256.New, a.fakeKey[:])
			m.Write([]byte(h.AuthID))
			u.salt = hex.EncodeToString(m.Sum(nil)[:12]) // stable per authid
			u.iterations, u.keyLen = a.fakeIter, a.fakeKeyLen
		}
	}
	var nonce [24]byte
	rand.Read(nonce[:])
	issued := a.now()
	text, err := json.Marshal(craChallengeText{
		AuthID:       h.AuthID,
		AuthRole:     u.role,
		AuthMethod:   "wampcra",
		AuthProvider: "static",
		Nonce:        base64.StdEncoding.EncodeToString(nonce[:]),
		Timestamp:    issued.UTC().Format("2006-01-02T15:04:05.000Z"),
		Session:      h.Session,
	})
	if err != nil {
		return nil, fmt.Errorf("wampcra: %w", err)
	}
	c := &craChallenge{a: a, authid: h.AuthID, user: u, known: known, text: string(text), issued: issued}
	c.extra = map[string]any{"challenge": c.text}
	if u.salt != "" {
		c.extra["salt"] = u.salt
		c.extra["iterations"] = u.iterations
		c.extra["keylen"] = u.keyLen
	}
	return c, nil
}

// craChallenge is one wampcra attempt: the exact challenge text sent.
type craChallenge struct {
	a      *wampCRA
	authid string
	user   craUser
	known  bool
	text   string
	issued time.Time
	extra  map[string]any
	used   atomic.Bool // a challenge is answerable once
}

func (c *craChallenge) Extra() map[string]any { return c.extra }

func (c *craChallenge) Verify(a AuthenticateInfo, done func(Identity, error)) {
	if c.used.Swap(true) {
		done(Identity{}, fmt.Errorf("wampcra %q: challenge already answered: %w", c.authid, ErrAuthFailed))
		return
	}
	key := c.user.key
	if !c.known {
		key = c.a.fakeKey[:] // same work as for a known user
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(c.text))
	want := m.Sum(nil)
	got, ok := decodeBase64(a.Signature)
	good := ok && hmac.Equal(got, want)
	// The reasons differ only in the router's log: the client always gets
	// the same ABORT.
	switch {
	case !c.known:
		done(Identity{}, fmt.Errorf("wampcra %q: unknown user: %w", c.authid, ErrAuthFailed))
	case !good:
		done(Identity{}, fmt.Errorf("wampcra %q: wrong signature: %w", c.authid, ErrAuthFailed))
	case c.a.now().Sub(c.issued) > c.a.ttl:
		done(Identity{}, fmt.Errorf("wampcra %q: challenge older than %v: %w", c.authid, c.a.ttl, ErrAuthFailed))
	default:
		done(Identity{AuthID: c.authid, AuthRole: c.user.role, AuthMethod: "wampcra", AuthProvider: "static"}, nil)
	}
}

// decodeBase64 accepts standard base64 with or without padding (clients
// differ) and trailing whitespace (Python's b2a_base64 adds a newline that
// most callers strip, not all).
func decodeBase64(s string) ([]byte, bool) {
	for len(s) > 0 && (s[len(s)-1] == '\n' || s[len(s)-1] == '\r' || s[len(s)-1] == ' ') {
		s = s[:len(s)-1]
	}
	if len(s) > 256 {
		return nil, false // an HMAC-SHA256 is 44 characters: don't decode junk
	}
	if b, err := base64.StdEncoding.DecodeString(s); err == nil {
		return b, true
	}
	b, err := base64.RawStdEncoding.DecodeString(s)
	return b, err == nil
}

// builtinAuthenticators builds the wampcra and cryptosign Authenticators a
// RealmConfig asks for with its WampCRA and Cryptosign fields.
func builtinAuthenticators(rc *RealmConfig) ([]Authenticator, error) {
	var out []Authenticator
	if len(rc.WampCRA) > 0 {
		a, err := NewWampCRA(rc.WampCRA)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	if len(rc.Cryptosign) > 0 {
		a, err := NewCryptosign(rc.Cryptosign)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}
