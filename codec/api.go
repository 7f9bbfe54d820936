package codec

// This file is the codec's public contract. The functions below are what the
// rest of wampd calls; their implementations live in the per-serializer files.

// Decode parses one complete WAMP message encoded in k from buf into m (m is
// Reset first). Arguments, ArgumentsKw and the Details/Options dict stay raw
// slices of buf. It does not allocate (except, for JSON, when a URI or Text
// string contains escapes and m's scratch space must grow).
func Decode(k Kind, buf []byte, m *Message) error { return decode(k, buf, m) }

// Append encodes m in k and appends it to dst. Raw parts (Details.Raw, Args,
// Kw) whose kind differs from k are transcoded. It does not allocate beyond
// growing dst, unless m carries ArgsAny/KwAny or Any values.
func Append(k Kind, dst []byte, m *Message) ([]byte, error) { return appendMsg(k, dst, m) }

// Transcode converts one raw value to serializer to and appends it to dst.
// Binary survives every pair: JSON carries it as a string "\u0000" + base64,
// MessagePack as bin, CBOR as a byte string. Integers stay integers.
func Transcode(dst []byte, to Kind, src Raw) ([]byte, error) { return transcode(dst, to, src) }

// DecodeAny decodes a raw value into Go values: nil, bool, int64 (negative
// integers), uint64 (non-negative integers), float64, string, []byte
// (binary), []any, map[string]any. It allocates; not for the hot path.
func DecodeAny(r Raw) (any, error) { return decodeAny(r) }

// AppendAny encodes a Go value (see Message.ArgsAny for the types accepted) in k.
func AppendAny(k Kind, dst []byte, v any) ([]byte, error) { return appendAny(k, dst, v) }

// Lookup finds key in d's Raw dict. Absent, and a Raw that is not a dict, both report false.
func (d Dict) Lookup(key string) (Raw, bool) { return d.Raw.lookup(key) }

// Bool reads a boolean option; ok is false when absent or not a boolean.
func (d Dict) Bool(key string) (v, ok bool) {
	r, ok := d.Lookup(key)
	if !ok {
		return false, false
	}
	v, err := r.Bool()
	return v, err == nil
}

// Uint reads a non-negative integer option.
func (d Dict) Uint(key string) (uint64, bool) {
	r, ok := d.Lookup(key)
	if !ok {
		return 0, false
	}
	v, err := r.Uint()
	return v, err == nil
}

// Int reads an integer option.
func (d Dict) Int(key string) (int64, bool) {
	r, ok := d.Lookup(key)
	if !ok {
		return 0, false
	}
	v, err := r.Int()
	return v, err == nil
}

// Float reads a numeric option as float64 (integers convert).
func (d Dict) Float(key string) (float64, bool) {
	r, ok := d.Lookup(key)
	if !ok {
		return 0, false
	}
	v, err := r.Float()
	return v, err == nil
}

// String reads a string option. It allocates the returned string.
func (d Dict) String(key string) (string, bool) {
	r, ok := d.Lookup(key)
	if !ok {
		return "", false
	}
	b, err := r.Str(nil)
	return string(b), err == nil
}

// StringBytes reads a string option without allocating when the encoded string
// needs no unescaping (the result then points into d.Raw); otherwise the
// unescaped string is appended to scratch.
func (d Dict) StringBytes(key string, scratch []byte) ([]byte, bool) {
	r, ok := d.Lookup(key)
	if !ok {
		return nil, false
	}
	b, err := r.Str(scratch)
	return b, err == nil
}

// IsNull reports whether r is null (or empty).
func (r Raw) IsNull() bool { return r.isNull() }

// Bool reads r as a boolean (ErrType otherwise).
func (r Raw) Bool() (bool, error) { return r.asBool() }

// Uint reads r as a non-negative integer (ErrType otherwise; a float with an
// integral value in range is accepted).
func (r Raw) Uint() (uint64, error) { return r.asUint() }

// Int reads r as an integer.
func (r Raw) Int() (int64, error) { return r.asInt() }

// Float reads r as a number.
func (r Raw) Float() (float64, error) { return r.asFloat() }

// Str reads r as a text string. Without escapes the result points into r;
// otherwise the unescaped string is appended to scratch and returned.
func (r Raw) Str(scratch []byte) ([]byte, error) { return r.asStr(scratch) }

// Binary reads r as binary data (for JSON: the "\u0000"+base64 convention),
// appending it to scratch when it must be decoded.
func (r Raw) Binary(scratch []byte) ([]byte, error) { return r.asBinary(scratch) }

// EachElem calls fn for each element of the list r, stopping when fn returns false.
func (r Raw) EachElem(fn func(elem Raw) bool) error { return r.eachElem(fn) }

// EachField calls fn for each entry of the dict r (keys as raw encoded
// strings' contents, unescaped when needed), stopping when fn returns false.
func (r Raw) EachField(fn func(key []byte, v Raw) bool) error { return r.eachField(fn) }

// IsList and IsDict report r's container type.
func (r Raw) IsList() bool { return r.isList() }
func (r Raw) IsDict() bool { return r.isDict() }
