// Package netpoll carries WAMP over WebSocket and RawSocket on gnet v2 event
// loops and hands every complete message to the engine through an Attacher.
//
// # Threading
//
// One gnet engine owns all listeners; its loops (one per core by default) own
// the sockets. Everything on the read side runs on the connection's loop:
// handshakes, frame parsing, reassembly, decompression and Peer.Handle. No
// goroutine exists per connection, and an idle connection holds no buffers.
//
// # Outbound path
//
// Conn.Send may be called from any goroutine. It adds the transport framing,
// compresses if permessage-deflate was negotiated, and appends the frame to the
// connection's pending buffer under a small per-connection lock. The first
// Send that makes a connection dirty puts it on its loop's dirty list and, if
// that loop has no flush queued yet, queues one (gnet EventLoop.Execute): one
// wake per loop per batch, however many connections and messages the batch
// holds. The flush writes each dirty connection's pending buffer with a single
// write. Connections that received data flush at the end of the read event,
// without waiting for the queued task.
//
// # Slow-consumer policy
//
// Each connection's outbound bytes (pending + gnet's outbound buffer) are
// bounded by Config.MaxPendingBytes. A Send that would exceed the bound is
// refused: Send returns false and queues nothing, so router memory per
// connection never exceeds the bound and other connections are not slowed.
// What a refusal means is the engine's decision: it drops an EVENT and counts
// it, errors the caller for an INVOCATION, and closes the session when a
// RESULT cannot be delivered. Send also returns false once the connection is
// closed, and for a RawSocket peer when the message is larger than the maximum
// length the client announced in its handshake.
//
// gnet reports no event when its outbound buffer drains, so the byte count a
// refusal is based on can be stale; a refusal therefore schedules a flush of
// that connection, which refreshes the count for the next Send.
//
// # Keepalive (dead peers)
//
// A peer whose machine or network dies sends no FIN: without keepalive its
// session, registrations, subscriptions and pending calls would live forever.
// A connection that has received nothing at all (no message, ping or pong)
// for Config.PingInterval (default 30s) gets a WebSocket ping, or a RawSocket
// PING frame, with a small payload. If nothing arrives within
// Config.PingTimeout (default 10s) after it, the connection is dropped: no
// WebSocket close frame (the peer is presumed unreachable; Autobahn and
// Crossbar do the same, and a live but deaf peer sees 1006), linger 0 so the
// kernel does not keep retransmitting to a dead host, and the Peer gets
// Closed as for any other close, so the engine fails the session's calls and
// removes its registrations and subscriptions. Any input resets the timer:
// busy connections are never pinged, and clients that send their own pings
// count as busy. A negative PingInterval disables keepalive.
//
// Cost: a read stamps the connection with the loop's coarse clock (one
// store). Each loop keeps its attached connections on a timing wheel that is
// swept on the loop, from gnet's ticker, every tick (a quarter of the shorter
// period, at most 1s); an idle connection is looked at about once per
// interval. There is no timer or goroutine per connection and no allocation
// per connection; each tick costs one gnet task per loop (and gnet's own
// small allocation for it). Pings and closes happen within about a tick
// (plus the loop's scheduling delay) of the nominal times.
//
// # Protocols
//
// WebSocket (RFC 6455) with subprotocols wamp.2.json (text frames),
// wamp.2.msgpack and wamp.2.cbor (binary frames), and permessage-deflate
// (RFC 7692) without context takeover. RawSocket (WAMP spec) on its own
// listener and also on the WebSocket listener: its first byte, 0x7F, never
// starts an HTTP request. TLS is not handled here (terminate it at a proxy).
//
// # Connection limit
//
// Config.MaxConnections defaults to the process's open-file limit less a
// reserve (limits.go). gnet's acceptor stops for good when accept(2) fails
// with EMFILE, so the router must never run out of descriptors: past the
// limit a connection is refused at its handshake (RawSocket error 4, HTTP
// 503), and past the limit plus a small slack it is closed as soon as it is
// accepted. Server.Done reports an engine that stopped anyway (wampd then
// exits non-zero, for its supervisor to restart it).
package netpoll
