package codec

import (
	"bytes"
	"errors"
	"math"
	"reflect"
	"testing"
)

var allKinds = []Kind{JSON, MsgPack, CBOR}

// transcodeCases are JSON values and their canonical JSON form (as wampd
// writes it) after a trip through any other serializer.
var transcodeCases = []struct{ name, in, want string }{
	{"ints", `[0, 1, -1, 23, 24, 255, 256, 65536, -129, 4294967296]`, `[0,1,-1,23,24,255,256,65536,-129,4294967296]`},
	{"2^53", `9007199254740992`, `9007199254740992`},
	{"max uint64", `18446744073709551615`, `18446744073709551615`},
	{"min int64", `-9223372036854775808`, `-9223372036854775808`},
	{"floats", `[1.5, 1.0, -0.25, 1e300, 5e-324, 0.1]`, `[1.5,1.0,-0.25,1e+300,5e-324,0.1]`},
	{"huge literal", `123456789012345678901234567890`, `1.2345678901234568e+29`},
	{"unicode", `"h\u00e9llo ☃ 😀 \ud83d\ude00"`, `"héllo ☃ 😀 😀"`},
	{"escapes", `"q\"b\\n\n\t\u0001\/"`, `"q\"b\\n\n\t\u0001/"`},
	{"binary", `"\u0000AQID/w=="`, `"\u0000AQID/w=="`},
	{"empty binary", `"\u0000"`, `"\u0000"`},
	{"binary in dict", `{"b": "\u0000AA==", "s": "AA=="}`, `{"b":"\u0000AA==","s":"AA=="}`},
	{"empty containers", `[[], {}, [[]], {"a": {}}]`, `[[],{},[[]],{"a":{}}]`},
	{"nested", `{"a": {"b": [1, {"c": null, "d": [true, false]}]}, "e": "x"}`, `{"a":{"b":[1,{"c":null,"d":[true,false]}]},"e":"x"}`},
	{"escaped key", `{"k\u00e9y": 1}`, `{"kéy":1}`},
	{"long string", `"` + string(bytes.Repeat([]byte("x"), 70000)) + `"`, `"` + string(bytes.Repeat([]byte("x"), 70000)) + `"`},
}

func TestTranscodePairs(t *testing.T) {
	for _, c := range transcodeCases {
		for _, from := range allKinds {
			src, err := Transcode(nil, from, Raw{JSON, []byte(c.in)})
			if err != nil {
				t.Fatalf("%s: JSON to %s: %v", c.name, from, err)
			}
			for _, to := range allKinds {
				mid, err := Transcode(nil, to, Raw{from, src})
				if err != nil {
					t.Fatalf("%s: %s to %s: %v", c.name, from, to, err)
				}
				back := mid
				if to == JSON && from == JSON {
					back, _ = Transcode(nil, MsgPack, Raw{JSON, mid})
					back, _ = Transcode(nil, JSON, Raw{MsgPack, back})
				} else if to != JSON {
					back, err = Transcode(nil, JSON, Raw{to, mid})
					if err != nil {
						t.Fatalf("%s: %s back to JSON: %v", c.name, to, err)
					}
				}
				if string(back) != c.want {
					t.Errorf("%s: %s->%s: got %.200s want %.200s", c.name, from, to, back, c.want)
				}
			}
		}
	}
}

// TestTranscodeTypes checks that kinds of values survive, seen through DecodeAny.
func TestTranscodeTypes(t *testing.T) {
	in := `[1, -1, 1.0, 18446744073709551615, "s", "\u0000AQI=", null, true, {"k": []}]`
	want := []any{uint64(1), int64(-1), 1.0, uint64(math.MaxUint64), "s", []byte{1, 2}, nil, true, map[string]any{"k": []any{}}}
	for _, from := range allKinds {
		src, _ := Transcode(nil, from, Raw{JSON, []byte(in)})
		for _, to := range allKinds {
			b, err := Transcode(nil, to, Raw{from, src})
			if err != nil {
				t.Fatal(err)
			}
			got, err := DecodeAny(Raw{to, b})
			if err != nil {
				t.Fatalf("%s->%s: %v", from, to, err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s->%s: got %#v", from, to, got)
			}
			// AppendAny of the decoded value writes the same bytes back (same order: lists only).
			again, err := AppendAny(to, nil, got)
			if err != nil || !bytes.Equal(again, b) && to != JSON {
				t.Errorf("%s AppendAny(DecodeAny) = %x, want %x (%v)", to, again, b, err)
			}
		}
	}
}

func TestTranscodeErrors(t *testing.T) {
	for _, c := range []struct {
		src Raw
		to  Kind
	}{
		{Raw{JSON, []byte(`[1,`)}, MsgPack},
		{Raw{JSON, []byte(`[1] x`)}, CBOR},
		{Raw{MsgPack, []byte{0xcb, 0x7f, 0xf8, 0, 0, 0, 0, 0, 1}}, JSON}, // NaN
		{Raw{CBOR, []byte{0xf9, 0x7c, 0x00}}, JSON},                      // +Inf half float
		{Raw{MsgPack, []byte{0xc1}}, CBOR},
		{Raw{JSON, []byte(`1`)}, Kind(9)},
	} {
		if _, err := Transcode(nil, c.to, c.src); err == nil {
			t.Errorf("%s %x to %s: no error", c.src.Kind, c.src.Bytes, c.to)
		}
	}
	if _, err := Transcode(nil, JSON, Raw{CBOR, []byte{0xf9, 0x7c, 0x00}}); !errors.Is(err, ErrType) {
		t.Errorf("infinity to JSON: %v", err)
	}
	// CBOR half floats and tags decode.
	got, err := DecodeAny(Raw{CBOR, []byte{0x82, 0xf9, 0x3e, 0x00, 0xc1, 0x01}})
	if err != nil || !reflect.DeepEqual(got, []any{1.5, uint64(1)}) {
		t.Errorf("half float / tag: %#v %v", got, err)
	}
}

func TestValidURI(t *testing.T) {
	cases := []struct {
		uri                 string
		strict, empty, want bool
	}{
		{"com.myapp.topic1", false, false, true},
		{"com.myapp.topic1", true, false, true},
		{"com.myApp.topic", true, false, false},
		{"com.myApp.topic", false, false, true},
		{"com.my app", false, false, false},
		{"com.my#app", false, false, false},
		{"com..topic", false, false, false},
		{"com..topic", false, true, true},
		{".com", false, true, true},
		{"com.", false, true, true},
		{"", false, false, false},
		{"", false, true, true},
		{"a-b.c", true, false, false},
		{"a_b.c1", true, true, true},
		{"wamp.é", false, false, true},
	}
	for _, c := range cases {
		if got := ValidURI([]byte(c.uri), c.strict, c.empty); got != c.want {
			t.Errorf("ValidURI(%q, strict=%v, empty=%v) = %v", c.uri, c.strict, c.empty, got)
		}
	}
}

// TestAllocs guards the hot paths: decode, encode and transcode allocate
// nothing once the destination buffer is large enough.
func TestAllocs(t *testing.T) {
	pub := []byte(`[16,239714735,{"acknowledge":true},"com.myapp.mytopic1",["Hello",1,2.5,"\u0000AQI="],{"color":"orange","sizes":[23,42,7]}]`)
	for _, k := range allKinds {
		in := jsonIn(t, k, string(pub))
		var m Message
		dst := make([]byte, 0, 4096)
		if a := testing.AllocsPerRun(100, func() {
			if err := Decode(k, in, &m); err != nil {
				t.Fatal(err)
			}
		}); a != 0 {
			t.Errorf("%s Decode: %v allocs", k, a)
		}
		ev := Message{Type: Event, Subscription: 1, Publication: 2, Args: m.Args, Kw: m.Kw, PayloadKind: k}
		ev.Details.Fields = []Field{{"topic", StringBytesValue(m.URI)}, {"publisher", UintValue(77)}}
		for _, to := range allKinds {
			if a := testing.AllocsPerRun(100, func() {
				if _, err := Append(to, dst[:0], &ev); err != nil {
					t.Fatal(err)
				}
			}); a != 0 {
				t.Errorf("%s->%s Append EVENT: %v allocs", k, to, a)
			}
			if a := testing.AllocsPerRun(100, func() {
				if _, err := Transcode(dst[:0], to, Raw{k, m.Kw}); err != nil {
					t.Fatal(err)
				}
			}); a != 0 {
				t.Errorf("%s->%s Transcode: %v allocs", k, to, a)
			}
		}
		for _, ty := range []Type{Published, Subscribed, Registered} {
			fixed := Message{Type: ty, Request: 5, Publication: 6, Subscription: 6, Registration: 6}
			b := mustAppend(t, k, &fixed)
			if a := testing.AllocsPerRun(100, func() {
				if err := Decode(k, b, &m); err != nil {
					t.Fatal(err)
				}
				if _, err := Append(k, dst[:0], &m); err != nil {
					t.Fatal(err)
				}
			}); a != 0 {
				t.Errorf("%s %s: %v allocs", k, ty, a)
			}
		}
	}
}
