package engine

import (
	"testing"

	"github.com/wampd/wampd/codec"
)

// FuzzHandle feeds arbitrary messages to a connection in each handshake
// state, next to a bystander session: nothing may panic, and the bystander
// must keep working.
func FuzzHandle(f *testing.F) {
	for _, s := range []string{
		`[1,"realm1",{"roles":{}}]`, `[1,"realm1",{"authmethods":["ticket"],"authid":"joe"}]`,
		`[1,"realm1",{"authmethods":"ticket"}]`, `[1,"realm1",{"authmethods":[1,2,{}]}]`,
		`[5,"s3cret",{}]`, `[6,{},"wamp.close.close_realm"]`, `[3,{},"wamp.error.x"]`,
		`[16,1,{"acknowledge":true,"exclude_me":false},"com.t",[1],{"a":1}]`,
		`[16,1,{"acknowledge":"yes"},"com.t"]`, `[32,1,{"match":"prefix"},"com."]`,
		`[32,2,{},"com.t"]`, `[34,3,1]`, `[48,1,{},"com.p",[1]]`, `[48,1,{},"com.p",[],{}]`,
		`[64,1,{},"com.p"]`, `[64,1,{"invoke":"roundrobin"},"com.p"]`, `[66,1,1]`,
		`[70,1,{},[1]]`, `[8,68,1,{},"com.err",[1],{}]`, `[8,16,1,{},"com.err"]`, `[49,1,{}]`,
		`[]`, `[1]`, `[99]`, `null`, `{"a":1}`, `[1,"realm1",{}`, `[1,"",{}]`, `[70,0,{}]`,
	} {
		f.Add(uint8(0), []byte(s))
		f.Add(uint8(1), []byte(s))
		f.Add(uint8(2), []byte(s))
	}
	f.Fuzz(func(t *testing.T, state uint8, msg []byte) {
		r := newTestRouter(t, RealmConfig{Name: "realm1", Anonymous: true,
			Tickets: map[string]TicketUser{"joe": {Ticket: "s3cret"}}})
		by := join(t, r, codec.JSON, "realm1")
		by.register(1, "com.p")
		by.subscribe(2, "com.t")
		c := connect(t, r, codec.JSON)
		switch state % 3 {
		case 1: // established, with a subscription and a pending call
			c.sendRaw([]byte(`[1,"realm1",{}]`))
			c.sendRaw([]byte(`[32,2,{},"com.t"]`))
			c.sendRaw([]byte(`[48,1,{},"com.p",[1]]`))
		case 2: // challenged
			c.sendRaw([]byte(`[1,"realm1",{"authmethods":["ticket"],"authid":"joe"}]`))
		}
		c.sendRaw(msg)
		c.sendRaw(msg)
		c.peer.Closed()

		for m := by.next(); m != nil; m = by.next() {
			if m.Type == codec.Invocation {
				by.send(&codec.Message{Type: codec.Yield, Request: m.Request})
			}
		}
		by.send(publishMsg(3, "com.t", nil, nil, opt("acknowledge", true), opt("exclude_me", false)))
		by.expect(codec.Event)
		by.expect(codec.Published)
		if by.conn.isClosed() {
			t.Fatal("bystander closed")
		}
	})
}
