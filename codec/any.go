package codec

import (
	"fmt"
	"slices"
)

// DecodeAny / AppendAny: Go values in and out, for payloads the router itself
// builds or inspects (meta API, error details). They allocate; never used on
// the routing hot path.

func decodeAny(r Raw) (any, error) {
	rr := r.reader()
	v, err := decodeAnyValue(&rr)
	if err == nil {
		err = rr.finish()
	}
	return v, err
}

func decodeAnyValue(r *rd) (any, error) {
	vt, err := r.peek()
	if err != nil {
		return nil, err
	}
	if vt == tList || vt == tMap {
		it, err := r.begin(vt == tMap)
		if err != nil {
			return nil, err
		}
		var list []any
		var dict map[string]any
		if vt == tList {
			list = []any{}
		} else {
			dict = map[string]any{}
		}
		for {
			more, err := r.next(&it)
			if err != nil {
				return nil, err
			}
			if !more {
				break
			}
			var key string
			if vt == tMap {
				var k token
				if err := r.key(&k); err != nil {
					return nil, err
				}
				key = string(k.s)
				if k.esc {
					key = string(jsonUnescape(nil, k.s))
				}
			}
			v, err := decodeAnyValue(r)
			if err != nil {
				return nil, err
			}
			if vt == tMap {
				dict[key] = v
			} else {
				list = append(list, v)
			}
		}
		if vt == tMap {
			return dict, nil
		}
		return list, nil
	}
	var t token
	if err := r.scalar(&t); err != nil {
		return nil, err
	}
	switch t.t {
	case tNull:
		return nil, nil
	case tBool:
		return t.b, nil
	case tInt:
		return t.i, nil
	case tUint:
		return t.u, nil
	case tFloat:
		return t.f, nil
	case tStr:
		if t.esc {
			return string(jsonUnescape(nil, t.s)), nil
		}
		return string(t.s), nil
	case tBin:
		if r.k == JSON {
			return b64Decode([]byte{}, t.s), nil
		}
		return append([]byte{}, t.s...), nil
	}
	return nil, fmt.Errorf("%w: unexpected %s", ErrMalformed, t.t)
}

func appendAny(k Kind, dst []byte, v any) ([]byte, error) {
	if !k.Valid() {
		return dst, fmt.Errorf("%w: append %s", errKind, k)
	}
	out, err := appendAnyW(enc(k), dst, v, 0)
	if err != nil {
		return dst, err
	}
	return out, nil
}

// appendAnyW writes a Go value; depth bounds self-referencing structures.
func appendAnyW(w enc, dst []byte, v any, depth int) ([]byte, error) {
	if depth > DefaultLimits.MaxDepth {
		return dst, fmt.Errorf("%w: value nested deeper than %d", ErrType, DefaultLimits.MaxDepth)
	}
	switch x := v.(type) {
	case nil:
		return w.null(dst), nil
	case bool:
		return w.boolean(dst, x), nil
	case int:
		return w.integer(dst, int64(x)), nil
	case int8:
		return w.integer(dst, int64(x)), nil
	case int16:
		return w.integer(dst, int64(x)), nil
	case int32:
		return w.integer(dst, int64(x)), nil
	case int64:
		return w.integer(dst, x), nil
	case uint:
		return w.uint(dst, uint64(x)), nil
	case uint8:
		return w.uint(dst, uint64(x)), nil
	case uint16:
		return w.uint(dst, uint64(x)), nil
	case uint32:
		return w.uint(dst, uint64(x)), nil
	case uint64:
		return w.uint(dst, x), nil
	case float32:
		return w.float(dst, float64(x))
	case float64:
		return w.float(dst, x)
	case string:
		return w.str(dst, bytesOf(x)), nil
	case []byte:
		return w.bin(dst, x), nil
	case Raw:
		if len(x.Bytes) == 0 {
			return w.null(dst), nil
		}
		return appendRaw(w, dst, x)
	case Value:
		return appendValue(w, dst, &x)
	case []string:
		dst = w.listStart(dst, len(x))
		for i, s := range x {
			dst = w.str(w.sep(dst, i), bytesOf(s))
		}
		return w.listEnd(dst), nil
	case []uint64:
		dst = w.listStart(dst, len(x))
		for i, u := range x {
			dst = w.uint(w.sep(dst, i), u)
		}
		return w.listEnd(dst), nil
	case []any:
		dst = w.listStart(dst, len(x))
		var err error
		for i, e := range x {
			if dst, err = appendAnyW(w, w.sep(dst, i), e, depth+1); err != nil {
				return dst, err
			}
		}
		return w.listEnd(dst), nil
	case map[string]any:
		// Sorted keys: the same value always encodes to the same bytes.
		keys := make([]string, 0, len(x))
		for key := range x {
			keys = append(keys, key)
		}
		slices.Sort(keys)
		dst = w.mapStart(dst, len(x))
		var err error
		for i, key := range keys {
			dst = w.key(w.sep(dst, i), key)
			if dst, err = appendAnyW(w, dst, x[key], depth+1); err != nil {
				return dst, fmt.Errorf("key %q: %w", key, err)
			}
		}
		return w.mapEnd(dst), nil
	case Dict:
		return appendDict(w, dst, &x)
	}
	return dst, fmt.Errorf("%w: cannot encode Go type %T", ErrType, v)
}
