package codec

import (
	"bytes"
	"errors"
	"testing"
)

// Fuzz targets, seeded with the golden vectors; `go test` replays the seeds
// and testdata/fuzz/ corpora. Run one with e.g.
//   go test ./codec -run '^$' -fuzz '^FuzzDecodeJSON$' -fuzztime 30s

func FuzzDecodeJSON(f *testing.F)    { fuzzDecode(f, JSON) }
func FuzzDecodeMsgPack(f *testing.F) { fuzzDecode(f, MsgPack) }
func FuzzDecodeCBOR(f *testing.F)    { fuzzDecode(f, CBOR) }

func fuzzDecode(f *testing.F, k Kind) {
	for _, v := range loadVectors(f, k) {
		f.Add(v.wire)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var m Message
		err := Decode(k, in, &m)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrProtocol) {
				t.Fatalf("error wraps neither ErrMalformed nor ErrProtocol: %v", err)
			}
			return
		}
		// A truncated frame is never accepted as a message.
		if n := len(in) - 1; k != JSON || !isJSONSpace(in[n]) {
			var cut Message
			if Decode(k, in[:n], &cut) == nil {
				t.Fatalf("truncated input %x decodes", in[:n])
			}
		}
		checkDecoded(t, &m)
		for _, to := range allKinds {
			out, err := Append(to, nil, &m)
			if err != nil {
				// Only a payload value with no form in to (NaN in JSON) may fail.
				if !errors.Is(err, ErrType) {
					t.Fatalf("Append(%s) of a decoded %s: %v", to, m.Type, err)
				}
				continue
			}
			var m2 Message
			if err := Decode(to, out, &m2); err != nil {
				t.Fatalf("%s re-decode of %s %x: %v", to, m.Type, out, err)
			}
			if m2.Type != m.Type || m2.Request != m.Request || !bytes.Equal(m2.URI, m.URI) || !bytes.Equal(m2.Text, m.Text) {
				t.Fatalf("%s envelope changed: %+v vs %+v", to, m2, m)
			}
			again, err := Append(to, nil, &m2)
			if err != nil || !bytes.Equal(again, out) {
				t.Fatalf("%s re-encode differs:\n%x\n%x (%v)", to, again, out, err)
			}
		}
	})
}

func checkDecoded(t *testing.T, m *Message) {
	for _, id := range []ID{m.Request, m.Session, m.Subscription, m.Registration, m.Publication} {
		if id > MaxID {
			t.Fatalf("ID %d above 2^53 accepted", id)
		}
	}
	if m.Args != nil && !(Raw{m.PayloadKind, m.Args}).IsList() {
		t.Fatalf("Args is not a list: %x", m.Args)
	}
	if m.Kw != nil && !(Raw{m.PayloadKind, m.Kw}).IsDict() {
		t.Fatalf("Kw is not a dict: %x", m.Kw)
	}
}

// FuzzTranscode feeds arbitrary bytes as a value of serializer from; whatever
// converts must be readable in the target serializer and convert back.
func FuzzTranscode(f *testing.F) {
	for _, k := range allKinds {
		for _, v := range loadVectors(f, k) {
			f.Add(uint8(k), uint8(JSON), v.wire)
			f.Add(uint8(k), uint8(k%3+1), v.wire)
		}
	}
	for _, c := range transcodeCases {
		if len(c.in) < 1000 {
			f.Add(uint8(JSON), uint8(CBOR), []byte(c.in))
		}
	}
	f.Fuzz(func(t *testing.T, from, to uint8, in []byte) {
		src := Raw{Kind(from%3 + 1), in}
		dst := Kind(to%3 + 1)
		out, err := Transcode(nil, dst, src)
		if err != nil {
			return
		}
		if src.Kind == dst {
			return // copied as is
		}
		if _, err := DecodeAny(Raw{dst, out}); err != nil {
			t.Fatalf("%s->%s output unreadable: %v\nin  %x\nout %x", src.Kind, dst, err, in, out)
		}
		back, err := Transcode(nil, src.Kind, Raw{dst, out})
		if err != nil {
			t.Fatalf("%s->%s->%s: %v", src.Kind, dst, src.Kind, err)
		}
		if _, err := DecodeAny(Raw{src.Kind, back}); err != nil {
			t.Fatalf("round trip unreadable: %v", err)
		}
	})
}

// FuzzSkip checks that the fast binary skips accept exactly what the generic
// token walker accepts, and end at the same byte.
func FuzzSkip(f *testing.F) {
	for _, k := range allKinds {
		for _, v := range loadVectors(f, k) {
			f.Add(uint8(k), v.wire)
		}
	}
	f.Fuzz(func(t *testing.T, kind uint8, in []byte) {
		k := Kind(kind%3 + 1)
		fast := newReader(k, in)
		var errFast error
		if k == JSON {
			errFast = fast.jsonSkip()
		} else {
			errFast = fast.binSkip()
		}
		slow := newReader(k, in)
		vt, errSlow := slow.peek()
		if errSlow == nil {
			errSlow = slow.skipValue(vt)
		}
		if (errFast == nil) != (errSlow == nil) || errFast == nil && fast.p != slow.p {
			t.Fatalf("%s %x: fast (%v, end %d) vs generic (%v, end %d)", k, in, errFast, fast.p, errSlow, slow.p)
		}
	})
}
