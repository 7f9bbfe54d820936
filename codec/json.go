package codec

import (
	"encoding/base64"
	"math"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// JSON (wamp.2.json) primitives. The reader is hand-written rather than
// encoding/json because encoding/json reflects and allocates per value, and
// the router only needs to find the bounds of the payload, not build it.

// jsonBinPrefix starts a JSON string that carries binary data: the WAMP
// spec's "binary conversion of JSON strings" (a NUL char, then base64).
const jsonBinPrefix = `\u0000`

func isJSONSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func (r *rd) jsonWS() {
	for r.p < len(r.b) && isJSONSpace(r.b[r.p]) {
		r.p++
	}
}

func (r *rd) jsonPeek() (vtype, error) {
	r.jsonWS()
	if r.p >= len(r.b) {
		return tInvalid, r.errf("unexpected end of input")
	}
	switch c := r.b[r.p]; c {
	case '"':
		if hasPrefixAt(r.b, r.p+1, jsonBinPrefix) {
			return tBin, nil
		}
		return tStr, nil
	case '[':
		return tList, nil
	case '{':
		return tMap, nil
	case 't', 'f':
		return tBool, nil
	case 'n':
		return tNull, nil
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		return tNum, nil
	default:
		return tInvalid, r.errf("unexpected character " + strconv.QuoteRune(rune(c)))
	}
}

func hasPrefixAt(b []byte, at int, prefix string) bool {
	return len(b)-at >= len(prefix) && string(b[at:at+len(prefix)]) == prefix
}

func (r *rd) jsonLiteral(lit string) error {
	if !hasPrefixAt(r.b, r.p, lit) {
		return r.errf("invalid literal")
	}
	r.p += len(lit)
	return nil
}

func (r *rd) jsonScalar(t *token) error {
	vt, err := r.jsonPeek()
	if err != nil {
		return err
	}
	*t = token{t: vt}
	switch vt {
	case tNull:
		return r.jsonLiteral("null")
	case tBool:
		if r.b[r.p] == 't' {
			t.b = true
			return r.jsonLiteral("true")
		}
		return r.jsonLiteral("false")
	case tNum:
		return r.jsonNumber(t)
	case tStr:
		return r.jsonString(t)
	case tBin:
		if err := r.jsonString(t); err != nil {
			return err
		}
		// A NUL-prefixed string that is not valid base64 stays a string: a
		// MessagePack or CBOR text starting with NUL must survive a JSON trip.
		if _, err := b64Len(t.s[len(jsonBinPrefix):]); err == nil {
			t.t = tBin
			t.s = t.s[len(jsonBinPrefix):]
		}
		return nil
	}
	return r.errf("expected a scalar, found a " + vt.String())
}

// jsonString reads a string at p: t.s is its content between the quotes,
// still escaped when t.esc. It validates escapes and UTF-8 and rejects raw
// control characters.
func (r *rd) jsonString(t *token) error {
	b := r.b
	i := r.p + 1
	start := i
	ascii := true
	for {
		for i < len(b) && jsonPlain[b[i]] {
			i++
		}
		if i >= len(b) {
			return r.errf("unterminated string")
		}
		c := b[i]
		switch {
		case c == '"':
			s := b[start:i]
			if !ascii && !utf8.Valid(s) {
				return r.errf("invalid UTF-8 in string")
			}
			t.t, t.s = tStr, s
			r.p = i + 1
			return nil
		case c == '\\':
			t.esc = true
			if i+1 >= len(b) {
				return r.errf("unterminated string")
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(b) || !isHex4(b[i+2:i+6]) {
					return malformed(JSON, i, "bad \\u escape")
				}
				i += 6
			default:
				return malformed(JSON, i, "bad escape")
			}
		case c < 0x20:
			return malformed(JSON, i, "control character in string")
		default:
			if c >= 0x80 {
				ascii = false
			}
			i++
		}
	}
}

// jsonPlain marks the bytes a string scan passes over without a look:
// printable ASCII other than '"' and '\\'.
var jsonPlain = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

func isHex4(b []byte) bool {
	for _, c := range b[:4] {
		if hexVal(c) < 0 {
			return false
		}
	}
	return true
}

func hexVal(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

func hex4(b []byte) rune {
	return rune(hexVal(b[0])<<12 | hexVal(b[1])<<8 | hexVal(b[2])<<4 | hexVal(b[3]))
}

// jsonEscRune decodes the escape at s[0] ('\\') of validated string content:
// the rune and the number of bytes it used. Lone surrogates become U+FFFD.
func jsonEscRune(s []byte) (rune, int) {
	switch s[1] {
	case 'b':
		return '\b', 2
	case 'f':
		return '\f', 2
	case 'n':
		return '\n', 2
	case 'r':
		return '\r', 2
	case 't':
		return '\t', 2
	case 'u':
		r1 := hex4(s[2:6])
		if utf16.IsSurrogate(r1) {
			if len(s) >= 12 && s[6] == '\\' && s[7] == 'u' {
				if r := utf16.DecodeRune(r1, hex4(s[8:12])); r != utf8.RuneError {
					return r, 12
				}
			}
			return utf8.RuneError, 6
		}
		return r1, 6
	}
	return rune(s[1]), 2
}

// jsonUnescape appends the unescaped form of validated string content s.
func jsonUnescape(dst, s []byte) []byte {
	for len(s) > 0 {
		i := 0
		for i < len(s) && s[i] != '\\' {
			i++
		}
		dst = append(dst, s[:i]...)
		s = s[i:]
		if len(s) == 0 {
			break
		}
		c, n := jsonEscRune(s)
		dst = utf8.AppendRune(dst, c)
		s = s[n:]
	}
	return dst
}

// jsonUnescapedLen is len(jsonUnescape(nil, s)) without writing anything.
func jsonUnescapedLen(s []byte) int {
	n := 0
	for i := 0; i < len(s); {
		if s[i] != '\\' {
			n++
			i++
			continue
		}
		c, w := jsonEscRune(s[i:])
		n += utf8.RuneLen(c)
		i += w
	}
	return n
}

// jsonNumber reads a number per the JSON grammar. Integer literals become
// tUint/tInt (exact up to 2^64-1 and down to -2^63); literals with a fraction
// or exponent, and integers beyond those ranges, become tFloat.
func (r *rd) jsonNumber(t *token) error {
	b := r.b
	i := r.p
	start := i
	neg := b[i] == '-'
	if neg {
		i++
	}
	digits := i
	if i < len(b) && b[i] == '0' {
		i++
	} else {
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == digits {
			return malformed(JSON, i, "number without digits")
		}
	}
	intEnd := i
	isFloat := false
	if i < len(b) && b[i] == '.' {
		i++
		d := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == d {
			return malformed(JSON, i, "no digits after decimal point")
		}
		isFloat = true
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		d := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == d {
			return malformed(JSON, i, "no digits in exponent")
		}
		isFloat = true
	}
	r.p = i
	if !isFloat {
		var u uint64
		overflow := false
		for _, c := range b[digits:intEnd] {
			d := uint64(c - '0')
			if u > (math.MaxUint64-d)/10 {
				overflow = true
				break
			}
			u = u*10 + d
		}
		if !overflow {
			switch {
			case !neg || u == 0:
				t.t, t.u = tUint, u
				return nil
			case u <= 1<<63:
				t.t, t.i = tInt, -int64(u)
				return nil
			}
		}
	}
	f, err := strconv.ParseFloat(stringOf(b[start:i]), 64)
	if err != nil || math.IsInf(f, 0) {
		return malformed(JSON, start, "number out of range")
	}
	t.t, t.f = tFloat, f
	return nil
}

func (r *rd) jsonBegin(isMap bool) (iter, error) {
	vt, err := r.jsonPeek()
	if err != nil {
		return iter{}, err
	}
	if isMap && vt == tMap {
		r.p++
		return iter{n: -1, close: '}'}, nil
	}
	if !isMap && vt == tList {
		r.p++
		return iter{n: -1, close: ']'}, nil
	}
	return iter{}, r.errf("expected a container, found a " + vt.String())
}

func (r *rd) jsonNext(it *iter) (bool, error) {
	r.jsonWS()
	if r.p >= len(r.b) {
		return false, r.errf("unexpected end of input in container")
	}
	c := r.b[r.p]
	if c == it.close {
		r.p++
		return false, nil
	}
	if it.i > 0 {
		if c != ',' {
			return false, r.errf("expected ',' or closing bracket")
		}
		r.p++
	}
	return true, nil
}

func (r *rd) jsonKey(t *token) error {
	r.jsonWS()
	if r.p >= len(r.b) || r.b[r.p] != '"' {
		return r.errf("dict key is not a string")
	}
	if err := r.jsonString(t); err != nil {
		return err
	}
	r.jsonWS()
	if r.p >= len(r.b) || r.b[r.p] != ':' {
		return r.errf("expected ':' after dict key")
	}
	r.p++
	return nil
}

// Base64 for JSON binaries. Hand-written because the text may contain the
// JSON escape "\/" (some encoders escape every '/'), so it cannot be handed
// to encoding/base64 without first copying it; padding is optional.

var b64Vals = func() (v [256]int8) {
	for i := range v {
		v[i] = -1
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	for i := 0; i < len(alphabet); i++ {
		v[alphabet[i]] = int8(i)
	}
	return v
}()

type b64Error string

func (e b64Error) Error() string { return string(e) }

// b64Each calls fn for every base64 digit of s (escapes and padding
// removed) and validates the text.
func b64Each(s []byte, fn func(v byte)) (int, error) {
	n := 0
	pad := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\\' {
			if i+1 < len(s) && s[i+1] == '/' {
				i++
				c = '/'
			} else {
				return 0, b64Error("escape inside base64")
			}
		}
		if c == '=' {
			pad++
			continue
		}
		v := b64Vals[c]
		if v < 0 || pad > 0 {
			return 0, b64Error("invalid base64")
		}
		if fn != nil {
			fn(byte(v))
		}
		n++
	}
	if n%4 == 1 || pad > 2 || (pad > 0 && (n+pad)%4 != 0) {
		return 0, b64Error("invalid base64 length")
	}
	return n, nil
}

// b64Len validates base64 text and returns its decoded length.
func b64Len(s []byte) (int, error) {
	n, err := b64Each(s, nil)
	return n * 6 / 8, err
}

// b64Decode appends the decoded bytes of validated base64 text s.
func b64Decode(dst, s []byte) []byte {
	var acc uint32
	bits := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\\' {
			i++
			c = s[i]
		}
		if c == '=' {
			break
		}
		acc = acc<<6 | uint32(b64Vals[c])
		bits += 6
		if bits >= 8 {
			bits -= 8
			dst = append(dst, byte(acc>>bits))
		}
	}
	return dst
}

// JSON writer helpers.

const hexDigits = "0123456789abcdef"

// jsonAppendStr appends s as a JSON string. Invalid UTF-8 becomes U+FFFD so
// the output is always valid JSON.
func jsonAppendStr(dst, s []byte) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if jsonPlain[c] {
			i++
			continue
		}
		if c >= 0x80 {
			r, w := utf8.DecodeRune(s[i:])
			if r != utf8.RuneError || w != 1 {
				i += w
				continue
			}
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		i++
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

func jsonAppendBin(dst, b []byte) []byte {
	dst = append(dst, '"')
	dst = append(dst, jsonBinPrefix...)
	dst = base64.StdEncoding.AppendEncode(dst, b)
	return append(dst, '"')
}

// jsonAppendFloat writes f so that it reads back as a float: integral values
// get a ".0". NaN and infinities have no JSON form.
func jsonAppendFloat(dst []byte, f float64) ([]byte, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return dst, errNoJSONFloat
	}
	start := len(dst)
	dst = strconv.AppendFloat(dst, f, 'g', -1, 64)
	for _, c := range dst[start:] {
		if c == '.' || c == 'e' || c == 'n' {
			return dst, nil
		}
	}
	return append(dst, '.', '0'), nil
}
