package netpoll

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"
)

// Server-side keepalive: a peer whose machine or network died without a FIN
// would otherwise keep its session (registrations, subscriptions, pending
// calls) forever. See the package documentation for the policy.
//
// Each loop owns a timing wheel of attached connections. A read only stamps
// the connection with the loop's coarse clock (one store); the wheel is not
// touched. When a connection's slot comes round, the sweep looks at the stamp
// and either re-files the connection at its real due time, pings it, or
// closes it. An idle connection is therefore visited about once per
// PingInterval (plus once per PingTimeout while a ping is outstanding),
// whatever the tick rate, and a busy one no more often: 100k idle connections
// cost a few thousand pointer visits per second, no timer, no goroutine and no
// allocation per connection. gnet's ticker (OnTick) queues one sweep per loop
// per tick; the sweep runs on the loop, so it touches loop-owned state freely.

const (
	defaultPingInterval = 30 * time.Second
	// defaultPingTimeout: a live peer answers a ping within one round trip;
	// 10s is generous for any network a session should survive on, and does
	// not grow with the interval (a 5-minute interval must not mean waiting
	// 5 minutes for a pong).
	defaultPingTimeout = 10 * time.Second
	// maxWheelSlots bounds the wheel; connections due later than its horizon
	// are visited early and re-filed (a long interval just costs a few more
	// visits).
	maxWheelSlots = 4096
)

// pingPayload marks our keepalive pings; answers are not matched to it, any
// input counts as a sign of life.
var pingPayload = []byte("wampd")

// keepalive holds the server's keepalive parameters in wheel ticks. Immutable
// after Listen.
type keepalive struct {
	on       bool
	gran     time.Duration // one tick
	interval int64         // ticks of silence before a ping
	timeout  int64         // ticks after the ping before closing
	slots    int
	start    time.Time
}

func newKeepalive(interval, timeout time.Duration) keepalive {
	if interval <= 0 {
		return keepalive{}
	}
	// A quarter of the shorter period bounds the timing error; ticks coarser
	// than a second would make no difference to anyone and finer ones only
	// matter for tests.
	g := min(interval, timeout) / 4
	g = max(min(g, time.Second), time.Millisecond)
	ticks := func(d time.Duration) int64 { return max(1, int64((d+g-1)/g)) }
	k := keepalive{on: true, gran: g, interval: ticks(interval), timeout: ticks(timeout), start: time.Now()}
	// +2: due times are stamp+period+1 and must fit in the horizon.
	k.slots = int(min(max(k.interval, k.timeout)+2, maxWheelSlots))
	return k
}

// tick is the current wheel tick; ticks start at 1 so that 0 can mean "none".
func (k *keepalive) tick() int64 { return 1 + int64(time.Since(k.start)/k.gran) }

// wheel is one loop's keepalive timing wheel. Everything but members and
// queued is loop-owned.
//
// heads[0..n-1] are the slots (a connection due at tick d is on slot d%n);
// heads[n] is the list being swept, so that a connection re-filed during a
// sweep can never be met again by the same sweep. Every connection on a list
// has kaList set to that list's index.
type wheel struct {
	lp    *loop
	heads []*conn
	// now is the clock reads are stamped with; it is the tick of the last
	// sweep (or attach), so a stamp is at most one tick (plus scheduling
	// delay) older than the read it records. Due times add one tick for it.
	now  int64
	done int64 // the last tick whose slot was swept

	members atomic.Int32 // tracked connections; read by the ticker goroutine
	queued  atomic.Bool  // a sweep task is queued on the loop
}

func (w *wheel) init(lp *loop, k *keepalive) {
	w.lp = lp
	if !k.on {
		return
	}
	w.heads = make([]*conn, k.slots+1)
	w.now = k.tick()
	w.done = w.now
}

// track starts watching an attached connection. Loop only.
func (w *wheel) track(c *conn) {
	k := &w.lp.srv.ka
	w.now = max(w.now, k.tick())
	c.kaOn = true
	c.rxTick = w.now
	c.pingAt = 0
	w.members.Add(1)
	w.insert(c, c.rxTick+k.interval+1)
}

// untrack stops watching c (it is closing). Loop only.
func (w *wheel) untrack(c *conn) {
	if !c.kaOn {
		return
	}
	c.kaOn = false
	w.members.Add(-1)
	if c.kaList >= 0 {
		w.unlink(c)
	}
}

// insert files c on the slot of tick due, clamped to the wheel's horizon.
func (w *wheel) insert(c *conn, due int64) {
	n := int64(len(w.heads) - 1)
	due = min(max(due, w.done+1), w.done+n)
	i := int32(due % n)
	c.kaList = i
	c.kaPrev = nil
	c.kaNext = w.heads[i]
	if c.kaNext != nil {
		c.kaNext.kaPrev = c
	}
	w.heads[i] = c
}

// unlink takes c off its list.
func (w *wheel) unlink(c *conn) {
	if c.kaPrev != nil {
		c.kaPrev.kaNext = c.kaNext
	} else {
		w.heads[c.kaList] = c.kaNext
	}
	if c.kaNext != nil {
		c.kaNext.kaPrev = c.kaPrev
	}
	c.kaNext, c.kaPrev, c.kaList = nil, nil, -1
}

// Run is the sweep task queued by OnTick (gnet.Runnable). Loop only.
func (w *wheel) Run(context.Context) error {
	w.queued.Store(false)
	w.advance(w.lp.srv.ka.tick())
	return nil
}

// advance sweeps every slot from the last swept tick up to now (all of them
// once at most, when the loop was held up for longer than the wheel spans).
func (w *wheel) advance(now int64) {
	if now <= w.done || len(w.heads) == 0 {
		return
	}
	n := int64(len(w.heads) - 1)
	from := max(w.done+1, now-n+1)
	w.now = max(w.now, now)
	w.done = now
	sweep := int32(n)
	for t := from; t <= now; t++ {
		i := t % n
		h := w.heads[i]
		if h == nil {
			continue
		}
		w.heads[i] = nil
		for c := h; c != nil; c = c.kaNext {
			c.kaList = sweep
		}
		w.heads[sweep] = h
		// Pop one at a time: visiting one connection may close others
		// (their OnClose unlinks them from this list).
		for c := w.heads[sweep]; c != nil; c = w.heads[sweep] {
			w.unlink(c)
			w.visit(c, now)
		}
	}
}

// visit decides what c needs at tick now and re-files it unless it closed.
func (w *wheel) visit(c *conn, now int64) {
	k := &w.lp.srv.ka
	if c.pingAt != 0 {
		if c.rxTick < c.pingAt { // nothing since the ping
			if now >= c.pingAt+k.timeout+1 {
				w.expire(c)
				return
			}
			w.insert(c, c.pingAt+k.timeout+1)
			return
		}
		c.pingAt = 0 // answered (or any other input)
	}
	if due := c.rxTick + k.interval + 1; now < due {
		w.insert(c, due)
		return
	}
	// A connection the engine is closing gets no ping, but the same
	// deadline: its close completes long before.
	if !c.closeReq.Load() && !c.keepalivePing() {
		return // the write failed and closed c
	}
	if !c.kaOn {
		return
	}
	c.pingAt = now
	w.insert(c, now+k.timeout+1)
}

// expire closes a connection that did not answer its ping. No close frame:
// the peer is presumed unreachable (Autobahn/Crossbar also just drop the
// connection; RFC 6455 §7.1.7 allows it), and a live but deaf peer sees 1006
// (abnormal closure), which is what happened. Linger 0 resets the connection
// so its unsent bytes do not sit in the kernel for the retransmission
// timeout. The Peer gets Closed from OnClose, synchronously.
func (w *wheel) expire(c *conn) {
	gc := c.gc
	if gc == nil {
		return
	}
	c.srv.log.Debug("netpoll: keepalive timeout, closing", "peer", c.info.Peer)
	c.closeReq.Store(true)
	c.state = stateDone
	_ = gc.SetLinger(0)
	_ = gc.EventLoop().Close(gc)
}

// keepalivePing writes a WebSocket ping or a RawSocket PING straight to the
// socket (frames are whole, so it may go between queued messages). It skips
// the write, like a pong, when the connection is over its outbound bound:
// then only input from the peer saves it. It reports false when the
// connection is gone. Loop only.
func (c *conn) keepalivePing() bool {
	var h hdrBytes
	switch c.state {
	case stateWS:
		h = wsFrameHeader(ws.OpPing, false, len(pingPayload))
	case stateRaw:
		h = rawHeader(rawTypePing, len(pingPayload))
	default:
		return c.gc != nil
	}
	b := append(c.lp.scratch[:0], h.b[:h.n]...)
	b = append(b, pingPayload...)
	c.lp.scratch = b[:0]
	return c.writeNow(b, false)
}

// sweepLoops queues a keepalive sweep on every loop that has connections to
// watch and none queued yet. Ticker goroutine.
func (s *Server) sweepLoops() {
	s.loopsMu.Lock()
	defer s.loopsMu.Unlock()
	for _, lp := range s.loops {
		w := &lp.ka
		if w.members.Load() == 0 || !w.queued.CompareAndSwap(false, true) {
			continue
		}
		if err := lp.el.Execute(context.Background(), w); err != nil {
			w.queued.Store(false) // shutting down
		}
	}
}
