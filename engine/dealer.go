package engine

import (
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wampd/wampd/codec"
)

// dealer routes calls of one realm.
//
// Registrations live in three places: exact ones in a sharded map (the call
// path takes one shard read lock), prefix and wildcard ones in a
// patternIndex consulted only when the exact map misses. Every change to the
// set of registrations (REGISTER, UNREGISTER, a callee leaving) is
// serialized by mu, so policy checks and meta events see one consistent
// order; the call path never takes mu.
//
// Lock order: dealer.mu → shard.mu and dealer.mu → patternIndex.mu.
type dealer struct {
	r *Router
	// uriTable files registrations by (match, procedure); its patterns map
	// is guarded by mu.
	uriTable[*registration]

	mu   sync.Mutex
	byID map[codec.ID]*registration // every registration, for the meta API
}

type patternKey struct {
	match MatchPolicy
	uri   string
}

// InvokePolicy is how a shared registration picks the callee of a call
// (REGISTER.Options.invoke).
type InvokePolicy uint8

// Invocation policies (Advanced Profile, shared registration).
const (
	InvokeSingle     InvokePolicy = iota // one callee only; a second REGISTER fails
	InvokeRoundRobin                     // callees in turn, in registration order
	InvokeRandom                         // a random callee per call
	InvokeFirst                          // the earliest registered callee
	InvokeLast                           // the latest registered callee
)

var invokeNames = [...]string{"single", "roundrobin", "random", "first", "last"}

func (p InvokePolicy) String() string { return invokeNames[p] }

func parseInvoke(b []byte) (InvokePolicy, bool) {
	for i, n := range invokeNames {
		if string(b) == n {
			return InvokePolicy(i), true
		}
	}
	return 0, false
}

var matchNames = [...]string{"exact", "prefix", "wildcard"}

func (m MatchPolicy) String() string { return matchNames[m] }

// matchOption reads the "match" option of SUBSCRIBE or REGISTER: absent
// (or null: codec's lookups treat it as absent) means exact; ok is false for
// anything but one of the policy names.
func matchOption(d codec.Dict) (MatchPolicy, bool) {
	raw, present := d.Lookup("match")
	if !present {
		return MatchExact, true
	}
	name, err := raw.Str(nil)
	if err != nil {
		return 0, false
	}
	return parseMatch(name)
}

// validURIFor checks a SUBSCRIBE topic or REGISTER procedure for its match
// policy: a pattern may have empty components (wildcards, or a prefix ending
// in '.'), but may not be empty.
func validURIFor(policy MatchPolicy, uri []byte) bool {
	if policy == MatchExact {
		return validURI(uri)
	}
	return len(uri) > 0 && validPatternURI(uri)
}

func parseMatch(b []byte) (MatchPolicy, bool) {
	for i, n := range matchNames {
		if string(b) == n {
			return MatchPolicy(i), true
		}
	}
	return 0, false
}

// registration is one procedure (with its match policy) and the callees
// attached to it.
type registration struct {
	id        codec.ID
	procedure string
	match     MatchPolicy
	invoke    InvokePolicy
	created   time.Time
	// callees is copy-on-write: the call path Loads it without a lock;
	// writers replace it holding dealer.mu.
	callees atomic.Pointer[[]*callee]
	next    atomic.Uint64 // round-robin position
	// rank orders wildcard registrations matching one URI: the lengths of
	// the runs of concrete components between wildcards (spec: the longest
	// portion before each wildcard wins, compared run by run).
	rank []int
}

// callee is one session attached to a registration.
type callee struct {
	s *session
	// discloseCaller is REGISTER.Options.disclose_caller: every INVOCATION
	// to this callee carries the caller's identity.
	discloseCaller bool
	// ready is set once REGISTERED is queued: until then calls do not pick
	// this callee, so no INVOCATION overtakes the REGISTERED naming its ID.
	ready atomic.Bool
}

// pick chooses the callee of one invocation by the registration's policy.
// It skips callees not ready yet or already gone; nil when none is left.
// No allocation, no lock.
func (r *registration) pick() *callee {
	cs := *r.callees.Load()
	n := uint64(len(cs))
	if n == 0 {
		return nil
	}
	usable := func(c *callee) bool { return c.ready.Load() && !c.s.gone.Load() }
	switch r.invoke {
	case InvokeLast:
		for i := len(cs) - 1; i >= 0; i-- {
			if usable(cs[i]) {
				return cs[i]
			}
		}
		return nil
	case InvokeRoundRobin, InvokeRandom:
		var start uint64
		if r.invoke == InvokeRandom {
			start = rand.Uint64N(n)
		} else {
			start = r.next.Add(1) - 1
		}
		for i := range n {
			if c := cs[(start+i)%n]; usable(c) {
				return c
			}
		}
		return nil
	default: // single, first
		for _, c := range cs {
			if usable(c) {
				return c
			}
		}
		return nil
	}
}

func (r *registration) calleeOf(s *session) *callee {
	for _, c := range *r.callees.Load() {
		if c.s == s {
			return c
		}
	}
	return nil
}

// sessionIDs lists the attached callees' session IDs (meta API).
func (r *registration) sessionIDs() []codec.ID {
	cs := *r.callees.Load()
	ids := make([]codec.ID, 0, len(cs))
	for _, c := range cs {
		ids = append(ids, c.s.id)
	}
	return ids
}

// details is the spec's RegistrationDetails (meta API).
func (r *registration) details() map[string]any {
	return map[string]any{
		"id":      r.id,
		"created": r.created.UTC().Format("2006-01-02T15:04:05.000Z"),
		"uri":     r.procedure,
		"match":   r.match.String(),
		"invoke":  r.invoke.String(),
	}
}

func wildcardRank(pattern string) []int {
	var rank []int
	run := 0
	for rest, more := pattern, true; more; {
		var comp string
		comp, rest, more = cutDot(rest)
		if comp == "" {
			rank = append(rank, run)
			run = 0
			continue
		}
		run++
	}
	return append(rank, run)
}

// better reports whether wildcard registration a beats b for one URI.
func (r *registration) betterWildcard(b *registration) bool {
	for i := 0; i < len(r.rank) && i < len(b.rank); i++ {
		if r.rank[i] != b.rank[i] {
			return r.rank[i] > b.rank[i]
		}
	}
	if len(r.rank) != len(b.rank) {
		return len(r.rank) < len(b.rank) // fewer wildcards: more concrete
	}
	return r.id < b.id // deterministic
}

func newDealer(r *Router) *dealer {
	d := &dealer{
		r:    r,
		byID: make(map[codec.ID]*registration),
	}
	d.uriTable.init()
	return d
}

// lookup finds the registration routing a call to uri: exact beats the
// longest prefix beats the best wildcard (spec order). A miss of the exact
// map with no pattern registered costs one atomic load more.
func (d *dealer) lookup(uri []byte) (*registration, bool) {
	if reg, ok := d.exact.get(uri); ok {
		return reg, true
	}
	if d.index.gen.Load() == 0 {
		return nil, false // no pattern was ever registered
	}
	var bestPrefix, bestWild *registration
	for _, reg := range d.index.match(uri) {
		switch reg.match {
		case MatchPrefix:
			if bestPrefix == nil || len(reg.procedure) > len(bestPrefix.procedure) {
				bestPrefix = reg
			}
		case MatchWildcard:
			if bestWild == nil || reg.betterWildcard(bestWild) {
				bestWild = reg
			}
		}
	}
	if bestPrefix != nil {
		return bestPrefix, true
	}
	return bestWild, bestWild != nil
}

// lookupPolicy finds the registration of exactly (match, uri) (meta API
// wamp.registration.lookup).
func (d *dealer) lookupPolicy(match MatchPolicy, uri string) *registration {
	if match != MatchExact {
		d.mu.Lock()
		defer d.mu.Unlock()
	}
	return d.lookupLocked(match, uri)
}

var uriProcedureExistsPolicy = []byte("wamp.error.procedure_exists_with_different_invocation_policy")

func (p *peer) register(s *session, m *codec.Message) {
	invoke := InvokeSingle
	match, ok := matchOption(m.Details)
	if !ok {
		p.replyError(codec.Register, m.Request, uriInvalidArgument, "unknown match policy (exact, prefix or wildcard)")
		return
	}
	if b, ok := m.Details.StringBytes("invoke", nil); ok {
		if invoke, ok = parseInvoke(b); !ok {
			p.replyError(codec.Register, m.Request, uriInvalidArgument, "unknown invoke policy "+string(b))
			return
		}
	}
	disclose, _ := m.Details.Bool("disclose_caller")
	if !validURIFor(match, m.URI) {
		p.replyError(codec.Register, m.Request, uriInvalidURI, "invalid procedure URI")
		return
	}
	if az := s.realm.authorizer; az != nil && !az.Authorize(&s.ident, ActionRegister, m.URI) {
		p.replyError(codec.Register, m.Request, uriNotAuthorized, "not authorized to register")
		return
	}
	d := s.realm.dealer
	c := &callee{s: s, discloseCaller: disclose}
	reg, created, errURI, why := d.add(s, c, m.URI, match, invoke)
	if errURI != nil {
		p.replyError(codec.Register, m.Request, errURI, why)
		return
	}
	s.regs[reg.id] = reg

	r := &p.out
	r.Reset()
	r.Type = codec.Registered
	r.Request = m.Request
	r.Registration = reg.id
	p.reply(r)
	c.ready.Store(true)

	if created {
		s.realm.publishMeta("wamp.registration.on_create", []any{s.id, reg.details()}, nil)
	}
	s.realm.publishMeta("wamp.registration.on_register", []any{s.id, reg.id}, nil)
}

// add attaches c to the registration of (match, uri), creating it when
// needed. It fails with a WAMP error URI when the policies conflict.
func (d *dealer) add(s *session, c *callee, uri []byte, match MatchPolicy, invoke InvokePolicy) (reg *registration, created bool, errURI []byte, why string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	reg = d.lookupLocked(match, string(uri))
	if reg != nil {
		switch {
		case reg.calleeOf(s) != nil:
			return nil, false, uriProcedureExists, "this session already registered the procedure"
		case reg.invoke == InvokeSingle && invoke == InvokeSingle:
			return nil, false, uriProcedureExists, ""
		case reg.invoke != invoke:
			return nil, false, uriProcedureExistsPolicy, "the procedure is registered with invoke=" + reg.invoke.String()
		}
		old := *reg.callees.Load()
		next := make([]*callee, len(old), len(old)+1)
		copy(next, old)
		next = append(next, c)
		reg.callees.Store(&next)
		return reg, false, nil, ""
	}
	reg = &registration{
		id:        d.r.nextRouterID(),
		procedure: string(uri),
		match:     match,
		invoke:    invoke,
		created:   time.Now(),
	}
	list := []*callee{c}
	reg.callees.Store(&list)
	d.byID[reg.id] = reg
	if match == MatchWildcard {
		reg.rank = wildcardRank(reg.procedure)
	}
	d.fileLocked(match, reg.procedure, reg)
	return reg, true, nil, ""
}

// remove detaches s from reg; the last callee leaving deletes it. It
// reports whether s was attached and whether reg was deleted.
func (d *dealer) remove(s *session, reg *registration) (was, deleted bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	old := *reg.callees.Load()
	next := make([]*callee, 0, len(old))
	for _, c := range old {
		if c.s != s {
			next = append(next, c)
		}
	}
	if len(next) == len(old) {
		return false, false
	}
	reg.callees.Store(&next)
	if len(next) > 0 {
		return true, false
	}
	delete(d.byID, reg.id)
	d.dropLocked(reg.match, reg.procedure, reg)
	return true, true
}

// unregister detaches s from reg and publishes the meta events.
func (d *dealer) unregister(s *session, reg *registration) {
	was, deleted := d.remove(s, reg)
	d.publishRemoved(s, reg, was, deleted)
}

func (d *dealer) publishRemoved(s *session, reg *registration, was, deleted bool) {
	if !was {
		return
	}
	s.realm.publishMeta("wamp.registration.on_unregister", []any{s.id, reg.id}, nil)
	if deleted {
		s.realm.publishMeta("wamp.registration.on_delete", []any{s.id, reg.id}, nil)
	}
}

func (p *peer) unregister(s *session, m *codec.Message) {
	reg, ok := s.regs[m.Registration]
	if !ok {
		p.replyError(codec.Unregister, m.Request, uriNoSuchRegistration, "")
		return
	}
	delete(s.regs, m.Registration)
	// Detach before replying: once UNREGISTERED is out, no new call reaches s.
	was, deleted := s.realm.dealer.remove(s, reg)
	r := &p.out
	r.Reset()
	r.Type = codec.Unregistered
	r.Request = m.Request
	p.reply(r)
	s.realm.dealer.publishRemoved(s, reg, was, deleted)
}
