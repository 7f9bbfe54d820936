package engine

import (
	"testing"

	"github.com/wampd/wampd/codec"
)

// SUBSCRIBE and REGISTER read "match" the same way: absent or null is
// exact, a known name is that policy, anything else (an unknown name, a
// number) is wamp.error.invalid_argument; and a pattern URI may have empty
// components but may not be empty.
func TestMatchOptionSubscribeAndRegister(t *testing.T) {
	r := newTestRouter(t)
	c := join(t, r, codec.JSON, "realm1")
	for i, bad := range []any{"regex", 42, true} {
		req := codec.ID(10 + i)
		sub := &codec.Message{Type: codec.Subscribe, Request: req, URI: []byte("com.a")}
		sub.Details.Fields = []codec.Field{opt("match", bad)}
		c.send(sub)
		c.expectError(codec.Subscribe, req, "wamp.error.invalid_argument")
		reg := &codec.Message{Type: codec.Register, Request: req, URI: []byte("com.a")}
		reg.Details.Fields = []codec.Field{opt("match", bad)}
		c.send(reg)
		c.expectError(codec.Register, req, "wamp.error.invalid_argument")
	}
	for _, typ := range []codec.Type{codec.Subscribe, codec.Register} {
		m := &codec.Message{Type: typ, Request: 30, URI: nil}
		m.Details.Fields = []codec.Field{opt("match", "prefix")}
		c.send(m)
		c.expectError(typ, 30, "wamp.error.invalid_uri")
	}
	// null match: exact.
	m := &codec.Message{Type: codec.Register, Request: 40, URI: []byte("com.null")}
	m.Details.Fields = []codec.Field{opt("match", nil)}
	c.send(m)
	if got := c.expect(codec.Registered); got.Request != 40 {
		t.Fatalf("REGISTERED for %d", got.Request)
	}
	c.subscribeWith(41, "com.a..c", opt("match", "wildcard"))
}
