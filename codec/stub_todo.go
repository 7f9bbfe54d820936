package codec

// TEMPORARY: placeholders so the packages that depend on codec compile while
// the serializers are written. Delete this file when they land.

func decode(k Kind, buf []byte, m *Message) error              { return ErrMalformed }
func appendMsg(k Kind, dst []byte, m *Message) ([]byte, error) { return dst, ErrMalformed }
func transcode(dst []byte, to Kind, src Raw) ([]byte, error)   { return dst, ErrMalformed }
func decodeAny(r Raw) (any, error)                             { return nil, ErrMalformed }
func appendAny(k Kind, dst []byte, v any) ([]byte, error)      { return dst, ErrMalformed }
func (r Raw) lookup(key string) (Raw, bool)                    { return Raw{}, false }
func (r Raw) isNull() bool                                     { return true }
func (r Raw) asBool() (bool, error)                            { return false, ErrType }
func (r Raw) asUint() (uint64, error)                          { return 0, ErrType }
func (r Raw) asInt() (int64, error)                            { return 0, ErrType }
func (r Raw) asFloat() (float64, error)                        { return 0, ErrType }
func (r Raw) asStr(s []byte) ([]byte, error)                   { return nil, ErrType }
func (r Raw) asBinary(s []byte) ([]byte, error)                { return nil, ErrType }
func (r Raw) eachElem(fn func(Raw) bool) error                 { return ErrType }
func (r Raw) eachField(fn func([]byte, Raw) bool) error        { return ErrType }
func (r Raw) isList() bool                                     { return false }
func (r Raw) isDict() bool                                     { return false }
