package client_test

import (
	"os"
	"testing"

	"github.com/wampd/wampd/client/clienttest"
)

// TestExternalRouter runs the conformance suite against a router that is
// already running, when WAMP_TEST_WS (ws://host:port/ws) and/or WAMP_TEST_RS
// (rs://host:port) are set; WAMP_TEST_REALM defaults to realm1. Example:
//
//	WAMP_TEST_WS=ws://127.0.0.1:8080/ws WAMP_TEST_RS=rs://127.0.0.1:8081 go test -run TestExternalRouter ./client
func TestExternalRouter(t *testing.T) {
	env := clienttest.Env{
		WebSocketURL: os.Getenv("WAMP_TEST_WS"),
		RawSocketURL: os.Getenv("WAMP_TEST_RS"),
		Realm:        os.Getenv("WAMP_TEST_REALM"),
		NoJSONBinary: os.Getenv("WAMP_TEST_NO_JSON_BINARY") != "",
	}
	if env.WebSocketURL == "" && env.RawSocketURL == "" {
		t.Skip("set WAMP_TEST_WS and/or WAMP_TEST_RS to test a running router")
	}
	if env.Realm == "" {
		env.Realm = "realm1"
	}
	clienttest.Run(t, env)
}
