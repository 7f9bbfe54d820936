package engine

import (
	"testing"

	"github.com/wampd/wampd/codec"
)

// A client that sends ABORT in an established session (Autobahn does when it
// hits an error of its own) ends that session quietly: no reply, its
// registrations are gone, its transport is closed, and nobody else notices.
func TestClientAbortEndsSessionQuietly(t *testing.T) {
	r := newTestRouter(t)
	c := join(t, r, codec.MsgPack, "realm1")
	other := join(t, r, codec.JSON, "realm1")
	c.register(1, "com.proc")

	c.send(&codec.Message{Type: codec.Abort, URI: []byte("wamp.error.cannot_authenticate")})
	c.expectNothing()
	if !c.conn.isClosed() {
		t.Fatal("transport still open after the client's ABORT")
	}
	other.send(&codec.Message{Type: codec.Call, Request: 7, URI: []byte("com.proc")})
	other.expectError(codec.Call, 7, "wamp.error.no_such_procedure")
}
