package engine

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/wampd/wampd/codec"
)

// Connection states. See the state machine in doc.go.
const (
	stateIdle        int32 = iota // no session: HELLO expected
	stateChallenged               // CHALLENGE sent: AUTHENTICATE expected
	stateVerifying                // AUTHENTICATE received: Verify pending
	stateEstablished              // WELCOME sent
	stateClosing                  // Shutdown sent GOODBYE: reply expected
	stateDead                     // aborted for a violation, or transport gone
	stateKilled                   // wamp.session.kill* sent GOODBYE: reply expected
)

// peer is one connection and the session (if any) joined over it. A peer
// outlives its sessions: a client may leave and join again on one transport.
type peer struct {
	r    *Router
	conn Conn
	kind codec.Kind

	// Loop-owned: used only by Handle and Closed, which the transport calls
	// sequentially. They hold the decoded input and encode scratch.
	in  codec.Message
	out codec.Message
	buf []byte
	ev  [4][]byte // one EVENT frame per serializer, rebuilt per publish
	// pay holds a publication's Arguments and ArgumentsKw transcoded to
	// each other serializer (see payloadFor): transcoded once
	// per publish, however many subscriptions match.
	pay      [4][]byte
	payCache payCache

	// state is written under mu and read without it on the hot path.
	state atomic.Int32
	sess  atomic.Pointer[session] // non-nil in stateEstablished and stateClosing

	mu        sync.Mutex // guards the fields below and state transitions
	hello     *HelloInfo
	realm     *realm       // realm being joined
	challenge Challenge    // attempt in progress
	method    string       // its authmethod
	feat      roleFeatures // dealer-relevant features of the last HELLO
	attempt   uint64       // bumped per AUTHENTICATE: a stale Verify answer is ignored
}

func newPeer(r *Router, c Conn) *peer {
	return &peer{r: r, conn: c, kind: c.Serializer()}
}

// setStateLocked changes state (p.mu held) and keeps Shutdown's count of
// sessions it waits for.
func (p *peer) setStateLocked(st int32) {
	old := p.state.Swap(st)
	if old == stateClosing && st != stateClosing {
		p.r.goodbyeAnswered()
	}
}

func (p *peer) debug() bool {
	return p.r.log.Enabled(context.Background(), slog.LevelDebug)
}

// Handle implements Peer.
func (p *peer) Handle(msg []byte) {
	if p.state.Load() == stateDead {
		return
	}
	m := &p.in
	if err := codec.Decode(p.kind, msg, m); err != nil {
		p.violation("cannot decode message: " + err.Error())
		return
	}
	if p.debug() {
		p.r.log.Debug("recv", "type", m.Type, "request", m.Request, "uri", string(m.URI), "peer", p.conn.Transport().Peer)
	}
	switch p.state.Load() {
	case stateEstablished:
		if m.Type == codec.Abort {
			// A client that gives up (Autobahn does after an error of its
			// own) ends its session: no reply to an ABORT, just clean up.
			p.aborted(string(m.URI))
			return
		}
		p.handleSession(p.sess.Load(), m)
	case stateIdle:
		switch m.Type {
		case codec.Hello:
			p.handleHello(m)
		case codec.Goodbye, codec.Abort:
			// A late reply to something we already ended: harmless.
		default:
			p.violation("message before HELLO")
		}
	case stateChallenged:
		switch m.Type {
		case codec.Authenticate:
			p.handleAuthenticate(m)
		case codec.Abort:
			p.resetHandshake()
		default:
			p.violation("expected AUTHENTICATE")
		}
	case stateVerifying:
		if m.Type == codec.Abort {
			p.resetHandshake()
			return
		}
		p.violation("message while authentication is pending")
	case stateClosing:
		if m.Type == codec.Goodbye {
			p.mu.Lock()
			s := p.sess.Swap(nil)
			p.setStateLocked(stateDead)
			p.mu.Unlock()
			if s != nil {
				p.leave(s, "system shutdown")
			}
		}
		// Anything else crossed our GOODBYE on the wire: dropped.
	case stateKilled:
		// The session is already detached (see kill); its reply to our
		// GOODBYE finishes it and the transport may join again.
		switch m.Type {
		case codec.Goodbye:
			p.mu.Lock()
			s := p.sess.Swap(nil)
			p.setStateLocked(stateIdle)
			p.mu.Unlock()
			if s != nil {
				p.leave(s, "killed")
			}
		case codec.Abort:
			p.aborted(string(m.URI))
		}
	case stateDead:
	}
}

// Closed implements Peer.
func (p *peer) Closed() {
	p.mu.Lock()
	s := p.sess.Swap(nil)
	p.setStateLocked(stateDead)
	p.challenge = nil
	p.attempt++
	p.mu.Unlock()
	if s != nil {
		p.leave(s, "transport closed")
	}
	p.r.removePeer(p)
}

// violation aborts the connection: ABORT protocol_violation with reason in
// Details.message, session cleanup, Conn.Close. Only this peer is affected.
func (p *peer) violation(reason string) {
	s, ok := p.kill()
	if !ok {
		return
	}
	p.r.log.Info("protocol violation", "reason", reason, "peer", p.conn.Transport().Peer)
	a := &p.out
	a.Reset()
	a.Type = codec.Abort
	a.Details.Fields = append(a.Details.Fields, codec.Field{Key: "message", Value: codec.StringValue(reason)})
	a.URI = uriProtocolViolation
	p.send(p.conn, p.kind, a)
	p.finish(s, "protocol violation")
}

// aborted ends the session of a client that sent ABORT and closes its
// transport. Unlike violation, nothing is sent back.
func (p *peer) aborted(reason string) {
	s, ok := p.kill()
	if !ok {
		return
	}
	p.r.log.Info("client aborted its session", "reason", reason, "peer", p.conn.Transport().Peer)
	p.finish(s, "client abort")
}

// kill moves the peer to stateDead and takes its session, if any. ok is
// false when the peer was already dead (someone else is finishing it).
func (p *peer) kill() (s *session, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.state.Load() == stateDead {
		return nil, false
	}
	s = p.sess.Swap(nil)
	p.setStateLocked(stateDead)
	p.attempt++
	return s, true
}

// finish cleans up the session a kill took and closes the transport.
func (p *peer) finish(s *session, why string) {
	if s != nil {
		p.leave(s, why)
	}
	p.conn.Close()
}

// send encodes m for a connection of kind k in the loop-owned buffer and
// queues it. Never called with a lock held.
func (p *peer) send(c Conn, k codec.Kind, m *codec.Message) bool {
	b, err := codec.Append(k, p.buf[:0], m)
	if err != nil {
		p.r.log.Error("engine: encoding failed", "type", m.Type, "err", err)
		return false
	}
	ok := c.Send(b)
	p.buf = trimScratch(b)
	return ok
}

// maxKeptScratch is the largest encode buffer a peer keeps between messages:
// one large message must not pin its size in every connection's memory.
const maxKeptScratch = 64 << 10

func trimScratch(b []byte) []byte {
	if cap(b) > maxKeptScratch {
		return nil
	}
	return b
}

// sendOwned encodes into a fresh buffer: for goroutines that are not the
// peer's loop (async authentication, Shutdown).
func (p *peer) sendOwned(m *codec.Message) bool {
	b, err := codec.Append(p.kind, nil, m)
	if err != nil {
		p.r.log.Error("engine: encoding failed", "type", m.Type, "err", err)
		return false
	}
	return p.conn.Send(b)
}

func abortMsg(reason []byte, message string) *codec.Message {
	m := &codec.Message{Type: codec.Abort, URI: reason}
	if message != "" {
		m.Details.Fields = []codec.Field{{Key: "message", Value: codec.StringValue(message)}}
	}
	return m
}

// abortHandshake answers a HELLO or AUTHENTICATE with ABORT and returns to
// stateIdle: the client may try again or close.
func (p *peer) abortHandshake(reason []byte, message string) {
	p.resetHandshake()
	p.sendOwned(abortMsg(reason, message))
}

func (p *peer) resetHandshake() {
	p.mu.Lock()
	if st := p.state.Load(); st == stateChallenged || st == stateVerifying || st == stateIdle {
		p.setStateLocked(stateIdle)
	}
	p.challenge, p.hello, p.realm = nil, nil, nil
	p.attempt++
	p.mu.Unlock()
}

func (p *peer) handleHello(m *codec.Message) {
	rl, ok := p.r.realms[string(m.URI)]
	if !ok {
		p.abortHandshake(uriNoSuchRealm, "no realm "+string(m.URI))
		return
	}
	// The session ID is chosen now so that challenges can include it
	// (wampcra does); join keeps it unless it collides meanwhile.
	h := &HelloInfo{Realm: rl.name, Session: randomID(), Transport: p.conn.Transport()}
	h.AuthID, _ = m.Details.String("authid")
	if r, ok := m.Details.Lookup("authextra"); ok && r.IsDict() {
		if v, err := codec.DecodeAny(r); err == nil {
			h.AuthExtra, _ = v.(map[string]any)
		}
	}
	if r, ok := m.Details.Lookup("authmethods"); ok {
		err := r.EachElem(func(e codec.Raw) bool {
			if s, err := e.Str(nil); err == nil {
				h.AuthMethods = append(h.AuthMethods, string(s))
			}
			return len(h.AuthMethods) < 16
		})
		if err != nil {
			p.violation("HELLO.Details.authmethods is not a list")
			return
		}
	} else {
		h.AuthMethods = []string{"anonymous"}
	}
	feat := parseRoleFeatures(m.Details)
	p.mu.Lock()
	p.feat = feat
	p.mu.Unlock()
	method, auth, ok := rl.chooseMethod(h.AuthMethods)
	if !ok {
		p.abortHandshake(uriNoAuthMethod, "no acceptable authmethod")
		return
	}
	if auth == nil { // anonymous
		p.mu.Lock()
		p.establishLocked(rl, h.Session, Identity{AuthID: h.AuthID, AuthRole: "anonymous", AuthMethod: method, AuthProvider: "static"})
		return
	}
	ch, err := auth.Begin(h)
	if err != nil {
		p.abortHandshake(uriAuthenticationFailed, err.Error())
		return
	}
	p.mu.Lock()
	p.hello, p.realm, p.challenge, p.method = h, rl, ch, method
	p.setStateLocked(stateChallenged)
	p.mu.Unlock()
	c := &codec.Message{Type: codec.Challenge, Text: []byte(method)}
	if extra := ch.Extra(); len(extra) > 0 {
		for k, v := range extra {
			c.Details.Fields = append(c.Details.Fields, codec.Field{Key: k, Value: codec.AnyValue(v)})
		}
	}
	p.sendOwned(c)
}

func (p *peer) handleAuthenticate(m *codec.Message) {
	p.mu.Lock()
	ch, rl, method, h := p.challenge, p.realm, p.method, p.hello
	p.attempt++
	attempt := p.attempt
	p.setStateLocked(stateVerifying)
	p.mu.Unlock()
	if ch == nil || rl == nil || h == nil {
		p.violation("AUTHENTICATE without CHALLENGE")
		return
	}
	var once atomic.Bool
	ch.Verify(AuthenticateInfo{Signature: string(m.Text)}, func(id Identity, err error) {
		if once.Swap(true) {
			return // an Authenticator answered twice: keep the first
		}
		if id.AuthMethod == "" {
			id.AuthMethod = method
		}
		if id.AuthProvider == "" {
			id.AuthProvider = "static"
		}
		p.authDone(attempt, rl, h.Session, id, err)
	})
}

// authDone receives a Verify answer, on any goroutine.
func (p *peer) authDone(attempt uint64, rl *realm, sid codec.ID, id Identity, err error) {
	p.mu.Lock()
	if p.attempt != attempt || p.state.Load() != stateVerifying {
		p.mu.Unlock() // the connection moved on (closed, aborted)
		return
	}
	if err != nil {
		p.challenge, p.hello, p.realm = nil, nil, nil
		p.setStateLocked(stateIdle)
		p.mu.Unlock()
		p.r.log.Info("authentication failed", "realm", rl.name, "err", err, "peer", p.conn.Transport().Peer)
		p.sendOwned(abortMsg(uriAuthenticationFailed, "authentication failed"))
		return
	}
	p.establishLocked(rl, sid, id)
}

// establishLocked joins a session (p.mu held; it unlocks) and sends WELCOME.
func (p *peer) establishLocked(rl *realm, sid codec.ID, id Identity) {
	s := rl.join(p, sid, id)
	s.dl.feat = p.feat
	p.challenge, p.hello, p.realm = nil, nil, nil
	p.sess.Store(s)
	p.setStateLocked(stateEstablished)
	p.mu.Unlock()
	p.r.log.Info("session joined", "realm", rl.name, "session", s.id,
		"authid", s.ident.AuthID, "authrole", s.ident.AuthRole, "authmethod", s.ident.AuthMethod,
		"transport", p.conn.Transport().Type, "peer", p.conn.Transport().Peer)
	// on_join goes out before WELCOME, so the client cannot cause on_leave
	// first; see session.joinEvent for a transport lost meanwhile.
	s.publishJoin()
	w := &codec.Message{Type: codec.Welcome, Session: s.id}
	w.Details.Fields = []codec.Field{
		{Key: "realm", Value: codec.StringValue(rl.name)},
		{Key: "authid", Value: codec.StringValue(s.ident.AuthID)},
		{Key: "authrole", Value: codec.StringValue(s.ident.AuthRole)},
		{Key: "authmethod", Value: codec.StringValue(s.ident.AuthMethod)},
		{Key: "authprovider", Value: codec.StringValue(s.ident.AuthProvider)},
		{Key: "roles", Value: codec.AnyValue(routerRoles)},
	}
	if len(s.ident.AuthExtra) > 0 {
		w.Details.Fields = append(w.Details.Fields, codec.Field{Key: "authextra", Value: codec.AnyValue(s.ident.AuthExtra)})
	}
	p.sendOwned(w)
}

// handleGoodbye answers a client's GOODBYE, then ends the session. The
// transport stays open: the client closes it or joins again.
func (p *peer) handleGoodbye(s *session) {
	p.mu.Lock()
	p.sess.Store(nil)
	p.setStateLocked(stateIdle)
	p.mu.Unlock()
	g := &p.out
	g.Reset()
	g.Type = codec.Goodbye
	g.URI = uriGoodbyeAndOut
	p.send(p.conn, p.kind, g)
	p.leave(s, "goodbye")
}

// beginShutdown sends GOODBYE system_shutdown to an established session, or
// closes a connection that has none.
func (p *peer) beginShutdown() {
	p.mu.Lock()
	st := p.state.Load()
	if st == stateEstablished {
		p.r.closing.Add(1)
		p.setStateLocked(stateClosing)
		p.mu.Unlock()
		p.sendOwned(&codec.Message{Type: codec.Goodbye, URI: uriSystemShutdown})
		return
	}
	if st != stateClosing {
		p.setStateLocked(stateDead)
		p.attempt++
	}
	p.mu.Unlock()
	p.conn.Close()
}

// payCache is what payloadFor has transcoded for the publish being routed.
type payCache struct {
	done     [4]bool
	args, kw [4][]byte
}
