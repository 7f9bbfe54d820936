package engine

import (
	"sync"
	"testing"

	"github.com/wampd/wampd/codec"
)

// TestConcurrentCallsExactlyOnce has callers on their own goroutines call a
// callee that answers from its goroutine and disconnects part way. Every
// call must get exactly one answer: RESULT, or ERROR canceled /
// no_such_procedure.
func TestConcurrentCallsExactlyOnce(t *testing.T) {
	r := newTestRouter(t)
	callee := join(t, r, codec.MsgPack, "realm1")
	callee.register(1, "com.p")
	const callers, calls = 4, 150

	stop := make(chan struct{})
	calleeDone := make(chan struct{})
	go func() { // the callee's "event loop"
		defer close(calleeDone)
		answered := 0
		for {
			select {
			case <-stop:
				callee.peer.Closed()
				return
			default:
			}
			for m := callee.next(); m != nil; m = callee.next() {
				if m.Type == codec.Invocation {
					callee.send(&codec.Message{Type: codec.Yield, Request: m.Request, ArgsAny: []any{"ok"}})
					answered++
				}
			}
			if answered >= callers*calls/3 {
				callee.peer.Closed() // disconnect with calls in flight
				return
			}
		}
	}()

	var wg sync.WaitGroup
	failures := make(chan string, callers)
	for i := range callers {
		c := join(t, r, []codec.Kind{codec.JSON, codec.CBOR}[i%2], "realm1")
		wg.Add(1)
		go func() {
			defer wg.Done()
			got := make(map[codec.ID]int)
			for req := codec.ID(1); req <= calls; req++ {
				c.send(&codec.Message{Type: codec.Call, Request: req, URI: []byte("com.p")})
			}
			for len(got) < calls {
				m := c.next()
				if m == nil {
					select {
					case <-calleeDone:
						// The callee is gone: everything must be answered now.
						if m = c.next(); m == nil {
							failures <- "calls left unanswered after the callee left"
							return
						}
					default:
						continue
					}
				}
				switch {
				case m.Type == codec.Result:
				case m.Type == codec.Error && (string(m.URI) == "wamp.error.canceled" || string(m.URI) == "wamp.error.no_such_procedure"):
				default:
					failures <- "unexpected answer " + string(m.URI)
					return
				}
				got[m.Request]++
				if got[m.Request] > 1 {
					failures <- "a call was answered twice"
					return
				}
			}
			if m := c.next(); m != nil {
				failures <- "extra message after every call was answered"
			}
		}()
	}
	wg.Wait()
	close(stop)
	<-calleeDone
	close(failures)
	for f := range failures {
		t.Error(f)
	}
}
