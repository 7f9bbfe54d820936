package engine

import "github.com/wampd/wampd/codec"

// roleFeatures are the caller/callee features a client announced in HELLO
// that change what the dealer sends it.
type roleFeatures uint8

const (
	featCalleeCancel  roleFeatures = 1 << iota // callee call_canceling (or call_cancelling): INTERRUPT allowed
	featCalleeProgInv                          // callee progressive_call_invocations
	featCallerPPT                              // caller payload_passthru_mode
	featCalleePPT                              // callee payload_passthru_mode
	featPublisherPPT                           // publisher payload_passthru_mode (broker: PUBLISH with ppt_scheme allowed)
)

// dealerSession is a session's dealer state besides its tables.
type dealerSession struct {
	// feat is set when the session joins and read-only afterwards.
	feat roleFeatures
	// streams holds the CALL request IDs of this session's progressive call
	// invocations still sending chunks. Loop-owned (the caller's loop); nil
	// when none, so a plain CALL checks one nil map.
	streams map[codec.ID]struct{}
}

// parseRoleFeatures reads HELLO.Details.roles.{caller,callee}.features.
func parseRoleFeatures(details codec.Dict) roleFeatures {
	roles, ok := details.Lookup("roles")
	if !ok || !roles.IsDict() {
		return 0
	}
	features := func(role string) codec.Dict {
		r, ok := codec.Dict{Raw: roles}.Lookup(role)
		if !ok || !r.IsDict() {
			return codec.Dict{}
		}
		f, ok := codec.Dict{Raw: r}.Lookup("features")
		if !ok || !f.IsDict() {
			return codec.Dict{}
		}
		return codec.Dict{Raw: f}
	}
	on := func(d codec.Dict, name string) bool {
		v, _ := d.Bool(name)
		return v
	}
	var f roleFeatures
	caller, callee := features("caller"), features("callee")
	if on(callee, "call_canceling") || on(callee, "call_cancelling") {
		f |= featCalleeCancel
	}
	if on(callee, "progressive_call_invocations") {
		f |= featCalleeProgInv
	}
	if on(caller, "payload_passthru_mode") {
		f |= featCallerPPT
	}
	if on(callee, "payload_passthru_mode") {
		f |= featCalleePPT
	}
	if on(features("publisher"), "payload_passthru_mode") {
		f |= featPublisherPPT
	}
	return f
}

// maxStreams bounds a session's streams set: entries of calls that ended
// before their final chunk (error, timeout, cancel) are pruned past it.
const maxStreams = 1024

// addStream records a progressive call invocation of s (s's loop only).
func (d *dealerSession) addStream(s *session, req codec.ID) {
	if d.streams == nil {
		d.streams = make(map[codec.ID]struct{})
	}
	if len(d.streams) >= maxStreams {
		s.mu.Lock()
		for id := range d.streams {
			if pc := s.calls[id]; pc == nil || !pc.streaming {
				delete(d.streams, id)
			}
		}
		s.mu.Unlock()
	}
	d.streams[req] = struct{}{}
}
