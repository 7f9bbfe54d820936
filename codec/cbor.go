package codec

import (
	"encoding/binary"
	"math"
	"unicode/utf8"
)

// CBOR (wamp.2.cbor, RFC 8949) primitives, hand-written: the reflective CBOR
// libraries decode into interface values and allocate per item, while the
// router needs only the bounds of values and a few scalars, which a small
// reader over the input bytes gives without any allocation.
//
// Supported: all major types, definite and indefinite-length arrays and
// maps, half/single/double floats, tags (skipped: the tagged value is read
// as itself). Not supported: indefinite-length (chunked) byte and text
// strings, and simple values other than false/true/null/undefined.

const (
	cborUint   = 0
	cborNeg    = 1
	cborBytes  = 2
	cborText   = 3
	cborArray  = 4
	cborMap    = 5
	cborTag    = 6
	cborSimple = 7

	cborIndef = 31
	cborBreak = 0xff
)

// cborHead decodes the item head at b[p:]: major type, additional info,
// argument, and the head's length.
func cborHead(b []byte, p int) (major, ai byte, arg uint64, n int, ok bool) {
	if p >= len(b) {
		return 0, 0, 0, 0, false
	}
	c := b[p]
	major, ai = c>>5, c&31
	rest := b[p+1:]
	switch {
	case ai < 24:
		return major, ai, uint64(ai), 1, true
	case ai == 24 && len(rest) >= 1:
		return major, ai, uint64(rest[0]), 2, true
	case ai == 25 && len(rest) >= 2:
		return major, ai, uint64(binary.BigEndian.Uint16(rest)), 3, true
	case ai == 26 && len(rest) >= 4:
		return major, ai, uint64(binary.BigEndian.Uint32(rest)), 5, true
	case ai == 27 && len(rest) >= 8:
		return major, ai, binary.BigEndian.Uint64(rest), 9, true
	case ai == cborIndef:
		return major, ai, 0, 1, true
	}
	return major, ai, 0, 0, false
}

// cborSkipTags moves p past any tag heads in front of a value.
func (r *rd) cborSkipTags() error {
	for {
		major, ai, _, n, ok := cborHead(r.b, r.p)
		if !ok {
			return r.errf("truncated or invalid item head")
		}
		if major != cborTag {
			return nil
		}
		if ai == cborIndef {
			return r.errf("invalid tag head")
		}
		r.p += n
	}
}

func (r *rd) cborPeek() (vtype, error) {
	save := r.p
	err := r.cborSkipTags()
	p := r.p
	r.p = save
	if err != nil {
		return tInvalid, err
	}
	major, ai, _, _, _ := cborHead(r.b, p)
	switch major {
	case cborUint, cborNeg:
		if ai == cborIndef {
			break
		}
		return tNum, nil
	case cborBytes:
		return tBin, nil
	case cborText:
		return tStr, nil
	case cborArray:
		return tList, nil
	case cborMap:
		return tMap, nil
	case cborSimple:
		switch {
		case ai == 20 || ai == 21:
			return tBool, nil
		case ai == 22 || ai == 23:
			return tNull, nil
		case ai >= 25 && ai <= 27:
			return tNum, nil
		}
	}
	return tInvalid, malformed(CBOR, p, "unsupported CBOR item")
}

func (r *rd) cborScalar(t *token) error {
	if err := r.cborSkipTags(); err != nil {
		return err
	}
	*t = token{}
	major, ai, arg, n, ok := cborHead(r.b, r.p)
	if !ok {
		return r.errf("truncated or invalid item head")
	}
	if ai == cborIndef && major != cborBytes && major != cborText {
		return r.errf("unexpected indefinite-length item")
	}
	switch major {
	case cborUint:
		t.t, t.u = tUint, arg
	case cborNeg:
		if arg < 1<<63 {
			t.t, t.i = tInt, -1-int64(arg)
		} else {
			t.t, t.f = tFloat, -1-float64(arg)
		}
	case cborBytes, cborText:
		if ai == cborIndef {
			return r.errf("indefinite-length strings are not supported")
		}
		if arg > uint64(len(r.b)-r.p-n) {
			return r.errf("string length exceeds input")
		}
		t.s = r.b[r.p+n : r.p+n+int(arg)]
		t.t = tBin
		if major == cborText {
			t.t = tStr
			if !utf8.Valid(t.s) {
				return r.errf("invalid UTF-8 in string")
			}
		}
		n += int(arg)
	case cborSimple:
		switch {
		case ai == 20 || ai == 21:
			t.t, t.b = tBool, ai == 21
		case ai == 22 || ai == 23:
			t.t = tNull
		case ai == 25:
			t.t, t.f = tFloat, halfToFloat(uint16(arg))
		case ai == 26:
			t.t, t.f = tFloat, float64(math.Float32frombits(uint32(arg)))
		case ai == 27:
			t.t, t.f = tFloat, math.Float64frombits(arg)
		default:
			return r.errf("unsupported CBOR simple value")
		}
	default:
		vt, err := r.cborPeek()
		if err != nil {
			return err
		}
		return r.errf("expected a scalar, found a " + vt.String())
	}
	r.p += n
	return nil
}

// halfToFloat widens an IEEE 754 half-precision float.
func halfToFloat(h uint16) float64 {
	exp := int(h>>10) & 0x1f
	mant := float64(h & 0x3ff)
	var f float64
	switch exp {
	case 0:
		f = math.Ldexp(mant, -24)
	case 31:
		if mant == 0 {
			f = math.Inf(1)
		} else {
			f = math.NaN()
		}
	default:
		f = math.Ldexp(mant+1024, exp-25)
	}
	if h&0x8000 != 0 {
		f = -f
	}
	return f
}

func (r *rd) cborBegin(isMap bool) (iter, error) {
	if err := r.cborSkipTags(); err != nil {
		return iter{}, err
	}
	major, ai, arg, n, ok := cborHead(r.b, r.p)
	want := byte(cborArray)
	if isMap {
		want = cborMap
	}
	if !ok || major != want {
		return iter{}, r.errf("expected a container")
	}
	r.p += n
	if ai == cborIndef {
		return iter{n: -1}, nil
	}
	// Every element takes at least one byte: reject impossible counts first.
	need := arg
	if isMap {
		if need > math.MaxUint64/2 {
			return iter{}, r.errf("container count exceeds input")
		}
		need *= 2
	}
	if need > uint64(len(r.b)-r.p) {
		return iter{}, r.errf("container count exceeds input")
	}
	return iter{n: int(arg)}, nil
}

// cborNextIndef steps through an indefinite-length container.
func (r *rd) cborNextIndef() (bool, error) {
	if r.p >= len(r.b) {
		return false, r.errf("unexpected end of input in container")
	}
	if r.b[r.p] == cborBreak {
		r.p++
		return false, nil
	}
	return true, nil
}

// cborAppendHead appends an item head with the shortest argument encoding.
func cborAppendHead(dst []byte, major byte, arg uint64) []byte {
	m := major << 5
	switch {
	case arg < 24:
		return append(dst, m|byte(arg))
	case arg <= math.MaxUint8:
		return append(dst, m|24, byte(arg))
	case arg <= math.MaxUint16:
		return append(dst, m|25, byte(arg>>8), byte(arg))
	case arg <= math.MaxUint32:
		return append(dst, m|26, byte(arg>>24), byte(arg>>16), byte(arg>>8), byte(arg))
	}
	return binary.BigEndian.AppendUint64(append(dst, m|27), arg)
}

func cborAppendFloat(dst []byte, f float64) []byte {
	return binary.BigEndian.AppendUint64(append(dst, cborSimple<<5|27), math.Float64bits(f))
}
