// Package fuzz holds wampd's cross-package fuzz targets and its soak test.
// Everything here drives the router through exported APIs only, the way a
// transport or a client would:
//
//   - FuzzSessionStateMachine: sequences of fuzz-built WAMP messages from
//     several in-memory connections to one engine.Router, beside a
//     well-behaved witness session that must keep working.
//   - FuzzWireStack: fuzz bytes, split at a fuzz-chosen point, written to a
//     real netpoll listener; a client.Session witness must keep working and
//     the server must not leak goroutines.
//   - TestSoak (build tag soak): mixed traffic against a wampd binary built
//     with -race; see scripts/soak.sh and `make soak`.
//
// `go test ./fuzz` replays the seed corpora in testdata/fuzz; `make fuzz`
// fuzzes every target of the module for FUZZTIME each.
package fuzz
