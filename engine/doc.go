package engine

// # Threads
//
// Each connection's Handle and Closed run on the connection's event loop,
// one message at a time; different connections run concurrently. A peer's
// decode Message and encode buffers are loop-owned (no lock). Work for
// another session (an EVENT, INVOCATION, RESULT) is encoded in the sending
// loop's buffers and queued with the target's Conn.Send, which copies.
// Two goroutines besides the loops touch a peer: an Authenticator's Verify
// answer (any goroutine) and Router.Shutdown; both encode into fresh buffers.
//
// # Session state machine (per connection, peer.state)
//
//	idle --HELLO anonymous--> established          (WELCOME)
//	idle --HELLO ticket/...--> challenged          (CHALLENGE)
//	challenged --AUTHENTICATE--> verifying          (Verify running)
//	verifying --done(ok)--> established             (WELCOME)
//	verifying --done(err)--> idle                   (ABORT authentication_failed)
//	idle --HELLO bad realm / no method--> idle      (ABORT no_such_realm / no_auth_method)
//	established --GOODBYE--> idle                   (GOODBYE goodbye_and_out; transport stays)
//	established --Shutdown--> closing --GOODBYE--> dead
//	established --wamp.session.kill*--> killed --GOODBYE--> idle
//	                                    (detached at once; closed after killGrace without reply)
//	any --violation--> dead                         (ABORT protocol_violation, Conn.Close)
//	any --Closed--> dead
//
// # Lock order
//
// Locks are taken in this order and never the other way round:
//
//	Router.mu  →  peer.mu  →  realm.mu
//	shard.mu (broker/dealer exact maps), taken alone
//	dealer.mu  →  shard.mu / patternIndex.mu (registration changes only)
//	broker.mu  →  shard.mu / patternIndex.mu (subscription changes only)
//	eventStore.mu, topicHistory.mu (history/retention), taken alone
//	pendingCall.answerMu  →  session.mu (progressive RESULT vs final answer)
//	session.mu (one at a time: never two session locks at once)
//
// No lock is held across Conn.Send or Conn.Close, and no lock is held while
// calling an Authenticator or Authorizer. The publish path takes one shard
// read lock to find the subscription and then reads its copy-on-write member
// list without any lock. The call path takes the caller's and then the
// callee's session.mu, one after the other, each for a map operation.
//
// # Back-pressure (Conn.Send returning false)
//
//   - EVENT: dropped for that subscriber and counted in its session's
//     droppedEvents (slow consumer); other subscribers are unaffected.
//   - INVOCATION: the invocation is taken back and the caller gets ERROR
//     wamp.error.canceled at once, with a message saying the callee is not
//     accepting invocations. A call is never silently lost.
//   - RESULT or ERROR to a caller, and any reply to a client's own request
//     (SUBSCRIBED, REGISTERED, ...): the client is not reading its answers,
//     so its connection is closed (which ends its session and cleans up).
//
// # Pending calls
//
// See pendingCall (dealer_call.go): it sits in the caller's and the callee's
// tables with one reference each (plus one for a running call_timeout
// timer); whoever takes it out of the caller's table sends the one final
// answer. When a callee leaves, every call waiting on it gets ERROR
// wamp.error.canceled ["callee disconnected"] at once (progressive results
// already sent stay delivered); when a caller leaves, its calls are
// forgotten, their timers stopped, callees that announced call_canceling get
// INTERRUPT killnowait, and late YIELDs are dropped. Timeouts use
// time.AfterFunc only for calls that ask for one: the timer runs off the
// loops and encodes into fresh buffers.
//
// # Extension points (Advanced Profile)
//
//   - Features: features.go is the one list advertised in WELCOME; a feature
//     is added there when it works.
//   - Pattern subscriptions/registrations: trie.go's patternIndex (prefix
//     and wildcard, cached by generation) is consulted after the exact maps.
//     A call picks exact, else the longest prefix, else the wildcard with the
//     longest concrete runs (dealer.lookup); an unknown policy is
//     wamp.error.invalid_argument.
//   - Shared registrations: registration.pick() chooses the callee from a
//     copy-on-write callee list by the invoke policy (no lock, no allocation).
//   - Progressive results/invocations, timeouts, cancel: pendingCall
//     (dealer_call.go) is the single place a call's life is decided: kept on
//     progress, claimed from the caller's table on timeout/cancel (INTERRUPT
//     only to callees that announced call_canceling/call_cancelling).
//   - Disclosure and black/whitelisting: fanout (broker.go) and call build
//     EVENT/INVOCATION Details in one place each. A publish runs the exact
//     subscription, then (only while pattern subscriptions exist) every
//     pattern one from patternIndex.match; each gets one EVENT encoded once
//     per serializer, with details.topic for patterns. Black/whitelists are
//     parsed once per publish into a pooled subFilter (broker_options.go).
//   - Event history and retention (broker_history.go): copies of events per
//     concrete topic, bounded by RealmConfig (EventHistory rules,
//     MaxHistoryTopics, MaxRetainedTopics); recorded after fan-out, only for
//     topics a rule names or publishes with retain=true.
//   - Meta API (meta.go): router-internal procedures are registered per realm
//     with registerMeta (from metaInits) and answered on the caller's loop
//     when a CALL names a wamp. URI (clients may neither REGISTER nor PUBLISH
//     wamp. URIs). Router-originated events (publishMeta) go through the
//     ordinary p.publish on a pooled internal peer whose session is the
//     realm's own "router" session (not listed, skips the Authorizer), so
//     every broker feature and pattern subscription applies to them.
//     session.detach is the single place a session leaves its realm (leave on
//     its loop, or kill from another loop): it publishes testaments and
//     wamp.session.on_leave once. session.droppedEvents is the slow-consumer
//     counter.
