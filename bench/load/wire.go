// Package load is wampbench's engine: a deliberately cheap WAMP v2 client
// (WebSocket or RawSocket, MessagePack or JSON) and the load scenarios built
// on it (fan-out, RPC throughput and latency, connection storm, idle sessions,
// mixed), with HDR latency histograms, process CPU/RSS sampling, JSON results
// and hand-written SVG plots.
//
// The client here is not the project's client package on purpose: a load
// generator must be cheaper than the router it measures. Subscribers count
// EVENT frames straight out of the read buffer without decoding them (they
// look at a timestamp only on sampled events), callees echo the raw argument
// bytes back, and every connection batches its writes into one syscall per
// read batch. It speaks to any WAMP v2 router, not only wampd.
package load

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/url"
	"sync"
	"time"

	"github.com/gobwas/ws"
)

// Transport framing.
const (
	transportWS = iota + 1
	transportRawSocket
)

// Frame size limits for the harness side.
const (
	readBufferSize  = 64 << 10
	idleBufferSize  = 2 << 10
	maxFrameSize    = 16 << 20
	rawSocketMaxLen = 0xF // 2^24 bytes: the largest RawSocket length nibble
)

// errClosed is returned by Next when the router closed the connection (or sent a close frame).
var errClosed = errors.New("load: connection closed by router")

// Endpoint says where and how to connect.
type Endpoint struct {
	URL        string // ws://host:port/path or tcp://host:port (RawSocket)
	Serializer Serializer
	// LocalAddrs are the source IPs to bind, used round-robin by Dial's index
	// argument: each distinct (source IP) gets its own ~28k ephemeral ports,
	// which is how one machine holds 100k loopback connections.
	LocalAddrs []net.IP
	// DialTimeout bounds connect plus handshake.
	DialTimeout time.Duration
}

// Conn is one transport connection to the router: framing and batched writes.
//
// Reads happen on one goroutine (Next). Writes (Queue/Flush/Send) are
// serialized by a mutex because an open-loop caller writes from a pacing
// goroutine while its reader answers pings.
type Conn struct {
	nc        net.Conn
	br        *bufio.Reader
	transport int
	ser       Serializer

	pending int    // bytes of the last frame returned by Next still to Discard
	big     []byte // frames larger than the read buffer, or reassembled fragments

	wmu     sync.Mutex
	wbuf    []byte // frames queued since the last Flush
	mask    [4]byte
	scratch []byte // WAMP message being built (before framing)
}

// Dial connects to ep, performs the WebSocket or RawSocket handshake, and
// returns a Conn with a read buffer of bufSize bytes (0 for the default).
// index picks the local source address.
func Dial(ctx context.Context, ep Endpoint, index int, bufSize int) (*Conn, error) {
	u, err := url.Parse(ep.URL)
	if err != nil {
		return nil, fmt.Errorf("load: bad url %q: %w", ep.URL, err)
	}
	if bufSize <= 0 {
		bufSize = readBufferSize
	}
	timeout := ep.DialTimeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	d := net.Dialer{}
	if len(ep.LocalAddrs) > 0 {
		d.LocalAddr = &net.TCPAddr{IP: ep.LocalAddrs[index%len(ep.LocalAddrs)]}
	}
	c := &Conn{ser: ep.Serializer}
	binary.LittleEndian.PutUint32(c.mask[:], rand.Uint32()|1)
	switch u.Scheme {
	case "ws":
		c.transport = transportWS
		wd := ws.Dialer{
			Protocols:       []string{ep.Serializer.Subprotocol()},
			ReadBufferSize:  1024,
			WriteBufferSize: 1024,
			NetDial:         d.DialContext,
		}
		nc, br, hs, err := wd.Dial(ctx, ep.URL)
		if err != nil {
			return nil, fmt.Errorf("load: websocket dial %s: %w", ep.URL, err)
		}
		if hs.Protocol != ep.Serializer.Subprotocol() {
			nc.Close()
			return nil, fmt.Errorf("load: router chose subprotocol %q, want %q", hs.Protocol, ep.Serializer.Subprotocol())
		}
		c.nc = nc
		if br != nil && br.Buffered() > 0 {
			// The router already sent bytes after the handshake: read them first.
			c.br = bufio.NewReaderSize(io.MultiReader(br, nc), bufSize)
		} else {
			c.br = bufio.NewReaderSize(nc, bufSize)
		}
	case "tcp", "rs", "rawsocket":
		c.transport = transportRawSocket
		nc, err := d.DialContext(ctx, "tcp", u.Host)
		if err != nil {
			return nil, fmt.Errorf("load: rawsocket dial %s: %w", u.Host, err)
		}
		if dl, ok := ctx.Deadline(); ok {
			nc.SetDeadline(dl)
		}
		hs := [4]byte{0x7F, rawSocketMaxLen<<4 | byte(ep.Serializer.rawSocketID())}
		if _, err := nc.Write(hs[:]); err != nil {
			nc.Close()
			return nil, fmt.Errorf("load: rawsocket handshake: %w", err)
		}
		if _, err := io.ReadFull(nc, hs[:]); err != nil {
			nc.Close()
			return nil, fmt.Errorf("load: rawsocket handshake reply: %w", err)
		}
		nc.SetDeadline(time.Time{})
		if hs[0] != 0x7F || hs[1]&0x0F == 0 {
			nc.Close()
			return nil, fmt.Errorf("load: rawsocket handshake refused (error %d)", hs[1]>>4)
		}
		c.nc = nc
		c.br = bufio.NewReaderSize(nc, bufSize)
	default:
		return nil, fmt.Errorf("load: unsupported url scheme %q (want ws or tcp)", u.Scheme)
	}
	return c, nil
}

// Close closes the socket.
func (c *Conn) Close() error { return c.nc.Close() }

// Buffered reports how many received bytes wait in the read buffer: when it
// is 0 the next Next blocks, so it is the moment to Flush batched replies.
func (c *Conn) Buffered() int { return c.br.Buffered() - c.pending }

// SetReadDeadline bounds the next reads.
func (c *Conn) SetReadDeadline(t time.Time) { c.nc.SetReadDeadline(t) }

// Next returns the next WAMP message. The slice is valid until the next call
// to Next. Pings are answered; a close frame returns errClosed.
func (c *Conn) Next() ([]byte, error) {
	if c.pending > 0 {
		c.br.Discard(c.pending)
		c.pending = 0
	}
	if c.transport == transportRawSocket {
		return c.nextRawSocket()
	}
	return c.nextWS()
}

func (c *Conn) nextWS() ([]byte, error) {
	fragmented := false
	c.big = c.big[:0]
	for {
		h, err := c.br.Peek(2)
		if err != nil {
			return nil, err
		}
		fin := h[0]&0x80 != 0
		op := ws.OpCode(h[0] & 0x0F)
		masked := h[1]&0x80 != 0
		hlen := 2
		n := uint64(h[1] & 0x7F)
		switch n {
		case 126:
			hlen = 4
		case 127:
			hlen = 10
		}
		if masked {
			hlen += 4
		}
		h, err = c.br.Peek(hlen)
		if err != nil {
			return nil, err
		}
		switch n {
		case 126:
			n = uint64(binary.BigEndian.Uint16(h[2:4]))
		case 127:
			n = binary.BigEndian.Uint64(h[2:10])
		}
		if n > maxFrameSize {
			return nil, fmt.Errorf("load: %d-byte websocket frame exceeds the harness limit", n)
		}
		var payload []byte
		if hlen+int(n) <= c.br.Size() && !fragmented && fin && !op.IsControl() {
			// Common case: the whole frame fits the read buffer: no copy.
			p, err := c.br.Peek(hlen + int(n))
			if err != nil {
				return nil, err
			}
			payload = p[hlen:]
			if masked {
				ws.Cipher(payload, [4]byte(h[hlen-4:hlen]), 0)
			}
			c.pending = hlen + int(n)
			return payload, nil
		}
		var mask [4]byte
		if masked {
			mask = [4]byte(h[hlen-4 : hlen])
		}
		c.br.Discard(hlen)
		start := len(c.big)
		c.big = append(c.big, make([]byte, n)...)
		if _, err := io.ReadFull(c.br, c.big[start:]); err != nil {
			return nil, err
		}
		payload = c.big[start:]
		if masked {
			ws.Cipher(payload, mask, 0)
		}
		switch {
		case op == ws.OpPing:
			pong := append([]byte(nil), payload...)
			c.big = c.big[:start]
			if err := c.sendControl(ws.OpPong, pong); err != nil {
				return nil, err
			}
			continue
		case op == ws.OpPong:
			c.big = c.big[:start]
			continue
		case op == ws.OpClose:
			return nil, errClosed
		}
		fragmented = true
		if fin {
			return c.big, nil
		}
	}
}

func (c *Conn) nextRawSocket() ([]byte, error) {
	for {
		h, err := c.br.Peek(4)
		if err != nil {
			return nil, err
		}
		kind := h[0] & 0x07
		n := int(h[1])<<16 | int(h[2])<<8 | int(h[3])
		var payload []byte
		if 4+n <= c.br.Size() {
			p, err := c.br.Peek(4 + n)
			if err != nil {
				return nil, err
			}
			payload = p[4:]
			c.pending = 4 + n
		} else {
			c.br.Discard(4)
			c.big = append(c.big[:0], make([]byte, n)...)
			if _, err := io.ReadFull(c.br, c.big); err != nil {
				return nil, err
			}
			payload = c.big
		}
		switch kind {
		case 0:
			return payload, nil
		case 1: // ping: answer with a pong carrying the same bytes
			pong := append([]byte(nil), payload...)
			c.br.Discard(c.pending)
			c.pending = 0
			c.wmu.Lock()
			c.wbuf = appendRawSocketHeader(c.wbuf, 2, len(pong))
			c.wbuf = append(c.wbuf, pong...)
			err := c.flushLocked()
			c.wmu.Unlock()
			if err != nil {
				return nil, err
			}
		default: // pong or reserved: ignore
			c.br.Discard(c.pending)
			c.pending = 0
		}
	}
}

func appendRawSocketHeader(dst []byte, kind byte, n int) []byte {
	return append(dst, kind, byte(n>>16), byte(n>>8), byte(n))
}

// appendWSHeader appends a masked client frame header for an n-byte payload.
func (c *Conn) appendWSHeader(dst []byte, op ws.OpCode, n int) []byte {
	dst = append(dst, 0x80|byte(op))
	switch {
	case n < 126:
		dst = append(dst, 0x80|byte(n))
	case n <= 0xFFFF:
		dst = append(dst, 0x80|126, byte(n>>8), byte(n))
	default:
		dst = append(dst, 0x80|127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(n))
	}
	return append(dst, c.mask[:]...)
}

// queueLocked frames msg and appends it to the write batch.
func (c *Conn) queueLocked(msg []byte) {
	if c.transport == transportRawSocket {
		c.wbuf = appendRawSocketHeader(c.wbuf, 0, len(msg))
		c.wbuf = append(c.wbuf, msg...)
		return
	}
	op := ws.OpBinary
	if !c.ser.Binary() {
		op = ws.OpText
	}
	c.wbuf = c.appendWSHeader(c.wbuf, op, len(msg))
	start := len(c.wbuf)
	c.wbuf = append(c.wbuf, msg...)
	ws.Cipher(c.wbuf[start:], c.mask, 0)
}

func (c *Conn) flushLocked() error {
	if len(c.wbuf) == 0 {
		return nil
	}
	_, err := c.nc.Write(c.wbuf)
	c.wbuf = c.wbuf[:0]
	return err
}

func (c *Conn) sendControl(op ws.OpCode, payload []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.wbuf = c.appendWSHeader(c.wbuf, op, len(payload))
	start := len(c.wbuf)
	c.wbuf = append(c.wbuf, payload...)
	ws.Cipher(c.wbuf[start:], c.mask, 0)
	return c.flushLocked()
}

// Begin locks the write side and returns the scratch buffer to append one
// WAMP message to; Commit frames and queues it and unlocks. No closure, so
// no allocation on the hot path.
func (c *Conn) Begin() []byte {
	c.wmu.Lock()
	return c.scratch[:0]
}

// Commit queues the message built since Begin (msg must be Begin's buffer
// grown by appends) and releases the write lock.
func (c *Conn) Commit(msg []byte) {
	c.scratch = msg
	c.queueLocked(msg)
	c.wmu.Unlock()
}

// Flush writes every queued frame in one syscall.
func (c *Conn) Flush() error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.flushLocked()
}

// QueuedBytes reports how many bytes wait for Flush.
func (c *Conn) QueuedBytes() int {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return len(c.wbuf)
}

// Send queues and flushes one message built by the caller.
func (c *Conn) Send(msg []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.queueLocked(msg)
	return c.flushLocked()
}
