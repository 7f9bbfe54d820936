package netpoll

import (
	"runtime"
	"testing"

	"github.com/gobwas/ws"
)

// Idle connections hold no buffers: the heap cost per attached WebSocket
// connection (server side, plus the test's own client objects) stays small.
func TestIdleConnectionsAreCheap(t *testing.T) {
	if testing.Short() {
		t.Skip("opens many sockets")
	}
	s, a := startServer(t, Config{})
	const n = 300
	// Warm up pools and loops.
	for i := 0; i < 5; i++ {
		w := dialWS(t, wsAddr(s), ws.Dialer{})
		a.next(t)
		w.send(ws.OpText, []byte("[1]"))
		w.expectMessage(ws.OpText, []byte("[1]"))
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := 0; i < n; i++ {
		w := dialWS(t, wsAddr(s), ws.Dialer{})
		a.next(t)
		w.send(ws.OpText, []byte("[1]"))
		w.expectMessage(ws.OpText, []byte("[1]"))
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	per := (int64(after.HeapAlloc) - int64(before.HeapAlloc)) / n
	t.Logf("heap per idle connection (server + test client): %d bytes", per)
	if per > 8<<10 {
		t.Fatalf("%d heap bytes per idle connection", per)
	}
}
