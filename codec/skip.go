package codec

import (
	"encoding/binary"
	"unicode/utf8"
)

// Fast structural skips for the binary serializers. Decode spends most of
// its time finding the end of Details, Arguments and ArgumentsKw; walking
// them with peek+scalar decodes every head twice and builds tokens nobody
// reads. These walk the bytes once, with the same checks and limits as the
// generic path (depth, element counts against the input, string keys,
// UTF-8 text, no extensions or unsupported simple values).

// mpSkip skips one MessagePack value at r.p.
func (r *rd) mpSkip() error {
	b := r.b
	if r.p >= len(b) {
		return r.errf("unexpected end of input")
	}
	c := b[r.p]
	var n, count uint64 // n: payload bytes after the head; count: child values
	head := 1
	isStr, container, isMap := false, false, false
	switch {
	case c <= 0x7f || c >= 0xe0, c == 0xc0, c == 0xc2, c == 0xc3:
	case c <= 0x8f:
		count, container, isMap = 2*uint64(c&0x0f), true, true
	case c <= 0x9f:
		count, container = uint64(c&0x0f), true
	case c <= 0xbf:
		n, isStr = uint64(c&0x1f), true
	default:
		var size int
		switch c {
		case 0xcc, 0xd0:
			head = 2
		case 0xcd, 0xd1:
			head = 3
		case 0xca, 0xce, 0xd2:
			head = 5
		case 0xcb, 0xcf, 0xd3:
			head = 9
		case 0xc4, 0xd9:
			size = 1
		case 0xc5, 0xda, 0xdc, 0xde:
			size = 2
		case 0xc6, 0xdb, 0xdd, 0xdf:
			size = 4
		case 0xd4:
			if !mpUndefined(b[r.p:]) {
				return r.errf("unsupported MessagePack type (extension or invalid byte)")
			}
			head = 3
		default:
			return r.errf("unsupported MessagePack type (extension or invalid byte)")
		}
		if size > 0 {
			if len(b)-r.p-1 < size {
				return r.errf("truncated length")
			}
			head = 1 + size
			v := beUint(b[r.p+1 : r.p+1+size])
			switch c {
			case 0xdc, 0xdd:
				count, container = v, true
			case 0xde, 0xdf:
				count, container, isMap = 2*v, true, true
			default:
				n, isStr = v, c >= 0xd9
			}
		}
	}
	if uint64(len(b)-r.p) < uint64(head)+n {
		return r.errf("value length exceeds input")
	}
	if isStr && !utf8.Valid(b[r.p+head:r.p+head+int(n)]) {
		return r.errf("invalid UTF-8 in string")
	}
	r.p += head + int(n)
	if !container {
		return nil
	}
	return r.binSkipChildren(count, isMap)
}

// binSkipChildren skips count values of a definite-length container just opened.
func (r *rd) binSkipChildren(count uint64, isMap bool) error {
	if r.depth >= r.lim.MaxDepth {
		return r.errf("nesting deeper than limit")
	}
	if count > uint64(len(r.b)-r.p) {
		return r.errf("container count exceeds input")
	}
	elems := count
	if isMap {
		elems /= 2
	}
	if elems > uint64(r.lim.MaxElements) {
		return r.errf("container larger than element limit")
	}
	r.depth++
	for i := uint64(0); i < count; i++ {
		if isMap && i%2 == 0 && !r.binKeyIsStr() {
			return r.errf("dict key is not a string")
		}
		if err := r.binSkip(); err != nil {
			return err
		}
	}
	r.depth--
	return nil
}

func (r *rd) binSkip() error {
	if r.k == MsgPack {
		return r.mpSkip()
	}
	return r.cborSkip()
}

// binKeyIsStr reports whether the value at p is a text string (CBOR: after tags).
func (r *rd) binKeyIsStr() bool {
	if r.p >= len(r.b) {
		return false
	}
	if r.k == MsgPack {
		c := r.b[r.p]
		return c&0xe0 == 0xa0 || c == 0xd9 || c == 0xda || c == 0xdb
	}
	vt, err := r.cborPeek()
	return err == nil && vt == tStr
}

func beUint(b []byte) uint64 {
	switch len(b) {
	case 1:
		return uint64(b[0])
	case 2:
		return uint64(binary.BigEndian.Uint16(b))
	}
	return uint64(binary.BigEndian.Uint32(b))
}

// cborSkip skips one CBOR value at r.p.
func (r *rd) cborSkip() error {
	if err := r.cborSkipTags(); err != nil {
		return err
	}
	major, ai, arg, n, ok := cborHead(r.b, r.p)
	if !ok {
		return r.errf("truncated or invalid item head")
	}
	switch major {
	case cborUint, cborNeg:
		if ai == cborIndef {
			return r.errf("unexpected indefinite-length item")
		}
		r.p += n
		return nil
	case cborBytes, cborText:
		if ai == cborIndef {
			return r.errf("indefinite-length strings are not supported")
		}
		if arg > uint64(len(r.b)-r.p-n) {
			return r.errf("string length exceeds input")
		}
		s := r.b[r.p+n : r.p+n+int(arg)]
		if major == cborText && !utf8.Valid(s) {
			return r.errf("invalid UTF-8 in string")
		}
		r.p += n + int(arg)
		return nil
	case cborSimple:
		if ai < 20 || ai > 27 || ai == 24 {
			return r.errf("unsupported CBOR simple value")
		}
		r.p += n
		return nil
	}
	isMap := major == cborMap
	if ai != cborIndef {
		r.p += n
		if isMap {
			if arg > uint64(len(r.b)) {
				return r.errf("container count exceeds input")
			}
			arg *= 2
		}
		return r.binSkipChildren(arg, isMap)
	}
	// Indefinite length: the generic walker handles the break marker.
	if isMap {
		return r.skipValue(tMap)
	}
	return r.skipValue(tList)
}

// jsonSkip skips one JSON value at r.p (after whitespace), validating it
// like the generic walker without building tokens.
func (r *rd) jsonSkip() error {
	r.jsonWS()
	if r.p >= len(r.b) {
		return r.errf("unexpected end of input")
	}
	var t token
	switch c := r.b[r.p]; c {
	case '"':
		return r.jsonString(&t)
	case 't':
		return r.jsonLiteral("true")
	case 'f':
		return r.jsonLiteral("false")
	case 'n':
		return r.jsonLiteral("null")
	case '[', '{':
		return r.jsonSkipContainer(c == '{')
	}
	if _, err := r.jsonPeek(); err != nil {
		return err
	}
	return r.jsonNumber(&t)
}

func (r *rd) jsonSkipContainer(isMap bool) error {
	it, err := r.begin(isMap)
	if err != nil {
		return err
	}
	var k token
	for {
		more, err := r.next(&it)
		if err != nil || !more {
			return err
		}
		if isMap {
			if err := r.jsonKey(&k); err != nil {
				return err
			}
		}
		if err := r.jsonSkip(); err != nil {
			return err
		}
	}
}
