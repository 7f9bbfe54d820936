package netpoll

import (
	"github.com/wampd/wampd/codec"
)

// RawSocket (WAMP spec, "RawSocket Transport").
const (
	rawMagic = 0x7f

	rawTypeMessage = 0
	rawTypePing    = 1
	rawTypePong    = 2

	// Handshake error codes (upper nibble of the reply's second octet).
	rawErrSerializer   = 1
	rawErrMaxLength    = 2
	rawErrReservedBits = 3
	rawErrMaxConns     = 4
)

// rawReader is the incremental frame parser state (loop-owned).
type rawReader struct {
	hdr     [4]byte
	hdrN    int
	inFrame bool
	typ     byte
	left    int
	// maxIn is the largest message we accept: what we announced.
	maxIn int
}

// rawLengthCode is the largest LENGTH nibble whose size (2^(9+n)) does not
// exceed max; at least 0 (512 bytes).
func rawLengthCode(max int) byte {
	var n byte
	for n < 15 && 1<<(9+int(n)+1) <= max {
		n++
	}
	return n
}

// rawHeader builds a frame prefix: RRRR XTTT + 24-bit length, where X is the
// 25th length bit, used only for exactly 16 MiB.
func rawHeader(typ byte, n int) hdrBytes {
	var h hdrBytes
	h.b[0] = typ
	if n == 1<<24 {
		h.b[0] |= 0x08
	}
	h.b[1], h.b[2], h.b[3] = byte(n>>16), byte(n>>8), byte(n)
	h.n = 4
	return h
}

// rawHandshake collects and answers the 4-byte handshake. Loop only.
func (c *conn) rawHandshake(buf []byte) ([]byte, bool) {
	r := &c.raw
	k := copy(r.hdr[r.hdrN:], buf)
	r.hdrN += k
	buf = buf[k:]
	if r.hdrN < 4 {
		return nil, true
	}
	r.hdrN = 0
	h := r.hdr
	ser := codec.Kind(h[1] & 0x0f)
	switch {
	case h[2] != 0 || h[3] != 0:
		return nil, c.rawReject(rawErrReservedBits)
	case !ser.Valid():
		return nil, c.rawReject(rawErrSerializer)
	case c.srv.cfg.MaxConnections > 0 && c.srv.conns.Load() > int64(c.srv.cfg.MaxConnections):
		return nil, c.rawReject(rawErrMaxConns)
	}
	code := rawLengthCode(c.srv.cfg.MaxMessageSize)
	r.maxIn = 1 << (9 + int(code))
	c.kind = ser
	c.maxOut = 1 << (9 + int(h[1]>>4))
	c.isRaw = true
	c.info.Type = "rawsocket"
	c.state = stateRaw
	reply := [4]byte{rawMagic, code<<4 | byte(ser), 0, 0}
	if !c.writeNow(reply[:], true) {
		return nil, false
	}
	c.attach()
	return buf, true
}

// rawReject answers a handshake with an error and fails the connection.
func (c *conn) rawReject(code byte) bool {
	reply := [4]byte{rawMagic, code << 4, 0, 0}
	c.writeNow(reply[:], true)
	c.state = stateDone
	return false
}

// readRaw parses every complete part of buf. It returns false when the
// connection must be closed. Loop only.
func (c *conn) readRaw(buf []byte) bool {
	r := &c.raw
	for len(buf) > 0 {
		if c.state != stateRaw {
			return c.state != stateDone
		}
		if !r.inFrame {
			var h []byte
			if r.hdrN == 0 && len(buf) >= 4 {
				h, buf = buf[:4], buf[4:]
			} else {
				k := copy(r.hdr[r.hdrN:], buf)
				r.hdrN += k
				buf = buf[k:]
				if r.hdrN < 4 {
					return true
				}
				r.hdrN = 0
				h = r.hdr[:]
			}
			if h[0]&0xf0 != 0 {
				return c.rawFail("reserved bits set")
			}
			r.typ = h[0] & 0x07
			if r.typ > rawTypePong {
				return c.rawFail("reserved message type")
			}
			r.left = int(h[0]&0x08)<<21 | int(h[1])<<16 | int(h[2])<<8 | int(h[3])
			if r.left > r.maxIn {
				return c.rawFail("message longer than announced maximum")
			}
			r.inFrame = true
		}
		if len(c.msg) == 0 && len(buf) >= r.left {
			// The whole frame is here: no copy.
			p := buf[:r.left]
			buf = buf[r.left:]
			r.inFrame = false
			if !c.rawFrame(p) {
				return false
			}
			continue
		}
		take := min(len(buf), r.left)
		c.reassemble(buf[:take])
		buf = buf[take:]
		r.left -= take
		if r.left == 0 {
			r.inFrame = false
			ok := c.rawFrame(c.msg)
			c.resetMsg()
			if !ok {
				return false
			}
		}
	}
	return c.state != stateDone
}

// rawFrame handles one complete frame.
func (c *conn) rawFrame(p []byte) bool {
	switch c.raw.typ {
	case rawTypeMessage:
		c.deliver(p)
	case rawTypePing:
		// Answer at once, ahead of queued messages (frames are whole).
		h := rawHeader(rawTypePong, len(p))
		b := append(c.lp.scratch[:0], h.b[:h.n]...)
		b = append(b, p...)
		ok := c.writeNow(b, false)
		if cap(b) <= maxPooledBuf { // a 16 MiB ping must not pin 16 MiB per loop
			c.lp.scratch = b[:0]
		}
		return ok
	}
	return true
}

// rawFail closes a connection that broke the framing rules (RawSocket has no
// close message).
func (c *conn) rawFail(reason string) bool {
	c.srv.log.Debug("netpoll: rawsocket protocol error", "peer", c.info.Peer, "reason", reason)
	c.state = stateDone
	return false
}
