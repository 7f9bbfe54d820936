package engine

import "github.com/wampd/wampd/codec"

// The registration meta API (wamp.registration.*). Events are published by
// dealer.go as registrations change; the procedures below read the
// dealer's tables of the caller's realm only.

func init() { metaInits = append(metaInits, registerRegistrationMeta) }

func registerRegistrationMeta(rl *realm) {
	d := rl.dealer
	rl.registerMeta("wamp.registration.list", d.metaList)
	rl.registerMeta("wamp.registration.lookup", d.metaLookup)
	rl.registerMeta("wamp.registration.match", d.metaMatch)
	rl.registerMeta("wamp.registration.get", d.metaGet)
	rl.registerMeta("wamp.registration.list_callees", d.metaListCallees)
	rl.registerMeta("wamp.registration.count_callees", d.metaCountCallees)
}

// metaList: {"exact": [ids], "prefix": [ids], "wildcard": [ids]}.
func (d *dealer) metaList(metaArgs) metaReply {
	lists := [3][]codec.ID{{}, {}, {}}
	d.mu.Lock()
	for id, reg := range d.byID {
		lists[reg.match] = append(lists[reg.match], id)
	}
	d.mu.Unlock()
	return metaReply{Args: []any{map[string]any{
		"exact": lists[MatchExact], "prefix": lists[MatchPrefix], "wildcard": lists[MatchWildcard],
	}}}
}

// metaLookup: the registration of (procedure, options.match), or null.
func (d *dealer) metaLookup(a metaArgs) metaReply {
	uri, ok := argString(a.Args, 0)
	if !ok {
		return metaErr("wamp.error.invalid_argument", "expected a procedure URI")
	}
	match := MatchExact
	if opts, ok := argAt(a.Args, 1).(map[string]any); ok {
		if m, ok := opts["match"].(string); ok {
			if match, ok = parseMatch([]byte(m)); !ok {
				return metaErr("wamp.error.invalid_argument", "unknown match policy "+m)
			}
		}
	}
	if reg := d.lookupPolicy(match, uri); reg != nil {
		return metaReply{Args: []any{reg.id}}
	}
	return metaReply{Args: []any{nil}}
}

// metaMatch: the registration a call to procedure would be routed to, or null.
func (d *dealer) metaMatch(a metaArgs) metaReply {
	uri, ok := argString(a.Args, 0)
	if !ok {
		return metaErr("wamp.error.invalid_argument", "expected a procedure URI")
	}
	if reg, ok := d.lookup([]byte(uri)); ok {
		return metaReply{Args: []any{reg.id}}
	}
	return metaReply{Args: []any{nil}}
}

func (d *dealer) metaRegistration(a metaArgs) (*registration, *metaReply) {
	id, ok := argID(a.Args, 0)
	if !ok {
		r := metaErr("wamp.error.invalid_argument", "expected a registration ID")
		return nil, &r
	}
	d.mu.Lock()
	reg := d.byID[id]
	d.mu.Unlock()
	if reg == nil {
		r := metaErr("wamp.error.no_such_registration", "")
		return nil, &r
	}
	return reg, nil
}

func (d *dealer) metaGet(a metaArgs) metaReply {
	reg, bad := d.metaRegistration(a)
	if bad != nil {
		return *bad
	}
	return metaReply{Args: []any{reg.details()}}
}

func (d *dealer) metaListCallees(a metaArgs) metaReply {
	reg, bad := d.metaRegistration(a)
	if bad != nil {
		return *bad
	}
	return metaReply{Args: []any{reg.sessionIDs()}}
}

func (d *dealer) metaCountCallees(a metaArgs) metaReply {
	reg, bad := d.metaRegistration(a)
	if bad != nil {
		return *bad
	}
	return metaReply{Args: []any{len(*reg.callees.Load())}}
}
