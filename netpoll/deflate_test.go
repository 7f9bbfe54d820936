package netpoll

import (
	"bytes"
	"math/rand"
	"testing"
)

// Corrupted compressed input must end in an error or a bounded message,
// never a hang or a panic.
func TestInflateCorruptInput(t *testing.T) {
	plain := bytes.Repeat([]byte("hello hello hello world "), 50)
	base := clientDeflate(plain)
	var f inflater
	if out, err := f.decompress(base, 1<<16); err != nil || !bytes.Equal(out, plain) {
		t.Fatalf("clean input: %v", err)
	}
	if _, err := f.decompress(base, 100); err != errInflateTooBig {
		t.Fatalf("over limit: err %v, want errInflateTooBig", err)
	}
	rng := rand.New(rand.NewSource(1))
	for i := 0; i < 20000; i++ {
		b := bytes.Clone(base)
		for j := 0; j < 1+rng.Intn(4); j++ {
			b[rng.Intn(len(b))] ^= byte(1 << rng.Intn(8))
		}
		b = b[:rng.Intn(len(b)+1)]
		if out, err := f.decompress(b, 1<<16); err == nil && len(out) > 1<<16 {
			t.Fatalf("output %d bytes over the limit", len(out))
		}
	}
}

func TestDeflaterRepeatCache(t *testing.T) {
	d := getDeflater()
	defer putDeflater(d)
	a := bytes.Repeat([]byte("event payload "), 100)
	z1, _ := d.compress(a)
	z1 = bytes.Clone(z1)
	z2, _ := d.compress(bytes.Clone(a)) // equal content, other slice
	if !bytes.Equal(z1, z2) {
		t.Fatal("repeat compressed differently")
	}
	b := bytes.Repeat([]byte("other payload "), 100)
	z3, _ := d.compress(b)
	if got := clientInflate(t, z3); !bytes.Equal(got, b) {
		t.Fatal("cache returned a stale result for new content")
	}
}
