package load

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"

	"github.com/tinylib/msgp/msgp"
)

// Serializer is a WAMP serializer the harness speaks. CBOR is not offered:
// the comparison runs on MessagePack and JSON covers text routers.
type Serializer uint8

// The serializers.
const (
	MsgPack Serializer = iota + 1
	JSON
)

// ParseSerializer maps a flag value to a Serializer.
func ParseSerializer(s string) (Serializer, error) {
	switch s {
	case "msgpack":
		return MsgPack, nil
	case "json":
		return JSON, nil
	}
	return 0, fmt.Errorf("load: unsupported serializer %q (msgpack or json)", s)
}

func (s Serializer) String() string {
	if s == JSON {
		return "json"
	}
	return "msgpack"
}

// Subprotocol is the WebSocket subprotocol name.
func (s Serializer) Subprotocol() string { return "wamp.2." + s.String() }

// Binary reports whether messages travel in binary WebSocket frames.
func (s Serializer) Binary() bool { return s != JSON }

func (s Serializer) rawSocketID() int {
	if s == JSON {
		return 1
	}
	return 2
}

// WAMP message types the harness uses.
const (
	mHello        = 1
	mWelcome      = 2
	mAbort        = 3
	mGoodbye      = 6
	mError        = 8
	mPublish      = 16
	mPublished    = 17
	mSubscribe    = 32
	mSubscribed   = 33
	mEvent        = 36
	mCall         = 48
	mResult       = 50
	mRegister     = 64
	mRegistered   = 65
	mInvocation   = 68
	mYield        = 70
	tsMarker      = "wbTS:"
	tsDigits      = 16
	minPayloadLen = len(tsMarker) + tsDigits
)

// Message types for callers outside the package (FastType results).
const (
	TypeEvent      = mEvent
	TypeResult     = mResult
	TypeInvocation = mInvocation
	TypeError      = mError
)

// Msg is the envelope of a received message: enough to route replies, with
// the payload left as raw bytes.
type Msg struct {
	Type int
	ID1  uint64 // Session (WELCOME), Request (replies), Subscription (EVENT), ERROR's request type
	ID2  uint64 // second ID: Subscription/Registration/Publication, ERROR's request ID
	Text string // ERROR's error URI, ABORT's and GOODBYE's reason
	// Rest is everything after Details/Options (Arguments, ArgumentsKw) as
	// raw bytes; RestCount is how many elements it holds (MessagePack).
	Rest      []byte
	RestCount int
}

// layout describes where a message type keeps its fields.
type layout struct {
	known     bool
	ids       int  // leading IDs (ERROR: the request type counts as one)
	dictFirst bool // Details then reason URI (ABORT, GOODBYE)
	dict      bool
	uri       bool
	rest      bool
}

var layouts = [128]layout{
	mWelcome:    {known: true, ids: 1, dict: true},
	mAbort:      {known: true, dictFirst: true},
	mGoodbye:    {known: true, dictFirst: true},
	mError:      {known: true, ids: 2, dict: true, uri: true, rest: true},
	mPublished:  {known: true, ids: 2},
	mSubscribed: {known: true, ids: 2},
	35:          {known: true, ids: 1},
	mEvent:      {known: true, ids: 2, dict: true, rest: true},
	mResult:     {known: true, ids: 1, dict: true, rest: true},
	mRegistered: {known: true, ids: 2},
	67:          {known: true, ids: 1},
	mInvocation: {known: true, ids: 2, dict: true, rest: true},
}

func layoutOf(t int) (layout, bool) {
	if t < 0 || t >= len(layouts) {
		return layout{}, false
	}
	l := layouts[t]
	return l, l.known
}

var errMalformed = errors.New("load: malformed WAMP message")

// Parse decodes the envelope of b into m. It does not allocate except for Text.
func (s Serializer) Parse(b []byte, m *Msg) error {
	*m = Msg{}
	if s == JSON {
		return parseJSON(b, m)
	}
	return parseMsgpack(b, m)
}

// FastType reads only the message type, for counting frames.
func (s Serializer) FastType(b []byte) int {
	if s == JSON {
		i := 0
		for i < len(b) && (b[i] == '[' || b[i] == ' ') {
			i++
		}
		t := 0
		for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
			t = t*10 + int(b[i]-'0')
		}
		return t
	}
	if len(b) < 2 || b[0]&0xF0 != 0x90 && b[0] != 0xdc {
		return -1
	}
	if b[0] == 0xdc {
		if len(b) < 4 {
			return -1
		}
		return int(b[3])
	}
	return int(b[1])
}

// Timestamp finds the harness timestamp at the end of an EVENT or RESULT
// payload (see PayloadTemplate) without decoding the message.
func Timestamp(b []byte) (int64, bool) {
	tail := b
	if len(tail) > 64 {
		tail = tail[len(tail)-64:]
	}
	i := bytes.LastIndex(tail, []byte(tsMarker))
	if i < 0 || i+len(tsMarker)+tsDigits > len(tail) {
		return 0, false
	}
	var v int64
	for _, c := range tail[i+len(tsMarker) : i+len(tsMarker)+tsDigits] {
		switch {
		case c >= '0' && c <= '9':
			v = v<<4 | int64(c-'0')
		case c >= 'a' && c <= 'f':
			v = v<<4 | int64(c-'a'+10)
		default:
			return 0, false
		}
	}
	return v, true
}

// PayloadTemplate returns the single string argument every harness PUBLISH
// and CALL carries: size bytes of filler ending in a timestamp marker that
// StampPayload overwrites. size is raised to the marker's length if smaller.
func PayloadTemplate(size int) []byte {
	if size < minPayloadLen {
		size = minPayloadLen
	}
	p := bytes.Repeat([]byte{'x'}, size)
	copy(p[size-minPayloadLen:], tsMarker)
	StampPayload(p, 0)
	return p
}

// StampPayload writes ts (nanoseconds) into the payload's marker.
func StampPayload(p []byte, ts int64) {
	const hex = "0123456789abcdef"
	d := p[len(p)-tsDigits:]
	for i := tsDigits - 1; i >= 0; i-- {
		d[i] = hex[ts&0xF]
		ts >>= 4
	}
}

// ---- encoding ----

// AppendHello appends HELLO for realm announcing all four client roles.
func (s Serializer) AppendHello(dst []byte, realm string) []byte {
	if s == JSON {
		dst = append(dst, `[1,`...)
		dst = strconv.AppendQuote(dst, realm)
		return append(dst, `,{"roles":{"publisher":{},"subscriber":{},"caller":{},"callee":{}},"agent":"wampbench"}]`...)
	}
	dst = msgp.AppendArrayHeader(dst, 3)
	dst = msgp.AppendInt(dst, mHello)
	dst = msgp.AppendString(dst, realm)
	dst = msgp.AppendMapHeader(dst, 2)
	dst = msgp.AppendString(dst, "roles")
	dst = msgp.AppendMapHeader(dst, 4)
	for _, r := range [...]string{"publisher", "subscriber", "caller", "callee"} {
		dst = msgp.AppendString(dst, r)
		dst = msgp.AppendMapHeader(dst, 0)
	}
	dst = msgp.AppendString(dst, "agent")
	return msgp.AppendString(dst, "wampbench")
}

// AppendGoodbye appends GOODBYE wamp.close.close_realm.
func (s Serializer) AppendGoodbye(dst []byte) []byte {
	if s == JSON {
		return append(dst, `[6,{},"wamp.close.close_realm"]`...)
	}
	dst = msgp.AppendArrayHeader(dst, 3)
	dst = msgp.AppendInt(dst, mGoodbye)
	dst = msgp.AppendMapHeader(dst, 0)
	return msgp.AppendString(dst, "wamp.close.close_realm")
}

// appendReqURI appends [type, req, {}, uri] (SUBSCRIBE, REGISTER) or, with
// payload, [type, req, {}, uri, [payload]] (PUBLISH, CALL).
func (s Serializer) appendReqURI(dst []byte, typ int, req uint64, uri string, payload []byte) []byte {
	if s == JSON {
		dst = append(dst, '[')
		dst = strconv.AppendInt(dst, int64(typ), 10)
		dst = append(dst, ',')
		dst = strconv.AppendUint(dst, req, 10)
		dst = append(dst, `,{},"`...)
		dst = append(dst, uri...)
		if payload == nil {
			return append(dst, `"]`...)
		}
		dst = append(dst, `",["`...)
		dst = append(dst, payload...)
		return append(dst, `"]]`...)
	}
	n := uint32(4)
	if payload != nil {
		n = 5
	}
	dst = msgp.AppendArrayHeader(dst, n)
	dst = msgp.AppendInt(dst, typ)
	dst = msgp.AppendUint64(dst, req)
	dst = msgp.AppendMapHeader(dst, 0)
	dst = msgp.AppendString(dst, uri)
	if payload != nil {
		dst = msgp.AppendArrayHeader(dst, 1)
		dst = msgp.AppendStringFromBytes(dst, payload)
	}
	return dst
}

// AppendSubscribe appends SUBSCRIBE.
func (s Serializer) AppendSubscribe(dst []byte, req uint64, topic string) []byte {
	return s.appendReqURI(dst, mSubscribe, req, topic, nil)
}

// AppendRegister appends REGISTER.
func (s Serializer) AppendRegister(dst []byte, req uint64, proc string) []byte {
	return s.appendReqURI(dst, mRegister, req, proc, nil)
}

// AppendPublish appends PUBLISH (no acknowledge) with payload as its one argument.
func (s Serializer) AppendPublish(dst []byte, req uint64, topic string, payload []byte) []byte {
	return s.appendReqURI(dst, mPublish, req, topic, payload)
}

// AppendCall appends CALL with payload as its one argument.
func (s Serializer) AppendCall(dst []byte, req uint64, proc string, payload []byte) []byte {
	return s.appendReqURI(dst, mCall, req, proc, payload)
}

// AppendYield appends YIELD for invocation req echoing an INVOCATION's Rest.
func (s Serializer) AppendYield(dst []byte, req uint64, inv *Msg) []byte {
	if s == JSON {
		dst = append(dst, `[70,`...)
		dst = strconv.AppendUint(dst, req, 10)
		dst = append(dst, `,{}`...)
		return append(dst, inv.Rest...) // ",[...]...]" including the closing bracket
	}
	dst = msgp.AppendArrayHeader(dst, uint32(3+inv.RestCount))
	dst = msgp.AppendInt(dst, mYield)
	dst = msgp.AppendUint64(dst, req)
	dst = msgp.AppendMapHeader(dst, 0)
	return append(dst, inv.Rest...)
}

// ---- MessagePack envelope ----

func msgpackID(b []byte) (uint64, []byte, error) {
	if len(b) > 0 && msgp.NextType(b) == msgp.IntType {
		v, o, err := msgp.ReadInt64Bytes(b)
		if err != nil || v < 0 {
			return 0, nil, errMalformed
		}
		return uint64(v), o, nil
	}
	v, o, err := msgp.ReadUint64Bytes(b)
	if err != nil {
		return 0, nil, errMalformed
	}
	return v, o, nil
}

func parseMsgpack(b []byte, m *Msg) error {
	n, b, err := msgp.ReadArrayHeaderBytes(b)
	if err != nil || n < 1 {
		return errMalformed
	}
	t, b, err := msgpackID(b)
	if err != nil {
		return err
	}
	m.Type = int(t)
	l, ok := layoutOf(m.Type)
	if !ok {
		return nil // a type the harness does not need: envelope only
	}
	left := int(n) - 1
	if l.dictFirst {
		if left < 2 {
			return errMalformed
		}
		if b, err = msgp.Skip(b); err != nil {
			return errMalformed
		}
		s, _, err := msgp.ReadStringZC(b)
		if err != nil {
			return errMalformed
		}
		m.Text = string(s)
		return nil
	}
	for i := 0; i < l.ids; i++ {
		if left == 0 {
			return errMalformed
		}
		id, o, err := msgpackID(b)
		if err != nil {
			return err
		}
		if i == 0 {
			m.ID1 = id
		} else {
			m.ID2 = id
		}
		b, left = o, left-1
	}
	if l.dict {
		if left == 0 {
			return errMalformed
		}
		if b, err = msgp.Skip(b); err != nil {
			return errMalformed
		}
		left--
	}
	if l.uri {
		if left == 0 {
			return errMalformed
		}
		s, o, err := msgp.ReadStringZC(b)
		if err != nil {
			return errMalformed
		}
		m.Text = string(s)
		b, left = o, left-1
	}
	if l.rest {
		m.Rest, m.RestCount = b, left
	}
	return nil
}

// ---- JSON envelope: a minimal scanner for the few shapes the harness reads ----

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\n' || b[i] == '\t' || b[i] == '\r') {
		i++
	}
	return i
}

// skipJSON returns the index just past the JSON value starting at i.
func skipJSON(b []byte, i int) (int, error) {
	i = skipSpace(b, i)
	if i >= len(b) {
		return 0, errMalformed
	}
	switch b[i] {
	case '"':
		for i++; i < len(b); i++ {
			switch b[i] {
			case '\\':
				i++
			case '"':
				return i + 1, nil
			}
		}
		return 0, errMalformed
	case '[', '{':
		depth := 0
		for ; i < len(b); i++ {
			switch b[i] {
			case '"':
				j, err := skipJSON(b, i)
				if err != nil {
					return 0, err
				}
				i = j - 1
			case '[', '{':
				depth++
			case ']', '}':
				depth--
				if depth == 0 {
					return i + 1, nil
				}
			}
		}
		return 0, errMalformed
	default:
		j := i
		for j < len(b) && b[j] != ',' && b[j] != ']' && b[j] != '}' && b[j] != ' ' {
			j++
		}
		if j == i {
			return 0, errMalformed
		}
		return j, nil
	}
}

// jsonNext moves past the separator before the next array element.
func jsonNext(b []byte, i int) (int, bool) {
	i = skipSpace(b, i)
	if i < len(b) && b[i] == ',' {
		return i + 1, true
	}
	return i, false
}

func jsonUint(b []byte, i int) (uint64, int, error) {
	i = skipSpace(b, i)
	j, err := skipJSON(b, i)
	if err != nil {
		return 0, 0, err
	}
	var v uint64
	for _, c := range bytes.TrimSuffix(b[i:j], []byte(".0")) {
		if c < '0' || c > '9' {
			return 0, 0, errMalformed
		}
		v = v*10 + uint64(c-'0')
	}
	return v, j, nil
}

func jsonString(b []byte, i int) (string, int, error) {
	i = skipSpace(b, i)
	j, err := skipJSON(b, i)
	if err != nil || b[i] != '"' {
		return "", 0, errMalformed
	}
	s, err := strconv.Unquote(string(b[i:j]))
	if err != nil {
		return "", 0, errMalformed
	}
	return s, j, nil
}

func parseJSON(b []byte, m *Msg) error {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '[' {
		return errMalformed
	}
	t, i, err := jsonUint(b, i+1)
	if err != nil {
		return err
	}
	m.Type = int(t)
	l, ok := layoutOf(m.Type)
	if !ok {
		return nil
	}
	var more bool
	if l.dictFirst {
		if i, more = jsonNext(b, i); !more {
			return errMalformed
		}
		if i, err = skipJSON(b, i); err != nil {
			return err
		}
		if i, more = jsonNext(b, i); !more {
			return errMalformed
		}
		m.Text, _, err = jsonString(b, i)
		return err
	}
	for k := 0; k < l.ids; k++ {
		if i, more = jsonNext(b, i); !more {
			return errMalformed
		}
		var id uint64
		if id, i, err = jsonUint(b, i); err != nil {
			return err
		}
		if k == 0 {
			m.ID1 = id
		} else {
			m.ID2 = id
		}
	}
	if l.dict {
		if i, more = jsonNext(b, i); !more {
			return errMalformed
		}
		if i, err = skipJSON(b, i); err != nil {
			return err
		}
	}
	if l.uri {
		if i, more = jsonNext(b, i); !more {
			return errMalformed
		}
		if m.Text, i, err = jsonString(b, i); err != nil {
			return err
		}
	}
	if l.rest {
		m.Rest = b[i:] // ",[args],{kw}]" or "]"
	}
	return nil
}
