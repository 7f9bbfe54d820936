package engine

// Peer is the engine's side of one connection.
type Peer interface {
	// Handle processes one complete WAMP message (no transport framing).
	// Calls for one connection are sequential (its event loop); msg is only
	// valid during the call. Handle never blocks on other connections.
	Handle(msg []byte)
	// Closed reports that the transport is gone (also after Conn.Close). It
	// is called once, after the connection's last Handle, never concurrently
	// with Handle.
	Closed()
}
