package memory

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rediskit/rediskit/internal/redisproc"
	"github.com/rediskit/rediskit/internal/redistest"
)

// dataset is test data of four patterns with known sizes.
type dataset struct {
	prefix string
	keys   map[string][]string // pattern -> key names
}

// loadDataset writes, under prefix: n profiles (strings of 10-400
// bytes), n/3 sessions (hashes of 1-30 fields, half with a TTL), n/4
// lists (1-50 items) and n/2 flags (strings of 1-20 bytes).
func loadDataset(t *testing.T, c redis.UniversalClient, prefix string, n int) *dataset {
	t.Helper()
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(1, 2))
	fp := Fold(prefix)
	d := &dataset{prefix: prefix, keys: map[string][]string{}}
	pipe := c.Pipeline()
	flush := func(force bool) {
		if pipe.Len() >= 3000 || force && pipe.Len() > 0 {
			if _, err := pipe.Exec(ctx); err != nil {
				t.Fatalf("load: %v", err)
			}
		}
	}
	for i := range n {
		k := fmt.Sprintf("%s:user:%d:profile", prefix, 100000+i)
		pipe.Set(ctx, k, strings.Repeat("p", 10+rng.IntN(391)), 0)
		d.keys[fp+":user:*:profile"] = append(d.keys[fp+":user:*:profile"], k)
		flush(false)
	}
	for i := range n / 3 {
		k := fmt.Sprintf("%s:session:%08x-%04x-4%03x-8%03x-%012x", prefix, rng.Uint32(), i, i%4096, i%4096, rng.Uint64()&0xffffffffffff)
		nf := 1 + rng.IntN(30)
		args := make([]any, 0, 2*nf)
		for f := range nf {
			args = append(args, fmt.Sprintf("f%d", f), strings.Repeat("s", 1+rng.IntN(40)))
		}
		pipe.HSet(ctx, k, args...)
		if i%2 == 0 {
			pipe.Expire(ctx, k, 3600e9)
		}
		d.keys[fp+":session:*"] = append(d.keys[fp+":session:*"], k)
		flush(false)
	}
	for i := range n / 4 {
		k := fmt.Sprintf("%s:queue:%d", prefix, i)
		items := make([]any, 1+rng.IntN(50))
		for j := range items {
			items[j] = fmt.Sprintf("job-%d-%d", i, j)
		}
		pipe.RPush(ctx, k, items...)
		d.keys[fp+":queue:*"] = append(d.keys[fp+":queue:*"], k)
		flush(false)
	}
	for i := range n / 2 {
		k := fmt.Sprintf("%s:flag:%d", prefix, i)
		pipe.Set(ctx, k, strings.Repeat("f", 1+rng.IntN(20)), 0)
		d.keys[fp+":flag:*"] = append(d.keys[fp+":flag:*"], k)
		flush(false)
	}
	flush(true)
	return d
}

// truth sums MEMORY USAGE (SAMPLES 5, as Analyze) over every key of each
// pattern, by the key names the test wrote.
func (d *dataset) truth(t *testing.T, c redis.UniversalClient) map[string]int64 {
	t.Helper()
	ctx := context.Background()
	out := map[string]int64{}
	for p, keys := range d.keys {
		for len(keys) > 0 {
			n := min(len(keys), 2000)
			pipe := c.Pipeline()
			cmds := make([]*redis.IntCmd, n)
			for i, k := range keys[:n] {
				cmds[i] = pipe.MemoryUsage(ctx, k, 5)
			}
			if _, err := pipe.Exec(ctx); err != nil {
				t.Fatalf("truth: %v", err)
			}
			for _, cmd := range cmds {
				out[p] += cmd.Val()
			}
			keys = keys[n:]
		}
	}
	return out
}

func byPattern(r *Report) map[string]PatternReport {
	m := map[string]PatternReport{}
	for _, p := range r.Patterns {
		m[p.Pattern] = p
	}
	return m
}

// TestAnalyzeAccuracy checks counts, encodings, TTL shares and the
// what-if on a full inspection, and that a 10% sample estimates every
// pattern's bytes within 10% of the truth (the sum of MEMORY USAGE over
// all its keys).
func TestAnalyzeAccuracy(t *testing.T) {
	redistest.ForEach(t, func(t *testing.T, tg redistest.Target) {
		ctx := context.Background()
		c := tg.Client(t)
		prefix := redistest.Unique(t)
		d := loadDataset(t, c, prefix, 9000)
		truth := d.truth(t, c)

		full, err := Analyze(ctx, c, AnalyzeOptions{Match: prefix + ":*", SampleRatio: 1, KeysPerSecond: -1})
		if err != nil {
			t.Fatal(err)
		}
		fp := byPattern(full)
		if len(full.Patterns) != 4 {
			var names []string
			for _, p := range full.Patterns {
				names = append(names, p.Pattern)
			}
			t.Fatalf("patterns = %q, want 4", names)
		}
		for p, keys := range d.keys {
			got := fp[p]
			if got.Keys != int64(len(keys)) || got.Sampled != got.Keys {
				t.Errorf("%s: keys %d sampled %d, want %d both", p, got.Keys, got.Sampled, len(keys))
			}
			if got.Bytes != truth[p] || got.Confidence != "exact" {
				t.Errorf("%s: full inspection bytes %d (%s), truth %d", p, got.Bytes, got.Confidence, truth[p])
			}
		}
		fpre := Fold(prefix)
		sess := fp[fpre+":session:*"]
		if sess.NoTTL != 0.5 || sess.Encodings["listpack"] != sess.Keys {
			t.Errorf("sessions: no-TTL share %v (want 0.5), encodings %v (want all listpack)", sess.NoTTL, sess.Encodings)
		}
		prof := fp[fpre+":user:*:profile"]
		if prof.NoTTL != 1 || prof.Encodings["embstr"]+prof.Encodings["raw"] != prof.Keys || prof.WhatIf != nil {
			t.Errorf("profiles: no-TTL %v, encodings %v, what-if %+v; want 1, strings, none (too long)", prof.NoTTL, prof.Encodings, prof.WhatIf)
		}
		if len(prof.Biggest) != 5 || prof.Biggest[0].Bytes < prof.Biggest[4].Bytes || prof.Biggest[0].Bytes < prof.Bytes/prof.Keys {
			t.Errorf("profiles: biggest %+v", prof.Biggest)
		}
		flags := fp[fpre+":flag:*"]
		if flags.WhatIf == nil || flags.WhatIf.Saving <= flags.Bytes/2 {
			t.Errorf("flags: what-if %+v for %d bytes, want a saving over half", flags.WhatIf, flags.Bytes)
		}
		t.Logf("full: %d keys, %d bytes, %d commands in %v", full.Keys, full.Bytes, full.Commands, full.Duration)

		est, err := Analyze(ctx, c, AnalyzeOptions{Match: prefix + ":*", SampleRatio: 0.1})
		if err != nil {
			t.Fatal(err)
		}
		ep := byPattern(est)
		for p, keys := range d.keys {
			got := ep[p]
			if got.Keys != int64(len(keys)) {
				t.Errorf("%s: sampled run counted %d keys, want %d", p, got.Keys, len(keys))
			}
			off := math.Abs(float64(got.Bytes-truth[p])) / float64(truth[p])
			t.Logf("%-40s truth %9d estimate %9d (%d samples, %s, [%d, %d]) off %.2f%%", p, truth[p], got.Bytes, got.Sampled, got.Confidence, got.BytesLow, got.BytesHigh, 100*off)
			if off > 0.10 {
				t.Errorf("%s: estimate %d is %.1f%% off the truth %d", p, got.Bytes, 100*off, truth[p])
			}
		}
		if est.Sampled > full.Sampled/5 {
			t.Errorf("a 10%% sample inspected %d of %d keys", est.Sampled, full.Sampled)
		}
		st := est.Stats()
		if len(st.Patterns) != 4 || st.Keys != est.Keys {
			t.Errorf("Stats() = %+v", st)
		}
		var sb strings.Builder
		if err := est.WriteTable(&sb); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(sb.String(), fpre+":user:*:profile") || !strings.Contains(sb.String(), "What if") {
			t.Errorf("table lacks the pattern or the what-if:\n%s", sb.String())
		}
		t.Logf("\n%s", sb.String())
	})
}

// TestAnalyzeCancel checks that a cancelled analysis returns the
// context's error.
func TestAnalyzeCancel(t *testing.T) {
	tg := redistest.SingleTarget(t)
	c := tg.Client(t)
	prefix := redistest.Unique(t)
	loadDataset(t, c, prefix, 3000)
	ctx, cancel := context.WithCancel(context.Background())
	_, err := Analyze(ctx, c, AnalyzeOptions{Match: prefix + ":*", ScanCount: 10, KeysPerSecond: 1000, Progress: func(p Progress) {
		if p.Keys > 0 {
			cancel()
		}
	}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

// TestAnalyzeRateLimit checks that KeysPerSecond spaces out the SCANs.
func TestAnalyzeRateLimit(t *testing.T) {
	s := redistest.NewSingle(t, redisproc.ServerOptions{})
	c := s.Client()
	t.Cleanup(func() { _ = c.Close() })
	ctx := context.Background()
	pipe := c.Pipeline()
	for i := range 10000 {
		pipe.Set(ctx, fmt.Sprintf("k:%d", i), "v", 0)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	// 10 SCANs of COUNT 1000 at 20,000 keys/s: 9 waits of 50 ms.
	slow, err := Analyze(ctx, c, AnalyzeOptions{KeysPerSecond: 20000, SampleRatio: 0.01})
	if err != nil {
		t.Fatal(err)
	}
	fast, err := Analyze(ctx, c, AnalyzeOptions{KeysPerSecond: -1, SampleRatio: 0.01})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("limited %v, unlimited %v", slow.Duration, fast.Duration)
	if slow.Duration < 400*time.Millisecond || slow.Duration > 10*time.Second {
		t.Errorf("10,000 keys at 20,000 keys/s took %v, want 0.4-10 s", slow.Duration)
	}
	if fast.Duration >= slow.Duration {
		t.Errorf("unlimited %v not faster than limited %v", fast.Duration, slow.Duration)
	}
	if slow.Keys != 10000 || fast.Keys != 10000 {
		t.Errorf("keys %d, %d; want 10000", slow.Keys, fast.Keys)
	}
}
