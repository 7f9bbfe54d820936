package netpoll

import (
	"bytes"
	"errors"
	"io"
	"sync"

	"github.com/klauspost/compress/flate"
)

// permessage-deflate (RFC 7692) without context takeover: every message is
// compressed and decompressed on its own, so no connection keeps a flate
// window (32 KiB+) alive between messages.

var errInflateTooBig = errors.New("netpoll: decompressed message too big")

// deflateTail ends a message's deflate stream: the 4 bytes the sender
// stripped (RFC 7692 §7.2.2) and an empty final stored block, so the reader
// reports io.EOF instead of waiting for more input.
var deflateTail = []byte{0x00, 0x00, 0xff, 0xff, 0x01, 0x00, 0x00, 0xff, 0xff}

// tailReader reads a, then b. It implements io.ByteReader so that flate does
// not wrap it in a bufio.Reader (an allocation per message).
type tailReader struct{ a, b []byte }

func (t *tailReader) Read(p []byte) (int, error) {
	if len(t.a) == 0 {
		t.a, t.b = t.b, nil
		if len(t.a) == 0 {
			return 0, io.EOF
		}
	}
	n := copy(p, t.a)
	t.a = t.a[n:]
	return n, nil
}

func (t *tailReader) ReadByte() (byte, error) {
	if len(t.a) == 0 {
		t.a, t.b = t.b, nil
		if len(t.a) == 0 {
			return 0, io.EOF
		}
	}
	c := t.a[0]
	t.a = t.a[1:]
	return c, nil
}

// inflater is one loop's decompressor and output buffer (loop-owned: a loop
// decompresses one message at a time, so no pool is needed).
type inflater struct {
	src tailReader
	fr  io.ReadCloser
	out []byte
}

// decompress inflates p. The output is valid until release or the next call.
// It stops as soon as the output exceeds limit, so a small compressed
// message cannot make us allocate more than limit (zip bombs).
func (f *inflater) decompress(p []byte, limit int) ([]byte, error) {
	f.src = tailReader{a: p, b: deflateTail}
	if f.fr == nil {
		f.fr = flate.NewReader(&f.src)
	} else if err := f.fr.(flate.Resetter).Reset(&f.src, nil); err != nil {
		return nil, err
	}
	out := f.out[:0]
	if cap(out) == 0 {
		out = make([]byte, 0, 4096)
	}
	for {
		if len(out) == cap(out) {
			if len(out) > limit {
				f.out = out[:0]
				return nil, errInflateTooBig
			}
			out = append(out, 0)[:len(out)]
		}
		n, err := f.fr.Read(out[len(out):cap(out)])
		out = out[:len(out)+n]
		if len(out) > limit {
			f.out = out[:0]
			return nil, errInflateTooBig
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			f.out = out[:0]
			return nil, err
		}
	}
	f.out = out
	return out, nil
}

// release drops an unusually large output buffer after use.
func (f *inflater) release() {
	if cap(f.out) > maxPooledBuf {
		f.out = nil
	}
}

// deflater compresses one outgoing message at a time; pooled because Send
// runs on any goroutine and a flate writer costs hundreds of KiB.
//
// Without context takeover, equal messages compress to equal bytes. A fan-out
// sends the same EVENT to every subscriber, usually from one goroutine (so
// from the same pooled deflater): the deflater remembers its last input and
// output, and a repeat costs a comparison instead of a compression.
type deflater struct {
	w      *flate.Writer
	out    sliceWriter
	lastIn []byte
	last   []byte // compressed lastIn (a prefix of out.b); nil when none
}

type sliceWriter struct{ b []byte }

func (s *sliceWriter) Write(p []byte) (int, error) {
	s.b = append(s.b, p...)
	return len(p), nil
}

var deflaters = sync.Pool{New: func() any {
	w, _ := flate.NewWriter(nil, flate.BestSpeed)
	return &deflater{w: w}
}}

func getDeflater() *deflater { return deflaters.Get().(*deflater) }

func putDeflater(d *deflater) {
	if cap(d.out.b) > maxPooledBuf || cap(d.lastIn) > maxPooledBuf {
		d.out.b, d.lastIn, d.last = nil, nil, nil
	}
	deflaters.Put(d)
}

// compress returns p compressed as one permessage-deflate message, valid
// until d is used again.
func (d *deflater) compress(p []byte) ([]byte, error) {
	if d.last != nil && bytes.Equal(p, d.lastIn) {
		return d.last, nil
	}
	d.last = nil
	d.out.b = d.out.b[:0]
	d.w.Reset(&d.out)
	if _, err := d.w.Write(p); err != nil {
		return nil, err
	}
	if err := d.w.Flush(); err != nil {
		return nil, err
	}
	b := d.out.b
	if n := len(b); n >= 4 && b[n-4] == 0 && b[n-3] == 0 && b[n-2] == 0xff && b[n-1] == 0xff {
		b = b[:n-4]
	}
	d.lastIn = append(d.lastIn[:0], p...)
	d.last = b
	return b, nil
}
