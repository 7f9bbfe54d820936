package client

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"math/rand/v2"
	"net"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"

	"github.com/wampd/wampd/codec"
)

// transport carries whole WAMP messages over one connection.
type transport interface {
	// readMessage returns the next message, valid until the next call. Only
	// the receive goroutine calls it.
	readMessage() ([]byte, error)
	// writeMessage frames and sends msg. It may modify msg (WebSocket masks
	// in place). Safe for concurrent use.
	writeMessage(msg []byte) error
	// close closes the connection. Idempotent.
	close() error
	// hold defers flushing until the matching release (see Session.Batch).
	hold()
	release() error
	// ping sends a transport-level ping (the answer counts as activity).
	ping() error
	// activity counts frames received, for keep-alive.
	activity() uint64
}

// errMessageTooBig is returned when the router sends more than MaxMessageSize.
var errMessageTooBig = errors.New("client: message exceeds MaxMessageSize")

// dialTransport connects to rawURL (ws, wss, rs, rss, tcp, tcps).
func dialTransport(ctx context.Context, rawURL string, o *Options) (transport, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("client: parse url: %w", err)
	}
	switch strings.ToLower(u.Scheme) {
	case "ws", "wss":
		return dialWebSocket(ctx, rawURL, o)
	case "rs", "tcp":
		return dialRawSocket(ctx, u.Host, nil, o)
	case "rss", "tcps":
		cfg := o.TLSConfig
		if cfg == nil {
			cfg = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		if cfg.ServerName == "" {
			cfg = cfg.Clone()
			cfg.ServerName = u.Hostname()
		}
		return dialRawSocket(ctx, u.Host, cfg, o)
	}
	return nil, fmt.Errorf("client: unsupported url scheme %q (want ws, wss, rs, rss, tcp)", u.Scheme)
}

// frameWriter serializes writes to one connection and coalesces them: each
// writer appends its frame to a shared bufio.Writer and only the last of a
// burst of concurrent writers flushes, so a fast publisher pays one syscall
// per burst rather than per message.
type frameWriter struct {
	conn    net.Conn
	timeout time.Duration
	waiting atomic.Int32
	mu      sync.Mutex
	bw      *bufio.Writer // guarded by mu
	err     error         // guarded by mu; sticky first write error
	// deadlineSet is when the write deadline was last moved (guarded by mu):
	// refreshing it only every timeout/4 keeps the cost off the hot path
	// while every socket write still has at least 3/4 of timeout left.
	deadlineSet time.Time
	// scratch holds a frame header (guarded by mu): a header on the stack
	// would escape through bufio's io.Writer and cost an allocation per frame.
	scratch [16]byte
}

func newFrameWriter(c net.Conn, timeout time.Duration) *frameWriter {
	return &frameWriter{conn: c, timeout: timeout, bw: bufio.NewWriterSize(c, 32<<10)}
}

// write runs fn, which writes about n bytes, with the buffered writer under
// the lock, and flushes when no other writer is queued behind this one.
func (w *frameWriter) write(n int, fn func(bw *bufio.Writer, scratch []byte) error) error {
	w.waiting.Add(1)
	w.mu.Lock()
	defer w.mu.Unlock()
	last := w.waiting.Add(-1) == 0
	if w.err != nil {
		return w.err
	}
	if w.timeout > 0 && (last || n > w.bw.Available()) {
		// This write may reach the socket.
		if now := time.Now(); now.Sub(w.deadlineSet) > w.timeout/4 {
			_ = w.conn.SetWriteDeadline(now.Add(w.timeout))
			w.deadlineSet = now
		}
	}
	err := fn(w.bw, w.scratch[:])
	if err == nil && last {
		err = w.bw.Flush()
	}
	if err != nil {
		w.err = err
		_ = w.conn.Close()
	}
	return err
}

// hold makes writers leave their frames buffered until release.
func (w *frameWriter) hold() { w.waiting.Add(1) }

// release ends a hold and flushes what is buffered unless a writer is queued
// (that writer then flushes).
func (w *frameWriter) release() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.waiting.Add(-1) != 0 || w.err != nil || w.bw.Buffered() == 0 {
		return w.err
	}
	if w.timeout > 0 {
		now := time.Now()
		_ = w.conn.SetWriteDeadline(now.Add(w.timeout))
		w.deadlineSet = now
	}
	if err := w.bw.Flush(); err != nil {
		w.err = err
		_ = w.conn.Close()
	}
	return w.err
}

// ---- WebSocket ----

type wsTransport struct {
	conn   net.Conn
	br     *bufio.Reader
	w      *frameWriter
	binary bool
	max    int
	buf    []byte   // receive-goroutine-owned message buffer
	hdr    [16]byte // receive-goroutine-owned header scratch
	once   sync.Once
	frames atomic.Uint64
}

func dialWebSocket(ctx context.Context, rawURL string, o *Options) (transport, error) {
	d := ws.Dialer{
		Timeout:   o.DialTimeout,
		Protocols: []string{o.Serializer.Subprotocol()},
		TLSConfig: o.TLSConfig,
	}
	conn, br, hs, err := d.Dial(ctx, rawURL)
	if err != nil {
		return nil, fmt.Errorf("client: websocket dial %s: %w", rawURL, err)
	}
	if hs.Protocol != o.Serializer.Subprotocol() {
		_ = conn.Close()
		if br != nil {
			ws.PutReader(br)
		}
		return nil, fmt.Errorf("client: websocket %s: router did not accept subprotocol %s (got %q)",
			rawURL, o.Serializer.Subprotocol(), hs.Protocol)
	}
	// The dialer returns a reader only when the server already sent frames;
	// keep reading through it until drained, then read the conn directly via
	// our own buffer.
	var r *bufio.Reader
	if br != nil {
		r = bufio.NewReaderSize(io.MultiReader(br, conn), 32<<10)
	} else {
		r = bufio.NewReaderSize(conn, 32<<10)
	}
	return &wsTransport{
		conn:   conn,
		br:     r,
		w:      newFrameWriter(conn, o.WriteTimeout),
		binary: o.Serializer.Binary(),
		max:    o.MaxMessageSize,
	}, nil
}

func (t *wsTransport) readMessage() ([]byte, error) {
	t.buf = t.buf[:0]
	fragmented := false
	for {
		h, err := ws.ReadHeaderBuffer(t.br, t.hdr[:])
		if err != nil {
			return nil, err
		}
		t.frames.Add(1)
		if h.Length < 0 || h.Length > int64(t.max) || len(t.buf)+int(h.Length) > t.max {
			return nil, errMessageTooBig
		}
		if h.OpCode.IsControl() {
			payload := make([]byte, h.Length) // control frames are small and rare
			if _, err := io.ReadFull(t.br, payload); err != nil {
				return nil, err
			}
			if h.Masked {
				ws.Cipher(payload, h.Mask, 0)
			}
			switch h.OpCode {
			case ws.OpPing:
				if err := t.writeFrame(ws.OpPong, payload); err != nil {
					return nil, err
				}
			case ws.OpClose:
				// Echo the close (best effort) and report the end of the stream.
				_ = t.writeFrame(ws.OpClose, payload)
				return nil, io.EOF
			}
			continue
		}
		switch h.OpCode {
		case ws.OpText, ws.OpBinary:
			if fragmented {
				return nil, errors.New("client: websocket: new message inside a fragmented one")
			}
		case ws.OpContinuation:
			if !fragmented {
				return nil, errors.New("client: websocket: unexpected continuation frame")
			}
		default:
			return nil, fmt.Errorf("client: websocket: reserved opcode %d", h.OpCode)
		}
		start := len(t.buf)
		t.buf = growTo(t.buf, start+int(h.Length))
		if _, err := io.ReadFull(t.br, t.buf[start:]); err != nil {
			return nil, err
		}
		if h.Masked {
			ws.Cipher(t.buf[start:], h.Mask, 0)
		}
		if h.Fin {
			return t.buf, nil
		}
		fragmented = true
	}
}

func (t *wsTransport) writeMessage(msg []byte) error {
	op := ws.OpText
	if t.binary {
		op = ws.OpBinary
	}
	return t.writeFrame(op, msg)
}

// writeFrame masks payload in place (clients must mask every frame) and writes one frame.
func (t *wsTransport) writeFrame(op ws.OpCode, payload []byte) error {
	return t.w.write(len(payload)+ws.MaxHeaderSize, func(bw *bufio.Writer, scratch []byte) error {
		var mask [4]byte
		binary.LittleEndian.PutUint32(mask[:], rand.Uint32())
		h := ws.Header{Fin: true, OpCode: op, Masked: true, Mask: mask, Length: int64(len(payload))}
		if err := ws.WriteHeaderBuffer(bw, h, scratch); err != nil {
			return err
		}
		ws.Cipher(payload, mask, 0)
		_, err := bw.Write(payload)
		return err
	})
}

func (t *wsTransport) activity() uint64 { return t.frames.Load() }
func (t *wsTransport) ping() error      { return t.writeFrame(ws.OpPing, nil) }
func (t *wsTransport) hold()            { t.w.hold() }
func (t *wsTransport) release() error   { return t.w.release() }

func (t *wsTransport) close() error {
	t.once.Do(func() {
		// A close frame tells the router this is deliberate; ignore errors
		// because the connection may already be gone.
		// The short deadline also unblocks a writer stuck on a full socket,
		// so taking the lock below is bounded.
		body := ws.NewCloseFrameBody(ws.StatusNormalClosure, "")
		_ = t.conn.SetWriteDeadline(time.Now().Add(time.Second))
		t.w.mu.Lock()
		if t.w.err == nil {
			var mask [4]byte
			binary.LittleEndian.PutUint32(mask[:], rand.Uint32())
			h := ws.Header{Fin: true, OpCode: ws.OpClose, Masked: true, Mask: mask, Length: int64(len(body))}
			var hb [ws.MaxHeaderSize]byte
			if ws.WriteHeaderBuffer(t.w.bw, h, hb[:]) == nil {
				ws.Cipher(body, mask, 0)
				if _, err := t.w.bw.Write(body); err == nil {
					_ = t.w.bw.Flush()
				}
			}
			t.w.err = net.ErrClosed
		}
		t.w.mu.Unlock()
		_ = t.conn.Close()
	})
	return nil
}

// ---- RawSocket ----

// RawSocket frame types (low 3 bits of the first header byte).
const (
	rsRegular = 0
	rsPing    = 1
	rsPong    = 2
)

type rsTransport struct {
	conn   net.Conn
	br     *bufio.Reader
	w      *frameWriter
	max    int // the smaller of ours and what the router accepts
	ourMax int
	buf    []byte
	hdr    [4]byte
	once   sync.Once
	frames atomic.Uint64
}

// rsLengthExp returns the handshake nibble n for a maximum length of 2^(9+n).
func rsLengthExp(max int) byte {
	if max <= 512 {
		return 0
	}
	n := bits.Len(uint(max-1)) - 9 // smallest 2^(9+n) >= max
	if n > 15 {
		n = 15
	}
	return byte(n)
}

func dialRawSocket(ctx context.Context, addr string, cfg *tls.Config, o *Options) (transport, error) {
	dctx, cancel := context.WithTimeout(ctx, o.DialTimeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(dctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("client: rawsocket dial %s: %w", addr, err)
	}
	if cfg != nil {
		tc := tls.Client(conn, cfg)
		if err := tc.HandshakeContext(dctx); err != nil {
			_ = conn.Close()
			return nil, fmt.Errorf("client: rawsocket tls %s: %w", addr, err)
		}
		conn = tc
	}
	// The handshake blocks: closing the connection when dctx ends unblocks it.
	stop := context.AfterFunc(dctx, func() { _ = conn.Close() })
	hsErr := func(err error) error {
		_ = conn.Close()
		if ce := dctx.Err(); ce != nil {
			err = ce
		}
		return fmt.Errorf("client: rawsocket handshake %s: %w", addr, err)
	}
	hs := [4]byte{0x7F, rsLengthExp(o.MaxMessageSize)<<4 | byte(o.Serializer), 0, 0}
	if _, err := conn.Write(hs[:]); err != nil {
		stop()
		return nil, hsErr(err)
	}
	var rep [4]byte
	if _, err := io.ReadFull(conn, rep[:]); err != nil {
		stop()
		return nil, hsErr(err)
	}
	if !stop() {
		return nil, hsErr(net.ErrClosed)
	}
	if rep[0] != 0x7F {
		_ = conn.Close()
		return nil, fmt.Errorf("client: rawsocket %s: not a RawSocket router (first byte %#x)", addr, rep[0])
	}
	if rep[1]&0x0F == 0 {
		_ = conn.Close()
		return nil, fmt.Errorf("client: rawsocket %s: router refused: %s", addr, rsHandshakeError(rep[1]>>4))
	}
	if codec.Kind(rep[1]&0x0F) != o.Serializer {
		_ = conn.Close()
		return nil, fmt.Errorf("client: rawsocket %s: router chose serializer %d, asked %d", addr, rep[1]&0x0F, o.Serializer)
	}
	routerMax := 1 << (9 + int(rep[1]>>4))
	return &rsTransport{
		conn:   conn,
		br:     bufio.NewReaderSize(conn, 32<<10),
		w:      newFrameWriter(conn, o.WriteTimeout),
		max:    routerMax,
		ourMax: o.MaxMessageSize,
	}, nil
}

func rsHandshakeError(code byte) string {
	switch code {
	case 1:
		return "serializer unsupported"
	case 2:
		return "maximum message length unacceptable"
	case 3:
		return "use of reserved bits"
	case 4:
		return "maximum connection count reached"
	}
	return fmt.Sprintf("error %d", code)
}

func (t *rsTransport) readMessage() ([]byte, error) {
	for {
		if _, err := io.ReadFull(t.br, t.hdr[:]); err != nil {
			return nil, err
		}
		t.frames.Add(1)
		n := int(t.hdr[1])<<16 | int(t.hdr[2])<<8 | int(t.hdr[3])
		if n > t.ourMax {
			return nil, errMessageTooBig
		}
		t.buf = growTo(t.buf[:0], n)
		if _, err := io.ReadFull(t.br, t.buf); err != nil {
			return nil, err
		}
		switch t.hdr[0] & 0x07 {
		case rsRegular:
			return t.buf, nil
		case rsPing:
			if err := t.writeFrame(rsPong, t.buf); err != nil {
				return nil, err
			}
		case rsPong:
		default:
			return nil, fmt.Errorf("client: rawsocket: reserved frame type %d", t.hdr[0]&0x07)
		}
	}
}

func (t *rsTransport) writeMessage(msg []byte) error {
	if len(msg) > t.max {
		return fmt.Errorf("client: rawsocket: message of %d bytes exceeds the router's limit %d", len(msg), t.max)
	}
	return t.writeFrame(rsRegular, msg)
}

func (t *rsTransport) writeFrame(typ byte, payload []byte) error {
	n := len(payload)
	return t.w.write(n+4, func(bw *bufio.Writer, scratch []byte) error {
		hdr := append(scratch[:0], typ, byte(n>>16), byte(n>>8), byte(n))
		if _, err := bw.Write(hdr); err != nil {
			return err
		}
		_, err := bw.Write(payload)
		return err
	})
}

func (t *rsTransport) activity() uint64 { return t.frames.Load() }
func (t *rsTransport) ping() error      { return t.writeFrame(rsPing, nil) }
func (t *rsTransport) hold()            { t.w.hold() }
func (t *rsTransport) release() error   { return t.w.release() }

func (t *rsTransport) close() error {
	t.once.Do(func() { _ = t.conn.Close() })
	return nil
}

// growTo returns b resized to n bytes, reallocating only when its capacity is short.
func growTo(b []byte, n int) []byte {
	if cap(b) >= n {
		return b[:n]
	}
	nb := make([]byte, n, max(n, 2*cap(b)))
	copy(nb, b)
	return nb
}
