package load

import (
	"context"
	"os"
	"testing"
)

// TestRouterRoundTrip runs against a live router when WAMPBENCH_URL is set
// (for example ws://127.0.0.1:8080/ws): register, call, check the echo.
func TestRouterRoundTrip(t *testing.T) {
	url := os.Getenv("WAMPBENCH_URL")
	if url == "" {
		t.Skip("WAMPBENCH_URL not set")
	}
	for _, ser := range []Serializer{MsgPack, JSON} {
		ep := Endpoint{URL: url, Serializer: ser}
		ctx := context.Background()
		callee, err := Join(ctx, ep, "realm1", 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := callee.Register("bench.test." + ser.String()); err != nil {
			t.Fatal(err)
		}
		caller, err := Join(ctx, ep, "realm1", 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		p := PayloadTemplate(40)
		StampPayload(p, 12345)
		if err := caller.Send(ser.AppendCall(nil, 7, "bench.test."+ser.String(), p)); err != nil {
			t.Fatal(err)
		}
		b, err := callee.Next()
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s INVOCATION % x", ser, b)
		var m Msg
		if err := ser.Parse(b, &m); err != nil || m.Type != mInvocation {
			t.Fatalf("parse invocation: %v %+v", err, m)
		}
		t.Logf("parsed %+v", m)
		if err := callee.Send(ser.AppendYield(nil, m.ID1, &m)); err != nil {
			t.Fatal(err)
		}
		b, err = caller.Next()
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s RESULT % x", ser, b)
		if err := ser.Parse(b, &m); err != nil || m.Type != mResult || m.ID1 != 7 {
			t.Fatalf("parse result: %v %+v", err, m)
		}
		if ts, ok := Timestamp(b); !ok || ts != 12345 {
			t.Fatalf("timestamp %d %v", ts, ok)
		}
		caller.Leave()
		callee.Leave()
	}
}
