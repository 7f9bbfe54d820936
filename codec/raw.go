package codec

import (
	"fmt"
)

// Raw accessors and Dict lookups: read-only views over encoded bytes, built
// on the token reader so they work the same for every serializer.

func (r Raw) reader() rd { return newReader(r.Kind, r.Bytes) }

func (r Raw) lookup(key string) (Raw, bool) {
	if len(r.Bytes) == 0 {
		return Raw{}, false
	}
	rr := r.reader()
	if vt, err := rr.peek(); err != nil || vt != tMap {
		return Raw{}, false
	}
	it, err := rr.begin(true)
	if err != nil {
		return Raw{}, false
	}
	for {
		more, err := rr.next(&it)
		if err != nil || !more {
			return Raw{}, false
		}
		var k token
		if err := rr.key(&k); err != nil {
			return Raw{}, false
		}
		v, err := rr.skip()
		if err != nil {
			return Raw{}, false
		}
		if keyEquals(&k, key) {
			// An option set to null (JavaScript clients send undefined
			// options that way) is the same as an option left out.
			found := Raw{r.Kind, v}
			return found, !found.isNull()
		}
	}
}

// keyEquals compares a key token with key, unescaping JSON keys on the fly.
func keyEquals(t *token, key string) bool {
	if !t.esc {
		return stringOf(t.s) == key
	}
	var buf [64]byte
	return stringOf(jsonUnescape(buf[:0], t.s)) == key
}

// scalarTok reads r as a single scalar.
func (r Raw) scalarTok() (token, error) {
	var t token
	rr := r.reader()
	vt, err := rr.peek()
	if err != nil {
		return t, err
	}
	if vt == tList || vt == tMap {
		return t, fmt.Errorf("%w: a %s, not a scalar", ErrType, vt)
	}
	if err := rr.scalar(&t); err != nil {
		return t, err
	}
	return t, rr.finish()
}

func (r Raw) isNull() bool {
	if len(r.Bytes) == 0 {
		return true
	}
	// Peek at the type only: no token, no error value, no allocation.
	rd := r.reader()
	vt, err := rd.peek()
	return err == nil && vt == tNull
}

func typeErr(t token, want string) error {
	return fmt.Errorf("%w: a %s, not %s", ErrType, t.t, want)
}

func (r Raw) asBool() (bool, error) {
	t, err := r.scalarTok()
	if err != nil {
		return false, err
	}
	if t.t != tBool {
		return false, typeErr(t, "a bool")
	}
	return t.b, nil
}

func (r Raw) asUint() (uint64, error) {
	t, err := r.scalarTok()
	if err != nil {
		return 0, err
	}
	v, ok := tokUint(t)
	if !ok {
		return 0, typeErr(t, "a non-negative integer")
	}
	return v, nil
}

func (r Raw) asInt() (int64, error) {
	t, err := r.scalarTok()
	if err != nil {
		return 0, err
	}
	v, ok := tokInt(t)
	if !ok {
		return 0, typeErr(t, "an integer")
	}
	return v, nil
}

func (r Raw) asFloat() (float64, error) {
	t, err := r.scalarTok()
	if err != nil {
		return 0, err
	}
	if t.t != tInt && t.t != tUint && t.t != tFloat {
		return 0, typeErr(t, "a number")
	}
	return tokFloat(t), nil
}

func (r Raw) asStr(scratch []byte) ([]byte, error) {
	t, err := r.scalarTok()
	if err != nil {
		return nil, err
	}
	if t.t != tStr {
		return nil, typeErr(t, "a string")
	}
	if t.esc {
		return jsonUnescape(scratch, t.s), nil
	}
	return t.s, nil
}

func (r Raw) asBinary(scratch []byte) ([]byte, error) {
	t, err := r.scalarTok()
	if err != nil {
		return nil, err
	}
	if t.t != tBin {
		return nil, typeErr(t, "binary")
	}
	if r.Kind == JSON {
		return b64Decode(scratch, t.s), nil
	}
	return t.s, nil
}

func (r Raw) eachElem(fn func(Raw) bool) error {
	rr := r.reader()
	it, err := rr.beginChecked(tList)
	if err != nil {
		return err
	}
	for {
		more, err := rr.next(&it)
		if err != nil || !more {
			return err
		}
		v, err := rr.skip()
		if err != nil {
			return err
		}
		if !fn(Raw{r.Kind, v}) {
			return nil
		}
	}
}

func (r Raw) eachField(fn func([]byte, Raw) bool) error {
	rr := r.reader()
	it, err := rr.beginChecked(tMap)
	if err != nil {
		return err
	}
	var buf []byte // only JSON keys with escapes need it
	for {
		more, err := rr.next(&it)
		if err != nil || !more {
			return err
		}
		var k token
		if err := rr.key(&k); err != nil {
			return err
		}
		v, err := rr.skip()
		if err != nil {
			return err
		}
		key := k.s
		if k.esc {
			buf = jsonUnescape(buf[:0], k.s)
			key = buf
		}
		if !fn(key, Raw{r.Kind, v}) {
			return nil
		}
	}
}

// beginChecked opens a container after checking its class is want.
func (r *rd) beginChecked(want vtype) (iter, error) {
	vt, err := r.peek()
	if err != nil {
		return iter{}, err
	}
	if vt != want {
		return iter{}, fmt.Errorf("%w: a %s, not a %s", ErrType, vt, want)
	}
	return r.begin(want == tMap)
}

func (r Raw) isList() bool {
	rr := r.reader()
	vt, err := rr.peek()
	return err == nil && vt == tList
}

func (r Raw) isDict() bool {
	rr := r.reader()
	vt, err := rr.peek()
	return err == nil && vt == tMap
}
