package engine

import (
	"sync"
	"sync/atomic"
)

// MatchPolicy is how a subscription or registration URI matches.
type MatchPolicy uint8

// Match policies (Advanced Profile "match" option).
const (
	MatchExact    MatchPolicy = iota // the URI itself
	MatchPrefix                      // every URI starting with the pattern (string prefix)
	MatchWildcard                    // same component count; an empty pattern component matches any one
)

// patternIndex holds prefix and wildcard patterns and finds those matching a
// concrete URI. Writers (subscribe/register) take mu; matchers read through
// a cache keyed by URI whose entries carry the generation they were computed
// at: any write bumps the generation, so stale entries are recomputed.
//
// Extension point: the broker and dealer consult it after their exact maps
// once the "match" feature is advertised.
type patternIndex[V comparable] struct {
	mu     sync.RWMutex
	prefix prefixNode[V]
	wild   wildNode[V]
	gen    atomic.Uint64

	cache [cacheShards]cacheShard[V]
}

// The match cache is sharded like the exact maps so that matchers on
// different loops take different read locks.
const cacheShards = 16

type cacheShard[V comparable] struct {
	mu sync.RWMutex
	m  map[string]*matchEntry[V]
	_  [40]byte
}

type matchEntry[V comparable] struct {
	gen  uint64
	vals []V
}

// maxMatchCache bounds each cache shard; a full shard is cleared (cheap, rare).
const maxMatchCache = 1024

type prefixNode[V comparable] struct {
	label byte
	kids  []*prefixNode[V]
	vals  []V
}

type wildNode[V comparable] struct {
	kids map[string]*wildNode[V] // by exact component
	any  *wildNode[V]            // the empty (wildcard) component
	vals []V
}

// add indexes v under pattern with policy (prefix or wildcard).
func (x *patternIndex[V]) add(policy MatchPolicy, pattern string, v V) {
	x.mu.Lock()
	defer x.mu.Unlock()
	switch policy {
	case MatchPrefix:
		n := &x.prefix
		for i := 0; i < len(pattern); i++ {
			n = n.child(pattern[i], true)
		}
		n.vals = append(n.vals, v)
	case MatchWildcard:
		n := &x.wild
		for rest, more := pattern, true; more; {
			var comp string
			comp, rest, more = cutDot(rest)
			n = n.child(comp, true)
		}
		n.vals = append(n.vals, v)
	default:
		return
	}
	x.gen.Add(1)
}

// remove drops v from pattern; it reports whether v was there.
func (x *patternIndex[V]) remove(policy MatchPolicy, pattern string, v V) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	var vals *[]V
	switch policy {
	case MatchPrefix:
		n := &x.prefix
		for i := 0; i < len(pattern) && n != nil; i++ {
			n = n.child(pattern[i], false)
		}
		if n == nil {
			return false
		}
		vals = &n.vals
	case MatchWildcard:
		n := &x.wild
		for rest, more := pattern, true; more && n != nil; {
			var comp string
			comp, rest, more = cutDot(rest)
			n = n.child(comp, false)
		}
		if n == nil {
			return false
		}
		vals = &n.vals
	default:
		return false
	}
	for i, e := range *vals {
		if e == v {
			s := *vals
			s[i] = s[len(s)-1]
			var zero V
			s[len(s)-1] = zero
			*vals = s[:len(s)-1]
			x.gen.Add(1)
			return true
		}
	}
	// Empty nodes stay: patterns come back, and memory is bounded by the
	// patterns ever used. A periodic compaction can prune them later.
	return false
}

// match returns every value whose pattern matches uri. The returned slice is
// shared and must not be modified. A cache hit does not allocate.
func (x *patternIndex[V]) match(uri []byte) []V {
	gen := x.gen.Load()
	cs := &x.cache[uriHash(uri)%cacheShards]
	cs.mu.RLock()
	e, ok := cs.m[string(uri)]
	cs.mu.RUnlock()
	if ok && e.gen == gen {
		return e.vals
	}

	x.mu.RLock()
	gen = x.gen.Load() // the result below is exact for this generation
	var out []V
	n := &x.prefix
	out = append(out, n.vals...)
	for i := 0; i < len(uri) && n != nil; i++ {
		n = n.child(uri[i], false)
		if n != nil {
			out = append(out, n.vals...)
		}
	}
	out = x.wild.match(uri, out)
	x.mu.RUnlock()

	cs.mu.Lock()
	if cs.m == nil || len(cs.m) >= maxMatchCache {
		cs.m = make(map[string]*matchEntry[V])
	}
	cs.m[string(uri)] = &matchEntry[V]{gen: gen, vals: out}
	cs.mu.Unlock()
	return out
}

func (n *prefixNode[V]) child(c byte, create bool) *prefixNode[V] {
	for _, k := range n.kids {
		if k.label == c {
			return k
		}
	}
	if !create {
		return nil
	}
	k := &prefixNode[V]{label: c}
	n.kids = append(n.kids, k)
	return k
}

func (n *wildNode[V]) child(comp string, create bool) *wildNode[V] {
	if comp == "" {
		if n.any == nil && create {
			n.any = &wildNode[V]{}
		}
		return n.any
	}
	k := n.kids[comp]
	if k == nil && create {
		if n.kids == nil {
			n.kids = make(map[string]*wildNode[V])
		}
		k = &wildNode[V]{}
		n.kids[comp] = k
	}
	return k
}

// match walks uri's components, following both the exact component and the
// wildcard at each level; values at the node reached by the last component match.
func (n *wildNode[V]) match(uri []byte, out []V) []V {
	comp, rest, more := cutDotBytes(uri)
	if k := n.kids[string(comp)]; k != nil {
		out = k.matchRest(rest, more, out)
	}
	if n.any != nil {
		out = n.any.matchRest(rest, more, out)
	}
	return out
}

func (n *wildNode[V]) matchRest(rest []byte, more bool, out []V) []V {
	if !more {
		return append(out, n.vals...)
	}
	return n.match(rest, out)
}

func cutDot(s string) (comp, rest string, more bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == '.' {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

func cutDotBytes(s []byte) (comp, rest []byte, more bool) {
	for i, c := range s {
		if c == '.' {
			return s[:i], s[i+1:], true
		}
	}
	return s, nil, false
}
