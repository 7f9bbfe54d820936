package engine

import (
	"strconv"
	"sync"

	"github.com/wampd/wampd/codec"
)

// realm is one routing namespace: its own sessions, broker and dealer.
type realm struct {
	r          *Router
	name       string
	anonymous  bool
	auth       map[string]Authenticator // by method name
	authorizer Authorizer
	broker     *broker
	dealer     *dealer

	mu       sync.Mutex // guards sessions
	sessions map[codec.ID]*session

	metaState // meta procedures and the router's own publisher (meta.go)
}

func newRealm(r *Router, rc *RealmConfig) (*realm, error) {
	rl := &realm{
		r:          r,
		name:       rc.Name,
		anonymous:  rc.Anonymous,
		auth:       make(map[string]Authenticator),
		authorizer: rc.Authorizer,
		broker:     newBroker(r, rc),
		dealer:     newDealer(r),
		sessions:   make(map[codec.ID]*session),
	}
	if len(rc.Tickets) > 0 {
		users := make(map[string]TicketUser, len(rc.Tickets))
		for id, u := range rc.Tickets {
			users[id] = u
		}
		rl.auth["ticket"] = &ticketAuth{users: users}
	}
	for _, a := range rc.Authenticators {
		if a == nil || a.Method() == "" {
			continue
		}
		rl.auth[a.Method()] = a
	}
	rl.initMeta()
	return rl, nil
}

// join creates a session with ID sid, or a fresh random ID if sid is taken.
func (rl *realm) join(p *peer, sid codec.ID, id Identity) *session {
	s := &session{
		realm: rl,
		peer:  p,
		conn:  p.conn,
		kind:  p.kind,
		ident: id,
		subs:  make(map[codec.ID]*subscription),
		regs:  make(map[codec.ID]*registration),
		calls: make(map[codec.ID]*pendingCall),
		invs:  make(map[codec.ID]*pendingCall),
	}
	rl.mu.Lock()
	for s.id = sid; ; s.id = randomID() {
		if _, taken := rl.sessions[s.id]; !taken && s.id != 0 {
			break
		}
	}
	// Complete before it is visible: meta procedures on other loops read
	// the identity of listed sessions without a lock.
	if s.ident.AuthID == "" {
		s.ident.AuthID = strconv.FormatUint(s.id, 10)
	}
	rl.sessions[s.id] = s
	rl.mu.Unlock()
	return s
}

func (rl *realm) remove(s *session) {
	rl.mu.Lock()
	delete(rl.sessions, s.id)
	rl.mu.Unlock()
}

// sessionCount is the number of established sessions (tests, meta API).
func (rl *realm) sessionCount() int {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	return len(rl.sessions)
}
