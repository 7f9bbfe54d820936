package main

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/wampd/wampd/client/clienttest"
)

// TestClientInterop runs wampd's client conformance suite against nexus:
// it checks the client against a router that wampd did not write.
func TestClientInterop(t *testing.T) {
	srv, err := start(config{
		wsAddr: "127.0.0.1:0", wsPath: "/ws", rsAddr: "127.0.0.1:0", realm: "realm1",
		anonymous: true,
		tickets:   []user{{authid: "alice", secret: "s3cret", role: "user"}},
		crUsers:   []user{{authid: "bob", secret: "cr-secret", role: "user"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.close()
	clienttest.Run(t, clienttest.Env{
		WebSocketURL: "ws://" + srv.wsAddr + "/ws",
		RawSocketURL: "rs://" + srv.rsAddr,
		Realm:        "realm1",
		TicketAuthID: "alice", Ticket: "s3cret",
		CRAAuthID: "bob", CRASecret: "cr-secret",
		NoJSONBinary: true, // nexus sends binary to JSON peers as plain base64
	})
}

func TestMain(m *testing.M) {
	// nexus keeps a few goroutines of its own after Close; only the client's matter here.
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction("github.com/gammazero/nexus/v3/router.(*realm).run"))
}
