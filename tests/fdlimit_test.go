package tests

import (
	"context"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/wampd/wampd/client"
)

// TestOpenFileLimit floods a wampd whose open-file limit is small with more
// connections than it can hold. Before connections were capped below the
// limit, accept(2) failed with EMFILE and gnet's acceptor stopped for good:
// the router never took another connection. Now the excess is refused, and
// once the flood is gone a client joins and works as usual.
func TestOpenFileLimit(t *testing.T) {
	skipShort(t)
	bin := routerBinary(t)
	addr := freePort(t)
	var stderr lockedBuffer
	// ulimit -n lowers the limit for wampd only (lowering needs no privilege).
	cmd := exec.Command("bash", "-c", `ulimit -n 300 && exec "$0" -ws "$1" -rawsocket '' -log-level warn`, bin, addr)
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()
	deadline := time.Now().Add(30 * time.Second)
	for !dialable(addr) {
		if time.Now().After(deadline) {
			t.Fatalf("wampd did not start:\n%s", stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}

	// 400 idle connections: more than the 300 descriptors wampd may open.
	var flood []net.Conn
	for i := 0; i < 400; i++ {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatalf("dial %d: %v", i, err)
		}
		flood = append(flood, c)
	}
	time.Sleep(200 * time.Millisecond) // let the router accept (and refuse) them all
	for _, c := range flood {
		c.Close()
	}

	// The router still accepts: a client joins, calls and leaves.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var s *client.Session
	var err error
	for {
		s, err = client.Connect(ctx, "ws://"+addr+"/ws", "realm1", client.Options{})
		if err == nil || ctx.Err() != nil {
			break
		}
		time.Sleep(100 * time.Millisecond) // closing the flood takes the router a moment
	}
	if err != nil {
		t.Fatalf("no session after the connection flood: %v\nwampd stderr:\n%s", err, stderr.String())
	}
	defer s.Close()
	res, err := s.Call(ctx, "wamp.session.count", nil, nil, client.CallOptions{})
	if err != nil {
		t.Fatalf("wamp.session.count: %v", err)
	}
	if len(res.Args) != 1 {
		t.Fatalf("wamp.session.count = %v", res.Args)
	}
	if strings.Contains(stderr.String(), "Accept() failed") {
		t.Fatalf("wampd's acceptor failed:\n%s", stderr.String())
	}
}
