package codec

import (
	"errors"
	"fmt"
	"math"

	"github.com/tinylib/msgp/msgp"
)

// enc writes values in one serializer, appending to a caller's buffer. Like
// rd, it is the single place that knows the serializers' output syntax;
// message encoding and transcoding are written once on top of it.
type enc Kind

var errNoJSONFloat = fmt.Errorf("%w: NaN and infinities have no JSON form", ErrType)

func (w enc) null(dst []byte) []byte {
	switch Kind(w) {
	case JSON:
		return append(dst, "null"...)
	case MsgPack:
		return msgp.AppendNil(dst)
	}
	return append(dst, cborSimple<<5|22)
}

func (w enc) boolean(dst []byte, v bool) []byte {
	switch Kind(w) {
	case JSON:
		if v {
			return append(dst, "true"...)
		}
		return append(dst, "false"...)
	case MsgPack:
		return msgp.AppendBool(dst, v)
	}
	if v {
		return append(dst, cborSimple<<5|21)
	}
	return append(dst, cborSimple<<5|20)
}

func (w enc) integer(dst []byte, v int64) []byte {
	if v >= 0 {
		return w.uint(dst, uint64(v))
	}
	switch Kind(w) {
	case JSON:
		return appendInt(dst, v)
	case MsgPack:
		return msgp.AppendInt64(dst, v)
	}
	return cborAppendHead(dst, cborNeg, uint64(-1-v))
}

func (w enc) uint(dst []byte, v uint64) []byte {
	switch Kind(w) {
	case JSON:
		return appendUint(dst, v)
	case MsgPack:
		return msgp.AppendUint64(dst, v)
	}
	return cborAppendHead(dst, cborUint, v)
}

func (w enc) float(dst []byte, f float64) ([]byte, error) {
	switch Kind(w) {
	case JSON:
		return jsonAppendFloat(dst, f)
	case MsgPack:
		return msgp.AppendFloat64(dst, f), nil
	}
	return cborAppendFloat(dst, f), nil
}

func (w enc) str(dst, s []byte) []byte {
	switch Kind(w) {
	case JSON:
		return jsonAppendStr(dst, s)
	case MsgPack:
		return msgp.AppendStringFromBytes(dst, s)
	}
	return append(cborAppendHead(dst, cborText, uint64(len(s))), s...)
}

func (w enc) bin(dst, b []byte) []byte {
	switch Kind(w) {
	case JSON:
		return jsonAppendBin(dst, b)
	case MsgPack:
		return msgp.AppendBytes(dst, b)
	}
	return append(cborAppendHead(dst, cborBytes, uint64(len(b))), b...)
}

// strHeader and binHeader start a string or binary of n bytes whose content
// the caller appends (binary serializers only).
func (w enc) strHeader(dst []byte, n int) []byte {
	if Kind(w) == MsgPack {
		return msgpStrHeader(dst, n)
	}
	return cborAppendHead(dst, cborText, uint64(n))
}

func (w enc) binHeader(dst []byte, n int) []byte {
	if Kind(w) == MsgPack {
		return msgp.AppendBytesHeader(dst, uint32(n))
	}
	return cborAppendHead(dst, cborBytes, uint64(n))
}

// listStart opens a list of n elements (n is ignored by JSON).
func (w enc) listStart(dst []byte, n int) []byte {
	switch Kind(w) {
	case JSON:
		return append(dst, '[')
	case MsgPack:
		return msgp.AppendArrayHeader(dst, uint32(n))
	}
	return cborAppendHead(dst, cborArray, uint64(n))
}

func (w enc) mapStart(dst []byte, n int) []byte {
	switch Kind(w) {
	case JSON:
		return append(dst, '{')
	case MsgPack:
		return msgp.AppendMapHeader(dst, uint32(n))
	}
	return cborAppendHead(dst, cborMap, uint64(n))
}

// sep goes before element i of a list or entry i of a dict.
func (w enc) sep(dst []byte, i int) []byte {
	if Kind(w) == JSON && i > 0 {
		return append(dst, ',')
	}
	return dst
}

// keySep goes between a dict key and its value.
func (w enc) keySep(dst []byte) []byte {
	if Kind(w) == JSON {
		return append(dst, ':')
	}
	return dst
}

func (w enc) listEnd(dst []byte) []byte {
	if Kind(w) == JSON {
		return append(dst, ']')
	}
	return dst
}

func (w enc) mapEnd(dst []byte) []byte {
	if Kind(w) == JSON {
		return append(dst, '}')
	}
	return dst
}

// key writes a dict key and the separator after it.
func (w enc) key(dst []byte, k string) []byte {
	return w.keySep(w.str(dst, bytesOf(k)))
}

func appendUint(dst []byte, v uint64) []byte {
	var buf [20]byte
	i := len(buf)
	for v >= 10 {
		i--
		buf[i] = byte('0' + v%10)
		v /= 10
	}
	i--
	buf[i] = byte('0' + v)
	return append(dst, buf[i:]...)
}

func appendInt(dst []byte, v int64) []byte {
	if v < 0 {
		return appendUint(append(dst, '-'), uint64(-(v+1))+1)
	}
	return appendUint(dst, uint64(v))
}

// Transcoding.

var errKind = errors.New("codec: unknown serializer")

func transcode(dst []byte, to Kind, src Raw) ([]byte, error) {
	if !to.Valid() || !src.Kind.Valid() {
		return dst, fmt.Errorf("%w: transcode %s to %s", errKind, src.Kind, to)
	}
	if src.Kind == to {
		// Raw values come from Decode, which validated them: copy as is.
		return append(dst, src.Bytes...), nil
	}
	r := newReader(src.Kind, src.Bytes)
	out, err := transcodeValue(&r, dst, enc(to))
	if err == nil {
		err = r.finish()
	}
	if err != nil {
		return dst, err
	}
	return out, nil
}

// transcodeValue reads one value from r and writes it with w.
func transcodeValue(r *rd, dst []byte, w enc) ([]byte, error) {
	vt, err := r.peek()
	if err != nil {
		return dst, err
	}
	if vt == tList || vt == tMap {
		return transcodeContainer(r, dst, w, vt)
	}
	var t token
	if err := r.scalar(&t); err != nil {
		return dst, err
	}
	return writeToken(dst, w, r.k, &t)
}

func transcodeContainer(r *rd, dst []byte, w enc, vt vtype) ([]byte, error) {
	isMap := vt == tMap
	n := 0
	if Kind(w) != JSON {
		var err error
		if n, err = r.count(vt); err != nil {
			return dst, err
		}
	}
	it, err := r.begin(isMap)
	if err != nil {
		return dst, err
	}
	if isMap {
		dst = w.mapStart(dst, n)
	} else {
		dst = w.listStart(dst, n)
	}
	for {
		more, err := r.next(&it)
		if err != nil {
			return dst, err
		}
		if !more {
			break
		}
		dst = w.sep(dst, it.i-1)
		if isMap {
			var k token
			if err := r.key(&k); err != nil {
				return dst, err
			}
			if dst, err = writeToken(dst, w, r.k, &k); err != nil {
				return dst, err
			}
			dst = w.keySep(dst)
		}
		if dst, err = transcodeValue(r, dst, w); err != nil {
			return dst, err
		}
	}
	if isMap {
		return w.mapEnd(dst), nil
	}
	return w.listEnd(dst), nil
}

// writeToken writes a scalar read from serializer from.
func writeToken(dst []byte, w enc, from Kind, t *token) ([]byte, error) {
	switch t.t {
	case tNull:
		return w.null(dst), nil
	case tBool:
		return w.boolean(dst, t.b), nil
	case tInt:
		return w.integer(dst, t.i), nil
	case tUint:
		return w.uint(dst, t.u), nil
	case tFloat:
		return w.float(dst, t.f)
	case tStr:
		if from != JSON || !t.esc {
			return w.str(dst, t.s), nil
		}
		if Kind(w) == JSON {
			dst = append(dst, '"')
			dst = append(dst, t.s...)
			return append(dst, '"'), nil
		}
		return jsonUnescape(w.strHeader(dst, jsonUnescapedLen(t.s)), t.s), nil
	case tBin:
		if from != JSON {
			return w.bin(dst, t.s), nil
		}
		if Kind(w) == JSON {
			dst = append(dst, '"')
			dst = append(dst, jsonBinPrefix...)
			dst = append(dst, t.s...)
			return append(dst, '"'), nil
		}
		n, err := b64Len(t.s)
		if err != nil {
			return dst, fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		return b64Decode(w.binHeader(dst, n), t.s), nil
	}
	return dst, fmt.Errorf("%w: cannot write a %s token", ErrMalformed, t.t)
}

// msgpStrHeader writes a MessagePack str header for n bytes (msgp has no
// exported string-header appender).
func msgpStrHeader(dst []byte, n int) []byte {
	switch {
	case n < 32:
		return append(dst, 0xa0|byte(n))
	case n <= math.MaxUint8:
		return append(dst, 0xd9, byte(n))
	case n <= math.MaxUint16:
		return append(dst, 0xda, byte(n>>8), byte(n))
	}
	return append(dst, 0xdb, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
}
