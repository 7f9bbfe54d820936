package engine

import (
	"slices"
	"testing"
)

func TestPatternIndex(t *testing.T) {
	var x patternIndex[int]
	x.add(MatchPrefix, "com.myapp", 1)
	x.add(MatchPrefix, "com.myapp.topic", 2)
	x.add(MatchPrefix, "", 3) // matches everything
	x.add(MatchWildcard, "com..update", 4)
	x.add(MatchWildcard, "com.myapp.", 5)
	x.add(MatchWildcard, "..", 6)
	x.add(MatchWildcard, "com.myapp.topic", 7) // wildcard without empty component: exact

	cases := []struct {
		uri  string
		want []int
	}{
		{"com.myapp.topic", []int{1, 2, 3, 5, 6, 7}},
		{"com.myapp2", []int{1, 3}}, // prefix is a string prefix
		{"com.other.update", []int{3, 4, 6}},
		{"com.myapp.update", []int{1, 3, 4, 5, 6}},
		{"com.x.y.update", []int{3}},
		{"org", []int{3}},
		{"com.myapp", []int{1, 3}},
	}
	check := func() {
		t.Helper()
		for _, c := range cases {
			got := slices.Clone(x.match([]byte(c.uri)))
			slices.Sort(got)
			if !slices.Equal(got, c.want) {
				t.Errorf("match(%q) = %v, want %v", c.uri, got, c.want)
			}
		}
	}
	check()
	check() // served from the cache

	// A change invalidates cached results.
	if !x.remove(MatchPrefix, "", 3) || x.remove(MatchPrefix, "", 3) {
		t.Fatal("remove reported wrongly")
	}
	if x.remove(MatchWildcard, "no.such.", 5) {
		t.Fatal("removed a pattern never added")
	}
	for i := range cases {
		cases[i].want = slices.DeleteFunc(cases[i].want, func(v int) bool { return v == 3 })
	}
	check()
	x.add(MatchWildcard, "..update", 8)
	cases[2].want = []int{4, 6, 8}
	cases[3].want = []int{1, 4, 5, 6, 8}
	check()
}

func TestPatternIndexCacheHitNoAlloc(t *testing.T) {
	var x patternIndex[int]
	x.add(MatchPrefix, "com.", 1)
	x.add(MatchWildcard, "com..b", 2)
	uri := []byte("com.a.b")
	x.match(uri)
	if n := testing.AllocsPerRun(100, func() { x.match(uri) }); n != 0 {
		t.Fatalf("cached match allocates %.0f", n)
	}
}

func TestURIValidation(t *testing.T) {
	for _, c := range []struct {
		uri            string
		exact, pattern bool
	}{
		{"com.myapp.topic", true, true},
		{"a", true, true},
		{"", false, true},
		{"com..topic", false, true},
		{"com.myapp.", false, true},
		{".com", false, true},
		{"com.my app", false, false},
		{"com.#", false, false},
		{"com.ünïcode", true, true},
	} {
		if got := validURI([]byte(c.uri)); got != c.exact {
			t.Errorf("validURI(%q) = %v", c.uri, got)
		}
		if got := validPatternURI([]byte(c.uri)); got != c.pattern {
			t.Errorf("validPatternURI(%q) = %v", c.uri, got)
		}
	}
}
