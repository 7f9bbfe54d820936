package client

import (
	"crypto/tls"
	"log/slog"
	"time"

	"github.com/wampd/wampd/codec"
)

// ID is a WAMP ID (session, subscription, registration, publication, request).
type ID = codec.ID

// Options configures a Session. The zero value joins anonymously with JSON.
type Options struct {
	// Serializer is the serializer to negotiate (default codec.JSON).
	Serializer codec.Kind

	// AuthID and AuthRole are sent in HELLO when non-empty.
	AuthID   string
	AuthRole string
	// Auth lists the authentication methods to offer, in order of preference
	// (see Ticket, WAMPCRA, Cryptosign). Empty means anonymous.
	Auth []Authenticator
	// HelloDetails are extra HELLO.Details entries (e.g. "agent"); they do not
	// override the ones the client sets itself.
	HelloDetails map[string]any

	// DialTimeout bounds connecting plus the transport handshake (default 10s);
	// the Connect context bounds the whole join as well.
	DialTimeout time.Duration
	// WriteTimeout bounds one write to the socket (default 10s). A write that
	// times out closes the connection.
	WriteTimeout time.Duration
	// MaxMessageSize is the largest message accepted from the router (default 16 MiB).
	MaxMessageSize int
	// KeepAlive, when positive, sends a transport ping after each interval
	// in which nothing was received, and closes the connection (so that
	// Reconnect can take over) when another interval passes in silence.
	KeepAlive time.Duration
	// TLSConfig is used for wss:// and rss:// URLs.
	TLSConfig *tls.Config

	// Reconnect, when non-nil, makes the session reconnect after a connection
	// is lost (not after Leave or Close): it re-joins, re-registers and
	// re-subscribes, with exponential backoff between attempts.
	Reconnect *ReconnectOptions

	// Lifecycle hooks. During Connect they run on the caller's goroutine,
	// later (reconnects, teardown) on the session's own; they may call the
	// Session's methods, including Close.
	//
	// OnConnect: the transport is up, before HELLO.
	OnConnect func(s *Session)
	// OnJoin: WELCOME received. On a reconnect it runs before registrations
	// and subscriptions are restored (they are restored automatically: do not
	// redo them here).
	OnJoin func(s *Session, d *SessionDetails)
	// OnReady: joined, and (after a reconnect) registrations and subscriptions restored.
	OnReady func(s *Session)
	// OnLeave: the session left its realm; reason is the GOODBYE reason, or
	// ReasonTransportLost when the connection broke.
	OnLeave func(s *Session, reason string)
	// OnDisconnect: the transport closed; err is nil for a clean close.
	OnDisconnect func(s *Session, err error)

	// Logger receives the client's diagnostics (default slog.Default()).
	Logger *slog.Logger
}

// ReconnectOptions tunes reconnection. Zero fields take the defaults.
type ReconnectOptions struct {
	InitialDelay time.Duration // first wait (default 100ms)
	MaxDelay     time.Duration // cap on the wait (default 10s)
	Multiplier   float64       // growth per attempt (default 2)
	Jitter       float64       // random fraction added to each wait, 0..1 (default 0.1)
	MaxAttempts  int           // attempts per outage before giving up; 0 = forever
}

// ReasonTransportLost is the OnLeave reason when the connection broke.
const ReasonTransportLost = "wamp.close.transport_lost"

// Match is a subscription or registration matching policy.
type Match uint8

// Matching policies.
const (
	MatchExact Match = iota
	MatchPrefix
	MatchWildcard
)

func (m Match) String() string {
	switch m {
	case MatchPrefix:
		return "prefix"
	case MatchWildcard:
		return "wildcard"
	}
	return "exact"
}

// InvokePolicy selects the callee of a shared registration.
type InvokePolicy uint8

// Invocation policies.
const (
	InvokeSingle InvokePolicy = iota
	InvokeRoundRobin
	InvokeRandom
	InvokeFirst
	InvokeLast
)

func (p InvokePolicy) String() string {
	switch p {
	case InvokeRoundRobin:
		return "roundrobin"
	case InvokeRandom:
		return "random"
	case InvokeFirst:
		return "first"
	case InvokeLast:
		return "last"
	}
	return "single"
}

// CancelMode is how a CANCEL asks the router to treat the call.
type CancelMode uint8

// Cancel modes (spec: skip, kill, killnowait).
const (
	CancelKillNoWait CancelMode = iota
	CancelKill
	CancelSkip
)

func (m CancelMode) String() string {
	switch m {
	case CancelKill:
		return "kill"
	case CancelSkip:
		return "skip"
	}
	return "killnowait"
}

// SubscribeOptions configures a subscription.
type SubscribeOptions struct {
	Match Match
	// Raw leaves Event.Args and Event.Kwargs nil: the handler reads ArgsRaw
	// and KwRaw and nothing is decoded.
	Raw bool
	// Inline runs the handler on the session's receive goroutine, in order
	// and without copying the event: its raw bytes are valid only during the
	// call, and the handler must not wait for a reply from this Session (Call,
	// Subscribe, an acknowledged Publish...) or it deadlocks. Without Inline,
	// handlers run in order on a separate goroutine and may do anything.
	Inline bool
}

// RegisterOptions configures a registration.
type RegisterOptions struct {
	Match  Match
	Invoke InvokePolicy
	// DiscloseCaller asks the router to disclose the caller's session ID.
	DiscloseCaller bool
	// Raw leaves Invocation.Args and Kwargs nil (no decoding).
	Raw bool
}

// CallOptions configures one call.
type CallOptions struct {
	// Timeout asks the router to cancel the call after this long (the
	// "timeout" option). The context bounds the client side.
	Timeout time.Duration
	// DiscloseMe asks the router to disclose the caller to the callee.
	DiscloseMe bool
	// OnProgress, when set, requests progressive results and receives each
	// one, on the calling goroutine, before Call returns the final result.
	OnProgress func(r *Result)
	// CancelMode is sent in the CANCEL when ctx ends before the result.
	CancelMode CancelMode
	// Raw leaves Result.Args and Kwargs nil (no decoding).
	Raw bool
}

// PublishOptions configures one publication.
type PublishOptions struct {
	// Acknowledge waits for PUBLISHED (or an ERROR) from the router.
	Acknowledge bool
	// ExcludeMe, when set, overrides the router's default (true: the
	// publisher does not receive its own event).
	ExcludeMe *bool
	// DiscloseMe asks the router to disclose the publisher to subscribers.
	DiscloseMe bool
	// Eligible and Exclude list subscriber session IDs to include / exclude.
	Eligible, Exclude []ID
	// EligibleAuthID, ExcludeAuthID, EligibleAuthRole and ExcludeAuthRole
	// filter subscribers by their authid / authrole.
	EligibleAuthID, ExcludeAuthID     []string
	EligibleAuthRole, ExcludeAuthRole []string
}

// Bool returns a pointer to b, for option fields such as PublishOptions.ExcludeMe.
func Bool(b bool) *bool { return &b }

func (o *Options) setDefaults() {
	if !o.Serializer.Valid() {
		o.Serializer = codec.JSON
	}
	if o.DialTimeout <= 0 {
		o.DialTimeout = 10 * time.Second
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 10 * time.Second
	}
	if o.MaxMessageSize <= 0 {
		o.MaxMessageSize = 16 << 20
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if r := o.Reconnect; r != nil {
		rc := *r
		if rc.InitialDelay <= 0 {
			rc.InitialDelay = 100 * time.Millisecond
		}
		if rc.MaxDelay <= 0 {
			rc.MaxDelay = 10 * time.Second
		}
		if rc.Multiplier < 1 {
			rc.Multiplier = 2
		}
		if rc.Jitter < 0 || rc.Jitter > 1 {
			rc.Jitter = 0.1
		}
		o.Reconnect = &rc
	}
}
