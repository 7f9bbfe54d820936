package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"

	"github.com/wampd/wampd/codec"
)

// Config configures a Router.
type Config struct {
	// Realms the router serves. Names must be unique and non-empty.
	Realms []RealmConfig
	// Logger receives session join/leave at info and per-message traces at
	// debug. Nil: slog.Default().
	Logger *slog.Logger
}

// RealmConfig configures one realm. Realms share nothing: a session of one
// realm never sees a topic, procedure or session of another.
type RealmConfig struct {
	Name string
	// Anonymous admits sessions with authmethod "anonymous" (authrole "anonymous").
	Anonymous bool
	// Tickets are the users of the "ticket" method, by authid.
	Tickets map[string]TicketUser
	// WampCRA are the users of the "wampcra" method, by authid.
	WampCRA map[string]WampCRAUser
	// Cryptosign are the principals of the "cryptosign" method, by authid.
	Cryptosign map[string]CryptosignPrincipal
	// Authenticators add further methods (wampcra, cryptosign, ...). A method
	// named here overrides the built-in one of the same name.
	Authenticators []Authenticator
	// Authorizer decides publish/subscribe/call/register. Nil allows all.
	Authorizer Authorizer

	// EventHistory lists the topics whose events the broker keeps for
	// wamp.subscription.get_events (feature event_history). Topics no rule
	// matches keep no history and cost nothing on publish.
	EventHistory []HistoryRule
	// MaxHistoryTopics bounds how many distinct topics keep a history (a
	// pattern rule can match unboundedly many): further topics are not
	// recorded. 0 means DefaultMaxHistoryTopics.
	MaxHistoryTopics int
	// MaxRetainedTopics bounds how many topics keep a retained event
	// (feature event_retention); a PUBLISH with retain=true on a further
	// topic is delivered but not retained. 0 means DefaultMaxRetainedTopics;
	// negative disables retention.
	MaxRetainedTopics int
}

// TicketUser is one user of the ticket method.
type TicketUser struct {
	Ticket string
	Role   string
}

// Router is a WAMP router: it owns the realms and every session. All its
// methods are safe for concurrent use.
type Router struct {
	log    *slog.Logger
	realms map[string]*realm

	// routerIDs numbers subscriptions and registrations (router scope).
	routerIDs atomic.Uint64

	mu       sync.Mutex // guards peers, shutdown
	peers    map[*peer]struct{}
	shutdown bool
	// closing counts sessions that were sent GOODBYE by Shutdown and have not
	// answered; goodbyeDone is signalled each time one answers or goes away.
	closing     atomic.Int64
	goodbyeDone chan struct{}
}

// NewRouter builds a router serving cfg's realms.
func NewRouter(cfg Config) (*Router, error) {
	r := &Router{
		log:         cfg.Logger,
		realms:      make(map[string]*realm, len(cfg.Realms)),
		peers:       make(map[*peer]struct{}),
		goodbyeDone: make(chan struct{}, 1),
	}
	if r.log == nil {
		r.log = slog.Default()
	}
	if len(cfg.Realms) == 0 {
		return nil, errors.New("engine: no realms configured")
	}
	for i := range cfg.Realms {
		rc := &cfg.Realms[i]
		if rc.Name == "" || !validURI([]byte(rc.Name)) {
			return nil, fmt.Errorf("engine: realm %d: invalid name %q", i, rc.Name)
		}
		if _, dup := r.realms[rc.Name]; dup {
			return nil, fmt.Errorf("engine: realm %q configured twice", rc.Name)
		}
		builtin, err := builtinAuthenticators(rc)
		if err != nil {
			return nil, fmt.Errorf("engine: realm %q: %w", rc.Name, err)
		}
		if len(builtin) > 0 { // first, so that rc.Authenticators override them
			withBuiltin := *rc
			withBuiltin.Authenticators = append(builtin, rc.Authenticators...)
			rc = &withBuiltin
		}
		rl, err := newRealm(r, rc)
		if err != nil {
			return nil, fmt.Errorf("engine: realm %q: %w", rc.Name, err)
		}
		r.realms[rc.Name] = rl
	}
	return r, nil
}

// Attach starts serving a new client connection. The returned Peer receives
// the connection's messages and its end.
func (r *Router) Attach(c Conn) Peer {
	p := newPeer(r, c)
	r.mu.Lock()
	down := r.shutdown
	if !down {
		r.peers[p] = struct{}{}
	}
	r.mu.Unlock()
	if down {
		p.state.Store(stateDead)
		c.Close()
	}
	return p
}

// Shutdown sends GOODBYE wamp.close.system_shutdown to every session, waits
// (until ctx is done) for their GOODBYE replies, then closes every connection.
// Connections attached afterwards are closed at once.
func (r *Router) Shutdown(ctx context.Context) {
	r.mu.Lock()
	r.shutdown = true
	peers := make([]*peer, 0, len(r.peers))
	for p := range r.peers {
		peers = append(peers, p)
	}
	r.mu.Unlock()

	for _, p := range peers {
		p.beginShutdown()
	}
	for r.closing.Load() > 0 {
		select {
		case <-ctx.Done():
			r.log.Info("shutdown: not every session said goodbye", "waiting", r.closing.Load())
			goto closeAll
		case <-r.goodbyeDone:
		}
	}
closeAll:
	for _, p := range peers {
		p.conn.Close()
	}
}

// goodbyeAnswered records that one session Shutdown waits for is finished.
func (r *Router) goodbyeAnswered() {
	r.closing.Add(-1)
	select {
	case r.goodbyeDone <- struct{}{}:
	default:
	}
}

func (r *Router) removePeer(p *peer) {
	r.mu.Lock()
	delete(r.peers, p)
	r.mu.Unlock()
}

// nextRouterID returns a new subscription or registration ID.
func (r *Router) nextRouterID() codec.ID {
	return r.routerIDs.Add(1)
}

// randomID returns a random WAMP ID in [1, 2^53] (global scope: session and
// publication IDs). math/rand/v2's top-level source is per-thread and does
// not allocate.
func randomID() codec.ID {
	return rand.Uint64N(codec.MaxID) + 1
}
