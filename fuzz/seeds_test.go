package fuzz

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// Seed corpora live in testdata/fuzz/<Target>/ (what `go test` replays).
// They are generated from the programs below; regenerate with
//
//	WAMPD_WRITE_SEEDS=1 go test ./fuzz -run TestWriteSeeds
//
// The fuzzer's own finds (files it adds there) are kept by the generator.

// prog builds FuzzSessionStateMachine inputs with the same byte layout the
// generator in gen_test.go reads.
type prog struct{ b []byte }

// Actions of harness.step (op bits 2-5).
const (
	actMsg     = 0
	actMutate  = 9
	actGarbage = 10
	actClose   = 11
	actRefuse  = 12
	actMute    = 13
	actWitness = 14
)

func newProg(witnessKind byte, slotKinds ...byte) *prog {
	p := &prog{b: []byte{witnessKind}}
	for i := range nSlots {
		k := byte(i)
		if i < len(slotKinds) {
			k = slotKinds[i]
		}
		p.b = append(p.b, k)
	}
	return p
}

func (p *prog) op(slot, act int) *prog {
	p.b = append(p.b, byte(act*nSlots+slot))
	return p
}

func (p *prog) raw(b ...byte) *prog { p.b = append(p.b, b...); return p }

// Message-type picks of input.message.
const (
	mHello     = 0
	mAuth      = 2
	mGoodbye   = 3
	mAbort     = 4
	mPublish   = 5
	mSubscribe = 7
	mUnsub     = 8
	mCall      = 9
	mCancel    = 11
	mRegister  = 12
	mUnreg     = 13
	mYield     = 14
	mError     = 16
	mInterrupt = 17
	mEvent     = 18
	mWelcome   = 19
)

func uriIdx(u string) byte {
	for i, x := range uris {
		if x == u {
			return byte(i)
		}
	}
	panic("unknown uri " + u)
}

func optIdx(k string) byte {
	for i, x := range optKeys {
		if x == k {
			return byte(i)
		}
	}
	panic("unknown option " + k)
}

func strIdx(s string) byte {
	for i, x := range strVals {
		if x == s {
			return byte(i)
		}
	}
	panic("unknown string " + s)
}

// uri encodes a table URI (pick(8) != 0, then the index).
func uri(u string) []byte { return []byte{1, uriIdx(u)} }

// opt encodes one option whose value is a table string (value pick 5).
func optStr(k, v string) []byte { return []byte{optIdx(k), 5, strIdx(v)} }

// optBool encodes one boolean option.
func optBool(k string, v bool) []byte {
	if v {
		return []byte{optIdx(k), 0}
	}
	return []byte{optIdx(k), 1}
}

func optInt(k string, v byte) []byte { return []byte{optIdx(k), 2, v} }

func opts(o ...[]byte) []byte {
	b := []byte{byte(len(o))}
	for _, x := range o {
		b = append(b, x...)
	}
	return b
}

func (p *prog) hello(slot int, ticket bool) *prog {
	auth := byte(0)
	if ticket {
		auth = 2
	}
	return p.op(slot, actMsg).raw(mHello, 0, 0, 0, 1, 1, auth)
}

func (p *prog) auth(slot int, good bool) *prog {
	t := byte(0)
	if !good {
		t = 1
	}
	return p.op(slot, actMsg).raw(mAuth, t)
}

func (p *prog) msg(slot int, typ byte, rest ...[]byte) *prog {
	p.op(slot, actMsg).raw(typ)
	if typ == mCall {
		p.raw(1) // a fresh request ID (input.callRequest)
	}
	for _, r := range rest {
		p.raw(r...)
	}
	return p
}

// pool picks the first ID of the slot's pool (input.id: b%8 >= 4, then index).
var pool0 = []byte{4, 0}

func (p *prog) bytes() []byte { return p.b }

func sessionSeeds() [][]byte {
	noPayload := []byte{0}
	argsPayload := []byte{3, 2, 7, 5, strIdx("x")} // [int 7, "x"]
	seeds := [][]byte{
		newProg(0).bytes(), // nothing but the witness
		newProg(0).hello(0, false).bytes(),
		newProg(1, 1).hello(0, true).auth(0, true).bytes(),
		newProg(2, 2).hello(0, true).auth(0, false).hello(0, false).bytes(),
		// pub/sub across serializers
		newProg(0, 0, 1, 2).hello(0, false).hello(1, false).hello(2, false).
			msg(0, mSubscribe, uri("com.a"), opts()).
			msg(1, mSubscribe, uri("com"), opts(optStr("match", "prefix"))).
			msg(2, mPublish, uri("com.a"), opts(optBool("acknowledge", true), optBool("exclude_me", false)), argsPayload).
			msg(0, mUnsub, pool0).bytes(),
		// RPC: register, call, yield, error, cancel, timeout
		newProg(1, 0, 1).hello(0, false).hello(1, false).
			msg(0, mRegister, uri("com.a"), opts(optStr("invoke", "roundrobin"))).
			msg(1, mCall, uri("com.a"), opts(optBool("receive_progress", true)), argsPayload).
			msg(0, mYield, pool0, opts(optBool("progress", true)), noPayload).
			msg(0, mYield, pool0, opts(), argsPayload).
			msg(1, mCall, uri("com.a"), opts(optInt("timeout", 1)), noPayload).
			msg(1, mCancel, pool0, opts(optStr("mode", "kill"))).
			msg(0, mError, []byte{0}, pool0, uri("com.error"), noPayload).
			msg(0, mUnreg, pool0).bytes(),
		// calls into the witness's procedure, and its topic
		newProg(0, 2).hello(0, false).
			msg(0, mCall, uri(witnessProc), opts(), argsPayload).
			msg(0, mSubscribe, uri(witnessTopic), opts()).
			msg(0, mPublish, uri(witnessTopic), opts(optBool("acknowledge", true)), noPayload).
			msg(0, mRegister, uri(witnessProc), opts()).
			op(0, actWitness).bytes(),
		// slow consumer: replies refused
		newProg(0, 0, 0).hello(0, false).hello(1, false).
			msg(0, mSubscribe, uri("com.a"), opts()).
			op(0, actRefuse).raw(0).
			msg(1, mPublish, uri("com.a"), opts(), argsPayload).
			msg(0, mSubscribe, uri("com.a.b"), opts()).bytes(),
		// callee refuses its invocation
		newProg(0).hello(0, false).hello(1, false).
			msg(0, mRegister, uri("com.a"), opts()).
			op(0, actRefuse).raw(0).
			msg(1, mCall, uri("com.a"), opts(), noPayload).bytes(),
		// meta API and a kill by ID
		newProg(0).hello(0, false).
			msg(0, mCall, uri("wamp.session.list"), opts(), noPayload).
			msg(0, mCall, uri("wamp.session.kill_all"), opts(), noPayload).
			msg(0, mCall, uri("wamp.session.kill"), opts(), []byte{3, 2, 1, 8}).
			msg(0, mCall, uri("wamp.session.add_testament"), opts(), []byte{3, 5, strIdx("com.a"), 10, 0}).
			msg(0, mGoodbye, opts()).
			hello(0, false).bytes(),
		// shutdown with a client that never answers GOODBYE
		newProg(0).hello(0, false).op(0, actMute).bytes(),
		// transport closes mid-call on both sides
		newProg(0).hello(0, false).hello(1, false).
			msg(0, mRegister, uri("com.a"), opts()).
			msg(1, mCall, uri("com.a"), opts(), noPayload).
			op(0, actClose).
			msg(1, mCall, uri("com.a"), opts(), noPayload).
			op(1, actClose).op(1, actMsg).raw(mHello, 0).bytes(),
	}
	// Violations: each in the state where it is one.
	for _, typ := range []byte{mPublish, mInterrupt, mEvent, mWelcome, mYield} {
		seeds = append(seeds, newProg(0).msg(0, typ).bytes())                           // before HELLO
		seeds = append(seeds, newProg(0).hello(0, true).msg(0, typ).bytes())            // challenged
		seeds = append(seeds, newProg(1, 2).hello(0, false).msg(0, typ, pool0).bytes()) // established
	}
	seeds = append(seeds,
		newProg(0).hello(0, false).hello(0, false).bytes(),
		newProg(0).hello(0, false).msg(0, mError, []byte{2}, pool0, uri("com.error"), noPayload).bytes(),
		newProg(0).hello(0, false).op(0, actGarbage).raw(3, '[', '1', ',').bytes(),
		newProg(0).op(0, actGarbage).raw(1, 0xc1).bytes(),
		newProg(0, 2).hello(0, false).op(0, actMutate).raw(mPublish, 1, 0, 0, 0, 5, 0, 0xff).bytes(),
		newProg(0, 1).hello(0, false).op(0, actMutate).raw(mSubscribe, 1, 0, 0, 4, 1).bytes(),
	)
	return seeds
}

// corpusFile renders values in the `go test fuzz v1` format.
func corpusFile(vals ...any) []byte {
	out := []byte("go test fuzz v1\n")
	for _, v := range vals {
		switch x := v.(type) {
		case []byte:
			out = append(out, "[]byte("+strconv.Quote(string(x))+")\n"...)
		case int:
			out = append(out, fmt.Sprintf("int(%d)\n", x)...)
		case uint8:
			out = append(out, fmt.Sprintf("byte(%q)\n", x)...)
		default:
			panic(fmt.Sprintf("corpusFile: %T", v))
		}
	}
	return out
}

func writeSeeds(t *testing.T, target string, files [][]byte) {
	dir := filepath.Join("testdata", "fuzz", target)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i, f := range files {
		name := filepath.Join(dir, fmt.Sprintf("seed-%02d", i))
		if err := os.WriteFile(name, f, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestWriteSeeds(t *testing.T) {
	if os.Getenv("WAMPD_WRITE_SEEDS") == "" {
		t.Skip("set WAMPD_WRITE_SEEDS=1 to regenerate testdata/fuzz seeds")
	}
	var files [][]byte
	for _, s := range sessionSeeds() {
		files = append(files, corpusFile(s))
	}
	writeSeeds(t, "FuzzSessionStateMachine", files)
	files = nil
	for _, s := range wireSeeds() {
		files = append(files, corpusFile(s.data, s.split))
	}
	writeSeeds(t, "FuzzWireStack", files)
}
