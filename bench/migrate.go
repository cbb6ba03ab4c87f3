package main

// Area "migrate": `rediskit migrate copy` (run as its own process, so its
// peak RSS is measured alone) on 500k mixed keys (70 % 100 B strings,
// 10 % hashes of 10 fields, 10 % sets/zsets of 20, 10 % lists of 20,
// 30 % with a TTL), cluster(3) -> cluster(3) without replicas, beside
// RedisShake 4.x in its best mode (scan reader, count 100) run in the
// same rounds when REDISSHAKE_BIN names its binary (built by hand from
// github.com/tair-opensource/RedisShake; nothing here builds it); without
// it the case says "peer not found" and compares with the figure recorded
// on this machine earlier (92k keys/s);
// single -> cluster(3) beside `redis-cli --cluster import --cluster-copy
// --cluster-replace` (the peer every machine has; single source only),
// on 100k keys; the live lag p99 of `migrate sync` under 2,000 writes/s
// (from the source write to the target's keyspace notification of the
// RESTORE); the copier's peak RSS. Copies alternate with the peer over
// three rounds; figures are medians. Every copy is verified (0
// differences, absolute TTLs identical) or the area fails; a RedisShake
// copy must have the same number of keys (its TTLs are relative, so they
// drift and are not compared). MIGRATE_BENCH_KEYS overrides 500000;
// MIGRATE_BENCH_ONLY=copy or =lag runs only that part.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rediskit/rediskit/internal/redisproc"
	"github.com/rediskit/rediskit/migrate"
)

func init() { register("migrate", benchMigrate) }

const redisShakeBest = 92000 // keys/s, RedisShake 4.2 scan reader count 100, measured here (FIELD-NOTES)

// shakeEnv names the RedisShake binary the bench runs as the peer.
const shakeEnv = "REDISSHAKE_BIN"

func benchMigrate(ctx context.Context, cfg Config, emit func(Result)) error {
	n := 500000
	if v, err := strconv.Atoi(os.Getenv("MIGRATE_BENCH_KEYS")); err == nil && v > 0 {
		n = v
	}
	bin, err := buildRediskit(ctx)
	if err != nil {
		return err
	}
	start := func(masters int) (*redisproc.Cluster, *redis.ClusterClient, error) {
		c, err := redisproc.StartCluster(ctx, redisproc.ClusterOptions{Masters: masters, Replicas: -1, NodeTimeout: 15 * time.Second,
			Args: []string{"maxmemory-policy noeviction", "notify-keyspace-events KEA", "save ''"}})
		if err != nil {
			return nil, nil, err
		}
		cfg.Env.OnClose(c.Close)
		cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs(), PoolSize: 64, ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second})
		cfg.Env.OnClose(cc.Close)
		return c, cc, nil
	}
	srcC, src, err := start(3)
	if err != nil {
		return err
	}
	dstC, dst, err := start(3)
	if err != nil {
		return err
	}
	only := os.Getenv("MIGRATE_BENCH_ONLY")
	if only != "lag" {
		fmt.Fprintf(cfg.Stderr, "migrate: seeding %d keys\n", n)
		if err := seedMixed(ctx, src, "m", n); err != nil {
			return err
		}
	}
	flushDst := func() error {
		return dst.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error { return m.FlushAll(ctx).Err() })
	}
	shake := os.Getenv(shakeEnv)
	if shake == "" {
		fmt.Fprintf(cfg.Stderr, "migrate: RedisShake peer not found (set %s to its binary); comparing with the recorded %d keys/s\n", shakeEnv, redisShakeBest)
	}
	var rates, rss, peers []float64
	for round := range 3 {
		if only == "lag" {
			break
		}
		if err := flushDst(); err != nil {
			return err
		}
		r, kb, err := runCopy(ctx, bin, srcC.Addrs(), dstC.Addrs())
		if err != nil {
			return err
		}
		if err := verifyClean(ctx, src, dst); err != nil {
			return err
		}
		fmt.Fprintf(cfg.Stderr, "migrate: round %d: %.0f keys/s, max RSS %.1f MiB\n", round+1, r, kb/1024)
		rates, rss = append(rates, r), append(rss, kb/1024)
		if shake == "" {
			continue
		}
		if err := flushDst(); err != nil {
			return err
		}
		p, err := runShake(ctx, shake, srcC.Addrs()[0], dstC.Addrs()[0], n)
		if err != nil {
			return err
		}
		if got := dbsizeAll(ctx, dst); got < int64(n)*99/100 {
			return fmt.Errorf("RedisShake copied %d of %d keys", got, n)
		}
		fmt.Fprintf(cfg.Stderr, "migrate: round %d: RedisShake %.0f keys/s\n", round+1, p)
		peers = append(peers, p)
	}
	if only != "lag" {
		name := fmt.Sprintf("copy %dk mixed keys cluster(3)->cluster(3)", n/1000)
		if shake != "" {
			emit(Rate("migrate", name, median(rates), median(peers), "RedisShake 4.x scan count 100 (same rounds)", "keys/s"))
		} else {
			emit(Rate("migrate", name, median(rates), redisShakeBest, "RedisShake 4.2 scan (recorded; peer not found)", "keys/s"))
		}
		emit(Latency("migrate", "copier max RSS", median(rss), 128, "goal 128 MiB", "MiB"))
	}
	if only == "copy" {
		return nil
	}

	// single -> cluster beside redis-cli --cluster import.
	single, err := redisproc.StartServer(ctx, redisproc.ServerOptions{Args: []string{"maxmemory-policy noeviction", "notify-keyspace-events KEA"}})
	if err != nil {
		return err
	}
	cfg.Env.OnClose(single.Close)
	sc := single.Client()
	cfg.Env.OnClose(sc.Close)
	ns := min(n, 100000)
	if err := seedMixed(ctx, sc, "s", ns); err != nil {
		return err
	}
	var ours, peer []float64
	for round := range 3 {
		if only == "lag" {
			break
		}
		if err := flushDst(); err != nil {
			return err
		}
		r, _, err := runCopy(ctx, bin, []string{single.Addr()}, dstC.Addrs())
		if err != nil {
			return err
		}
		if err := flushDst(); err != nil {
			return err
		}
		t0 := time.Now()
		out, err := exec.CommandContext(ctx, "redis-cli", "--cluster", "import", dstC.Addrs()[0], "--cluster-from", single.Addr(),
			"--cluster-copy", "--cluster-replace").CombinedOutput()
		if err != nil {
			return fmt.Errorf("redis-cli --cluster import: %v: %s", err, tail(out))
		}
		p := float64(ns) / time.Since(t0).Seconds()
		fmt.Fprintf(cfg.Stderr, "migrate: single round %d: ours %.0f keys/s, redis-cli import %.0f keys/s\n", round+1, r, p)
		ours, peer = append(ours, r), append(peer, p)
	}
	if only != "lag" {
		emit(Rate("migrate", fmt.Sprintf("copy %dk mixed keys single->cluster(3)", ns/1000), median(ours), median(peer), "redis-cli --cluster import", "keys/s"))
	}

	// Live lag under 2,000 writes/s.
	if err := flushDst(); err != nil {
		return err
	}
	p99, p50, err := liveLag(ctx, cfg, sc, dst, dstC)
	if err != nil {
		return err
	}
	fmt.Fprintf(cfg.Stderr, "migrate: live lag p50 %.1f ms, p99 %.1f ms\n", p50, p99)
	emit(Latency("migrate", "live lag p99 at 2000 writes/s", p99, 100, "goal 100 ms", "ms"))
	return nil
}

// buildRediskit builds cmd/rediskit of the parent module.
func buildRediskit(ctx context.Context) (string, error) {
	dir, err := os.MkdirTemp("", "rediskit-bench-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "rediskit")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/rediskit")
	cmd.Dir = ".."
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build rediskit: %v: %s", err, out)
	}
	return bin, nil
}

// runCopy runs `rediskit migrate copy -restart` and returns its keys/s
// and its peak RSS in KiB.
func runCopy(ctx context.Context, bin string, src, dst []string) (float64, float64, error) {
	args := []string{"migrate", "copy", "-json", "-progress", "off", "-restart"}
	// MIGRATE_BENCH_FLAGS: extra flags for tuning, e.g. "-pipelines 8 -batch 512".
	args = append(args, strings.Fields(os.Getenv("MIGRATE_BENCH_FLAGS"))...)
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), "SOURCE_REDIS_NODES="+strings.Join(src, ","), "TARGET_REDIS_NODES="+strings.Join(dst, ","),
		"SOURCE_REDIS_URL=", "TARGET_REDIS_URL=")
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return 0, 0, fmt.Errorf("migrate copy: %v: %s %s", err, out, tail(ee.Stderr))
		}
		return 0, 0, err
	}
	var s struct {
		KeysPerSecond float64 `json:"keys_per_second"`
	}
	if err := json.Unmarshal(out, &s); err != nil {
		return 0, 0, fmt.Errorf("migrate copy printed %q: %w", out, err)
	}
	ru, _ := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	var kb float64
	if ru != nil {
		kb = float64(ru.Maxrss)
	}
	return s.KeysPerSecond, kb, nil
}

// runShake copies src to dst (both clusters) with RedisShake's scan
// reader (count 100, its fastest setting here) and returns n keys over
// its wall time.
func runShake(ctx context.Context, bin, src, dst string, n int) (float64, error) {
	dir, err := os.MkdirTemp("", "rediskit-bench-shake-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	conf := fmt.Sprintf(`[scan_reader]
cluster = true
address = %q
count = 100

[redis_writer]
cluster = true
address = %q

[advanced]
dir = %q
log_level = "warn"
log_file = "shake.log"
`, src, dst, filepath.Join(dir, "data"))
	path := filepath.Join(dir, "shake.toml")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		return 0, err
	}
	cmd := exec.CommandContext(ctx, bin, path)
	cmd.Dir = dir
	t0 := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		return 0, fmt.Errorf("RedisShake: %v: %s", err, tail(out))
	}
	return float64(n) / time.Since(t0).Seconds(), nil
}

func dbsizeAll(ctx context.Context, c *redis.ClusterClient) int64 {
	var mu sync.Mutex
	var n int64
	_ = c.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
		k, err := m.DBSize(ctx).Result()
		mu.Lock()
		n += k
		mu.Unlock()
		return err
	})
	return n
}

func tail(b []byte) string {
	if len(b) > 400 {
		b = b[len(b)-400:]
	}
	return string(b)
}

func verifyClean(ctx context.Context, src, dst redis.UniversalClient) error {
	rep, err := migrate.Verify(ctx, src, dst, migrate.VerifyOptions{KeysPerSecond: -1})
	if err != nil {
		return err
	}
	if !rep.Clean() {
		return fmt.Errorf("migrate: copy not equal to the source: %v %v", rep, rep.Differences)
	}
	return nil
}

// seedMixed writes n keys: 70 % 100 B strings, 10 % hashes of 10 fields,
// 10 % sets or zsets of 20, 10 % lists of 20; 30 % with a TTL of 10 min
// to 2 h.
func seedMixed(ctx context.Context, c redis.UniversalClient, prefix string, n int) error {
	const batch, workers = 1000, 8
	var wg sync.WaitGroup
	errs := make([]error, workers)
	val := strings.Repeat("v", 100)
	for w := range workers {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 3))
			for lo := w * batch; lo < n; lo += workers * batch {
				p := c.Pipeline()
				for i := lo; i < min(lo+batch, n); i++ {
					k := prefix + ":" + strconv.Itoa(i)
					switch x := i % 10; {
					case x < 7:
						p.Set(ctx, k, val, 0)
					case x == 7:
						args := make([]any, 0, 20)
						for f := range 10 {
							args = append(args, "f"+strconv.Itoa(f), "value-"+strconv.Itoa(i))
						}
						p.HSet(ctx, k, args...)
					case x == 8 && i%20 < 10:
						ms := make([]any, 20)
						for e := range ms {
							ms[e] = "member-" + strconv.Itoa(e)
						}
						p.SAdd(ctx, k, ms...)
					case x == 8:
						zs := make([]redis.Z, 20)
						for e := range zs {
							zs[e] = redis.Z{Score: float64(e), Member: "member-" + strconv.Itoa(e)}
						}
						p.ZAdd(ctx, k, zs...)
					default:
						vs := make([]any, 20)
						for e := range vs {
							vs[e] = "item-" + strconv.Itoa(e)
						}
						p.RPush(ctx, k, vs...)
					}
					if r.IntN(10) < 3 {
						p.Expire(ctx, k, time.Duration(600+r.IntN(6600))*time.Second)
					}
				}
				if _, err := p.Exec(ctx); err != nil {
					errs[w] = err
					return
				}
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// liveLag runs migrate.Sync from the single node to the cluster, writes
// 2,000 keys/s to the source for the run's duration (at least 5 s), and
// measures each write until the target announces its RESTORE.
func liveLag(ctx context.Context, cfg Config, src *redis.Client, dst *redis.ClusterClient, dstC *redisproc.Cluster) (p99, p50 float64, err error) {
	m := migrate.New(src, dst, migrate.Options{})
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- m.Sync(sctx) }()
	for m.Status().Phase != migrate.PhaseSync {
		select {
		case err := <-done:
			return 0, 0, fmt.Errorf("sync: %w", err)
		case <-time.After(20 * time.Millisecond):
		}
	}
	var mu sync.Mutex
	sent := map[string]time.Time{}
	var lat []float64
	// Listen on every target master for the RESTORE of the probe keys.
	var subs []*redis.PubSub
	for _, a := range dstC.Addrs() {
		c := redis.NewClient(&redis.Options{Addr: a})
		defer c.Close()
		ps := c.Subscribe(ctx, "__keyevent@0__:restore")
		if _, err := ps.Receive(ctx); err != nil {
			return 0, 0, err
		}
		subs = append(subs, ps)
		go func() {
			for msg := range ps.Channel() {
				now := time.Now()
				mu.Lock()
				if t, ok := sent[msg.Payload]; ok {
					lat = append(lat, float64(now.Sub(t).Microseconds())/1000)
					delete(sent, msg.Payload)
				}
				mu.Unlock()
			}
		}()
	}
	defer func() {
		for _, ps := range subs {
			_ = ps.Close()
		}
	}()
	dur := max(cfg.Duration, 5*time.Second)
	const rate = 2000
	tick := time.NewTicker(time.Second / 100) // 20 writes every 10 ms
	defer tick.Stop()
	end := time.Now().Add(dur)
	i := 0
	for time.Now().Before(end) {
		<-tick.C
		for range rate / 100 {
			k := "live:" + strconv.Itoa(i%5000)
			i++
			mu.Lock()
			if _, pending := sent[k]; !pending {
				sent[k] = time.Now()
			}
			mu.Unlock()
			if err := src.Set(ctx, k, i, 0).Err(); err != nil {
				return 0, 0, err
			}
		}
	}
	// Let the last writes arrive.
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		mu.Lock()
		left := len(sent)
		mu.Unlock()
		if left == 0 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(lat) == 0 {
		return 0, 0, errors.New("no live write reached the target")
	}
	if len(sent) > 0 {
		return 0, 0, fmt.Errorf("%d live writes never reached the target", len(sent))
	}
	slices.Sort(lat)
	return lat[len(lat)*99/100], lat[len(lat)/2], nil
}
