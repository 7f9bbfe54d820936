package tests

import (
	"regexp"
	"strconv"
	"testing"
	"time"
)

// guideProc starts one of the programming guide's example components from
// tests/python/guide (kept as close to the guide's text as the current Autobahn API
// allows) as its own process, pointed at the router.
func guideProc(t *testing.T, r *router, file string) *proc {
	return startProc(t, pythonScript(t, file, "python/guide", file, r.wsURL()))
}

// TestGuideExamples runs the guide's callee + caller and subscriber + publisher as
// separate processes, mixing Twisted and asyncio, the way a user following the guide
// would, and its listener-style component that joins, leaves and exits by itself.
func TestGuideExamples(t *testing.T) {
	skipShort(t)
	requirePython(t)
	r := startRouter(t)
	const wait = 30 * time.Second

	t.Run("rpc", func(t *testing.T) {
		t.Parallel()
		// Both pairs use the guide's URI com.myapp.add2, so they run one after the other.
		for _, pair := range [][2]string{{"twisted_callee.py", "asyncio_caller.py"}, {"asyncio_callee.py", "twisted_caller.py"}} {
			callee := guideProc(t, r, pair[0])
			if err := callee.waitLine("procedure registered", wait); err != nil {
				t.Fatalf("%v\n%s", err, r.logTail())
			}
			caller := guideProc(t, r, pair[1])
			if err := caller.waitLine("call result: 5", wait); err != nil {
				t.Fatalf("%s calling %s's add2(2, 3): %v\n%s", pair[1], pair[0], err, r.logTail())
			}
			caller.stop()
			callee.stop()
		}
	})

	t.Run("pubsub", func(t *testing.T) {
		t.Parallel()
		// The guide's print("event received: {0}", count) prints the literal "{0}".
		eventRe := regexp.MustCompile(`event received: \{0\} (\d+)`)
		for _, pair := range [][2]string{{"asyncio_subscriber.py", "twisted_publisher.py"}, {"twisted_subscriber.py", "asyncio_publisher.py"}} {
			sub := guideProc(t, r, pair[0])
			if err := sub.waitLine("subscribed to topic", wait); err != nil {
				t.Fatalf("%v\n%s", err, r.logTail())
			}
			pub := guideProc(t, r, pair[1]) // publishes 0, 1, 2, ... one per second
			err := sub.waitFor(func(out string) bool { return len(eventRe.FindAllString(out, -1)) >= 3 }, wait)
			if err != nil {
				t.Fatalf("%s did not get 3 events from %s: %v\n%s", pair[0], pair[1], err, r.logTail())
			}
			pub.stop()
			sub.stop()
			// Subscribed before the publisher started: counting starts at 0, in order.
			var got []int
			for _, m := range eventRe.FindAllStringSubmatch(sub.all.String(), -1) {
				n, _ := strconv.Atoi(m[1])
				got = append(got, n)
			}
			for i, n := range got {
				if n != i {
					t.Fatalf("%s got counter events %v, want 0, 1, 2, ... in order\n%s", pair[0], got, r.logTail())
				}
			}
		}
	})

	t.Run("listeners", func(t *testing.T) {
		t.Parallel()
		p := guideProc(t, r, "listeners.py")
		if err := p.wait(wait); err != nil {
			t.Fatalf("the guide's join/leave listener component should leave and exit 0: %v\n%s", err, r.logTail())
		}
		for _, want := range []string{"session joined", "on_leave", "wamp.close.goodbye_and_out"} {
			if err := p.waitLine(want, 0); err != nil {
				t.Errorf("missing %q: %v", want, err)
			}
		}
	})
}
