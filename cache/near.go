package cache

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
)

// near is the in-process (L1) cache: decoded values, so a hit is a map
// lookup and no decode. It is sharded to keep lock contention low and
// bounded by entries and bytes; eviction is CLOCK (second chance): a hit
// sets a bit, the sweeping hand clears it once and evicts entries whose
// bit is clear, so keys read between two sweeps stay.
//
// Consistency: each shard has an epoch, bumped by every invalidation of
// one of its keys and by every flush. A reader snapshots the epoch before
// it asks Redis and may store the answer only if the epoch is unchanged,
// so a reply that raced with an invalidation is never kept.
type near struct {
	seed       maphash.Seed
	shards     []nearShard
	maxEntries int // per shard
	maxBytes   int64
	evictions  atomic.Int64
}

type nearShard struct {
	mu    sync.RWMutex
	epoch atomic.Uint64
	m     map[string]*nearEntry
	ring  []*nearEntry
	free  []int
	hand  int
	bytes int64
	hits  atomic.Int64 // near hits of keys in this shard
	_     [64]byte     // keep shards on separate cache lines
}

type nearEntry struct {
	key       string
	val       any
	neg       bool
	expiry    int64 // logical expiry, unix nanos
	staleTill int64 // end of stale-while-revalidate window, unix nanos
	refreshAt int64 // XFetch: refresh early from this time (sampled once)
	size      int64
	slot      int
	hot       atomic.Uint32
}

const nearShards = 64

func newNear(maxEntries int, maxBytes int64) *near {
	n := &near{seed: maphash.MakeSeed(), shards: make([]nearShard, nearShards)}
	n.maxEntries = max(1, (maxEntries+nearShards-1)/nearShards)
	n.maxBytes = max(1, maxBytes/nearShards)
	for i := range n.shards {
		n.shards[i].m = make(map[string]*nearEntry)
	}
	return n
}

func (n *near) shard(key string) *nearShard {
	return &n.shards[maphash.String(n.seed, key)%nearShards]
}

// get returns the entry for key, or nil. It does not allocate.
func (n *near) get(key string) *nearEntry {
	s := n.shard(key)
	s.mu.RLock()
	e := s.m[key]
	s.mu.RUnlock()
	if e != nil && e.hot.Load() == 0 {
		e.hot.Store(1)
	}
	return e
}

// epoch returns the snapshot to pass to put.
func (n *near) epoch(key string) uint64 { return n.shard(key).epoch.Load() }

// put stores e unless the key's shard was invalidated since epoch.
func (n *near) put(e *nearEntry, epoch uint64) bool {
	s := n.shard(e.key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.epoch.Load() != epoch {
		return false
	}
	if old := s.m[e.key]; old != nil {
		s.removeLocked(old)
	}
	for len(s.m) >= n.maxEntries || (len(s.m) > 0 && s.bytes+e.size > n.maxBytes) {
		s.evictOneLocked()
		n.evictions.Add(1)
	}
	if len(s.free) > 0 {
		e.slot = s.free[len(s.free)-1]
		s.free = s.free[:len(s.free)-1]
		s.ring[e.slot] = e
	} else {
		e.slot = len(s.ring)
		s.ring = append(s.ring, e)
	}
	s.m[e.key] = e
	s.bytes += e.size
	return true
}

func (s *nearShard) removeLocked(e *nearEntry) {
	delete(s.m, e.key)
	s.ring[e.slot] = nil
	s.free = append(s.free, e.slot)
	s.bytes -= e.size
}

func (s *nearShard) evictOneLocked() {
	for {
		if s.hand >= len(s.ring) {
			s.hand = 0
		}
		e := s.ring[s.hand]
		s.hand++
		if e == nil {
			continue
		}
		if e.hot.Load() != 0 {
			e.hot.Store(0)
			continue
		}
		s.removeLocked(e)
		return
	}
}

// remove drops key if it is the entry e (an expired entry found by a
// reader), without bumping the epoch.
func (n *near) remove(e *nearEntry) {
	s := n.shard(e.key)
	s.mu.Lock()
	if s.m[e.key] == e {
		s.removeLocked(e)
	}
	s.mu.Unlock()
}

// invalidate drops key and bumps its shard's epoch.
func (n *near) invalidate(key string) {
	s := n.shard(key)
	s.mu.Lock()
	s.epoch.Add(1)
	if e := s.m[key]; e != nil {
		s.removeLocked(e)
	}
	s.mu.Unlock()
}

// flush drops everything and bumps every epoch.
func (n *near) flush() {
	for i := range n.shards {
		s := &n.shards[i]
		s.mu.Lock()
		s.epoch.Add(1)
		clear(s.m)
		s.ring, s.free, s.hand, s.bytes = s.ring[:0], s.free[:0], 0, 0
		s.mu.Unlock()
	}
}

func (n *near) size() (entries int, bytes int64) {
	for i := range n.shards {
		s := &n.shards[i]
		s.mu.RLock()
		entries += len(s.m)
		bytes += s.bytes
		s.mu.RUnlock()
	}
	return entries, bytes
}
