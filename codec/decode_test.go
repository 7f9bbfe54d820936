package codec

import (
	"encoding/hex"
	"errors"
	"math"
	"strings"
	"testing"
)

// jsonIn re-encodes a JSON message in k through the codec, so error cases
// written once in JSON are checked in every serializer.
func jsonIn(t *testing.T, k Kind, s string) []byte {
	t.Helper()
	if k == JSON {
		return []byte(s)
	}
	b, err := Transcode(nil, k, Raw{JSON, []byte(s)})
	if err != nil {
		t.Fatalf("transcode %s to %s: %v", s, k, err)
	}
	return b
}

func TestDecodeProtocolErrors(t *testing.T) {
	cases := []struct{ in, why string }{
		{`{}`, "top level not a list"},
		{`"x"`, "top level not a list"},
		{`[]`, "empty"},
		{`["x"]`, "type not a number"},
		{`[99,1,2]`, "unknown type"},
		{`[-1,1,2]`, "negative type"},
		{`[1.5,1,2]`, "fractional type"},
		{`[300]`, "type above 255"},
		{`[16,1,{}]`, "PUBLISH too short"},
		{`[16,1,{},"t",[],{},1]`, "PUBLISH too long"},
		{`[16,0,{},"t"]`, "request ID 0"},
		{`[16,9007199254740993,{},"t"]`, "request ID above 2^53"},
		{`[16,-5,{},"t"]`, "negative ID"},
		{`[16,"1",{},"t"]`, "ID as string"},
		{`[16,1,[],"t"]`, "options not a dict"},
		{`[16,1,{},5]`, "topic not a string"},
		{`[16,1,{},"t",{}]`, "args not a list"},
		{`[16,1,{},"t",[],[]]`, "kw not a dict"},
		{`[17,1]`, "PUBLISHED too short"},
		{`[17,1,2,3]`, "PUBLISHED too long"},
		{`[17,1,0]`, "publication 0"},
		{`[8,99,1,{},"e"]`, "ERROR for unknown type"},
		{`[1,"realm"]`, "HELLO without details"},
		{`[36,1,2,{},null]`, "args null"},
		{`[35,1,{},1]`, "UNSUBSCRIBED too long"},
	}
	for _, k := range []Kind{JSON, MsgPack, CBOR} {
		for _, c := range cases {
			var m Message
			err := Decode(k, jsonIn(t, k, c.in), &m)
			if !errors.Is(err, ErrProtocol) {
				t.Errorf("%s %s (%s): got %v, want ErrProtocol", k, c.in, c.why, err)
			}
		}
	}
}

func TestDecodeMalformedJSON(t *testing.T) {
	cases := []string{
		``, ` `, `[`, `[16,1,{},"t"`, `[16,1,{},"t"]x`, `[16,1,{},"t"] []`,
		`[16,1,{},"t",]`, `[16,,1]`, `[16 1]`, `[16,1,{"a"},"t"]`, `[16,1,{"a":},"t"]`,
		`[16,1,{,},"t"]`, `[16,1,{1:2},"t"]`, `[16,1,{},"t",[01]]`, `[16,1.,{},"t"]`,
		`[16,1,{},"t\x"]`, `[16,1,{},"t\u12"]`, "[16,1,{},\"t\x01\"]", "[16,1,{},\"\xff\"]",
		`[16,1,{},"t",[tru]]`, `[16,1,{},"t",[nul]]`,
		`[16,1,{},"t",[1e400]]`, `[16,1,{},"t",[-]]`, `[16,1,{},"t",[1e]]`,
		"[16,1,{},\"t\",[\"a\xc3\"]]",
	}
	for _, c := range cases {
		var m Message
		err := Decode(JSON, []byte(c), &m)
		if !errors.Is(err, ErrMalformed) {
			t.Errorf("%q: got %v, want ErrMalformed", c, err)
		}
	}
}

func TestDecodeMalformedBinary(t *testing.T) {
	cases := []struct {
		k   Kind
		hex string
		why string
	}{
		{MsgPack, "", "empty"},
		{MsgPack, "94", "array without elements"},
		{MsgPack, "dd7fffffff10", "array count beyond input"},
		{MsgPack, "9410010080c1", "reserved byte"},
		{MsgPack, "9410018061", "str length beyond input"},
		{MsgPack, "941001806174ff", "trailing byte"},
		{MsgPack, "941001" + "80" + "a2c328", "invalid UTF-8 URI"},
		{MsgPack, "951001806174" + "c70101ff", "extension type payload"},
		{CBOR, "", "empty"},
		{CBOR, "84", "array without elements"},
		{CBOR, "9b00ffffffffffffff", "huge array count"},
		{CBOR, "8410" + "01a0" + "7b00ffffffffffffff", "huge string length"},
		{CBOR, "841001a06174" + "00", "trailing byte"},
		{CBOR, "841001a07f6174ff", "indefinite string"},
		{CBOR, "841001a062c328", "invalid UTF-8 URI"},
		{CBOR, "851001a06174" + "9f01", "unterminated indefinite list"},
		{CBOR, "851001a06174" + "81f8ff", "unsupported simple value"},
		{CBOR, "841001a0" + "1c", "reserved additional info"},
	}
	for _, c := range cases {
		b, err := hex.DecodeString(c.hex)
		if err != nil {
			t.Fatal(err)
		}
		var m Message
		err = Decode(c.k, b, &m)
		if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrProtocol) {
			t.Errorf("%s %s (%s): got %v, want an error", c.k, c.hex, c.why, err)
		}
	}
}

func TestLimits(t *testing.T) {
	deep := strings.Repeat("[", 65) + strings.Repeat("]", 65)
	shallow := strings.Repeat("[", 60) + strings.Repeat("]", 60)
	for _, k := range []Kind{JSON, MsgPack, CBOR} {
		var m Message
		if err := Decode(k, jsonIn(t, k, `[16,1,{},"t",`+shallow+`]`), &m); err != nil {
			t.Errorf("%s: nesting 61 rejected: %v", k, err)
		}
		var b []byte
		if k == JSON {
			b = []byte(`[16,1,{},"t",` + deep + `]`)
		} else {
			// Build the deep value by hand: Transcode itself refuses it.
			b = jsonIn(t, k, `[16,1,{},"t"]`)
			b[0]++ // one more element
			for range 65 {
				b = append(b, enc(k).listStart(nil, 1)...)
			}
			b = append(b, enc(k).listStart(nil, 0)...)
		}
		if err := Decode(k, b, &m); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: nesting 66: got %v, want ErrMalformed", k, err)
		}
	}
}

func TestDictLookups(t *testing.T) {
	const opts = `{"acknowledge": true, "exclude_me": false, "match": "wildcard", "invoke": "round\u0072obin",
		"timeout": 1500, "neg": -4, "ratio": 0.5, "whole": 3.0, "eligible": [1, 2, 9007199254740992],
		"authmethods": ["ticket", "wampcra"], "nested": {"x": 1}, "k\u00e9y": "v", "nul": null}`
	for _, k := range []Kind{JSON, MsgPack, CBOR} {
		in := jsonIn(t, k, `[16,1,`+opts+`,"t"]`)
		m := mustDecode(t, k, in)
		d := m.Details
		if v, ok := d.Bool("acknowledge"); !ok || !v {
			t.Errorf("%s acknowledge %v %v", k, v, ok)
		}
		if v, ok := d.Bool("exclude_me"); !ok || v {
			t.Errorf("%s exclude_me %v %v", k, v, ok)
		}
		if v, ok := d.String("match"); !ok || v != "wildcard" {
			t.Errorf("%s match %q %v", k, v, ok)
		}
		if v, ok := d.StringBytes("invoke", nil); !ok || string(v) != "roundrobin" {
			t.Errorf("%s invoke %q %v", k, v, ok)
		}
		if v, ok := d.Uint("timeout"); !ok || v != 1500 {
			t.Errorf("%s timeout %v %v", k, v, ok)
		}
		if _, ok := d.Uint("neg"); ok {
			t.Errorf("%s neg read as uint", k)
		}
		if v, ok := d.Int("neg"); !ok || v != -4 {
			t.Errorf("%s neg %v %v", k, v, ok)
		}
		if v, ok := d.Float("ratio"); !ok || v != 0.5 {
			t.Errorf("%s ratio %v %v", k, v, ok)
		}
		if v, ok := d.Uint("whole"); !ok || v != 3 {
			t.Errorf("%s whole %v %v", k, v, ok)
		}
		if _, ok := d.Uint("ratio"); ok {
			t.Errorf("%s 0.5 read as uint", k)
		}
		if _, ok := d.Bool("match"); ok {
			t.Errorf("%s string read as bool", k)
		}
		if _, ok := d.Lookup("absent"); ok {
			t.Errorf("%s absent key found", k)
		}
		if v, ok := d.String("kéy"); !ok || v != "v" {
			t.Errorf("%s escaped key %q %v", k, v, ok)
		}
		if _, ok := d.Lookup("nul"); ok {
			t.Errorf("%s an option set to null reads as present", k)
		}
		var ids []uint64
		r, _ := d.Lookup("eligible")
		if !r.IsList() || r.IsDict() {
			t.Errorf("%s eligible not a list", k)
		}
		err := r.EachElem(func(e Raw) bool {
			v, err := e.Uint()
			if err != nil {
				t.Errorf("%s eligible elem: %v", k, err)
			}
			ids = append(ids, v)
			return true
		})
		if err != nil || len(ids) != 3 || ids[2] != MaxID {
			t.Errorf("%s eligible %v %v", k, ids, err)
		}
		var methods []string
		r, _ = d.Lookup("authmethods")
		_ = r.EachElem(func(e Raw) bool {
			s, _ := e.Str(nil)
			methods = append(methods, string(s))
			return true
		})
		if strings.Join(methods, ",") != "ticket,wampcra" {
			t.Errorf("%s authmethods %v", k, methods)
		}
		keys := 0
		_ = d.Raw.EachField(func(key []byte, v Raw) bool {
			keys++
			return string(key) != "ratio" // stops early
		})
		if keys != 7 {
			t.Errorf("%s EachField visited %d keys before stopping, want 7", k, keys)
		}
		nested, _ := d.Lookup("nested")
		if v, ok := (Dict{Raw: nested}).Uint("x"); !ok || v != 1 || !nested.IsDict() {
			t.Errorf("%s nested %v %v", k, v, ok)
		}
		// Allocation guard: the lookups the engine does per message.
		allocs := testing.AllocsPerRun(100, func() {
			d.Bool("acknowledge")
			d.Uint("timeout")
			d.StringBytes("match", nil)
			r, _ := d.Lookup("eligible")
			_ = r.EachElem(func(e Raw) bool { _, err := e.Uint(); return err == nil })
			_ = nested.EachField(func(key []byte, v Raw) bool { return len(key) > 0 })
		})
		if allocs != 0 {
			t.Errorf("%s lookups allocate %v", k, allocs)
		}
	}
}

func TestRawAccessors(t *testing.T) {
	for _, k := range []Kind{JSON, MsgPack, CBOR} {
		raw := func(s string) Raw { return Raw{k, jsonIn(t, k, s)} }
		if v, err := raw(`18446744073709551615`).Uint(); err != nil || v != math.MaxUint64 {
			t.Errorf("%s max uint %v %v", k, v, err)
		}
		if v, err := raw(`-9223372036854775808`).Int(); err != nil || v != math.MinInt64 {
			t.Errorf("%s min int %v %v", k, v, err)
		}
		if _, err := raw(`18446744073709551615`).Int(); !errors.Is(err, ErrType) {
			t.Errorf("%s max uint as int: %v", k, err)
		}
		if v, err := raw(`"\u0000AQID/w=="`).Binary(nil); err != nil || string(v) != "\x01\x02\x03\xff" {
			t.Errorf("%s binary %x %v", k, v, err)
		}
		if _, err := raw(`"abc"`).Binary(nil); !errors.Is(err, ErrType) {
			t.Errorf("%s string as binary: %v", k, err)
		}
		if v, err := raw(`"a\nb"`).Str(nil); err != nil || string(v) != "a\nb" {
			t.Errorf("%s str %q %v", k, v, err)
		}
		if _, err := raw(`[1]`).Str(nil); !errors.Is(err, ErrType) {
			t.Errorf("%s list as str: %v", k, err)
		}
		if err := raw(`{}`).EachElem(func(Raw) bool { return true }); !errors.Is(err, ErrType) {
			t.Errorf("%s dict as list: %v", k, err)
		}
		if v, err := raw(`7`).Float(); err != nil || v != 7 {
			t.Errorf("%s int as float %v %v", k, v, err)
		}
		if !(Raw{}).IsNull() || raw(`0`).IsNull() {
			t.Errorf("%s IsNull", k)
		}
	}
	// A JSON binary written with escaped slashes reads the same.
	if v, err := (Raw{JSON, []byte(`"\u0000\/w=="`)}).Binary(nil); err != nil || string(v) != "\xff" {
		t.Errorf("escaped slash binary %x %v", v, err)
	}
}

// JavaScript clients (wampy with msgpackr or cbor-x) send options whose value
// is undefined: MessagePack fixext 1 type 0 (d4 00 00), CBOR simple value 23
// (f7). Both decode, and the option reads as absent, like null.
func TestUndefinedOptionIsAbsent(t *testing.T) {
	cases := map[Kind]string{
		// [32, 1, {"match": undefined}, "a.b"] as msgpackr and cbor-x write it.
		MsgPack: "942001de0001a56d61746368d40000a3612e62",
		CBOR:    "84182001b90001656d61746368f763612e62",
	}
	for k, h := range cases {
		b, err := hex.DecodeString(h)
		if err != nil {
			t.Fatal(err)
		}
		var m Message
		if err := Decode(k, b, &m); err != nil {
			t.Fatalf("%v: %v", k, err)
		}
		if m.Type != Subscribe || string(m.URI) != "a.b" {
			t.Fatalf("%v: decoded %v %q", k, m.Type, m.URI)
		}
		if _, ok := m.Details.Lookup("match"); ok {
			t.Fatalf("%v: undefined option reads as present", k)
		}
		out, err := Transcode(nil, JSON, m.Details.Raw)
		if err != nil || string(out) != `{"match":null}` {
			t.Fatalf("%v: transcoded to %s, %v", k, out, err)
		}
	}
}
