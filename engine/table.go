package engine

import "sync"

// shardCount spreads exact-URI lookups over independent locks, so that
// publishers and callers on different loops rarely meet on one mutex.
const shardCount = 32

// shardedMap maps exact URIs to V. Readers take one shard's read lock;
// writers (subscribe, register and their reverses) its write lock.
type shardedMap[V any] struct {
	shards [shardCount]shard[V]
}

type shard[V any] struct {
	mu sync.RWMutex
	m  map[string]V
	_  [40]byte // keep neighbouring shards' locks off one cache line
}

func newShardedMap[V any]() *shardedMap[V] {
	s := &shardedMap[V]{}
	for i := range s.shards {
		s.shards[i].m = make(map[string]V)
	}
	return s
}

// shardOf picks key's shard.
func (s *shardedMap[V]) shardOf(key []byte) *shard[V] {
	return &s.shards[uriHash(key)%shardCount]
}

// uriHash is FNV-1a: no allocation, a good enough spread for URIs. The exact
// maps and the match cache shard by it.
func uriHash(uri []byte) uint32 {
	h := uint32(2166136261)
	for _, c := range uri {
		h ^= uint32(c)
		h *= 16777619
	}
	return h
}

// get looks key up under the shard's read lock. The map index with
// string(key) does not allocate.
func (s *shardedMap[V]) get(key []byte) (V, bool) {
	sh := s.shardOf(key)
	sh.mu.RLock()
	v, ok := sh.m[string(key)]
	sh.mu.RUnlock()
	return v, ok
}

// uriTable files the entries of one kind (subscriptions, registrations) by
// match policy and URI: exact ones in the sharded map (the lookup on every
// publish and call), patterns by (policy, pattern) plus the tries that
// match them. Writers hold their owner's lock (broker.mu, dealer.mu), which
// also guards patterns; exact lookups need only the shard's lock.
type uriTable[V comparable] struct {
	exact    *shardedMap[V]
	index    patternIndex[V]
	patterns map[patternKey]V
}

func (t *uriTable[V]) init() {
	t.exact = newShardedMap[V]()
	t.patterns = make(map[patternKey]V)
}

// lookupLocked returns the entry filed under (policy, uri). For a pattern
// policy the owner's lock must be held.
func (t *uriTable[V]) lookupLocked(policy MatchPolicy, uri string) V {
	if policy == MatchExact {
		v, _ := t.exact.get([]byte(uri))
		return v
	}
	return t.patterns[patternKey{policy, uri}]
}

// fileLocked files v under (policy, uri). Owner's lock held.
func (t *uriTable[V]) fileLocked(policy MatchPolicy, uri string, v V) {
	if policy == MatchExact {
		sh := t.exact.shardOf([]byte(uri))
		sh.mu.Lock()
		sh.m[uri] = v
		sh.mu.Unlock()
		return
	}
	t.patterns[patternKey{policy, uri}] = v
	t.index.add(policy, uri, v)
}

// dropLocked takes v out of (policy, uri) if it is still the entry filed
// there. Owner's lock held.
func (t *uriTable[V]) dropLocked(policy MatchPolicy, uri string, v V) {
	if policy == MatchExact {
		sh := t.exact.shardOf([]byte(uri))
		sh.mu.Lock()
		if sh.m[uri] == v {
			delete(sh.m, uri)
		}
		sh.mu.Unlock()
		return
	}
	if t.patterns[patternKey{policy, uri}] == v {
		delete(t.patterns, patternKey{policy, uri})
	}
	t.index.remove(policy, uri, v)
}
