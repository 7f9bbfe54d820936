package fuzz

import (
	"testing"

	"github.com/wampd/wampd/codec"
	"github.com/wampd/wampd/engine"
)

const (
	witnessTicket = "w1tness-only-knows-this"
	witnessProc   = "fuzz.witness.proc"
	witnessTopic  = "fuzz.witness.topic"
)

// witness is a well-behaved session on an in-memory connection beside the
// fuzzed ones. It answers every INVOCATION at once, except the one for its
// own first CALL, which it holds until the end of the program: that call
// must survive whatever the other sessions do.
type witness struct {
	t    testing.TB
	conn *memConn
	peer engine.Peer
	in   codec.Message
	out  codec.Message
	buf  []byte

	req      codec.ID
	sub      codec.ID
	answers  map[codec.ID]int // RESULT/ERROR count by CALL request
	held     codec.ID         // INVOCATION request held open; 0 before it arrives
	heldCall codec.ID
	events   map[codec.ID]bool // publications received on sub
	acks     map[codec.ID]codec.ID
	closing  bool // Shutdown's GOODBYE is expected
}

var heldMarker = []byte(`["hold"]`)

func newWitness(t testing.TB, r *engine.Router, k codec.Kind) *witness {
	w := &witness{t: t, conn: newMemConn(k, "witness"), answers: map[codec.ID]int{},
		events: map[codec.ID]bool{}, acks: map[codec.ID]codec.ID{}}
	w.peer = r.Attach(w.conn)
	hello := codec.Message{Type: codec.Hello, URI: []byte("realm1")}
	hello.Details.Fields = []codec.Field{
		{Key: "roles", Value: codec.AnyValue(map[string]any{"caller": map[string]any{}, "callee": map[string]any{},
			"publisher": map[string]any{}, "subscriber": map[string]any{}})},
		{Key: "authmethods", Value: codec.AnyValue([]string{"ticket"})},
		{Key: "authid", Value: codec.StringValue("witness")},
	}
	w.send(&hello)
	w.expect(codec.Challenge)
	w.send(&codec.Message{Type: codec.Authenticate, Text: []byte(witnessTicket)})
	w.expect(codec.Welcome)
	w.req++
	w.send(&codec.Message{Type: codec.Register, Request: w.req, URI: []byte(witnessProc)})
	w.expect(codec.Registered)
	w.req++
	w.send(&codec.Message{Type: codec.Subscribe, Request: w.req, URI: []byte(witnessTopic)})
	w.sub = w.expect(codec.Subscribed).Subscription
	w.heldCall = w.call(heldMarker)
	w.pump()
	if w.held == 0 {
		t.Fatal("witness: no INVOCATION for its own call")
	}
	return w
}

func (w *witness) send(m *codec.Message) {
	b, err := codec.Append(w.conn.kind, w.buf[:0], m)
	if err != nil {
		w.t.Fatalf("witness: encode %d: %v", m.Type, err)
	}
	w.buf = b
	w.peer.Handle(b)
}

// expect reads the next frame, which must be of type typ (setup only).
func (w *witness) expect(typ codec.Type) *codec.Message {
	fs := w.conn.take()
	if len(fs) != 1 {
		w.t.Fatalf("witness: want one %d, got %d frames", typ, len(fs))
	}
	if err := decodeOut(w.conn.kind, fs[0].b, &w.in); err != nil {
		w.t.Fatalf("witness: %v", err)
	}
	if w.in.Type != typ {
		w.t.Fatalf("witness: want type %d, got %d (%q)", typ, w.in.Type, fs[0].b)
	}
	return &w.in
}

func (w *witness) call(args []byte) codec.ID {
	w.req++
	w.answers[w.req] = 0
	w.send(&codec.Message{Type: codec.Call, Request: w.req, URI: []byte(witnessProc),
		Args: args, PayloadKind: codec.JSON})
	return w.req
}

func (w *witness) publish() codec.ID {
	w.req++
	m := &codec.Message{Type: codec.Publish, Request: w.req, URI: []byte(witnessTopic),
		Args: []byte(`[1]`), PayloadKind: codec.JSON}
	m.Details.Fields = []codec.Field{
		{Key: "acknowledge", Value: codec.BoolValue(true)},
		{Key: "exclude_me", Value: codec.BoolValue(false)},
	}
	w.send(m)
	return w.req
}

// pump handles everything the router sent the witness, until nothing is left.
func (w *witness) pump() {
	for {
		fs := w.conn.take()
		if len(fs) == 0 {
			return
		}
		for _, f := range fs {
			if f.dropped {
				w.t.Fatal("witness: the router's Send to the witness was refused")
			}
			w.handle(f.b)
		}
	}
}

func (w *witness) handle(b []byte) {
	m := &w.in
	if err := decodeOut(w.conn.kind, b, m); err != nil {
		w.t.Fatalf("witness: %v", err)
	}
	switch m.Type {
	case codec.Invocation:
		if args, err := codec.Transcode(nil, codec.JSON, codec.Raw{Kind: m.PayloadKind, Bytes: m.Args}); err == nil &&
			string(args) == string(heldMarker) && w.held == 0 {
			w.held = m.Request
			return
		}
		w.out = codec.Message{Type: codec.Yield, Request: m.Request}
		w.send(&w.out)
	case codec.Interrupt:
		w.out = codec.Message{Type: codec.Error, ErrorType: codec.Invocation, Request: m.Request,
			URI: []byte("wamp.error.canceled")}
		w.send(&w.out)
	case codec.Result, codec.Error:
		if m.Type == codec.Error && m.ErrorType != codec.Call {
			w.t.Fatalf("witness: unexpected ERROR for request type %d: %q", m.ErrorType, b)
		}
		n, mine := w.answers[m.Request]
		if !mine {
			w.t.Fatalf("witness: answer for a call it never made: %q", b)
		}
		if n > 0 {
			w.t.Fatalf("witness: second answer for CALL %d: %q", m.Request, b)
		}
		w.answers[m.Request] = 1
	case codec.Event:
		if m.Subscription == w.sub {
			w.events[m.Publication] = true
		}
	case codec.Published:
		w.acks[m.Request] = m.Publication
	case codec.Goodbye:
		if !w.closing {
			w.t.Fatalf("witness: router sent GOODBYE %q", m.URI)
		}
		w.out = codec.Message{Type: codec.Goodbye, URI: []byte("wamp.close.goodbye_and_out")}
		w.send(&w.out)
	case codec.Abort:
		w.t.Fatalf("witness: router sent ABORT %q", b)
	}
	if w.conn.isClosed() && !w.closing {
		w.t.Fatal("witness: connection closed by the router")
	}
}

// roundTrip calls the witness's procedure and publishes to its topic; both
// must complete at once (the engine is synchronous on in-memory conns).
func (w *witness) roundTrip() {
	c := w.call([]byte(`["check"]`))
	p := w.publish()
	w.pump()
	if w.answers[c] != 1 {
		w.t.Fatalf("witness: CALL %d not answered", c)
	}
	pub, ok := w.acks[p]
	if !ok {
		w.t.Fatalf("witness: PUBLISH %d not acknowledged", p)
	}
	if !w.events[pub] {
		w.t.Fatalf("witness: no EVENT for its own publication %d", pub)
	}
	if w.conn.isClosed() {
		w.t.Fatal("witness: connection closed")
	}
}

// check runs after the program: the held call completes with exactly one
// answer, a fresh round trip works, and no call went unanswered.
func (w *witness) check() {
	w.pump()
	if w.answers[w.heldCall] != 0 {
		w.t.Fatalf("witness: held CALL %d answered before its YIELD", w.heldCall)
	}
	w.out = codec.Message{Type: codec.Yield, Request: w.held}
	w.send(&w.out)
	w.pump()
	if w.answers[w.heldCall] != 1 {
		w.t.Fatalf("witness: held CALL %d not answered after its YIELD", w.heldCall)
	}
	w.roundTrip()
	for req, n := range w.answers {
		if n != 1 {
			w.t.Fatalf("witness: CALL %d got %d answers", req, n)
		}
	}
}

// callMeta calls a router procedure without arguments and returns the
// first element of its result, as JSON.
func (w *witness) callMeta(proc string) []byte {
	w.req++
	req := w.req
	w.answers[req] = 0
	w.send(&codec.Message{Type: codec.Call, Request: req, URI: []byte(proc)})
	var first []byte
	for _, f := range w.conn.take() {
		m := &w.in
		if err := decodeOut(w.conn.kind, f.b, m); err != nil {
			w.t.Fatalf("witness: %v", err)
		}
		if m.Type != codec.Result || m.Request != req {
			w.handle(f.b)
			continue
		}
		w.answers[req] = 1
		if m.Args == nil {
			w.t.Fatalf("witness: %s returned no arguments", proc)
		}
		args, err := codec.Transcode(nil, codec.JSON, codec.Raw{Kind: m.PayloadKind, Bytes: m.Args})
		if err != nil {
			w.t.Fatalf("witness: %s result: %v", proc, err)
		}
		v, err := codec.DecodeAny(codec.Raw{Kind: codec.JSON, Bytes: args})
		if l, ok := v.([]any); err == nil && ok && len(l) > 0 {
			first, _ = codec.AppendAny(codec.JSON, nil, l[0])
		}
	}
	if w.answers[req] != 1 {
		w.t.Fatalf("witness: no RESULT for %s", proc)
	}
	return first
}

// answerShutdown answers Shutdown's GOODBYE.
func (w *witness) answerShutdown() {
	w.closing = true
	w.pump()
}
