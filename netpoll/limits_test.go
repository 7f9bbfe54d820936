package netpoll

import (
	"context"
	"net"
	"testing"
	"time"
)

func TestLimitFromFiles(t *testing.T) {
	for _, c := range []struct {
		files uint64
		want  int
	}{
		{20000, 20000 - fdReserve},
		{1024, 1024 - fdReserve},
		{300, 75},        // a quarter of a tiny limit
		{^uint64(0), -1}, // RLIM_INFINITY
	} {
		if got := limitFromFiles(c.files); got != c.want {
			t.Errorf("limitFromFiles(%d) = %d, want %d", c.files, got, c.want)
		}
	}
	if connectionLimit() == 0 {
		t.Fatal("connectionLimit must not be 0 (that would mean: derive again)")
	}
}

// Connections far past MaxConnections are closed at accept time, without
// waiting for a handshake, and the listener keeps accepting afterwards.
func TestAcceptTimeCutoff(t *testing.T) {
	s, a := startServer(t, Config{MaxConnections: 1})
	first, _ := dialRaw(t, rawAddr(s), [4]byte{0x7f, 0xf1, 0, 0})
	a.next(t)

	// Plain TCP connections that never send a byte: the first acceptSlack
	// wait for their handshake, the ones after them are closed at once.
	var idle []net.Conn
	defer func() {
		for _, c := range idle {
			c.Close()
		}
	}()
	for i := 0; i < acceptSlack; i++ {
		c, err := net.Dial("tcp", rawAddr(s))
		if err != nil {
			t.Fatal(err)
		}
		idle = append(idle, c)
	}
	waitFor(t, "the idle connections", func() bool { return s.conns.Load() == 1+acceptSlack })
	over, err := net.Dial("tcp", rawAddr(s))
	if err != nil {
		t.Fatal(err)
	}
	defer over.Close()
	over.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := over.Read(make([]byte, 1)); err == nil {
		t.Fatalf("connection past the cutoff read %d bytes, want it closed", n)
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("connection past the cutoff was kept open")
	}

	// Everyone leaves; the listener still works.
	for _, c := range idle {
		c.Close()
	}
	idle = nil
	first.c.Close()
	waitFor(t, "every connection closed", func() bool { return s.conns.Load() == 0 })
	dialRaw(t, rawAddr(s), [4]byte{0x7f, 0xf1, 0, 0})
	a.next(t)
}

// Done and Err report the engine's end: nothing while it runs, closed and
// nil after Stop.
func TestServerDone(t *testing.T) {
	s, _ := startServer(t, Config{})
	select {
	case <-s.Done():
		t.Fatal("Done closed while serving")
	default:
	}
	if err := s.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("Done not closed after Stop")
	}
	if err := s.Err(); err != nil {
		t.Fatalf("Err after Stop = %v", err)
	}
}
