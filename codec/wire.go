package codec

import (
	"errors"
	"fmt"
	"math"
)

// Message decode and encode, written once for every serializer from a table
// of message layouts (the wire formats in message.go's Type comments).

// elem is one element of a message after its type code.
type elem uint8

const (
	eRequest  elem = iota + 1 // Request, an ID >= 1
	eRequest0                 // Request, 0 allowed (router-initiated UNSUBSCRIBED/UNREGISTERED)
	eSession
	eSubscription
	eRegistration
	ePublication
	eErrType
	eURI
	eText
	eDict
	eArgs
	eKw
)

// layout is a message type's elements; the first min are required.
type layout struct {
	elems []elem
	min   int
}

var layouts = [...]layout{
	Hello:        {[]elem{eURI, eDict}, 2},
	Welcome:      {[]elem{eSession, eDict}, 2},
	Abort:        {[]elem{eDict, eURI}, 2},
	Challenge:    {[]elem{eText, eDict}, 2},
	Authenticate: {[]elem{eText, eDict}, 2},
	Goodbye:      {[]elem{eDict, eURI}, 2},
	Error:        {[]elem{eErrType, eRequest, eDict, eURI, eArgs, eKw}, 4},
	Publish:      {[]elem{eRequest, eDict, eURI, eArgs, eKw}, 3},
	Published:    {[]elem{eRequest, ePublication}, 2},
	Subscribe:    {[]elem{eRequest, eDict, eURI}, 3},
	Subscribed:   {[]elem{eRequest, eSubscription}, 2},
	Unsubscribe:  {[]elem{eRequest, eSubscription}, 2},
	Unsubscribed: {[]elem{eRequest0, eDict}, 1},
	Event:        {[]elem{eSubscription, ePublication, eDict, eArgs, eKw}, 3},
	Call:         {[]elem{eRequest, eDict, eURI, eArgs, eKw}, 3},
	Cancel:       {[]elem{eRequest, eDict}, 2},
	Result:       {[]elem{eRequest, eDict, eArgs, eKw}, 2},
	Register:     {[]elem{eRequest, eDict, eURI}, 3},
	Registered:   {[]elem{eRequest, eRegistration}, 2},
	Unregister:   {[]elem{eRequest, eRegistration}, 2},
	Unregistered: {[]elem{eRequest0, eDict}, 1},
	Invocation:   {[]elem{eRequest, eRegistration, eDict, eArgs, eKw}, 3},
	Interrupt:    {[]elem{eRequest, eDict}, 2},
	Yield:        {[]elem{eRequest, eDict, eArgs, eKw}, 2},
}

func layoutOf(t Type) (layout, bool) {
	if int(t) >= len(layouts) || layouts[t].elems == nil {
		return layout{}, false
	}
	return layouts[t], true
}

var typeNames = [...]string{
	Hello: "HELLO", Welcome: "WELCOME", Abort: "ABORT", Challenge: "CHALLENGE",
	Authenticate: "AUTHENTICATE", Goodbye: "GOODBYE", Error: "ERROR",
	Publish: "PUBLISH", Published: "PUBLISHED", Subscribe: "SUBSCRIBE",
	Subscribed: "SUBSCRIBED", Unsubscribe: "UNSUBSCRIBE", Unsubscribed: "UNSUBSCRIBED",
	Event: "EVENT", Call: "CALL", Cancel: "CANCEL", Result: "RESULT",
	Register: "REGISTER", Registered: "REGISTERED", Unregister: "UNREGISTER",
	Unregistered: "UNREGISTERED", Invocation: "INVOCATION", Interrupt: "INTERRUPT",
	Yield: "YIELD",
}

// String names the message type as the spec does ("PUBLISH"), or "TYPE(n)".
func (t Type) String() string {
	if int(t) < len(typeNames) && typeNames[t] != "" {
		return typeNames[t]
	}
	return fmt.Sprintf("TYPE(%d)", uint8(t))
}

// Valid reports whether t is a message type of the Basic or Advanced Profile.
func (t Type) Valid() bool {
	_, ok := layoutOf(t)
	return ok
}

func protocolf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrProtocol}, args...)...)
}

func decode(k Kind, buf []byte, m *Message) error {
	m.Reset()
	if !k.Valid() {
		return fmt.Errorf("%w: decode %s", errKind, k)
	}
	if k == MsgPack {
		if done, err := decodeFixedMsgPack(buf, m); done {
			return err
		}
	}
	r := newReader(k, buf)
	vt, err := r.peek()
	if err != nil {
		return err
	}
	if vt != tList {
		return protocolf("message is a %s, not a list", vt)
	}
	it, err := r.begin(false)
	if err != nil {
		return err
	}
	more, err := r.next(&it)
	if err != nil {
		return err
	}
	if !more {
		return protocolf("empty message list")
	}
	code, err := readID(&r, true)
	if err != nil {
		return fmt.Errorf("message type: %w", err)
	}
	m.Type = Type(code)
	lay, ok := layoutOf(m.Type)
	if code > math.MaxUint8 || !ok {
		return protocolf("unknown message type %d", code)
	}
	m.PayloadKind = k
	m.Details.Raw.Kind = k
	closed := false
	for i, e := range lay.elems {
		more, err := r.next(&it)
		if err != nil {
			return err
		}
		if !more {
			if i < lay.min {
				return protocolf("%s with %d elements, needs at least %d", m.Type, i+1, lay.min+1)
			}
			closed = true
			break
		}
		if err := decodeElem(&r, m, e); err != nil {
			return fmt.Errorf("%s element %d: %w", m.Type, i+1, err)
		}
	}
	if !closed {
		more, err := r.next(&it)
		if err != nil {
			return err
		}
		if more {
			return protocolf("%s with more than %d elements", m.Type, len(lay.elems)+1)
		}
	}
	return r.finish()
}

// readID reads a WAMP ID: an integer in [0 or 1, 2^53]. Integral floats are
// accepted because some MessagePack encoders write large integers as floats.
func readID(r *rd, allowZero bool) (uint64, error) {
	t, err := r.num()
	if err != nil {
		if errors.Is(err, ErrType) {
			return 0, protocolf("ID is not a number")
		}
		return 0, err
	}
	v, ok := tokUint(t)
	switch {
	case !ok:
		return 0, protocolf("ID is not a non-negative integer")
	case v > MaxID:
		return 0, protocolf("ID %d above 2^53", v)
	case v == 0 && !allowZero:
		return 0, protocolf("ID 0")
	}
	return v, nil
}

func decodeElem(r *rd, m *Message, e elem) error {
	var err error
	switch e {
	case eRequest:
		m.Request, err = readID(r, false)
	case eRequest0:
		m.Request, err = readID(r, true)
	case eSession:
		m.Session, err = readID(r, false)
	case eSubscription:
		m.Subscription, err = readID(r, false)
	case eRegistration:
		m.Registration, err = readID(r, false)
	case ePublication:
		m.Publication, err = readID(r, false)
	case eErrType:
		var v uint64
		if v, err = readID(r, false); err == nil {
			if v > math.MaxUint8 || !Type(v).Valid() {
				return protocolf("unknown request type %d", v)
			}
			m.ErrorType = Type(v)
		}
	case eURI, eText:
		var s []byte
		if s, err = readString(r, &m.scratch); err == nil {
			if e == eURI {
				m.URI = s
			} else {
				m.Text = s
			}
		}
	case eDict:
		m.Details.Raw.Bytes, err = readContainer(r, tMap)
	case eArgs:
		m.Args, err = readContainer(r, tList)
	case eKw:
		m.Kw, err = readContainer(r, tMap)
	}
	return err
}

// readString reads a string element; escaped JSON strings are unescaped into
// scratch (amortized: the scratch space is kept across decodes).
func readString(r *rd, scratch *[]byte) ([]byte, error) {
	vt, err := r.peek()
	if err != nil {
		return nil, err
	}
	var t token
	switch {
	case vt == tStr:
		err = r.scalar(&t)
	case vt == tBin && r.k == JSON:
		// Where the spec wants a string, a JSON string starting with NUL is
		// just that: the binary convention is for payload values.
		err = r.jsonString(&t)
	default:
		return nil, protocolf("a %s where a string belongs", vt)
	}
	if err != nil {
		return nil, err
	}
	if !t.esc {
		return t.s, nil
	}
	start := len(*scratch)
	*scratch = jsonUnescape(*scratch, t.s)
	return (*scratch)[start:len(*scratch):len(*scratch)], nil
}

func readContainer(r *rd, want vtype) ([]byte, error) {
	vt, err := r.peek()
	if err != nil {
		return nil, err
	}
	if vt != want {
		return nil, protocolf("a %s where a %s belongs", vt, want)
	}
	return r.skip()
}

// Encoding.

func appendMsg(k Kind, dst []byte, m *Message) ([]byte, error) {
	if !k.Valid() {
		return dst, fmt.Errorf("%w: append %s", errKind, k)
	}
	lay, ok := layoutOf(m.Type)
	if !ok {
		return dst, fmt.Errorf("%w: cannot encode unknown message type %d", ErrProtocol, m.Type)
	}
	if k == MsgPack {
		if out, done := appendFixedMsgPack(dst, m); done {
			return out, nil
		}
	}
	n := encodedElems(lay, m)
	w := enc(k)
	out := w.listStart(dst, n+1)
	out = w.uint(out, uint64(m.Type))
	var err error
	for i, e := range lay.elems[:n] {
		out = w.sep(out, i+1)
		if out, err = appendElem(w, out, m, e); err != nil {
			return dst, fmt.Errorf("%s element %d: %w", m.Type, i+1, err)
		}
	}
	return w.listEnd(out), nil
}

// encodedElems is how many of lay's elements m writes: trailing Kw and Args
// are dropped while absent, and UNSUBSCRIBED/UNREGISTERED carry Details only
// when there are any.
func encodedElems(lay layout, m *Message) int {
	n := len(lay.elems)
	for n > lay.min {
		switch lay.elems[n-1] {
		case eKw:
			if m.Kw != nil || m.KwAny != nil {
				return n
			}
		case eArgs:
			if m.Args != nil || m.ArgsAny != nil {
				return n
			}
		case eDict:
			if len(m.Details.Fields) > 0 || len(m.Details.Raw.Bytes) > 0 {
				return n
			}
		default:
			return n
		}
		n--
	}
	return n
}

func appendElem(w enc, dst []byte, m *Message, e elem) ([]byte, error) {
	switch e {
	case eRequest, eRequest0:
		return w.uint(dst, m.Request), nil
	case eSession:
		return w.uint(dst, m.Session), nil
	case eSubscription:
		return w.uint(dst, m.Subscription), nil
	case eRegistration:
		return w.uint(dst, m.Registration), nil
	case ePublication:
		return w.uint(dst, m.Publication), nil
	case eErrType:
		return w.uint(dst, uint64(m.ErrorType)), nil
	case eURI:
		return w.str(dst, m.URI), nil
	case eText:
		return w.str(dst, m.Text), nil
	case eDict:
		return appendDict(w, dst, &m.Details)
	case eArgs:
		switch {
		case m.ArgsAny != nil:
			return appendAnyW(w, dst, m.ArgsAny, 0)
		case m.Args != nil:
			return appendRaw(w, dst, Raw{payloadKind(m, w), m.Args})
		}
		return w.listEnd(w.listStart(dst, 0)), nil
	case eKw:
		if m.KwAny != nil {
			return appendAnyW(w, dst, m.KwAny, 0)
		}
		return appendRaw(w, dst, Raw{payloadKind(m, w), m.Kw})
	}
	return dst, fmt.Errorf("%w: bad layout element %d", ErrProtocol, e)
}

// payloadKind is the serializer of m's raw Args/Kw; a Message built by hand
// without PayloadKind is taken to be in the target serializer.
func payloadKind(m *Message, w enc) Kind {
	if m.PayloadKind == 0 {
		return Kind(w)
	}
	return m.PayloadKind
}

// appendRaw copies r when it is already in w's serializer and transcodes it otherwise.
func appendRaw(w enc, dst []byte, r Raw) ([]byte, error) {
	if r.Kind == Kind(w) || r.Kind == 0 {
		return append(dst, r.Bytes...), nil
	}
	return transcode(dst, Kind(w), r)
}

func appendDict(w enc, dst []byte, d *Dict) ([]byte, error) {
	if len(d.Fields) == 0 {
		if len(d.Raw.Bytes) == 0 {
			return w.mapEnd(w.mapStart(dst, 0)), nil
		}
		return appendRaw(w, dst, d.Raw)
	}
	dst = w.mapStart(dst, len(d.Fields))
	var err error
	for i := range d.Fields {
		f := &d.Fields[i]
		dst = w.key(w.sep(dst, i), f.Key)
		if dst, err = appendValue(w, dst, &f.Value); err != nil {
			return dst, fmt.Errorf("field %q: %w", f.Key, err)
		}
	}
	return w.mapEnd(dst), nil
}

func appendValue(w enc, dst []byte, v *Value) ([]byte, error) {
	switch v.kind {
	case valNull:
		return w.null(dst), nil
	case valBool:
		return w.boolean(dst, v.b), nil
	case valInt:
		return w.integer(dst, v.i), nil
	case valUint:
		return w.uint(dst, v.u), nil
	case valFloat:
		return w.float(dst, v.f)
	case valString:
		if v.bs != nil {
			return w.str(dst, v.bs), nil
		}
		return w.str(dst, bytesOf(v.s)), nil
	case valBytes:
		return w.bin(dst, v.bs), nil
	case valRaw:
		if len(v.raw.Bytes) == 0 {
			return w.null(dst), nil
		}
		return appendRaw(w, dst, v.raw)
	case valAny:
		return appendAnyW(w, dst, v.any, 0)
	}
	return dst, fmt.Errorf("%w: bad value kind %d", ErrType, v.kind)
}
