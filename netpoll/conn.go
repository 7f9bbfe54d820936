package netpoll

import (
	"sync"
	"sync/atomic"

	"github.com/panjf2000/gnet/v2"

	"github.com/wampd/wampd/codec"
	"github.com/wampd/wampd/engine"
)

// Read-side states of a connection (loop-owned).
const (
	stateNew          = iota // nothing received yet
	stateWSHandshake         // collecting the HTTP upgrade request
	stateRawHandshake        // collecting the 4-byte RawSocket handshake
	stateWS                  // WebSocket frames
	stateRaw                 // RawSocket frames
	stateDone                // failing or closing: input is ignored
)

// conn is one client connection; it implements engine.Conn.
//
// Fields marked loop-owned are touched only on the connection's event loop.
// The outbound fields are guarded by mu. kind, deflate and maxOut are written
// on the loop before Attach and never change afterwards.
type conn struct {
	srv  *Server
	lp   *loop
	info engine.TransportInfo

	kind    codec.Kind
	deflate bool // permessage-deflate negotiated
	maxOut  int  // largest message the peer accepts (RawSocket), 0: no limit
	isRaw   bool // RawSocket (else WebSocket)

	// loop-owned
	gc      gnet.Conn // nil once closed
	peer    engine.Peer
	state   uint8
	rawOnly bool   // accepted on the RawSocket-only listener
	hs      []byte // handshake bytes collected so far
	ws      wsReader
	raw     rawReader
	msg     []byte // reassembly buffer

	// keepalive (loop-owned, keepalive.go)
	rxTick         int64 // wheel tick of the last input
	pingAt         int64 // tick of the outstanding keepalive ping, 0: none
	kaNext, kaPrev *conn // wheel list links
	kaList         int32 // wheel list index, -1: on none
	kaOn           bool  // watched by the wheel

	// closeReq is set by Close: stop delivering input.
	closeReq atomic.Bool
	// buffered is gnet's OutboundBuffered as last seen by the loop.
	buffered atomic.Int64

	mu      sync.Mutex
	pending *outBuf // framed bytes waiting for the loop; nil when none
	dirty   bool    // on the loop's dirty list
	closed  bool    // Send refuses
	closing bool    // close after the next flush
}

var _ engine.Conn = (*conn)(nil)

// outBuf is a pooled pending buffer: idle connections hold none.
type outBuf struct{ b []byte }

// maxPooledBuf keeps unusually large buffers out of the pools.
const maxPooledBuf = 256 << 10

var outPool = sync.Pool{New: func() any { return &outBuf{b: make([]byte, 0, 4096)} }}

func putOutBuf(b *outBuf) {
	if b == nil || cap(b.b) > maxPooledBuf {
		return
	}
	b.b = b.b[:0]
	outPool.Put(b)
}

// Serializer implements engine.Conn.
func (c *conn) Serializer() codec.Kind { return c.kind }

// Transport implements engine.Conn.
func (c *conn) Transport() engine.TransportInfo { return c.info }

// Send implements engine.Conn. Any goroutine.
func (c *conn) Send(frame []byte) bool {
	if c.maxOut > 0 && len(frame) > c.maxOut {
		return false
	}
	switch c.state0() {
	case stateWS:
		return c.sendWS(frame)
	case stateRaw:
		return c.enqueue(rawHeader(rawTypeMessage, len(frame)), frame)
	}
	return false
}

// state0 is the protocol a connection speaks; it is fixed before Attach, so
// reading it from Send (after the engine got the conn) is race-free.
func (c *conn) state0() uint8 {
	if c.kind == 0 {
		return stateNew
	}
	if c.isRaw {
		return stateRaw
	}
	return stateWS
}

// enqueue appends one frame (header + payload) to the pending buffer, within
// the bound, and schedules a flush. Any goroutine.
func (c *conn) enqueue(hdr hdrBytes, payload []byte) bool {
	n := hdr.n + len(payload)
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return false
	}
	have := int(c.buffered.Load())
	if c.pending != nil {
		have += len(c.pending.b)
	}
	if have+n > c.srv.cfg.MaxPendingBytes {
		// Refuse; make sure the loop refreshes a possibly stale count.
		c.dirtyUnlock()
		return false
	}
	if c.pending == nil {
		c.pending = outPool.Get().(*outBuf)
	}
	c.pending.b = append(c.pending.b, hdr.b[:hdr.n]...)
	c.pending.b = append(c.pending.b, payload...)
	c.dirtyUnlock()
	return true
}

// Close implements engine.Conn: what is queued is written, then (WebSocket) a
// close frame 1000, then the TCP connection is closed. Any goroutine.
func (c *conn) Close() {
	c.closeReq.Store(true)
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	if c.state0() == stateWS {
		if c.pending == nil {
			c.pending = outPool.Get().(*outBuf)
		}
		c.pending.b = appendClose(c.pending.b, closeNormal, "")
	}
	c.closed = true
	c.closing = true
	c.dirtyUnlock()
}

// dirtyUnlock marks c as having output for its loop, releases c.mu (held by
// the caller) and, if c was not marked yet, puts it on the loop's dirty
// list: one markDirty per flush, however many frames are queued.
func (c *conn) dirtyUnlock() {
	wake := !c.dirty
	c.dirty = true
	c.mu.Unlock()
	if wake {
		c.lp.markDirty(c)
	}
}

// flush writes the pending bytes in one write. Loop only.
func (c *conn) flush() {
	gc := c.gc
	if gc == nil {
		return
	}
	c.mu.Lock()
	buf := c.pending
	c.pending = nil
	c.dirty = false
	closing := c.closing
	c.mu.Unlock()
	if buf != nil {
		// gnet copies whatever the socket does not take at once. A write
		// error runs OnClose right here: no lock may be held.
		_, err := gc.Write(buf.b)
		putOutBuf(buf)
		if err != nil || c.gc == nil {
			return
		}
	}
	c.buffered.Store(int64(gc.OutboundBuffered()))
	if closing {
		c.state = stateDone
		_ = gc.EventLoop().Close(gc) // flushes gnet's buffer, then OnClose
	}
}

// writeNow writes a loop-generated frame (pong, close reply) straight to the
// socket. It skips the frame when the connection is over its bound: a peer
// that sends pings but does not read must not grow our memory. It reports
// false when the connection is gone. Loop only.
func (c *conn) writeNow(b []byte, force bool) bool {
	gc := c.gc
	if gc == nil {
		return false
	}
	if !force && gc.OutboundBuffered()+len(b) > c.srv.cfg.MaxPendingBytes {
		return true
	}
	if _, err := gc.Write(b); err != nil {
		return false
	}
	return c.gc != nil
}

// onClose drops every reference to the gnet connection and tells the peer,
// exactly once. Loop only (gnet OnClose).
func (c *conn) onClose(err error) {
	if c.peer == nil {
		c.srv.handshakeDone(c)
	}
	c.lp.ka.untrack(c)
	c.gc = nil
	c.state = stateDone
	c.mu.Lock()
	c.closed = true
	buf := c.pending
	c.pending = nil
	c.mu.Unlock()
	putOutBuf(buf)
	c.hs = nil
	c.msg = nil
	if err != nil && c.peer != nil {
		c.srv.log.Debug("netpoll: connection closed", "peer", c.info.Peer, "err", err)
	}
	if p := c.peer; p != nil {
		c.peer = nil
		p.Closed()
	}
}

// attach hands the connection to the engine. Loop only.
func (c *conn) attach() {
	c.srv.handshakeDone(c)
	if c.srv.ka.on {
		c.lp.ka.track(c)
	}
	c.peer = c.srv.attacher.Attach(c)
}

// deliver passes one complete message to the peer. Loop only.
func (c *conn) deliver(msg []byte) {
	if c.peer == nil || c.closeReq.Load() {
		return
	}
	c.peer.Handle(msg)
}

// onData consumes everything gnet read. Loop only.
func (c *conn) onData(buf []byte) gnet.Action {
	for len(buf) > 0 {
		switch c.state {
		case stateNew:
			if buf[0] == rawMagic {
				c.state = stateRawHandshake
				continue
			}
			if c.rawOnly {
				c.state = stateDone
				return gnet.Close
			}
			c.state = stateWSHandshake
		case stateWSHandshake:
			var ok bool
			buf, ok = c.wsHandshake(buf)
			if !ok {
				return gnet.Close
			}
		case stateRawHandshake:
			var ok bool
			buf, ok = c.rawHandshake(buf)
			if !ok {
				return gnet.Close
			}
		case stateWS:
			if !c.readWS(buf) {
				return gnet.Close
			}
			buf = nil
		case stateRaw:
			if !c.readRaw(buf) {
				return gnet.Close
			}
			buf = nil
		default:
			return gnet.None // closing: ignore input
		}
	}
	return gnet.None
}

// reassemble appends p to the reassembly buffer. Loop only.
func (c *conn) reassemble(p []byte) {
	if c.msg == nil {
		c.msg = make([]byte, 0, max(len(p), 1024))
	}
	c.msg = append(c.msg, p...)
}

// resetMsg empties the reassembly buffer, giving back an unusually large one.
func (c *conn) resetMsg() {
	if cap(c.msg) > maxPooledBuf {
		c.msg = nil
		return
	}
	c.msg = c.msg[:0]
}

// hdrBytes is a transport frame header built on the stack.
type hdrBytes struct {
	b [14]byte
	n int
}
