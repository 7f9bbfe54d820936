package engine

import (
	"testing"

	"github.com/wampd/wampd/codec"
)

// One PUBLISH matching an exact and a prefix subscription reaches
// subscribers of other serializers with the payload intact on both EVENTs
// (the payload is transcoded once per serializer and shared by the
// subscriptions), binary included, and the publisher's serializer gets the
// bytes untouched.
func TestPayloadTranscodedOncePerSerializer(t *testing.T) {
	r := newTestRouter(t)
	pub := join(t, r, codec.JSON, "realm1")
	mp := join(t, r, codec.MsgPack, "realm1")
	cb := join(t, r, codec.CBOR, "realm1")
	js := join(t, r, codec.JSON, "realm1")
	for _, c := range []*client{mp, cb, js} {
		c.subscribeWith(1, "com.a.b")
		c.subscribeWith(2, "com.a.", opt("match", "prefix"))
	}
	args := []any{"x", uint64(1) << 53, []byte{0, 1, 2}}
	kw := map[string]any{"k": []any{true, nil, 2.5}}
	pub.send(publishMsg(7, "com.a.b", args, kw))
	for _, c := range []*client{mp, cb, js} {
		for range 2 {
			ev := c.expect(codec.Event)
			a, k := payload(t, ev)
			if !equalJSONish(a, args) || !equalJSONish(k, kw) {
				t.Fatalf("%v subscriber got %v %v, want %v %v", c.conn.kind, a, k, args, kw)
			}
		}
	}
}
