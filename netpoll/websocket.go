package netpoll

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net/http"
	"strconv"
	"unicode/utf8"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsflate"

	"github.com/wampd/wampd/codec"
)

// WebSocket close codes (RFC 6455 §7.4.1).
const (
	closeNormal        = 1000
	closeProtocolError = 1002
	closeInvalidData   = 1007
	closeTooBig        = 1009
)

// compressMin: smaller messages are sent uncompressed; deflate overhead and
// CPU would outweigh the saving.
const compressMin = 256

// wsReader is the incremental frame parser state (loop-owned). Headers that
// arrive split are collected in hdr; payloads are unmasked as they arrive.
type wsReader struct {
	hdr  [14]byte
	hdrN int

	inFrame bool
	op      ws.OpCode
	fin     bool
	single  bool // an unfragmented data frame: a whole message
	mask    [4]byte
	left    int64 // payload bytes of the current frame not yet seen
	pos     int   // payload bytes of the current frame already seen

	msgActive     bool // a data message is being received
	msgOp         ws.OpCode
	msgCompressed bool

	ctrl  [125]byte
	ctrlN int
}

// wsHeaderLen is the full header length announced by the second header byte.
func wsHeaderLen(b1 byte) int {
	n := 2
	switch b1 & 0x7f {
	case 126:
		n += 2
	case 127:
		n += 8
	}
	if b1&0x80 != 0 {
		n += 4
	}
	return n
}

// readWS parses every complete part of buf. It returns false when the
// connection must be closed (a close frame has been written). Loop only.
func (c *conn) readWS(buf []byte) bool {
	r := &c.ws
	for len(buf) > 0 {
		if c.state != stateWS {
			return c.state != stateDone
		}
		if !r.inFrame {
			var h []byte
			if r.hdrN == 0 && len(buf) >= 2 {
				if need := wsHeaderLen(buf[1]); len(buf) >= need {
					h, buf = buf[:need], buf[need:]
				}
			}
			if h == nil {
				// Header split across reads: collect it.
				if r.hdrN < 2 {
					k := copy(r.hdr[r.hdrN:2], buf)
					r.hdrN += k
					buf = buf[k:]
					if r.hdrN < 2 {
						return true
					}
				}
				need := wsHeaderLen(r.hdr[1])
				k := copy(r.hdr[r.hdrN:need], buf)
				r.hdrN += k
				buf = buf[k:]
				if r.hdrN < need {
					return true
				}
				h = r.hdr[:need]
				r.hdrN = 0
			}
			if !c.wsHeader(h) {
				return false
			}
			if !r.inFrame {
				continue // empty frame, already handled
			}
		}
		ctrl := r.op.IsControl()
		if r.pos == 0 && int64(len(buf)) >= r.left && (ctrl || r.single) {
			// Common case: the whole frame is here. Unmask in place (these
			// bytes are ours until OnTraffic returns) and use them directly.
			p := buf[:r.left]
			buf = buf[r.left:]
			ws.Cipher(p, r.mask, 0)
			r.inFrame = false
			if !c.wsFrame(p, true) {
				return false
			}
			continue
		}
		take := min(int64(len(buf)), r.left)
		p := buf[:take]
		buf = buf[take:]
		ws.Cipher(p, r.mask, r.pos)
		r.pos += int(take)
		r.left -= take
		if ctrl {
			r.ctrlN += copy(r.ctrl[r.ctrlN:], p)
		} else {
			c.reassemble(p)
		}
		if r.left == 0 {
			r.inFrame = false
			var whole []byte
			if ctrl {
				whole = r.ctrl[:r.ctrlN]
			}
			if !c.wsFrame(whole, false) {
				return false
			}
		}
	}
	return c.state != stateDone
}

// wsHeader validates a complete frame header and starts the frame. The header
// is decoded here rather than with ws.ReadHeader: that one needs an io.Reader
// and allocates its scratch buffer on every call, and this is the hot path.
func (c *conn) wsHeader(h []byte) bool {
	r := &c.ws
	b0, b1 := h[0], h[1]
	fin := b0&0x80 != 0
	rsv := (b0 >> 4) & 7
	op := ws.OpCode(b0 & 0x0f)
	var length int64
	rest := h[2:]
	switch b1 & 0x7f {
	case 126:
		length = int64(binary.BigEndian.Uint16(rest))
		rest = rest[2:]
	case 127:
		u := binary.BigEndian.Uint64(rest)
		if u>>63 != 0 {
			return c.wsFail(closeProtocolError, "frame length")
		}
		length = int64(u)
		rest = rest[8:]
	default:
		length = int64(b1 & 0x7f)
	}
	if b1&0x80 == 0 {
		return c.wsFail(closeProtocolError, "unmasked client frame")
	}
	copy(r.mask[:], rest[:4])
	if rsv&3 != 0 {
		return c.wsFail(closeProtocolError, "reserved bits set")
	}
	rsv1 := rsv&4 != 0
	switch op {
	case ws.OpContinuation:
		if !r.msgActive {
			return c.wsFail(closeProtocolError, "continuation without a message")
		}
		if rsv1 {
			return c.wsFail(closeProtocolError, "RSV1 on a continuation frame")
		}
	case ws.OpText, ws.OpBinary:
		if r.msgActive {
			return c.wsFail(closeProtocolError, "new message inside a fragmented one")
		}
		if rsv1 && !c.deflate {
			return c.wsFail(closeProtocolError, "RSV1 without permessage-deflate")
		}
		r.msgActive = true
		r.msgOp = op
		r.msgCompressed = rsv1
	case ws.OpClose, ws.OpPing, ws.OpPong:
		if !fin || length > 125 || rsv1 {
			return c.wsFail(closeProtocolError, "malformed control frame")
		}
	default:
		return c.wsFail(closeProtocolError, "reserved opcode")
	}
	// Written so that a huge 64-bit length cannot overflow the sum.
	if room := int64(c.srv.cfg.MaxMessageSize) - int64(len(c.msg)); !op.IsControl() && length > room {
		return c.wsFail(closeTooBig, "message too big")
	}
	r.op, r.fin, r.left, r.pos, r.ctrlN = op, fin, length, 0, 0
	r.single = fin && op != ws.OpContinuation && !op.IsControl()
	r.inFrame = true
	if length == 0 {
		r.inFrame = false
		return c.wsFrame(nil, r.single || op.IsControl())
	}
	return true
}

// wsFrame finishes a frame. For data frames, inPlace means p is the whole
// message; otherwise the frame's bytes are already in c.msg.
func (c *conn) wsFrame(p []byte, inPlace bool) bool {
	r := &c.ws
	switch r.op {
	case ws.OpPing:
		return c.wsControlReply(ws.OpPong, p)
	case ws.OpPong:
		return true
	case ws.OpClose:
		return c.wsPeerClose(p)
	}
	if !r.fin {
		return true
	}
	msg := c.msg
	if inPlace {
		msg = p
	}
	ok := c.wsMessage(msg)
	r.msgActive = false
	c.resetMsg()
	return ok
}

// wsMessage checks, decompresses and delivers a complete message.
func (c *conn) wsMessage(msg []byte) bool {
	r := &c.ws
	if r.msgCompressed {
		var err error
		msg, err = c.lp.inflate.decompress(msg, c.srv.cfg.MaxMessageSize)
		switch {
		case errors.Is(err, errInflateTooBig):
			return c.wsFail(closeTooBig, "message too big")
		case err != nil:
			return c.wsFail(closeInvalidData, "bad compressed data")
		}
		defer c.lp.inflate.release()
	}
	if r.msgOp == ws.OpText && !utf8.Valid(msg) {
		return c.wsFail(closeInvalidData, "text message is not UTF-8")
	}
	c.deliver(msg)
	return true
}

// validCloseCode reports whether a peer may send code (RFC 6455 §7.4).
func validCloseCode(code uint16) bool {
	switch {
	case code >= 1000 && code <= 1003, code >= 1007 && code <= 1014:
		return true
	case code >= 3000 && code <= 4999:
		return true
	}
	return false
}

// wsPeerClose answers the peer's close frame and ends the connection.
func (c *conn) wsPeerClose(p []byte) bool {
	switch {
	case len(p) == 1:
		return c.wsFail(closeProtocolError, "close payload of one byte")
	case len(p) >= 2:
		code := binary.BigEndian.Uint16(p)
		if !validCloseCode(code) {
			return c.wsFail(closeProtocolError, "invalid close code")
		}
		if !utf8.Valid(p[2:]) {
			return c.wsFail(closeInvalidData, "close reason is not UTF-8")
		}
	}
	if c.closeReq.Load() {
		// Our own close frame is queued already; the flush after this read
		// sends it and closes.
		c.state = stateDone
		return false
	}
	c.closeReq.Store(true)
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.flush() // queued messages go out before the close frame
	echo := p
	if len(echo) > 2 {
		echo = echo[:2] // echo the code, not the reason
	}
	c.wsControlReply(ws.OpClose, echo)
	c.state = stateDone
	return false
}

// wsFail fails the connection with a close frame (RFC 6455 §7.1.7).
func (c *conn) wsFail(code uint16, reason string) bool {
	c.srv.log.Debug("netpoll: websocket protocol error", "peer", c.info.Peer, "code", code, "reason", reason)
	b := appendClose(c.lp.scratch[:0], code, reason)
	c.lp.scratch = b[:0]
	c.writeNow(b, true)
	c.state = stateDone
	return false
}

// wsControlReply writes a pong or close frame at once. Loop only.
func (c *conn) wsControlReply(op ws.OpCode, payload []byte) bool {
	h := wsFrameHeader(op, false, len(payload))
	b := append(c.lp.scratch[:0], h.b[:h.n]...)
	b = append(b, payload...)
	c.lp.scratch = b[:0]
	return c.writeNow(b, op == ws.OpClose)
}

// wsFrameHeader builds an unmasked server frame header.
func wsFrameHeader(op ws.OpCode, rsv1 bool, n int) hdrBytes {
	var h hdrBytes
	h.b[0] = 0x80 | byte(op)
	if rsv1 {
		h.b[0] |= 0x40
	}
	switch {
	case n <= 125:
		h.b[1] = byte(n)
		h.n = 2
	case n <= 0xffff:
		h.b[1] = 126
		binary.BigEndian.PutUint16(h.b[2:], uint16(n))
		h.n = 4
	default:
		h.b[1] = 127
		binary.BigEndian.PutUint64(h.b[2:], uint64(n))
		h.n = 10
	}
	return h
}

// appendClose appends a close frame with code and reason.
func appendClose(dst []byte, code uint16, reason string) []byte {
	if len(reason) > 123 {
		reason = reason[:123]
	}
	h := wsFrameHeader(ws.OpClose, false, 2+len(reason))
	dst = append(dst, h.b[:h.n]...)
	dst = binary.BigEndian.AppendUint16(dst, code)
	return append(dst, reason...)
}

// sendWS frames (and maybe compresses) one message. Any goroutine.
func (c *conn) sendWS(frame []byte) bool {
	op := ws.OpBinary
	if c.kind == codec.JSON {
		op = ws.OpText
	}
	if c.deflate && len(frame) >= compressMin {
		d := getDeflater()
		defer putDeflater(d)
		z, err := d.compress(frame)
		if err == nil {
			return c.enqueue(wsFrameHeader(op, true, len(z)), z)
		}
	}
	return c.enqueue(wsFrameHeader(op, false, len(frame)), frame)
}

// handshakeIO feeds gobwas/ws's Upgrader a complete request and collects its
// response: the Upgrader never waits for bytes that are not there.
type handshakeIO struct {
	r   bytes.Reader
	out []byte
}

func (h *handshakeIO) Read(p []byte) (int, error) { return h.r.Read(p) }
func (h *handshakeIO) Write(p []byte) (int, error) {
	h.out = append(h.out, p...)
	return len(p), nil
}

var crlfcrlf = []byte("\r\n\r\n")

// wsHandshake collects the HTTP upgrade request and answers it once it is
// complete. It returns the bytes after the request (early frames).
func (c *conn) wsHandshake(buf []byte) ([]byte, bool) {
	from := max(0, len(c.hs)-3)
	c.hs = append(c.hs, buf...)
	i := bytes.Index(c.hs[from:], crlfcrlf)
	if i < 0 {
		if len(c.hs) > maxHandshakeBytes {
			c.httpError(http.StatusRequestHeaderFieldsTooLarge, "request header too large")
			return nil, false
		}
		return nil, true
	}
	end := from + i + 4
	req, rest := c.hs[:end], c.hs[end:]
	c.hs = nil
	if !c.upgrade(req) {
		return nil, false
	}
	return rest, true
}

// upgrade runs the gobwas/ws Upgrader on a complete request. Loop only.
func (c *conn) upgrade(req []byte) bool {
	s := c.srv
	var chosen codec.Kind
	ext := wsflate.Extension{Parameters: wsflate.Parameters{
		ServerNoContextTakeover: true,
		ClientNoContextTakeover: true,
	}}
	u := ws.Upgrader{
		Protocol: func(p []byte) bool {
			k, ok := codec.KindFromSubprotocol(string(p))
			if ok && chosen == 0 {
				chosen = k
			}
			return ok
		},
		OnRequest: func(uri []byte) error {
			path := uri
			if i := bytes.IndexByte(path, '?'); i >= 0 {
				path = path[:i]
			}
			if string(path) != s.cfg.WebSocketPath {
				return ws.RejectConnectionError(ws.RejectionStatus(http.StatusNotFound),
					ws.RejectionReason("wampd: no WebSocket endpoint at "+string(path)))
			}
			return nil
		},
		OnBeforeUpgrade: func() (ws.HandshakeHeader, error) {
			if chosen == 0 {
				return nil, ws.RejectConnectionError(ws.RejectionStatus(http.StatusBadRequest),
					ws.RejectionReason("wampd: no supported WAMP subprotocol offered; "+
						"Sec-WebSocket-Protocol must list wamp.2.json, wamp.2.msgpack or wamp.2.cbor"))
			}
			if m := s.cfg.MaxConnections; m > 0 && s.conns.Load() > int64(m) {
				return nil, ws.RejectConnectionError(ws.RejectionStatus(http.StatusServiceUnavailable),
					ws.RejectionReason("wampd: too many connections"))
			}
			return nil, nil
		},
	}
	if s.compress {
		u.Negotiate = ext.Negotiate
	}
	hio := &handshakeIO{}
	hio.r.Reset(req)
	hs, err := u.Upgrade(hio)
	if err != nil {
		if len(hio.out) == 0 {
			c.httpError(http.StatusBadRequest, "wampd: malformed WebSocket upgrade request: "+err.Error())
		} else {
			c.writeNow(hio.out, true)
		}
		c.state = stateDone
		return false
	}
	if k, ok := codec.KindFromSubprotocol(hs.Protocol); ok {
		chosen = k
	}
	c.kind = chosen
	_, c.deflate = ext.Accepted()
	c.info.Type = "websocket"
	c.state = stateWS
	if !c.writeNow(hio.out, true) {
		return false
	}
	c.attach()
	return true
}

// httpError answers a request that cannot be upgraded.
func (c *conn) httpError(code int, body string) {
	b := []byte("HTTP/1.1 " + strconv.Itoa(code) + " " + http.StatusText(code) +
		"\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: " +
		strconv.Itoa(len(body)) + "\r\nConnection: close\r\n\r\n" + body)
	c.writeNow(b, true)
	c.state = stateDone
}
