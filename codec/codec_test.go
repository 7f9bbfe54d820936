package codec

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the msgpack and cbor golden files from the JSON vectors")

type vector struct {
	name string
	wire []byte
}

// loadVectors reads testdata/golden.<kind>.*: one "name<TAB>message" per
// line, the message as text (JSON) or hex (MessagePack, CBOR).
func loadVectors(t testing.TB, k Kind) []vector {
	t.Helper()
	f, err := os.Open(goldenPath(k))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var vs []vector
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, wire, ok := strings.Cut(line, "\t")
		if !ok {
			t.Fatalf("bad golden line %q", line)
		}
		b := []byte(wire)
		if k != JSON {
			if b, err = hex.DecodeString(wire); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
		}
		vs = append(vs, vector{name, b})
	}
	return vs
}

func goldenPath(k Kind) string {
	if k == JSON {
		return filepath.Join("testdata", "golden.json.txt")
	}
	return filepath.Join("testdata", "golden."+k.String()+".hex")
}

func mustDecode(t testing.TB, k Kind, b []byte) *Message {
	t.Helper()
	var m Message
	if err := Decode(k, b, &m); err != nil {
		t.Fatalf("Decode(%s, %q): %v", k, b, err)
	}
	return &m
}

func mustAppend(t testing.TB, k Kind, m *Message) []byte {
	t.Helper()
	b, err := Append(k, nil, m)
	if err != nil {
		t.Fatalf("Append(%s, %s): %v", k, m.Type, err)
	}
	return b
}

func toJSON(t testing.TB, k Kind, b []byte) string {
	t.Helper()
	return string(mustAppend(t, JSON, mustDecode(t, k, b)))
}

// TestGolden checks every message of the spec examples in every serializer:
// JSON decodes and re-encodes byte-identically; the MessagePack and CBOR
// encodings equal the committed golden bytes, and decode back to the same JSON.
func TestGolden(t *testing.T) {
	jsonVecs := loadVectors(t, JSON)
	seen := map[Type]bool{}
	for _, k := range []Kind{MsgPack, CBOR} {
		if *update {
			var out bytes.Buffer
			fmt.Fprintf(&out, "# name<TAB>%s encoding of the same message in golden.json.txt, hex\n", k.Subprotocol())
			for _, v := range jsonVecs {
				fmt.Fprintf(&out, "%s\t%x\n", v.name, mustAppend(t, k, mustDecode(t, JSON, v.wire)))
			}
			if err := os.WriteFile(goldenPath(k), out.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	mp, cb := loadVectors(t, MsgPack), loadVectors(t, CBOR)
	if len(mp) != len(jsonVecs) || len(cb) != len(jsonVecs) {
		t.Fatalf("golden files disagree: %d json, %d msgpack, %d cbor", len(jsonVecs), len(mp), len(cb))
	}
	for i, v := range jsonVecs {
		t.Run(v.name, func(t *testing.T) {
			m := mustDecode(t, JSON, v.wire)
			seen[m.Type] = true
			if got := mustAppend(t, JSON, m); !bytes.Equal(got, v.wire) {
				t.Errorf("json round trip:\n got %s\nwant %s", got, v.wire)
			}
			for _, kg := range []struct {
				k Kind
				g vector
			}{{MsgPack, mp[i]}, {CBOR, cb[i]}} {
				k, g := kg.k, kg.g
				if g.name != v.name {
					t.Fatalf("golden order differs: %s vs %s", g.name, v.name)
				}
				if got := mustAppend(t, k, m); !bytes.Equal(got, g.wire) {
					t.Errorf("%s encoding:\n got %x\nwant %x", k, got, g.wire)
				}
				if got := toJSON(t, k, g.wire); got != string(v.wire) {
					t.Errorf("%s decode:\n got %s\nwant %s", k, got, v.wire)
				}
				// Re-encoding a decoded message in its own serializer is byte-identical.
				if got := mustAppend(t, k, mustDecode(t, k, g.wire)); !bytes.Equal(got, g.wire) {
					t.Errorf("%s round trip:\n got %x\nwant %x", k, got, g.wire)
				}
			}
		})
	}
	for ty := Type(0); ty < 80; ty++ {
		if ty.Valid() && !seen[ty] {
			t.Errorf("no golden vector for %s", ty)
		}
	}
}

// TestSpecExample decodes the spec's PUBLISH example as written (with spaces).
func TestSpecExample(t *testing.T) {
	m := mustDecode(t, JSON, []byte(`[16, 239714735, {}, "com.myapp.mytopic1", [], {"color": "orange", "sizes": [23, 42, 7]}]`))
	if m.Type != Publish || m.Request != 239714735 || string(m.URI) != "com.myapp.mytopic1" {
		t.Fatalf("envelope: %+v", m)
	}
	if string(m.Args) != `[]` || string(m.Kw) != `{"color": "orange", "sizes": [23, 42, 7]}` {
		t.Fatalf("payload: args %s kw %s", m.Args, m.Kw)
	}
	if string(m.Details.Raw.Bytes) != "{}" || m.PayloadKind != JSON {
		t.Fatalf("details %q kind %v", m.Details.Raw.Bytes, m.PayloadKind)
	}
	for _, k := range []Kind{MsgPack, CBOR} {
		b := mustAppend(t, k, m)
		if got := toJSON(t, k, b); got != `[16,239714735,{},"com.myapp.mytopic1",[],{"color":"orange","sizes":[23,42,7]}]` {
			t.Errorf("via %s: %s", k, got)
		}
	}
}

func TestTrailingPayload(t *testing.T) {
	base := &Message{Type: Event, Subscription: 1, Publication: 2, PayloadKind: JSON}
	cases := []struct {
		args, kw string
		want     string
	}{
		{"", "", `[36,1,2,{}]`},
		{`[1]`, "", `[36,1,2,{},[1]]`},
		{"", `{"a":1}`, `[36,1,2,{},[],{"a":1}]`},
		{`[]`, `{}`, `[36,1,2,{},[],{}]`},
	}
	for _, c := range cases {
		m := *base
		if c.args != "" {
			m.Args = []byte(c.args)
		}
		if c.kw != "" {
			m.Kw = []byte(c.kw)
		}
		for _, k := range []Kind{JSON, MsgPack, CBOR} {
			if got := toJSON(t, k, mustAppend(t, k, &m)); got != c.want {
				t.Errorf("%s args=%q kw=%q: got %s want %s", k, c.args, c.kw, got, c.want)
			}
		}
	}
}

func TestDetailsFields(t *testing.T) {
	m := &Message{Type: Event, Subscription: 5, Publication: 6, PayloadKind: JSON}
	m.Details.Fields = []Field{
		{"publisher", UintValue(MaxID)},
		{"topic", StringValue("com.a\"b")},
		{"topic2", StringBytesValue([]byte("x.y"))},
		{"neg", IntValue(-3)},
		{"f", FloatValue(2)},
		{"b", BoolValue(true)},
		{"n", NullValue()},
		{"bin", BytesValue([]byte{0, 1, 2})},
		{"raw", RawValue(Raw{MsgPack, []byte{0x92, 0x01, 0xa1, 'x'}})},
		{"any", AnyValue(map[string]any{"z": []string{"a"}, "a": []ID{1, 2}})},
	}
	want := `[36,5,6,{"publisher":9007199254740992,"topic":"com.a\"b","topic2":"x.y","neg":-3,"f":2.0,"b":true,"n":null,"bin":"\u0000AAEC","raw":[1,"x"],"any":{"a":[1,2],"z":["a"]}}]`
	for _, k := range []Kind{JSON, MsgPack, CBOR} {
		if got := toJSON(t, k, mustAppend(t, k, m)); got != want {
			t.Errorf("%s:\n got %s\nwant %s", k, got, want)
		}
	}
	// Raw details in another serializer are transcoded.
	m.Details = Dict{Raw: Raw{JSON, []byte(`{"x": [1, 2.5]}`)}}
	for _, k := range []Kind{MsgPack, CBOR} {
		if got := toJSON(t, k, mustAppend(t, k, m)); got != `[36,5,6,{"x":[1,2.5]}]` {
			t.Errorf("%s raw details: %s", k, got)
		}
	}
}

func TestArgsAny(t *testing.T) {
	m := &Message{Type: Result, Request: 7, ArgsAny: []any{"a", 1, -1, 1.5, nil, true, []byte("hi")}, KwAny: map[string]any{"k": []any{}}}
	want := `[50,7,{},["a",1,-1,1.5,null,true,"\u0000aGk="],{"k":[]}]`
	for _, k := range []Kind{JSON, MsgPack, CBOR} {
		if got := toJSON(t, k, mustAppend(t, k, m)); got != want {
			t.Errorf("%s:\n got %s\nwant %s", k, got, want)
		}
	}
	if _, err := AppendAny(JSON, nil, struct{}{}); !errors.Is(err, ErrType) {
		t.Errorf("unsupported Go type: %v", err)
	}
}

func TestJSONEscapedURI(t *testing.T) {
	var m Message
	in := []byte(`[32,1,{},"com.\u00e9t\u00e9.\ud83d\ude00\/x"]`)
	if err := Decode(JSON, in, &m); err != nil {
		t.Fatal(err)
	}
	if string(m.URI) != "com.été.😀/x" {
		t.Fatalf("URI %q", m.URI)
	}
	allocs := testing.AllocsPerRun(100, func() {
		if err := Decode(JSON, in, &m); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("escaped URI decode allocates %v per run once scratch is warm", allocs)
	}
}

func TestTypeString(t *testing.T) {
	if Publish.String() != "PUBLISH" || Unregistered.String() != "UNREGISTERED" || Type(99).String() != "TYPE(99)" {
		t.Errorf("Type.String: %s %s %s", Publish, Unregistered, Type(99))
	}
}

func TestRetain(t *testing.T) {
	buf := []byte(`[16,1,{"a":1},"t",[1],{"b":2}]`)
	m := mustDecode(t, JSON, buf)
	m.Retain()
	for i := range buf {
		buf[i] = 'x'
	}
	if got := string(mustAppend(t, JSON, m)); got != `[16,1,{"a":1},"t",[1],{"b":2}]` {
		t.Errorf("after Retain: %s", got)
	}
}
