package engine

import (
	"time"

	"github.com/wampd/wampd/codec"
)

// session_meta_api: wamp.session.on_join / on_leave events (published by
// peer.establishLocked and session.detach) and the procedures below.

const (
	topicOnJoin  = "wamp.session.on_join"
	topicOnLeave = "wamp.session.on_leave"
)

var (
	uriNoSuchSession = "wamp.error.no_such_session"
	uriCloseNormal   = []byte("wamp.close.normal")
)

// killGrace is how long a killed session has to answer our GOODBYE before
// its transport is closed. It is already out of the realm meanwhile.
// A variable so that tests can shorten it.
var killGrace = 5 * time.Second

func init() { metaInits = append(metaInits, registerSessionMeta) }

func registerSessionMeta(rl *realm) {
	rl.registerMeta("wamp.session.count", metaSessionCount)
	rl.registerMeta("wamp.session.list", metaSessionList)
	rl.registerMeta("wamp.session.get", metaSessionGet)
	rl.registerMeta("wamp.session.kill", metaSessionKill)
	rl.registerMeta("wamp.session.kill_by_authid", metaSessionKillBy(func(s *session, v string) bool { return s.ident.AuthID == v }))
	rl.registerMeta("wamp.session.kill_by_authrole", metaSessionKillBy(func(s *session, v string) bool { return s.ident.AuthRole == v }))
	rl.registerMeta("wamp.session.kill_all", metaSessionKillAll)
}

// sessionsWhere snapshots the realm's sessions that keep returns true for.
// The realm lock is released before the caller looks at them further.
func (rl *realm) sessionsWhere(keep func(*session) bool) []*session {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	out := make([]*session, 0, len(rl.sessions))
	for _, s := range rl.sessions {
		if keep == nil || keep(s) {
			out = append(out, s)
		}
	}
	return out
}

// lookupSession finds an attached session of this realm by ID.
func (rl *realm) lookupSession(id codec.ID) *session {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	return rl.sessions[id]
}

// roleFilter reads the optional filter_authroles argument: nil keeps all.
func roleFilter(a metaArgs) (func(*session) bool, bool) {
	roles, ok := argStrings(argAt(a.Args, 0))
	if !ok {
		return nil, false
	}
	if roles == nil {
		return nil, true
	}
	return func(s *session) bool {
		for _, r := range roles {
			if s.ident.AuthRole == r {
				return true
			}
		}
		return false
	}, true
}

func metaSessionCount(a metaArgs) metaReply {
	keep, ok := roleFilter(a)
	if !ok {
		return metaErr(string(uriInvalidArgument), "filter_authroles must be a list of strings")
	}
	if keep == nil {
		return metaReply{Args: []any{a.Caller.realm.sessionCount()}}
	}
	return metaReply{Args: []any{len(a.Caller.realm.sessionsWhere(keep))}}
}

func metaSessionList(a metaArgs) metaReply {
	keep, ok := roleFilter(a)
	if !ok {
		return metaErr(string(uriInvalidArgument), "filter_authroles must be a list of strings")
	}
	ss := a.Caller.realm.sessionsWhere(keep)
	ids := make([]codec.ID, len(ss))
	for i, s := range ss {
		ids[i] = s.id
	}
	return metaReply{Args: []any{ids}}
}

func metaSessionGet(a metaArgs) metaReply {
	id, ok := argID(a.Args, 0)
	if !ok {
		return metaErr(string(uriInvalidArgument), "session ID expected")
	}
	s := a.Caller.realm.lookupSession(id)
	if s == nil {
		return metaErr(uriNoSuchSession, "")
	}
	d := sessionDetails(s)
	// Not in the spec: how many EVENTs this session lost as a slow consumer.
	d["dropped_events"] = s.DroppedEvents()
	return metaReply{Args: []any{d}}
}

// killReason reads the optional reason and message keyword arguments.
func killReason(a metaArgs) (reason []byte, message string, rep *metaReply) {
	reason = uriCloseNormal
	if v, present := a.Kw["reason"]; present && v != nil {
		r, isStr := v.(string)
		if !isStr || !validURI([]byte(r)) {
			e := metaErr(string(uriInvalidURI), "reason must be a valid URI")
			return nil, "", &e
		}
		reason = []byte(r)
	}
	if v, present := a.Kw["message"]; present && v != nil {
		m, isStr := v.(string)
		if !isStr {
			e := metaErr(string(uriInvalidArgument), "message must be a string")
			return nil, "", &e
		}
		message = m
	}
	return reason, message, nil
}

func metaSessionKill(a metaArgs) metaReply {
	id, ok := argID(a.Args, 0)
	if !ok {
		return metaErr(string(uriInvalidArgument), "session ID expected")
	}
	reason, message, bad := killReason(a)
	if bad != nil {
		return *bad
	}
	// The caller's own session is not "another session with that ID" (spec).
	s := a.Caller.realm.lookupSession(id)
	if s == nil || s == a.Caller {
		return metaErr(uriNoSuchSession, "")
	}
	s.kill(killOrder{reason: reason, message: message, events: true})
	return metaReply{}
}

// metaSessionKillBy kills every session but the caller's that match says
// has the value of the first argument; the result is how many were killed.
func metaSessionKillBy(match func(*session, string) bool) metaProc {
	return func(a metaArgs) metaReply {
		v, ok := argString(a.Args, 0)
		if !ok {
			return metaErr(string(uriInvalidArgument), "string argument expected")
		}
		reason, message, bad := killReason(a)
		if bad != nil {
			return *bad
		}
		return killAll(a, killOrder{reason: reason, message: message, events: true}, func(s *session) bool { return match(s, v) })
	}
}

func metaSessionKillAll(a metaArgs) metaReply {
	reason, message, bad := killReason(a)
	if bad != nil {
		return *bad
	}
	// Per spec, kill_all publishes neither on_leave nor testaments.
	return killAll(a, killOrder{reason: reason, message: message}, nil)
}

// killOrder is what a kill sends and publishes.
type killOrder struct {
	reason  []byte
	message string
	events  bool // publish the victim's testaments and on_leave
}

func killAll(a metaArgs, k killOrder, match func(*session) bool) metaReply {
	me := a.Caller
	victims := me.realm.sessionsWhere(func(s *session) bool {
		return s != me && (match == nil || match(s))
	})
	n := 0
	for _, s := range victims {
		if s.kill(k) {
			n++
		}
	}
	return metaReply{Args: []any{n}}
}

// kill ends s from another session's loop: s is detached at once (out of
// the realm, no more events or invocations, on_leave and testaments
// published unless k.events is false) and sent GOODBYE reason with Details.message. Its loop-owned
// state is cleaned up on its own loop when the client answers GOODBYE or
// its transport closes; a client that does not answer within killGrace is
// disconnected. False when s was not established any more.
func (s *session) kill(k killOrder) bool {
	p := s.peer
	if p == nil {
		return false
	}
	p.mu.Lock()
	if p.sess.Load() != s || p.state.Load() != stateEstablished {
		p.mu.Unlock()
		return false
	}
	p.setStateLocked(stateKilled)
	p.mu.Unlock()

	// No new invocation may reach it: dealer.call checks closed. Calls
	// already sent to it are failed by leave on its loop.
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.detachWith(k.events)
	p.r.log.Info("session killed", "realm", s.realm.name, "session", s.id, "authid", s.ident.AuthID, "reason", string(k.reason))

	g := &codec.Message{Type: codec.Goodbye, URI: k.reason}
	if k.message != "" {
		g.Details.Fields = []codec.Field{{Key: "message", Value: codec.StringValue(k.message)}}
	}
	if !p.sendOwned(g) {
		p.conn.Close() // not reading: Closed will clean up on its loop
		return true
	}
	time.AfterFunc(killGrace, func() {
		p.mu.Lock()
		still := p.state.Load() == stateKilled && p.sess.Load() == s
		p.mu.Unlock()
		if still {
			p.conn.Close()
		}
	})
	return true
}
