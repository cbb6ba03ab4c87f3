package memory

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rediskit/rediskit/internal/redisproc"
	"github.com/rediskit/rediskit/internal/redistest"
)

// TestAnalyzeMillion analyses a private 3-master cluster holding
// 1,000,000 keys of four patterns with the default options (10% sample
// at this size, 100,000 keys/s). It checks bounded time and client
// memory, logs the load the analyser put on Redis, and compares every
// pattern's byte estimate with the truth: the sum of MEMORY USAGE over
// all its keys. It takes 25-50 s on a loaded 2-core machine (most of it
// loading the keys), so it runs only with REDISKIT_MEMORY_BIG=1 and never
// with -short.
func TestAnalyzeMillion(t *testing.T) {
	if testing.Short() || os.Getenv("REDISKIT_MEMORY_BIG") != "1" {
		t.Skip("1M keys: set REDISKIT_MEMORY_BIG=1 to run")
	}
	const total = 1_000_000
	cl := redistest.NewCluster(t, redisproc.ClusterOptions{Replicas: -1})
	c := cl.Client()
	t.Cleanup(func() { _ = c.Close() })
	ctx := context.Background()

	started := time.Now()
	shares := []struct {
		name string
		n    int
		key  func(i int) string
		cmd  func(p redis.Pipeliner, k string, rng *rand.Rand)
	}{
		{"user:*:name", 500_000, func(i int) string { return fmt.Sprintf("user:%d:name", i) },
			func(p redis.Pipeliner, k string, rng *rand.Rand) {
				p.Set(ctx, k, strings.Repeat("n", 3+rng.IntN(20)), 0)
			}},
		{"page:*", 250_000, func(i int) string { return fmt.Sprintf("page:%016x", uint64(i)*0x9e3779b97f4a7c15) },
			func(p redis.Pipeliner, k string, rng *rand.Rand) {
				p.Set(ctx, k, strings.Repeat("h", 50+rng.IntN(400)), time.Hour)
			}},
		{"session:*", 150_000, func(i int) string { return fmt.Sprintf("session:%d", i) },
			func(p redis.Pipeliner, k string, rng *rand.Rand) {
				nf := 1 + rng.IntN(12)
				args := make([]any, 0, 2*nf)
				for f := range nf {
					args = append(args, fmt.Sprintf("field%d", f), strings.Repeat("v", 1+rng.IntN(30)))
				}
				p.HSet(ctx, k, args...)
			}},
		{"feed:*:items", 100_000, func(i int) string { return fmt.Sprintf("feed:%d:items", i) },
			func(p redis.Pipeliner, k string, rng *rand.Rand) {
				m := make([]redis.Z, 1+rng.IntN(20))
				for j := range m {
					m[j] = redis.Z{Score: float64(j), Member: fmt.Sprintf("post%d", rng.IntN(1e6))}
				}
				p.ZAdd(ctx, k, m...)
			}},
	}
	// Load with two pipelining goroutines per pattern.
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for si, sh := range shares {
		for part := range 2 {
			wg.Go(func() {
				rng := rand.New(rand.NewPCG(uint64(si), uint64(part)))
				pipe := c.Pipeline()
				for i := part; i < sh.n; i += 2 {
					sh.cmd(pipe, sh.key(i), rng)
					if pipe.Len() >= 5000 {
						if _, err := pipe.Exec(ctx); err != nil {
							errs <- err
							return
						}
					}
				}
				if _, err := pipe.Exec(ctx); err != nil {
					errs <- err
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	loaded := time.Since(started)

	// Truth: MEMORY USAGE of every key, per pattern.
	started = time.Now()
	truth := map[string]int64{}
	for _, sh := range shares {
		var mu sync.Mutex
		for part := range 2 {
			wg.Go(func() {
				var sum int64
				for lo := part * 5000; lo < sh.n; lo += 10000 {
					pipe := c.Pipeline()
					var cmds []*redis.IntCmd
					for i := lo; i < min(lo+5000, sh.n); i++ {
						cmds = append(cmds, pipe.MemoryUsage(ctx, sh.key(i), 5))
					}
					if _, err := pipe.Exec(ctx); err != nil {
						t.Error(err)
						return
					}
					for _, cmd := range cmds {
						sum += cmd.Val()
					}
				}
				mu.Lock()
				truth[sh.name] += sum
				mu.Unlock()
			})
		}
		wg.Wait()
	}
	measured := time.Since(started)

	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	baseHeap := ms.HeapAlloc
	var peakHeap uint64
	var lastETA time.Duration
	r, err := Analyze(ctx, c, AnalyzeOptions{Progress: func(p Progress) {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		peakHeap = max(peakHeap, ms.HeapAlloc)
		if !p.Done {
			lastETA = p.ETA
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("load %v, truth pass %v; analyse: %d keys, %d sampled (ratio %.3f) in %v, %d commands = %.0f ops/s on Redis; client heap peak +%.1f MiB; last ETA %v",
		loaded, measured, r.Keys, r.Sampled, r.SampleRatio, r.Duration.Round(time.Millisecond), r.Commands, r.OpsPerSecond,
		float64(peakHeap-min(peakHeap, baseHeap))/(1<<20), lastETA.Round(time.Millisecond))
	if r.Keys != total {
		t.Errorf("scanned %d keys, want %d", r.Keys, total)
	}
	if r.Duration > 60*time.Second {
		t.Errorf("analysis took %v, want under 60 s", r.Duration)
	}
	if d := peakHeap - min(peakHeap, baseHeap); d > 64<<20 {
		t.Errorf("client heap grew %d MiB during the analysis, want under 64", d>>20)
	}
	got := byPattern(r)
	for _, sh := range shares {
		p := got[sh.name]
		off := math.Abs(float64(p.Bytes-truth[sh.name])) / float64(truth[sh.name])
		t.Logf("%-14s keys %7d sampled %6d truth %10d estimate %10d (%s) off %.2f%% encodings %v no-TTL %.0f%%",
			sh.name, p.Keys, p.Sampled, truth[sh.name], p.Bytes, p.Confidence, 100*off, p.Encodings, 100*p.NoTTL)
		if p.Keys != int64(sh.n) {
			t.Errorf("%s: %d keys, want %d", sh.name, p.Keys, sh.n)
		}
		if off > 0.10 {
			t.Errorf("%s: estimate %d is %.1f%% off the truth %d", sh.name, p.Bytes, 100*off, truth[sh.name])
		}
	}
	var sb strings.Builder
	_ = r.WriteTable(&sb)
	t.Logf("\n%s", sb.String())
}
