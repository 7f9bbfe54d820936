package engine

import (
	"crypto/subtle"
	"errors"
	"strings"

	"github.com/wampd/wampd/codec"
)

// Identity is who a session is, as established by authentication.
type Identity struct {
	AuthID       string
	AuthRole     string
	AuthMethod   string
	AuthProvider string
	// AuthExtra, when set, is sent as WELCOME.Details.authextra.
	AuthExtra map[string]any
}

// HelloInfo is what an Authenticator sees of a HELLO. It is a copy: it may be
// kept and read from any goroutine.
type HelloInfo struct {
	Realm       string
	Session     codec.ID       // the ID the session will get (wampcra puts it in its challenge)
	AuthID      string         // Details.authid, "" when absent
	AuthMethods []string       // Details.authmethods
	AuthExtra   map[string]any // Details.authextra (cryptosign's pubkey), nil when absent
	Transport   TransportInfo
}

// AuthenticateInfo is what an Authenticator sees of an AUTHENTICATE.
type AuthenticateInfo struct {
	Signature string
}

// ErrAuthFailed is the error a Challenge reports for wrong credentials; the
// client gets ABORT wamp.error.authentication_failed.
var ErrAuthFailed = errors.New("engine: authentication failed")

// Authenticator implements one challenge-response authentication method
// (ticket, wampcra, cryptosign, ...). The router calls Begin on the
// connection's event loop, so Begin must be cheap and must not block; slow
// work (database, remote auth service, key derivation) belongs in Verify,
// which may answer later from any goroutine.
type Authenticator interface {
	// Method is the authmethod name the client lists in HELLO ("ticket").
	Method() string
	// Begin starts an attempt for a HELLO that chose this method. The
	// returned Challenge carries the attempt's state (a nonce for wampcra or
	// cryptosign). An error aborts the HELLO with authentication_failed.
	Begin(h *HelloInfo) (Challenge, error)
}

// Challenge is one authentication attempt in progress.
type Challenge interface {
	// Extra is the CHALLENGE message's Extra dict (may be nil: {}).
	Extra() map[string]any
	// Verify checks the client's AUTHENTICATE and calls done exactly once,
	// from any goroutine, at any later time (or before returning). A nil
	// error admits the session with the given identity; the router fills
	// AuthMethod when empty.
	Verify(a AuthenticateInfo, done func(Identity, error))
}

// ticketAuth is the built-in "ticket" method: the signature is a shared
// secret per authid.
type ticketAuth struct {
	users map[string]TicketUser
}

func (t *ticketAuth) Method() string { return "ticket" }

func (t *ticketAuth) Begin(h *HelloInfo) (Challenge, error) {
	if h.AuthID == "" {
		return nil, errors.New("ticket authentication needs an authid")
	}
	// An unknown authid still gets a challenge, so that a client cannot
	// tell unknown users from wrong tickets.
	u, ok := t.users[h.AuthID]
	return &ticketChallenge{authid: h.AuthID, user: u, known: ok}, nil
}

type ticketChallenge struct {
	authid string
	user   TicketUser
	known  bool
}

func (c *ticketChallenge) Extra() map[string]any { return nil }

func (c *ticketChallenge) Verify(a AuthenticateInfo, done func(Identity, error)) {
	good := subtle.ConstantTimeCompare([]byte(a.Signature), []byte(c.user.Ticket)) == 1
	if !c.known || !good {
		done(Identity{}, ErrAuthFailed)
		return
	}
	role := c.user.Role
	if role == "" {
		role = "user"
	}
	done(Identity{AuthID: c.authid, AuthRole: role, AuthMethod: "ticket", AuthProvider: "static"}, nil)
}

// Action is what a session asks to do with a URI.
type Action uint8

// Actions, usable as a bit set in Permission.
const (
	ActionPublish Action = 1 << iota
	ActionSubscribe
	ActionCall
	ActionRegister

	ActionAll = ActionPublish | ActionSubscribe | ActionCall | ActionRegister
)

// String names the action.
func (a Action) String() string {
	switch a {
	case ActionPublish:
		return "publish"
	case ActionSubscribe:
		return "subscribe"
	case ActionCall:
		return "call"
	case ActionRegister:
		return "register"
	}
	return "actions"
}

// Authorizer decides whether a session may act on a URI. It is called on the
// event loop of every PUBLISH, SUBSCRIBE, CALL and REGISTER, so it must be
// synchronous, cheap and safe for concurrent use, and must not keep uri
// (it points into the received message).
type Authorizer interface {
	Authorize(id *Identity, action Action, uri []byte) bool
}

// Permission grants Actions on every URI starting with Prefix ("" matches all).
type Permission struct {
	Prefix  string
	Actions Action
}

// StaticAuthorizer grants permissions by authrole. A role not in the map may
// do nothing.
type StaticAuthorizer map[string][]Permission

// Authorize implements Authorizer without allocating.
func (s StaticAuthorizer) Authorize(id *Identity, action Action, uri []byte) bool {
	for _, p := range s[id.AuthRole] {
		if p.Actions&action != 0 && hasPrefix(uri, p.Prefix) {
			return true
		}
	}
	return false
}

func hasPrefix(b []byte, prefix string) bool {
	return len(b) >= len(prefix) && string(b[:len(prefix)]) == prefix
}

// chooseMethod picks the first of the client's methods the realm offers.
func (rl *realm) chooseMethod(methods []string) (string, Authenticator, bool) {
	for _, m := range methods {
		m = strings.TrimSpace(m)
		if a, ok := rl.auth[m]; ok {
			return m, a, true
		}
		if m == "anonymous" && rl.anonymous {
			return m, nil, true
		}
	}
	return "", nil, false
}
