package engine

import (
	"fmt"
	"testing"
)

// BenchmarkTrieMatch measures pattern matching with many patterns that do not
// match and a few that do: the cost must not grow with the non-matching ones.
// cache=hit repeats one topic (the match cache answers); cache=miss cycles
// through more topics than the cache keeps, so every lookup walks the tries.
func BenchmarkTrieMatch(b *testing.B) {
	for _, patterns := range []int{10, 1000, 100000} {
		x := &patternIndex[int]{}
		for i := 0; i < patterns; i++ {
			x.add(MatchPrefix, fmt.Sprintf("com.other%d.", i), i)
			x.add(MatchWildcard, fmt.Sprintf("com.other%d..event", i), i)
		}
		x.add(MatchPrefix, "com.myapp.", -1)
		x.add(MatchWildcard, "com..sensor.temperature", -2)
		topics := make([][]byte, 4*cacheShards*maxMatchCache)
		for i := range topics {
			topics[i] = []byte(fmt.Sprintf("com.myapp.sensor.temperature.%d", i))
		}
		for _, mode := range []string{"hit", "miss"} {
			b.Run(fmt.Sprintf("patterns=%d/cache=%s", 2*patterns+2, mode), func(b *testing.B) {
				b.ReportAllocs()
				for i := 0; i < b.N; i++ {
					t := topics[0]
					if mode == "miss" {
						t = topics[i%len(topics)]
					}
					if len(x.match(t)) != 1 {
						b.Fatalf("%s: want 1 match", t)
					}
				}
			})
		}
	}
}
