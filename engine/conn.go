// Package engine is the WAMP router: realms, sessions and their state machine,
// authentication, authorization, the Broker, the Dealer and the meta API. It
// does no I/O: it sees each client connection only through Conn, so every part
// of it can be tested with in-memory connections.
package engine

import "github.com/wampd/wampd/codec"

// Conn is the engine's view of one client transport (a WebSocket or RawSocket
// connection). netpoll implements it; tests use in-memory fakes.
//
// Every method is safe to call from any goroutine.
type Conn interface {
	// Serializer is the serializer the peer negotiated.
	Serializer() codec.Kind
	// Send queues one encoded WAMP message (without transport framing) for
	// the peer. The bytes are copied before Send returns, so the caller may
	// reuse frame at once. It reports false when the message was not queued:
	// the connection is closed, its outbound queue is over its bound, or the
	// message is larger than the peer accepts.
	Send(frame []byte) bool
	// Close flushes what is queued and closes the transport. Idempotent.
	Close()
	// Transport describes the connection for logs and the session meta API.
	Transport() TransportInfo
}

// TransportInfo describes a client connection.
type TransportInfo struct {
	Type string // "websocket" or "rawsocket"
	Peer string // remote address, e.g. "tcp4:127.0.0.1:53412"
}
