// Package codec knows WAMP v2 messages and the three serializers wampd speaks:
// JSON (wamp.2.json), MessagePack (wamp.2.msgpack) and CBOR (wamp.2.cbor).
//
// Decoding reads the envelope (type, IDs, URI, Options/Details) and leaves the
// application payload (Arguments, ArgumentsKw) as raw bytes of the input: the
// router forwards them untouched and transcodes them only when the receiver
// speaks another serializer. Encoding appends into a caller-supplied buffer and
// does not allocate. Nothing here imports another package of wampd.
package codec

import "errors"

// Kind identifies a serializer.
type Kind uint8

// The serializers. The numeric values are the RawSocket serializer nibble
// (spec: 1 JSON, 2 MessagePack, 3 CBOR).
const (
	JSON    Kind = 1
	MsgPack Kind = 2
	CBOR    Kind = 3
)

// Kinds lists every serializer, in order of preference for subprotocol negotiation.
var Kinds = [...]Kind{CBOR, MsgPack, JSON}

// Subprotocol is the WebSocket subprotocol name of k ("wamp.2.json", ...).
func (k Kind) Subprotocol() string {
	switch k {
	case JSON:
		return "wamp.2.json"
	case MsgPack:
		return "wamp.2.msgpack"
	case CBOR:
		return "wamp.2.cbor"
	}
	return ""
}

// String names the serializer ("json", "msgpack", "cbor").
func (k Kind) String() string {
	switch k {
	case JSON:
		return "json"
	case MsgPack:
		return "msgpack"
	case CBOR:
		return "cbor"
	}
	return "unknown"
}

// Binary reports whether k's messages go in binary WebSocket frames (JSON uses text frames).
func (k Kind) Binary() bool { return k != JSON }

// Valid reports whether k is one of the serializers wampd speaks.
func (k Kind) Valid() bool { return k >= JSON && k <= CBOR }

// KindFromSubprotocol maps a WebSocket subprotocol name to its serializer.
func KindFromSubprotocol(s string) (Kind, bool) {
	for _, k := range Kinds {
		if k.Subprotocol() == s {
			return k, true
		}
	}
	return 0, false
}

// ID is a WAMP ID: an integer in [1, 2^53].
type ID = uint64

// MaxID is the largest WAMP ID (2^53), the largest integer every serializer
// (and JavaScript) carries exactly.
const MaxID = 1 << 53

// Type is a WAMP message type code.
type Type uint8

// The message types of the Basic and Advanced Profiles. The wire format of
// each is in the comments; "(...)" marks optional trailing elements.
const (
	// Hello [HELLO, Realm|uri, Details|dict]
	Hello Type = 1
	// Welcome [WELCOME, Session|id, Details|dict]
	Welcome Type = 2
	// Abort [ABORT, Details|dict, Reason|uri]
	Abort Type = 3
	// Challenge [CHALLENGE, AuthMethod|string, Extra|dict]
	Challenge Type = 4
	// Authenticate [AUTHENTICATE, Signature|string, Extra|dict]
	Authenticate Type = 5
	// Goodbye [GOODBYE, Details|dict, Reason|uri]
	Goodbye Type = 6
	// Error [ERROR, REQUEST.Type|int, REQUEST.Request|id, Details|dict, Error|uri, (Arguments|list, (ArgumentsKw|dict))]
	Error Type = 8
	// Publish [PUBLISH, Request|id, Options|dict, Topic|uri, (Arguments|list, (ArgumentsKw|dict))]
	Publish Type = 16
	// Published [PUBLISHED, PUBLISH.Request|id, Publication|id]
	Published Type = 17
	// Subscribe [SUBSCRIBE, Request|id, Options|dict, Topic|uri]
	Subscribe Type = 32
	// Subscribed [SUBSCRIBED, SUBSCRIBE.Request|id, Subscription|id]
	Subscribed Type = 33
	// Unsubscribe [UNSUBSCRIBE, Request|id, SUBSCRIBED.Subscription|id]
	Unsubscribe Type = 34
	// Unsubscribed [UNSUBSCRIBED, UNSUBSCRIBE.Request|id, (Details|dict)]
	// (Details only in the Advanced Profile's router-initiated revocation: Request 0.)
	Unsubscribed Type = 35
	// Event [EVENT, SUBSCRIBED.Subscription|id, PUBLISHED.Publication|id, Details|dict, (Arguments|list, (ArgumentsKw|dict))]
	Event Type = 36
	// Call [CALL, Request|id, Options|dict, Procedure|uri, (Arguments|list, (ArgumentsKw|dict))]
	Call Type = 48
	// Cancel [CANCEL, CALL.Request|id, Options|dict]
	Cancel Type = 49
	// Result [RESULT, CALL.Request|id, Details|dict, (Arguments|list, (ArgumentsKw|dict))]
	Result Type = 50
	// Register [REGISTER, Request|id, Options|dict, Procedure|uri]
	Register Type = 64
	// Registered [REGISTERED, REGISTER.Request|id, Registration|id]
	Registered Type = 65
	// Unregister [UNREGISTER, Request|id, REGISTERED.Registration|id]
	Unregister Type = 66
	// Unregistered [UNREGISTERED, UNREGISTER.Request|id, (Details|dict)]
	// (Details only in the Advanced Profile's router-initiated revocation: Request 0.)
	Unregistered Type = 67
	// Invocation [INVOCATION, Request|id, REGISTERED.Registration|id, Details|dict, (Arguments|list, (ArgumentsKw|dict))]
	Invocation Type = 68
	// Interrupt [INTERRUPT, INVOCATION.Request|id, Options|dict]
	Interrupt Type = 69
	// Yield [YIELD, INVOCATION.Request|id, Options|dict, (Arguments|list, (ArgumentsKw|dict))]
	Yield Type = 70
)

// Message is one WAMP message of any type. Only the fields that the type's
// wire format names are meaningful (see the Type constants); the others are zero.
//
// A decoded Message's byte slices (URI, Text, Details.Raw, Args, Kw) point into
// the buffer that was decoded (or into the Message's own scratch space when a
// JSON string had escapes): they are valid until that buffer is reused. Call
// Retain to make the Message own its bytes.
//
// A Message is meant to be reused: Decode resets it before filling it.
type Message struct {
	Type Type

	// Request is the message's request ID, or for a reply (PUBLISHED,
	// SUBSCRIBED, RESULT, ERROR, ...) the ID of the request it answers.
	Request ID
	// Session is WELCOME's session ID.
	Session ID
	// Subscription is the ID in SUBSCRIBED, UNSUBSCRIBE and EVENT.
	Subscription ID
	// Registration is the ID in REGISTERED, UNREGISTER and INVOCATION.
	Registration ID
	// Publication is the ID in PUBLISHED and EVENT.
	Publication ID
	// ErrorType is ERROR's REQUEST.Type: the type of the request that failed.
	ErrorType Type

	// URI is HELLO's realm, ABORT's and GOODBYE's reason, ERROR's error,
	// PUBLISH's and SUBSCRIBE's topic, CALL's and REGISTER's procedure.
	URI []byte
	// Text is CHALLENGE's AuthMethod or AUTHENTICATE's Signature.
	Text []byte

	// Details is the message's Details, Options or Extra dictionary.
	Details Dict

	// Args and Kw are the raw Arguments list and ArgumentsKw dict, encoded in
	// PayloadKind; nil when absent. Encoding omits them when both are absent,
	// and omits Kw alone when only it is absent; an absent Args followed by a
	// present Kw is written as an empty list.
	Args, Kw []byte
	// PayloadKind is the serializer Args and Kw are encoded in.
	PayloadKind Kind

	// ArgsAny and KwAny, when non-nil, are encoded in place of Args and Kw.
	// They are for payloads the router itself builds (meta API results, error
	// details) and may allocate; never used on the routing hot path. Values may
	// be nil, bool, any integer type, float64, string, []byte (binary), []any,
	// map[string]any, []string, []ID and Raw.
	ArgsAny []any
	KwAny   map[string]any

	// scratch holds unescaped JSON strings of this message; reused across Decode calls.
	scratch []byte
}

// Reset clears m for reuse, keeping its scratch space.
func (m *Message) Reset() {
	s := m.scratch[:0]
	f := m.Details.Fields[:0]
	*m = Message{}
	m.scratch = s
	m.Details.Fields = f
}

// Retain copies every byte slice m points to into memory m owns, so that m
// stays valid after the decoded buffer is reused. It allocates.
func (m *Message) Retain() {
	n := len(m.URI) + len(m.Text) + len(m.Details.Raw.Bytes) + len(m.Args) + len(m.Kw)
	buf := make([]byte, 0, n)
	cp := func(b []byte) []byte {
		if b == nil {
			return nil
		}
		start := len(buf)
		buf = append(buf, b...)
		return buf[start:len(buf):len(buf)]
	}
	m.URI = cp(m.URI)
	m.Text = cp(m.Text)
	m.Details.Raw.Bytes = cp(m.Details.Raw.Bytes)
	m.Args = cp(m.Args)
	m.Kw = cp(m.Kw)
	m.scratch = nil
}

// Raw is one value encoded in a serializer, as raw bytes.
type Raw struct {
	Kind  Kind
	Bytes []byte
}

// Dict is a WAMP dictionary (Details, Options, Extra). A decoded Dict holds
// Raw bytes and is read with the lookup methods; a Dict the router builds
// holds Fields. When Fields is non-empty it is encoded and Raw is ignored;
// otherwise Raw is encoded (transcoded when its Kind differs from the
// target serializer), and an empty Raw encodes as {}.
type Dict struct {
	Raw    Raw
	Fields []Field
}

// Field is one key and value of a Dict the router builds.
type Field struct {
	Key   string
	Value Value
}

// valueKind tags Value.
type valueKind uint8

const (
	valNull valueKind = iota
	valBool
	valInt
	valUint
	valFloat
	valString
	valBytes
	valRaw
	valAny
)

// Value is a scalar, a raw encoded value, or (off the hot path) any Go value,
// built without allocating for the scalar and raw cases.
type Value struct {
	kind valueKind
	b    bool
	i    int64
	u    uint64
	f    float64
	s    string
	bs   []byte
	raw  Raw
	any  any
}

// BoolValue, IntValue, UintValue, FloatValue, StringValue, StringBytesValue
// (a string given as bytes), BytesValue (binary), RawValue and AnyValue build Values.
func BoolValue(b bool) Value          { return Value{kind: valBool, b: b} }
func IntValue(i int64) Value          { return Value{kind: valInt, i: i} }
func UintValue(u uint64) Value        { return Value{kind: valUint, u: u} }
func FloatValue(f float64) Value      { return Value{kind: valFloat, f: f} }
func StringValue(s string) Value      { return Value{kind: valString, s: s} }
func StringBytesValue(b []byte) Value { return Value{kind: valString, bs: b} }
func BytesValue(b []byte) Value       { return Value{kind: valBytes, bs: b} }
func RawValue(r Raw) Value            { return Value{kind: valRaw, raw: r} }
func AnyValue(v any) Value            { return Value{kind: valAny, any: v} }
func NullValue() Value                { return Value{} }

// Errors. Every decode failure wraps exactly one of ErrMalformed (the bytes are
// not a valid encoding, or exceed a limit) or ErrProtocol (a valid encoding that
// is not a valid WAMP message: unknown type, wrong arity, wrong element type,
// bad ID or URI). The engine answers the first with a close and the second with
// ABORT wamp.error.protocol_violation.
var (
	ErrMalformed = errors.New("codec: malformed")
	ErrProtocol  = errors.New("codec: protocol violation")
	ErrShort     = errors.New("codec: short buffer")
	ErrNotFound  = errors.New("codec: key not found")
	ErrType      = errors.New("codec: wrong value type")
)

// Limits bound what a decoder accepts from untrusted input.
type Limits struct {
	MaxDepth    int // nesting of lists and dicts
	MaxElements int // elements of one list or dict
}

// DefaultLimits are the limits Decode and Transcode use.
var DefaultLimits = Limits{MaxDepth: 64, MaxElements: 1 << 20}
