package codec

import (
	"fmt"
	"testing"
)

// Benchmarks of the routing hot path. Reproduce with
//   go test ./codec -run '^$' -bench . -benchmem -count 1

const benchPublish = `[16,239714735,{"acknowledge":true,"exclude_me":false},"com.myapp.mytopic1",` +
	`["Hello, world!",42,3.14,{"nested":[1,2,3]}],{"color":"orange","sizes":[23,42,7],"id":9007199254740992}]`

func benchInput(b *testing.B, k Kind) []byte {
	out, err := Transcode(nil, k, Raw{JSON, []byte(benchPublish)})
	if err != nil {
		b.Fatal(err)
	}
	return out
}

func BenchmarkDecodePublish(b *testing.B) {
	for _, k := range allKinds {
		b.Run("ser="+k.String(), func(b *testing.B) {
			in := benchInput(b, k)
			var m Message
			b.SetBytes(int64(len(in)))
			b.ReportAllocs()
			for b.Loop() {
				if err := Decode(k, in, &m); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// eventFor builds the EVENT the broker sends for a decoded PUBLISH.
func eventFor(ev *Message, pub *Message) {
	*ev = Message{Type: Event, Subscription: 5512315355, Publication: 4429313566,
		Args: pub.Args, Kw: pub.Kw, PayloadKind: pub.PayloadKind, Details: Dict{Fields: ev.Details.Fields[:0]}}
	ev.Details.Fields = append(ev.Details.Fields, Field{"topic", StringBytesValue(pub.URI)})
}

func BenchmarkEncodeEvent(b *testing.B) {
	for _, k := range allKinds {
		b.Run("ser="+k.String(), func(b *testing.B) {
			var pub, ev Message
			if err := Decode(k, benchInput(b, k), &pub); err != nil {
				b.Fatal(err)
			}
			eventFor(&ev, &pub)
			dst := make([]byte, 0, 1024)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Append(k, dst[:0], &ev); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkPublishToEvent is the broker's per-message codec work when
// publisher and subscriber speak the same serializer: decode PUBLISH,
// encode one EVENT.
func BenchmarkPublishToEvent(b *testing.B) {
	for _, k := range allKinds {
		b.Run("ser="+k.String(), func(b *testing.B) {
			in := benchInput(b, k)
			var pub, ev Message
			dst := make([]byte, 0, 1024)
			b.SetBytes(int64(len(in)))
			b.ReportAllocs()
			for b.Loop() {
				if err := Decode(k, in, &pub); err != nil {
					b.Fatal(err)
				}
				eventFor(&ev, &pub)
				if _, err := Append(k, dst[:0], &ev); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkTranscodeEvent encodes the EVENT of a PUBLISH received in one
// serializer for a subscriber speaking another (payload transcoded).
func BenchmarkTranscodeEvent(b *testing.B) {
	for _, from := range allKinds {
		for _, to := range allKinds {
			if from == to {
				continue
			}
			b.Run(fmt.Sprintf("from=%s/to=%s", from, to), func(b *testing.B) {
				var pub, ev Message
				if err := Decode(from, benchInput(b, from), &pub); err != nil {
					b.Fatal(err)
				}
				eventFor(&ev, &pub)
				dst := make([]byte, 0, 1024)
				b.ReportAllocs()
				for b.Loop() {
					if _, err := Append(to, dst[:0], &ev); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

func BenchmarkFixedMsgPack(b *testing.B) {
	m := Message{Type: Published, Request: 239714735, Publication: 4429313566}
	in, _ := Append(MsgPack, nil, &m)
	dst := make([]byte, 0, 64)
	b.ReportAllocs()
	for b.Loop() {
		if err := Decode(MsgPack, in, &m); err != nil {
			b.Fatal(err)
		}
		dst, _ = Append(MsgPack, dst[:0], &m)
	}
}
