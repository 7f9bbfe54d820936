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

// shardOf hashes key with FNV-1a (no allocation, good enough spread for URIs).
func (s *shardedMap[V]) shardOf(key []byte) *shard[V] {
	h := uint32(2166136261)
	for _, c := range key {
		h ^= uint32(c)
		h *= 16777619
	}
	return &s.shards[h%shardCount]
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
