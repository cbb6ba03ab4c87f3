package memory

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/rediskit/rediskit/internal/redisinfo"
	"github.com/rediskit/rediskit/internal/redisproc"
	"github.com/rediskit/rediskit/internal/redistest"
)

func usedMemory(t *testing.T, c *redis.Client) int64 {
	t.Helper()
	info, err := c.Info(context.Background(), "memory").Result()
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.ParseInt(redisinfo.ParseInfo(info)["used_memory"], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestBucketsMemory loads 200,000 small values as plain keys and then
// through Buckets on one private node and compares used_memory: the
// bucketed form must take at most 35% of the plain form. It also checks
// the analyser's what-if estimate against the measured bucketed size.
func TestBucketsMemory(t *testing.T) {
	const n = 200_000
	s := redistest.NewSingle(t, redisproc.ServerOptions{})
	c := s.Client()
	t.Cleanup(func() { _ = c.Close() })
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(3, 4))
	values := make([]string, n)
	for i := range values {
		values[i] = fmt.Sprintf("%012x", rng.Uint64()&0xffffffffffff) // 12 bytes, not an integer
	}
	id := func(i int) string { return strconv.Itoa(1_000_000 + i) }

	base := usedMemory(t, c)
	pipe := c.Pipeline()
	for i := range n {
		pipe.Set(ctx, "obj:"+id(i), values[i], 0)
		if pipe.Len() == 5000 {
			if _, err := pipe.Exec(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	plain := usedMemory(t, c) - base
	r, err := Analyze(ctx, c, AnalyzeOptions{KeysPerSecond: -1})
	if err != nil {
		t.Fatal(err)
	}
	p := byPattern(r)["obj:*"]
	if p.WhatIf == nil {
		t.Fatalf("no what-if for obj:* %+v", p)
	}
	if err := c.FlushAll(ctx).Err(); err != nil {
		t.Fatal(err)
	}

	base = usedMemory(t, c)
	b, err := NewBuckets(ctx, c, "obj", BucketOptions{Items: n})
	if err != nil {
		t.Fatal(err)
	}
	batch := map[string][]byte{}
	for i := range n {
		batch[id(i)] = []byte(values[i])
		if len(batch) == 20000 || i == n-1 {
			if err := b.SetMany(ctx, batch); err != nil {
				t.Fatal(err)
			}
			clear(batch)
		}
	}
	bucketed := usedMemory(t, c) - base
	// Every bucket stayed a listpack.
	encs := map[string]int{}
	for i := range b.Count() {
		encs[c.ObjectEncoding(ctx, bucketKey("obj", i)).Val()]++
	}
	if encs["listpack"] != b.Count() {
		t.Errorf("bucket encodings %v, want %d listpack", encs, b.Count())
	}
	if v, err := b.Get(ctx, id(4242)); err != nil || string(v) != values[4242] {
		t.Fatalf("Get = %q, %v", v, err)
	}
	ratio := float64(bucketed) / float64(plain)
	t.Logf("200000 values of 12 bytes, ids of 7 digits: plain keys %d bytes (%.1f B/item), %d buckets %d bytes (%.1f B/item): %.1f%% of plain",
		plain, float64(plain)/n, b.Count(), bucketed, float64(bucketed)/n, 100*ratio)
	t.Logf("analyser estimate for obj:*: current %d bytes, what-if %d bytes in %d buckets (measured %d)", p.Bytes, p.WhatIf.Bytes, p.WhatIf.Buckets, bucketed)
	if ratio > 0.35 {
		t.Errorf("bucketed uses %.1f%% of plain, want <= 35%%", 100*ratio)
	}
	if off := float64(p.WhatIf.Bytes)/float64(bucketed) - 1; off < -0.4 || off > 0.4 {
		t.Errorf("what-if estimate %d is %.0f%% off the measured %d", p.WhatIf.Bytes, 100*off, bucketed)
	}
}
