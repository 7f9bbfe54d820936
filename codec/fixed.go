package codec

//go:generate msgp -file=fixed.go -o=fixed_gen.go -tests=false -io=false -unexported

// MessagePack fast path for the fixed-arity messages made of a type code and
// two IDs: PUBLISHED, SUBSCRIBED, UNSUBSCRIBE, REGISTERED, UNREGISTER. Their
// encoding never omits anything, so msgp's generated tuple code fits them;
// the variable-arity messages go through the hand-written path in wire.go.
// One tuple shape serves all five messages: they differ only in which
// Message fields the two IDs land in.

//msgp:tuple idPair

// idPair is [Type, ID, ID].
type idPair struct {
	Type uint8
	A    uint64
	B    uint64
}

// fixedIDs points at the Message fields a fixed-arity message's IDs live in.
func fixedIDs(m *Message) (a, b *ID, ok bool) {
	switch m.Type {
	case Published:
		return &m.Request, &m.Publication, true
	case Subscribed, Unsubscribe:
		return &m.Request, &m.Subscription, true
	case Registered, Unregister:
		return &m.Request, &m.Registration, true
	}
	return nil, nil, false
}

// decodeFixedMsgPack decodes buf when it is one of the fixed-arity messages
// (fixarray of 3, positive fixint type). done is false when buf is not, or
// when the fast path fails, so the general path reports the precise error.
func decodeFixedMsgPack(buf []byte, m *Message) (done bool, err error) {
	if len(buf) < 2 || buf[0] != 0x93 {
		return false, nil
	}
	m.Type = Type(buf[1])
	a, b, ok := fixedIDs(m)
	if !ok {
		m.Type = 0
		return false, nil
	}
	var t idPair
	rest, err := t.UnmarshalMsg(buf)
	if err != nil || len(rest) != 0 || t.A == 0 || t.A > MaxID || t.B == 0 || t.B > MaxID {
		m.Type = 0
		return false, nil
	}
	*a, *b = t.A, t.B
	m.PayloadKind = MsgPack
	m.Details.Raw.Kind = MsgPack
	return true, nil
}

// appendFixedMsgPack encodes m when it is one of the fixed-arity messages.
func appendFixedMsgPack(dst []byte, m *Message) ([]byte, bool) {
	a, b, ok := fixedIDs(m)
	if !ok {
		return dst, false
	}
	t := idPair{Type: uint8(m.Type), A: *a, B: *b}
	out, err := t.MarshalMsg(dst)
	if err != nil {
		return dst, false
	}
	return out, true
}
