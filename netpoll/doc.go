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
// # Protocols
//
// WebSocket (RFC 6455) with subprotocols wamp.2.json (text frames),
// wamp.2.msgpack and wamp.2.cbor (binary frames), and permessage-deflate
// (RFC 7692) without context takeover. RawSocket (WAMP spec) on its own
// listener and also on the WebSocket listener: its first byte, 0x7F, never
// starts an HTTP request. TLS is not handled here (terminate it at a proxy).
package netpoll
