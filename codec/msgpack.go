package codec

import (
	"unicode/utf8"

	"github.com/tinylib/msgp/msgp"
)

// MessagePack (wamp.2.msgpack) primitives on tinylib/msgp's zero-allocation
// Read*Bytes / Append* functions. msgp reads one value at a time; the limits
// (depth, element counts, lengths against the remaining input) are ours.

func (r *rd) mpErr(err error) error {
	return malformed(MsgPack, r.p, err.Error())
}

func (r *rd) mpPeek() (vtype, error) {
	if r.p >= len(r.b) {
		return tInvalid, r.errf("unexpected end of input")
	}
	if mpUndefined(r.b[r.p:]) {
		return tNull, nil
	}
	switch msgp.NextType(r.b[r.p:]) {
	case msgp.NilType:
		return tNull, nil
	case msgp.BoolType:
		return tBool, nil
	case msgp.IntType, msgp.UintType, msgp.Float32Type, msgp.Float64Type:
		return tNum, nil
	case msgp.StrType:
		return tStr, nil
	case msgp.BinType:
		return tBin, nil
	case msgp.ArrayType:
		return tList, nil
	case msgp.MapType:
		return tMap, nil
	}
	return tInvalid, r.errf("unsupported MessagePack type (extension or invalid byte)")
}

func (r *rd) mpScalar(t *token) error {
	b := r.b[r.p:]
	var rest []byte
	var err error
	*t = token{}
	if mpUndefined(b) {
		t.t = tNull
		r.p += 3
		return nil
	}
	switch msgp.NextType(b) {
	case msgp.NilType:
		t.t = tNull
		rest, err = msgp.ReadNilBytes(b)
	case msgp.BoolType:
		t.t = tBool
		t.b, rest, err = msgp.ReadBoolBytes(b)
	case msgp.IntType:
		t.i, rest, err = msgp.ReadInt64Bytes(b)
		if t.i >= 0 {
			t.t, t.u, t.i = tUint, uint64(t.i), 0
		} else {
			t.t = tInt
		}
	case msgp.UintType:
		t.t = tUint
		t.u, rest, err = msgp.ReadUint64Bytes(b)
	case msgp.Float32Type:
		var f float32
		f, rest, err = msgp.ReadFloat32Bytes(b)
		t.t, t.f = tFloat, float64(f)
	case msgp.Float64Type:
		t.t = tFloat
		t.f, rest, err = msgp.ReadFloat64Bytes(b)
	case msgp.StrType:
		t.t = tStr
		t.s, rest, err = msgp.ReadStringZC(b)
		if err == nil && !utf8.Valid(t.s) {
			return r.errf("invalid UTF-8 in string")
		}
	case msgp.BinType:
		t.t = tBin
		t.s, rest, err = msgp.ReadBytesZC(b)
	default:
		vt, perr := r.mpPeek()
		if perr != nil {
			return perr
		}
		return r.errf("expected a scalar, found a " + vt.String())
	}
	if err != nil {
		return r.mpErr(err)
	}
	r.p = len(r.b) - len(rest)
	return nil
}

func (r *rd) mpBegin(isMap bool) (iter, error) {
	b := r.b[r.p:]
	var sz uint32
	var rest []byte
	var err error
	if isMap {
		sz, rest, err = msgp.ReadMapHeaderBytes(b)
	} else {
		sz, rest, err = msgp.ReadArrayHeaderBytes(b)
	}
	if err != nil {
		return iter{}, r.mpErr(err)
	}
	// Every element takes at least one byte: reject impossible counts before
	// anyone sizes anything by them.
	need := uint64(sz)
	if isMap {
		need *= 2
	}
	if need > uint64(len(rest)) {
		return iter{}, r.errf("container count exceeds input")
	}
	r.p = len(r.b) - len(rest)
	return iter{n: int(sz)}, nil
}

// MessagePack writer helpers are msgp's Append* functions, used directly by
// the writer in writer.go.

// mpUndefined reports whether b starts with JavaScript's undefined as msgpackr
// (wampy's MessagePack library) writes it: fixext 1 of extension type 0. It is
// read as null; every other extension type is rejected.
func mpUndefined(b []byte) bool {
	return len(b) >= 3 && b[0] == 0xd4 && b[1] == 0x00
}
