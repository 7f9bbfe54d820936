package fuzz

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"testing"
	"time"

	"github.com/wampd/wampd/codec"
	"github.com/wampd/wampd/engine"
)

// FuzzSessionStateMachine runs a fuzz-built program against one
// engine.Router: a sequence of steps, each one message (valid-ish, mutated
// or garbage) from one of several in-memory connections, or a transport
// event (close and reattach, slow consumer on/off). A witness session joined
// beside them registers a procedure and subscribes a topic.
//
// Invariants:
//   - nothing panics, and every frame the router sends decodes and is a
//     router-to-client message type;
//   - a message the state machine must reject (undecodable, before HELLO,
//     not AUTHENTICATE while challenged, HELLO or a router-only type in a
//     session) gets ABORT wamp.error.protocol_violation and Conn.Close;
//     every ABORT protocol_violation comes with Conn.Close;
//   - the witness is never aborted or closed, gets exactly one RESULT or
//     ERROR per CALL (including one held open across the whole sequence),
//     and after the sequence still calls its procedure and receives its own
//     event;
//   - Router.Shutdown returns within its context and closes every connection.
func FuzzSessionStateMachine(f *testing.F) {
	for _, s := range sessionSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		runSessionProgram(t, data)
	})
}

const nSlots = 4

// Model of a connection's session state, as far as the client can know it
// from what it sent and what the router answered.
type modelState uint8

const (
	stIdle modelState = iota
	stChallenged
	stEstablished
	stKilled // router sent GOODBYE (kill or shutdown): our GOODBYE expected
	stDead   // aborted or closed: the transport is gone
)

// slot is one fuzz-driven connection; it is replaced by a new one when its
// transport closes.
type slot struct {
	n       int
	gen     int // reattach count, for names
	conn    *memConn
	peer    engine.Peer
	st      modelState
	byeSent bool // client GOODBYE in a session: router's GOODBYE is the reply
	mute    bool // does not answer the router's GOODBYE (shutdown waits for ctx)

	req                     codec.ID
	subs, regs, invs, calls []codec.ID // IDs seen, for follow-up messages
}

func (s *slot) nextRequest() codec.ID { s.req++; return s.req }

// callRequest is usually fresh, sometimes a reuse (a CALL reusing the ID of
// a call in flight is a protocol violation).
func (s *slot) callRequest(in *input) codec.ID {
	if in.pick(8) == 0 && len(s.calls) > 0 {
		return s.calls[in.pick(len(s.calls))]
	}
	id := s.nextRequest()
	s.calls = appendBounded(s.calls, id)
	return id
}

func appendBounded(ids []codec.ID, id codec.ID) []codec.ID {
	if len(ids) >= 16 {
		ids = ids[1:]
	}
	return append(ids, id)
}

// noMassKill allows everything except the meta procedures that kill
// sessions by authid/authrole or all at once: those would legitimately take
// the witness down, which is not what this fuzzer looks for. Killing one
// session by ID stays allowed (fuzz inputs cannot know the witness's ID).
type noMassKill struct{}

func (noMassKill) Authorize(_ *engine.Identity, a engine.Action, uri []byte) bool {
	return a != engine.ActionCall || !bytes.HasPrefix(uri, []byte("wamp.session.kill_"))
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newFuzzRouter(t testing.TB) *engine.Router {
	r, err := buildFuzzRouter()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// buildFuzzRouter: realm1 with anonymous, ticket users joe and witness, and
// event history on com.a (so that get_events has something to read).
func buildFuzzRouter() (*engine.Router, error) {
	return engine.NewRouter(engine.Config{Logger: quietLogger(), Realms: []engine.RealmConfig{{
		Name:      "realm1",
		Anonymous: true,
		Tickets: map[string]engine.TicketUser{
			"joe":     {Ticket: "s3cret"},
			"witness": {Ticket: witnessTicket, Role: "witness"},
		},
		Authorizer:   noMassKill{},
		EventHistory: []engine.HistoryRule{{Topic: "com.a"}},
	}}})
}

type harness struct {
	t     testing.TB
	r     *engine.Router
	slots [nSlots]*slot
	w     *witness
	msg   codec.Message // scratch for building
	chk   codec.Message // scratch for predicting
	out   codec.Message // scratch for decoding router frames
	buf   []byte
}

func kindOf(b byte) codec.Kind { return codec.Kinds[int(b)%len(codec.Kinds)] }

func runSessionProgram(t testing.TB, data []byte) {
	in := &input{b: data}
	h := &harness{t: t, r: newFuzzRouter(t)}
	h.w = newWitness(t, h.r, kindOf(in.byte()))
	for i := range h.slots {
		h.slots[i] = &slot{n: i}
		h.attach(h.slots[i], kindOf(in.byte()))
	}
	for step := 0; step < 200 && !in.empty(); step++ {
		h.step(in)
		h.w.pump()
	}
	h.w.check()
	h.checkSessionCount()
	h.shutdown()
}

// checkSessionCount compares wamp.session.count with the model: once every
// closed transport has been reported, the realm holds the witness and the
// established slots, and nothing else (a leaked session would linger here).
func (h *harness) checkSessionCount() {
	want := uint64(1)
	for _, s := range h.slots {
		h.observe(s)
		if s.conn.isClosed() {
			s.peer.Closed()
			h.attach(s, s.conn.kind)
		}
		if s.st == stEstablished {
			want++
		}
	}
	got := h.w.callMeta("wamp.session.count")
	if string(got) != strconv.FormatUint(want, 10) {
		states := make([]modelState, 0, nSlots)
		for _, s := range h.slots {
			states = append(states, s.st)
		}
		h.t.Fatalf("wamp.session.count = %s, want %d (slot states %v)", got, want, states)
	}
}

func (h *harness) attach(s *slot, k codec.Kind) {
	s.gen++
	s.conn = newMemConn(k, strconv.Itoa(s.n)+"."+strconv.Itoa(s.gen))
	s.peer = h.r.Attach(s.conn)
	s.st, s.byeSent = stIdle, false
	s.subs, s.regs, s.invs, s.calls = nil, nil, nil, nil
}

// step runs one instruction of the program.
func (h *harness) step(in *input) {
	op := in.byte()
	// op: bits 0-1 slot, 2-5 action, 6-7 serializer of a reattached slot.
	s := h.slots[int(op)%nSlots]
	if s.st == stDead || s.conn.isClosed() {
		// The transport is gone: tell the engine (as netpoll's OnClose
		// would), then the next client connects in its place.
		h.observe(s)
		s.peer.Closed()
		h.attach(s, kindOf(op>>6))
	}
	var frame []byte
	switch act := (op / nSlots) % 16; act {
	case 9: // a valid message, mutated
		frame = h.build(in, s)
		if len(frame) > 0 {
			switch i := in.pick(len(frame)); in.pick(3) {
			case 0:
				frame = frame[:i]
			case 1:
				frame[i] ^= 1 << in.pick(8)
			default:
				frame = append(frame[:i:i], in.bytes(in.pick(8))...)
			}
		}
	case 10: // garbage
		frame = bytes.Clone(in.bytes(in.pick(64)))
	case 11: // the transport closes
		s.conn.Close()
		h.observe(s)
		return
	case 12:
		s.conn.setRefuse(in.pick(2) == 0)
		return
	case 13:
		s.mute = !s.mute
		return
	case 14: // the witness works in the middle of the sequence
		h.w.roundTrip()
		return
	default:
		frame = h.build(in, s)
	}
	if frame == nil {
		return
	}
	h.send(s, frame)
}

// build encodes a generated message in the slot's serializer (nil when the
// codec refuses to encode it, e.g. a NaN in JSON).
func (h *harness) build(in *input, s *slot) []byte {
	in.message(&h.msg, s)
	b, err := codec.Append(s.conn.kind, nil, &h.msg)
	if err != nil {
		return nil
	}
	return b
}

// send hands one frame to the slot's peer and checks the outcome against
// the model.
func (h *harness) send(s *slot, frame []byte) {
	expectViolation, typ := h.predict(s, frame)
	switch {
	case s.st == stEstablished && typ == codec.Goodbye:
		s.byeSent = true
	case s.st == stKilled && typ == codec.Goodbye:
		s.st = stIdle
	case s.st == stChallenged && typ == codec.Abort:
		s.st = stIdle
	}
	s.peer.Handle(frame)
	sawViolation := h.observe(s)
	if expectViolation && !sawViolation {
		h.t.Fatalf("slot %d: %q should have been a protocol violation: no ABORT wamp.error.protocol_violation", s.n, frame)
	}
	if expectViolation && !s.conn.isClosed() {
		h.t.Fatalf("slot %d: protocol violation by %q did not close the connection", s.n, frame)
	}
	for _, o := range h.slots {
		if o != s {
			h.observe(o)
		}
	}
}

// predict says whether frame must be answered with a protocol violation in
// the slot's current state, and its type (0 when undecodable).
func (h *harness) predict(s *slot, frame []byte) (bool, codec.Type) {
	m := &h.chk
	if err := codec.Decode(s.conn.kind, frame, m); err != nil {
		return s.st != stDead, 0
	}
	switch s.st {
	case stIdle:
		return m.Type != codec.Hello && m.Type != codec.Goodbye && m.Type != codec.Abort, m.Type
	case stChallenged:
		return m.Type != codec.Authenticate && m.Type != codec.Abort, m.Type
	case stEstablished:
		switch m.Type {
		case codec.Hello, codec.Welcome, codec.Challenge, codec.Authenticate, codec.Published,
			codec.Subscribed, codec.Unsubscribed, codec.Event, codec.Result, codec.Registered,
			codec.Unregistered, codec.Invocation, codec.Interrupt:
			return true, m.Type
		case codec.Error:
			return m.ErrorType != codec.Invocation, m.Type
		}
	}
	return false, m.Type
}

// observe reads what the router sent the slot, updates the model, and
// reports whether an ABORT protocol_violation was among it.
func (h *harness) observe(s *slot) bool {
	violation := false
	for _, f := range s.conn.take() {
		m := &h.out
		if err := decodeOut(s.conn.kind, f.b, m); err != nil {
			h.t.Fatalf("slot %d: %v", s.n, err)
		}
		switch m.Type {
		case codec.Welcome:
			s.st = stEstablished
		case codec.Challenge:
			s.st = stChallenged
		case codec.Abort:
			if string(m.URI) == "wamp.error.protocol_violation" {
				violation = true
				s.st = stDead
				if !s.conn.isClosed() {
					h.t.Fatalf("slot %d: ABORT protocol_violation without closing the connection", s.n)
				}
			} else {
				s.st = stIdle
			}
		case codec.Goodbye:
			if s.st == stEstablished && s.byeSent {
				s.st = stIdle
			} else if s.st == stEstablished {
				s.st = stKilled
			}
			s.byeSent = false
		case codec.Subscribed:
			s.subs = appendBounded(s.subs, m.Subscription)
		case codec.Registered:
			s.regs = appendBounded(s.regs, m.Registration)
		case codec.Invocation:
			s.invs = appendBounded(s.invs, m.Request)
		}
	}
	if s.conn.isClosed() {
		s.st = stDead
	}
	return violation
}

// shutdown runs Router.Shutdown while the clients answer its GOODBYEs (the
// mute ones don't), and checks that it returns in time and closes everything.
func (h *harness) shutdown() {
	wait := 2 * time.Second
	for _, s := range h.slots {
		if s.mute {
			wait = 20 * time.Millisecond
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	done := make(chan struct{})
	go func() {
		h.r.Shutdown(ctx)
		close(done)
	}()
	deadline := time.After(wait + 5*time.Second)
	for finished := false; !finished; {
		select {
		case <-done:
			finished = true
		case <-deadline:
			h.t.Fatalf("Router.Shutdown did not return within %v of its context's deadline", 5*time.Second)
		case <-time.After(200 * time.Microsecond):
		}
		for _, s := range h.slots {
			h.answerGoodbye(s)
		}
		h.w.answerShutdown()
	}
	for _, s := range h.slots {
		if !s.conn.isClosed() {
			h.t.Fatalf("slot %d: connection still open after Shutdown", s.n)
		}
		s.peer.Closed()
	}
	if !h.w.conn.isClosed() {
		h.t.Fatal("witness connection still open after Shutdown")
	}
	h.w.peer.Closed()
}

func (h *harness) answerGoodbye(s *slot) {
	for _, f := range s.conn.take() {
		m := &h.out
		if err := decodeOut(s.conn.kind, f.b, m); err != nil {
			h.t.Fatalf("slot %d during shutdown: %v", s.n, err)
		}
		if m.Type == codec.Goodbye && !s.mute && !s.conn.isClosed() {
			h.msg.Reset()
			h.msg.Type = codec.Goodbye
			h.msg.URI = []byte("wamp.close.goodbye_and_out")
			b, _ := codec.Append(s.conn.kind, h.buf[:0], &h.msg)
			s.peer.Handle(b)
			h.buf = b
		}
	}
}

func (s *slot) String() string { return fmt.Sprintf("slot %d (%s)", s.n, s.conn.kind) }
