package cache

import (
	"fmt"
	"testing"
)

func TestNearEpochRejectsRacingStore(t *testing.T) {
	n := newNear(1000, 1<<20)
	ep := n.epoch("k")
	n.invalidate("k")
	if n.put(&nearEntry{key: "k", val: 1, size: 1}, ep) {
		t.Fatal("put after invalidate was accepted")
	}
	if n.get("k") != nil {
		t.Fatal("entry present")
	}
	ep = n.epoch("k")
	if !n.put(&nearEntry{key: "k", val: 2, size: 1}, ep) || n.get("k").val != 2 {
		t.Fatal("put with current epoch failed")
	}
	n.flush()
	if n.get("k") != nil {
		t.Fatal("flush kept the entry")
	}
}

func TestNearBoundsAndKeepsHot(t *testing.T) {
	n := newNear(nearShards*4, 1<<30) // 4 entries per shard
	hot := "hot"
	s := n.shard(hot)
	if !n.put(&nearEntry{key: hot, size: 1}, s.epoch.Load()) {
		t.Fatal("put hot")
	}
	added := 0
	for i := 0; added < 50; i++ {
		k := fmt.Sprint("k", i)
		if n.shard(k) != s {
			continue
		}
		added++
		n.get(hot) // the hot key is read between inserts
		n.put(&nearEntry{key: k, size: 1}, s.epoch.Load())
		if len(s.m) > 4 {
			t.Fatalf("shard holds %d entries, limit 4", len(s.m))
		}
	}
	if n.get(hot) == nil {
		t.Fatal("hot key was evicted")
	}
	if n.evictions.Load() == 0 {
		t.Fatal("no evictions counted")
	}
}

func TestNearByteBound(t *testing.T) {
	n := newNear(1<<20, nearShards*100) // 100 bytes per shard
	k := "x"
	s := n.shard(k)
	for i := range 20 {
		n.put(&nearEntry{key: fmt.Sprint(k, i), size: 30}, n.epoch(fmt.Sprint(k, i)))
	}
	if s.bytes > 100 {
		t.Fatalf("shard bytes %d > 100", s.bytes)
	}
}

func BenchmarkNearGet(b *testing.B) {
	n := newNear(10000, 1<<30)
	keys := make([]string, 1000)
	for i := range keys {
		keys[i] = fmt.Sprint("key:", i)
		n.put(&nearEntry{key: keys[i], val: i}, n.epoch(keys[i]))
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if n.get(keys[i%len(keys)]) == nil {
				b.Fatal("miss")
			}
			i++
		}
	})
}
