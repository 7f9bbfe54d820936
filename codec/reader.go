package codec

import (
	"fmt"
	"math"
	"unsafe"
)

// This file is the serializer-neutral token layer. Each serializer
// (json.go, msgpack.go, cbor.go) supplies a handful of primitives — peek the
// class of the next value, read one scalar, open a container, step to its
// next element — and everything above (message decode/encode, Dict lookups,
// Raw accessors, transcoding, DecodeAny) is written once on top of them.
// The reader is a small value type that lives on the caller's stack, so none
// of this allocates.

// vtype is the coarse class of an encoded value, the same for every serializer.
type vtype uint8

const (
	tInvalid vtype = iota
	tNull
	tBool
	tNum // peek only: scalar refines it to tInt, tUint or tFloat
	tInt // a negative integer (non-negative integers are tUint)
	tUint
	tFloat
	tStr
	tBin
	tList
	tMap
)

func (t vtype) String() string {
	switch t {
	case tNull:
		return "null"
	case tBool:
		return "bool"
	case tNum, tInt, tUint, tFloat:
		return "number"
	case tStr:
		return "string"
	case tBin:
		return "binary"
	case tList:
		return "list"
	case tMap:
		return "dict"
	}
	return "invalid"
}

// token is one decoded scalar. Strings and binaries point into the input.
type token struct {
	t   vtype
	b   bool
	i   int64
	u   uint64
	f   float64
	s   []byte
	esc bool // JSON only: s is escaped string content, or base64 text (binary) that may hold "\/"
}

// iter walks a container. n < 0 means the end is marked in the data
// (JSON, CBOR indefinite length) rather than counted up front.
type iter struct {
	n, i  int
	close byte // JSON: the closing bracket
}

// rd reads values of one serializer from b, starting at p.
type rd struct {
	k     Kind
	b     []byte
	p     int
	depth int
	lim   Limits
}

func newReader(k Kind, b []byte) rd { return rd{k: k, b: b, lim: DefaultLimits} }

func malformed(k Kind, at int, what string) error {
	return fmt.Errorf("%w: %s at byte %d: %s", ErrMalformed, k, at, what)
}

func (r *rd) errf(what string) error { return malformed(r.k, r.p, what) }

// peek reports the class of the next value without consuming it (JSON skips
// leading whitespace). An error means the next bytes cannot start a value.
func (r *rd) peek() (vtype, error) {
	switch r.k {
	case JSON:
		return r.jsonPeek()
	case MsgPack:
		return r.mpPeek()
	case CBOR:
		return r.cborPeek()
	}
	return tInvalid, fmt.Errorf("%w: unknown serializer %d", ErrMalformed, r.k)
}

// scalar reads one non-container value.
func (r *rd) scalar(t *token) error {
	switch r.k {
	case JSON:
		return r.jsonScalar(t)
	case MsgPack:
		return r.mpScalar(t)
	case CBOR:
		return r.cborScalar(t)
	}
	return fmt.Errorf("%w: unknown serializer %d", ErrMalformed, r.k)
}

// begin opens the list or dict at p, enforcing the depth and size limits.
func (r *rd) begin(isMap bool) (iter, error) {
	if r.depth >= r.lim.MaxDepth {
		return iter{}, r.errf("nesting deeper than limit")
	}
	var it iter
	var err error
	switch r.k {
	case JSON:
		it, err = r.jsonBegin(isMap)
	case MsgPack:
		it, err = r.mpBegin(isMap)
	case CBOR:
		it, err = r.cborBegin(isMap)
	default:
		err = fmt.Errorf("%w: unknown serializer %d", ErrMalformed, r.k)
	}
	if err != nil {
		return it, err
	}
	if it.n > r.lim.MaxElements {
		return it, r.errf("container larger than element limit")
	}
	r.depth++
	return it, nil
}

// next advances to the next element of it; false (and the container is
// closed) when there is none.
func (r *rd) next(it *iter) (bool, error) {
	var more bool
	var err error
	switch {
	case r.k == JSON:
		more, err = r.jsonNext(it)
	case it.n >= 0:
		more = it.i < it.n
	case r.k == CBOR:
		more, err = r.cborNextIndef()
	default:
		err = r.errf("bad container state")
	}
	if err != nil {
		return false, err
	}
	if !more {
		r.depth--
		return false, nil
	}
	it.i++
	if it.i > r.lim.MaxElements {
		return false, r.errf("container larger than element limit")
	}
	return true, nil
}

// key reads a dict key, which must be a string.
func (r *rd) key(t *token) error {
	switch r.k {
	case JSON:
		return r.jsonKey(t)
	}
	vt, err := r.peek()
	if err != nil {
		return err
	}
	if vt != tStr {
		return r.errf("dict key is a " + vt.String() + ", not a string")
	}
	return r.scalar(t)
}

// finish checks that nothing but (JSON) whitespace follows the value.
func (r *rd) finish() error {
	if r.k == JSON {
		r.jsonWS()
	}
	if r.p != len(r.b) {
		return r.errf("trailing bytes after value")
	}
	return nil
}

// skip validates the next value and returns its encoded bytes.
func (r *rd) skip() ([]byte, error) {
	if r.k != JSON {
		start := r.p
		if err := r.binSkip(); err != nil {
			return nil, err
		}
		return r.b[start:r.p], nil
	}
	r.jsonWS()
	start := r.p
	if err := r.jsonSkip(); err != nil {
		return nil, err
	}
	return r.b[start:r.p], nil
}

func (r *rd) skipValue(t vtype) error {
	if t != tList && t != tMap {
		var tok token
		return r.scalar(&tok)
	}
	it, err := r.begin(t == tMap)
	if err != nil {
		return err
	}
	for {
		more, err := r.next(&it)
		if err != nil {
			return err
		}
		if !more {
			return nil
		}
		if t == tMap {
			var k token
			if err := r.key(&k); err != nil {
				return err
			}
		}
		vt, err := r.peek()
		if err != nil {
			return err
		}
		if err := r.skipValue(vt); err != nil {
			return err
		}
	}
}

// count returns the number of elements of the container at p (which must
// have been peeked as t) without consuming it. Used when a delimited
// container is written to a serializer that needs the count up front.
func (r *rd) count(t vtype) (int, error) {
	c := *r
	it, err := c.begin(t == tMap)
	if err != nil {
		return 0, err
	}
	if it.n >= 0 {
		return it.n, nil
	}
	for {
		more, err := c.next(&it)
		if err != nil {
			return 0, err
		}
		if !more {
			return it.i, nil
		}
		if t == tMap {
			var k token
			if err := c.key(&k); err != nil {
				return 0, err
			}
		}
		if _, err := c.skip(); err != nil {
			return 0, err
		}
	}
}

// num reads a number token; other classes report ErrType.
func (r *rd) num() (token, error) {
	var t token
	vt, err := r.peek()
	if err != nil {
		return t, err
	}
	if vt != tNum {
		return t, fmt.Errorf("%w: %s, not a number", ErrType, vt)
	}
	err = r.scalar(&t)
	return t, err
}

// tokUint converts a number token to uint64: non-negative integers, and
// floats with an integral value in range.
func tokUint(t token) (uint64, bool) {
	switch t.t {
	case tUint:
		return t.u, true
	case tFloat:
		if t.f >= 0 && t.f < 1<<64 && t.f == math.Trunc(t.f) {
			return uint64(t.f), true
		}
	}
	return 0, false
}

func tokInt(t token) (int64, bool) {
	switch t.t {
	case tInt:
		return t.i, true
	case tUint:
		if t.u <= math.MaxInt64 {
			return int64(t.u), true
		}
	case tFloat:
		if t.f >= -1<<63 && t.f < 1<<63 && t.f == math.Trunc(t.f) {
			return int64(t.f), true
		}
	}
	return 0, false
}

func tokFloat(t token) float64 {
	switch t.t {
	case tInt:
		return float64(t.i)
	case tUint:
		return float64(t.u)
	}
	return t.f
}

// bytesOf views s as bytes without copying; the result must not be written.
func bytesOf(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

// stringOf views b as a string without copying, for calls that do not keep it.
func stringOf(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }
