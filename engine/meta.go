package engine

import (
	"sync"

	"github.com/wampd/wampd/codec"
)

// The meta API infrastructure: router-internal procedures (callable with an
// ordinary CALL) and router-originated events (delivered through the
// ordinary publish path, so pattern subscriptions and every broker feature
// apply to them). Both are per realm, so nothing crosses realms.
//
// Feature files register their procedures from init:
//
//	func init() { metaInits = append(metaInits, registerSessionMeta) }

// metaArgs is what a router-internal procedure receives: the calling session
// and the CALL's Arguments and ArgumentsKw decoded with codec.DecodeAny (nil
// when absent). The handler runs on the caller's event loop: it must not
// block and must not touch another session's loop-owned fields.
type metaArgs struct {
	Caller *session
	Args   []any
	Kw     map[string]any
}

// metaReply is a procedure's answer: RESULT with Args/Kw, or, when ErrURI is
// set, ERROR with that URI and Args/Kw.
type metaReply struct {
	Args   []any
	Kw     map[string]any
	ErrURI string
}

// metaProc is one router-internal procedure.
type metaProc func(metaArgs) metaReply

// metaInits registers the meta procedures of every realm: each feature's
// file appends its registration function from an init func, so that no file
// has to list the others. newRealm runs them for each realm.
var metaInits []func(*realm)

// metaState is the realm's meta API state (embedded in realm).
type metaState struct {
	metaMu sync.RWMutex // guards meta
	meta   map[string]metaProc

	// internal is the router's own session in this realm: the publisher of
	// meta events and testaments. It is not in realm.sessions (never listed
	// or counted), never subscribes and is never disclosed.
	internal *session
	// publishers are pooled internal peers: each holds the encode buffers
	// for one router-originated publish, so concurrent publishMeta calls
	// (from different loops) need no lock while they fan out.
	publishers sync.Pool
}

// metaPublisher is a pooled internal peer plus scratch for the payload.
type metaPublisher struct {
	p                 peer
	args, kw, details []byte
}

// discardConn is the connection of the internal session: the router never
// needs to read what would be sent to itself (an acknowledgement, an error).
type discardConn struct{}

func (discardConn) Serializer() codec.Kind   { return codec.MsgPack }
func (discardConn) Send([]byte) bool         { return true }
func (discardConn) Close()                   {}
func (discardConn) Transport() TransportInfo { return TransportInfo{Type: "internal", Peer: "router"} }

// initMeta sets up the realm's internal session and runs metaInits.
func (rl *realm) initMeta() {
	rl.internal = &session{
		id:       randomID(),
		realm:    rl,
		conn:     discardConn{},
		kind:     codec.MsgPack,
		internal: true,
		ident:    Identity{AuthID: "router", AuthRole: "trusted", AuthMethod: "internal", AuthProvider: "internal"},
		subs:     make(map[codec.ID]*subscription),
		regs:     make(map[codec.ID]*registration),
		calls:    make(map[codec.ID]*pendingCall),
		invs:     make(map[codec.ID]*pendingCall),
	}
	r := rl.r
	rl.publishers.New = func() any {
		mp := &metaPublisher{}
		mp.p = peer{r: r, conn: discardConn{}, kind: codec.MsgPack}
		return mp
	}
	for _, f := range metaInits {
		f(rl)
	}
}

// registerMeta makes uri a router-internal procedure of this realm. Safe at
// any time; normally called from a metaInits function.
func (rl *realm) registerMeta(uri string, fn func(metaArgs) metaReply) {
	rl.metaMu.Lock()
	if rl.meta == nil {
		rl.meta = make(map[string]metaProc)
	}
	rl.meta[uri] = fn
	rl.metaMu.Unlock()
}

// lookupMeta finds the internal procedure for uri.
func (rl *realm) lookupMeta(uri []byte) metaProc {
	rl.metaMu.RLock()
	fn := rl.meta[string(uri)]
	rl.metaMu.RUnlock()
	return fn
}

// publishMeta publishes a router-originated event on topic to this realm's
// subscribers. Safe from any goroutine; must be called with no lock held.
func (rl *realm) publishMeta(topic string, args []any, kw map[string]any) {
	rl.publishInternal(topic, args, kw, nil)
}

// publishInternal publishes as the router: the PUBLISH goes through the same
// p.publish as a client's, with options opts (a testament's publish_options;
// acknowledge is ignored: nobody waits for the answer).
func (rl *realm) publishInternal(topic string, args []any, kw map[string]any, opts map[string]any) {
	mp := rl.publishers.Get().(*metaPublisher)
	defer rl.publishers.Put(mp)
	m := &mp.p.in
	m.Reset()
	m.Type = codec.Publish
	m.Request = 1
	m.URI = append(m.URI[:0], topic...)
	m.PayloadKind = codec.MsgPack
	var err error
	if args != nil || kw != nil {
		if args == nil {
			args = []any{}
		}
		if mp.args, err = codec.AppendAny(codec.MsgPack, mp.args[:0], args); err != nil {
			rl.r.log.Error("engine: cannot encode meta event arguments", "topic", topic, "err", err)
			return
		}
		m.Args = mp.args
	}
	if kw != nil {
		if mp.kw, err = codec.AppendAny(codec.MsgPack, mp.kw[:0], kw); err != nil {
			rl.r.log.Error("engine: cannot encode meta event keyword arguments", "topic", topic, "err", err)
			return
		}
		m.Kw = mp.kw
	}
	if len(opts) > 0 {
		if _, ack := opts["acknowledge"]; ack {
			o := make(map[string]any, len(opts))
			for k, v := range opts {
				if k != "acknowledge" {
					o[k] = v
				}
			}
			opts = o
		}
		if mp.details, err = codec.AppendAny(codec.MsgPack, mp.details[:0], opts); err != nil {
			rl.r.log.Error("engine: cannot encode publish options", "topic", topic, "err", err)
			return
		}
		m.Details.Raw = codec.Raw{Kind: codec.MsgPack, Bytes: mp.details}
	}
	mp.p.publish(rl.internal, m)
	mp.args, mp.kw, mp.details = trimScratch(mp.args), trimScratch(mp.kw), trimScratch(mp.details)
}

// isMetaURI reports whether u is in the router's reserved "wamp." space.
func isMetaURI(u []byte) bool {
	return len(u) > 5 && string(u[:5]) == "wamp."
}

// callMeta answers a CALL of a router-internal procedure; false when uri has
// no internal handler (the normal dealer path then runs).
func (p *peer) callMeta(s *session, m *codec.Message) bool {
	fn := s.realm.lookupMeta(m.URI)
	if fn == nil {
		return false
	}
	req := m.Request
	if az := s.realm.authorizer; az != nil && !az.Authorize(&s.ident, ActionCall, m.URI) {
		p.replyError(codec.Call, req, uriNotAuthorized, "not authorized to call")
		return true
	}
	a := metaArgs{Caller: s}
	if len(m.Args) > 0 {
		v, err := codec.DecodeAny(codec.Raw{Kind: m.PayloadKind, Bytes: m.Args})
		if err != nil {
			p.replyError(codec.Call, req, uriInvalidArgument, "cannot decode arguments")
			return true
		}
		a.Args, _ = v.([]any)
	}
	if len(m.Kw) > 0 {
		v, err := codec.DecodeAny(codec.Raw{Kind: m.PayloadKind, Bytes: m.Kw})
		if err != nil {
			p.replyError(codec.Call, req, uriInvalidArgument, "cannot decode keyword arguments")
			return true
		}
		a.Kw, _ = v.(map[string]any)
	}
	rep := fn(a)
	out := &p.out
	out.Reset()
	if rep.ErrURI != "" {
		out.Type = codec.Error
		out.ErrorType = codec.Call
		out.URI = []byte(rep.ErrURI)
	} else {
		out.Type = codec.Result
	}
	out.Request = req
	out.ArgsAny, out.KwAny = rep.Args, rep.Kw
	if out.ArgsAny == nil && out.KwAny != nil {
		out.ArgsAny = []any{}
	}
	p.reply(out)
	return true
}

// metaErr builds an ERROR reply with an optional human-readable message.
func metaErr(uri, message string) metaReply {
	r := metaReply{ErrURI: uri}
	if message != "" {
		r.Args = []any{message}
	}
	return r
}

// argAt returns the i-th positional argument, nil when absent.
func argAt(args []any, i int) any {
	if i < len(args) {
		return args[i]
	}
	return nil
}

// toID converts a decoded number to a WAMP ID (1..2^53); ok false otherwise.
func toID(v any) (codec.ID, bool) {
	switch x := v.(type) {
	case uint64:
		return x, x >= 1 && x <= codec.MaxID
	case int64:
		return uint64(x), x >= 1 && uint64(x) <= codec.MaxID
	case float64:
		if x >= 1 && x <= float64(codec.MaxID) && x == float64(uint64(x)) {
			return uint64(x), true
		}
	}
	return 0, false
}

// argID reads positional argument i as a WAMP ID.
func argID(args []any, i int) (codec.ID, bool) { return toID(argAt(args, i)) }

// argString reads positional argument i as a string.
func argString(args []any, i int) (string, bool) {
	s, ok := argAt(args, i).(string)
	return s, ok
}

// argStrings reads an optional list of strings (nil when absent or null);
// ok is false when the value is present but not a list of strings.
func argStrings(v any) (list []string, ok bool) {
	if v == nil {
		return nil, true
	}
	l, isList := v.([]any)
	if !isList {
		return nil, false
	}
	list = make([]string, 0, len(l))
	for _, e := range l {
		s, isStr := e.(string)
		if !isStr {
			return nil, false
		}
		list = append(list, s)
	}
	return list, true
}

// sessionDetails is the spec's session details dict (wamp.session.get and
// wamp.session.on_join).
func sessionDetails(s *session) map[string]any {
	d := map[string]any{
		"session":      s.id,
		"authid":       s.ident.AuthID,
		"authrole":     s.ident.AuthRole,
		"authmethod":   s.ident.AuthMethod,
		"authprovider": s.ident.AuthProvider,
	}
	if len(s.ident.AuthExtra) > 0 {
		d["authextra"] = s.ident.AuthExtra
	}
	if s.conn != nil {
		t := s.conn.Transport()
		d["transport"] = map[string]any{"type": t.Type, "peer": t.Peer}
	}
	return d
}
