package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
	"github.com/redis/rueidis"
	"github.com/rediskit/rediskit/cache"
	"github.com/rediskit/rediskit/cache/pgcache"
)

// Child processes of the cache bench are re-executions of this binary
// with REDISKIT_BENCH_CACHE_CHILD set ("stampede" or "stale").
const cacheChildEnv = "REDISKIT_BENCH_CACHE_CHILD"

func init() {
	if mode := os.Getenv(cacheChildEnv); mode != "" {
		if err := cacheChild(mode); err != nil {
			fmt.Fprintln(os.Stderr, "cache child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	register("cache", benchCache)
}

// slots gives each goroutine of Throughput its own key cursor.
type slots [128]struct {
	i int
	_ [56]byte
}

func (s *slots) next(g, n int) int {
	s[g].i++
	return (g*7919 + s[g].i) % n
}

func benchCache(ctx context.Context, cfg Config, emit func(Result)) error {
	cl, err := cfg.Env.Cluster(ctx)
	if err != nil {
		return err
	}
	addrs := cl.Addrs()
	newClient := func() *redis.ClusterClient { return redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs}) }
	const nkeys = 1000
	keys := make([]string, nkeys)
	for i := range keys {
		keys[i] = "item-" + strconv.Itoa(i)
	}
	value := func(k string) string { return "value-of-" + k + "-" + strings.Repeat("x", 64) }

	// 1. Near-cache hit vs rueidis DoCache hit.
	{
		oc := newClient()
		defer oc.Close()
		c, err := cache.New[string](oc, cache.Options{Namespace: "benchnear", TTL: time.Hour, NearEntries: 10 * nkeys, Codec: cache.Raw{}})
		if err != nil {
			return err
		}
		defer c.Close()
		if err := c.WaitReady(ctx); err != nil {
			return err
		}
		for range 3 {
			for _, k := range keys {
				if _, err := c.Get(ctx, k, func(context.Context) (string, error) { return value(k), nil }); err != nil {
					return err
				}
			}
		}
		rc, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: addrs})
		if err != nil {
			return err
		}
		defer rc.Close()
		plain := newClient()
		defer plain.Close()
		peerKeys := make([]string, nkeys)
		for i, k := range keys {
			peerKeys[i] = "bench:cache:peer:" + k
			if err := plain.Set(ctx, peerKeys[i], value(k), time.Hour).Err(); err != nil {
				return err
			}
			if err := rc.DoCache(ctx, rc.B().Get().Key(peerKeys[i]).Cache(), time.Hour).Error(); err != nil {
				return err
			}
		}
		var os1, ps1 slots
		ours := func(ctx context.Context, g int) error {
			_, err := c.Get(ctx, keys[os1.next(g, nkeys)], func(context.Context) (string, error) { return "", errors.New("near bench: unexpected load") })
			return err
		}
		peer := func(ctx context.Context, g int) error {
			_, err := rc.DoCache(ctx, rc.B().Get().Key(peerKeys[ps1.next(g, nkeys)]).Cache(), time.Hour).ToString()
			return err
		}
		before := c.Stats()
		o, p, err := alternate(ctx, cfg.Duration, ours, peer)
		if err != nil {
			return err
		}
		after := c.Stats()
		fmt.Fprintf(cfg.Stderr, "cache near: near hits %d, redis hits %d during the run\n", after.NearHits-before.NearHits, after.RedisHits-before.RedisHits)
		emit(Rate("cache", "near-cache hit, cluster, 100 goroutines", o, p, "rueidis DoCache hit", "ops/s"))
	}

	// 2. Redis hit, near cache off, vs go-redis GET and AutoPipeline GET.
	{
		oc := newClient()
		defer oc.Close()
		c, err := cache.New[string](oc, cache.Options{Namespace: "benchredis", TTL: time.Hour, Codec: cache.Raw{}})
		if err != nil {
			return err
		}
		defer c.Close()
		if err := c.WaitReady(ctx); err != nil {
			return err
		}
		plainKeys := make([]string, nkeys)
		plain := newClient()
		defer plain.Close()
		for i, k := range keys {
			if _, err := c.Get(ctx, k, func(context.Context) (string, error) { return value(k), nil }); err != nil {
				return err
			}
			plainKeys[i] = "bench:cache:plain:" + k
			if err := plain.Set(ctx, plainKeys[i], value(k), time.Hour).Err(); err != nil {
				return err
			}
		}
		apc := newClient()
		defer apc.Close()
		ap, err := apc.AutoPipeline()
		if err != nil {
			return err
		}
		var s1, s2, s3 slots
		ours := func(ctx context.Context, g int) error {
			_, err := c.Get(ctx, keys[s1.next(g, nkeys)], func(context.Context) (string, error) { return "", errors.New("redis bench: unexpected load") })
			return err
		}
		plainGet := func(ctx context.Context, g int) error { return plain.Get(ctx, plainKeys[s2.next(g, nkeys)]).Err() }
		apGet := func(ctx context.Context, g int) error { return ap.Get(ctx, plainKeys[s3.next(g, nkeys)]).Err() }
		o, p, err := alternate(ctx, cfg.Duration, ours, plainGet)
		if err != nil {
			return err
		}
		emit(Rate("cache", "redis hit (near off), cluster, 100 goroutines", o, p, "go-redis GET", "ops/s"))
		o, p, err = alternate(ctx, cfg.Duration, ours, apGet)
		if err != nil {
			return err
		}
		emit(Rate("cache", "redis hit (near off), cluster, 100 goroutines", o, p, "go-redis AutoPipeline GET", "ops/s"))
	}

	// 3. Stampede: 4 processes x 250 Gets of one cold key.
	{
		ns := "benchstampede" + randHex()
		outs, err := runChildren(ctx, 4, "stampede", []string{
			"RK_ADDRS=" + strings.Join(addrs, ","), "RK_NS=" + ns, "RK_GOROUTINES=250",
		}, func(w []io.Writer) {
			for _, x := range w {
				fmt.Fprintln(x, "go")
			}
		}, nil)
		if err != nil {
			return err
		}
		var loads, errs, waits int64
		for _, line := range outs {
			var r struct{ Loads, Errors, LeaseWaits int64 }
			if err := json.Unmarshal([]byte(line), &r); err != nil {
				return fmt.Errorf("stampede child said %q: %w", line, err)
			}
			loads += r.Loads
			errs += r.Errors
			waits += r.LeaseWaits
		}
		fmt.Fprintf(cfg.Stderr, "cache stampede: loads %d, errors %d, lease waits %d (4 processes x 250 Gets)\n", loads, errs, waits)
		if errs > 0 {
			return fmt.Errorf("stampede: %d Gets failed", errs)
		}
		emit(Latency("cache", "stampede 4 procs x 250 Gets of a cold key: loads", float64(loads), 1, "target (exactly 1)", "loads"))
	}

	// 4. Staleness: a committed PostgreSQL UPDATE seen by 2 processes.
	if err := benchStaleness(ctx, cfg, addrs, emit); err != nil {
		return err
	}
	return nil
}

// alternate measures ours and peer in two halves each, interleaved, so
// that both share the machine's noise; it returns the mean rates.
func alternate(ctx context.Context, d time.Duration, ours, peer func(context.Context, int) error) (float64, float64, error) {
	var o, p float64
	for range 2 {
		x, err := Throughput(ctx, 100, d/2, peer)
		if err != nil {
			return 0, 0, fmt.Errorf("peer: %w", err)
		}
		p += x / 2
		y, err := Throughput(ctx, 100, d/2, ours)
		if err != nil {
			return 0, 0, fmt.Errorf("ours: %w", err)
		}
		o += y / 2
	}
	return o, p, nil
}

func randHex() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// runChildren starts n children in mode, waits until each printed
// "ready", calls start with their stdins, then collects lines: the last
// line of each child is returned when lineFn is nil, else every line goes
// to lineFn(child, line) and the children are stopped when ctx ends or
// start's caller closes them (stdin EOF).
func runChildren(ctx context.Context, n int, mode string, env []string, start func([]io.Writer), lineFn func(int, string)) ([]string, error) {
	type child struct {
		cmd   *exec.Cmd
		in    io.WriteCloser
		lines chan string
	}
	var kids []*child
	defer func() {
		for _, k := range kids {
			_ = k.in.Close()
			_ = k.cmd.Wait()
		}
	}()
	for range n {
		cmd := exec.CommandContext(ctx, os.Args[0])
		cmd.Env = append(append(os.Environ(), cacheChildEnv+"="+mode), env...)
		cmd.Stderr = os.Stderr
		in, err := cmd.StdinPipe()
		if err != nil {
			return nil, err
		}
		out, err := cmd.StdoutPipe()
		if err != nil {
			return nil, err
		}
		if err := cmd.Start(); err != nil {
			return nil, err
		}
		k := &child{cmd: cmd, in: in, lines: make(chan string, 1024)}
		kids = append(kids, k)
		go func() {
			defer close(k.lines)
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				k.lines <- sc.Text()
			}
		}()
	}
	for i, k := range kids {
		select {
		case l, ok := <-k.lines:
			if !ok || l != "ready" {
				return nil, fmt.Errorf("child %d: want ready, got %q", i, l)
			}
		case <-time.After(30 * time.Second):
			return nil, fmt.Errorf("child %d not ready", i)
		}
	}
	ws := make([]io.Writer, len(kids))
	for i, k := range kids {
		ws[i] = k.in
	}
	if lineFn != nil {
		var wg sync.WaitGroup
		for i, k := range kids {
			wg.Go(func() {
				for l := range k.lines {
					lineFn(i, l)
				}
			})
		}
		start(ws)
		for _, k := range kids {
			_ = k.in.Close()
		}
		wg.Wait()
		return nil, nil
	}
	start(ws)
	out := make([]string, len(kids))
	for i, k := range kids {
		for l := range k.lines {
			out[i] = l
		}
	}
	return out, nil
}

func cacheChild(mode string) error {
	ctx := context.Background()
	client := redis.NewClusterClient(&redis.ClusterOptions{Addrs: strings.Split(os.Getenv("RK_ADDRS"), ",")})
	defer client.Close()
	c, err := cache.New[string](client, cache.Options{Namespace: os.Getenv("RK_NS"), TTL: time.Hour, NearEntries: 1000, Codec: cache.Raw{}})
	if err != nil {
		return err
	}
	defer c.Close()
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := c.WaitReady(wctx); err != nil {
		return err
	}
	in := bufio.NewScanner(os.Stdin)
	switch mode {
	case "stampede":
		n, _ := strconv.Atoi(os.Getenv("RK_GOROUTINES"))
		var loads, errs atomic.Int64
		load := func(context.Context) (string, error) {
			loads.Add(1)
			time.Sleep(100 * time.Millisecond) // the slow query every caller would run
			return "computed", nil
		}
		fmt.Println("ready")
		in.Scan()
		var wg sync.WaitGroup
		for range n {
			wg.Go(func() {
				if v, err := c.Get(ctx, "cold", load); err != nil || v != "computed" {
					errs.Add(1)
				}
			})
		}
		wg.Wait()
		b, _ := json.Marshal(map[string]int64{"Loads": loads.Load(), "Errors": errs.Load(), "LeaseWaits": c.Stats().LeaseWaits})
		fmt.Println(string(b))
		return nil
	case "stale":
		db, err := pgxpool.New(ctx, os.Getenv("RK_PG"))
		if err != nil {
			return err
		}
		defer db.Close()
		load := func(ctx context.Context) (string, error) {
			var name string
			err := db.QueryRow(ctx, "SELECT name FROM bench_items WHERE id = 1").Scan(&name)
			return name, err
		}
		stop := make(chan struct{})
		go func() {
			for in.Scan() {
			}
			close(stop)
		}()
		fmt.Println("ready")
		last := ""
		for {
			select {
			case <-stop:
				return nil
			default:
			}
			v, err := c.Get(ctx, "1", load)
			if err == nil && v != last {
				last = v
				fmt.Printf("%s %d\n", v, time.Now().UnixNano())
			}
			time.Sleep(200 * time.Microsecond) // reader pacing; adds <= ~0.3 ms to the lag
		}
	}
	return fmt.Errorf("unknown mode %q", mode)
}

func pgBaseDSN() string {
	for _, e := range []string{"REDISKIT_BENCH_PG", "REDISKIT_TEST_PG"} {
		if d := os.Getenv(e); d != "" && d != "private" {
			return d
		}
	}
	return "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
}

func benchStaleness(ctx context.Context, cfg Config, addrs []string, emit func(Result)) error {
	base := pgBaseDSN()
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		fmt.Fprintf(cfg.Stderr, "cache staleness: skipped, no PostgreSQL at %s: %v\n", base, err)
		return nil
	}
	defer admin.Close(context.Background())
	dbName := "rediskit_bench_" + randHex()
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+dbName); err != nil {
		return err
	}
	defer func() { _, _ = admin.Exec(context.Background(), "DROP DATABASE IF EXISTS "+dbName+" WITH (FORCE)") }()
	pcfg, err := pgx.ParseConfig(base)
	if err != nil {
		return err
	}
	dsn := fmt.Sprintf("postgres://%s@%s:%d/%s?sslmode=disable", pcfg.User, pcfg.Host, pcfg.Port, dbName)
	if pcfg.Password != "" {
		dsn = fmt.Sprintf("postgres://%s:%s@%s:%d/%s?sslmode=disable", pcfg.User, pcfg.Password, pcfg.Host, pcfg.Port, dbName)
	}
	db, err := pgxpool.New(ctx, dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	ns := "benchstale" + randHex()
	if _, err := db.Exec(ctx, "CREATE TABLE bench_items (id int PRIMARY KEY, name text NOT NULL); INSERT INTO bench_items VALUES (1, 'v0')"); err != nil {
		return err
	}
	if err := pgcache.WatchTable(ctx, db, pgcache.Watch{Table: "bench_items", Namespace: ns, Key: "id::text"}); err != nil {
		return err
	}
	relayClient := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs})
	defer relayClient.Close()
	relay := pgcache.NewRelay(db, relayClient, pgcache.RelayOptions{})
	rctx, stopRelay := context.WithCancel(ctx)
	relayDone := make(chan struct{})
	go func() { defer close(relayDone); _ = relay.Run(rctx) }()
	defer func() { stopRelay(); <-relayDone }()

	const rounds = 100
	var mu sync.Mutex
	seen := map[string][]int64{} // version -> unix nanos per child that saw it
	var lags []time.Duration
	var runErr error
	_, err = runChildren(ctx, 2, "stale", []string{"RK_ADDRS=" + strings.Join(addrs, ","), "RK_NS=" + ns, "RK_PG=" + dsn},
		func([]io.Writer) {
			waitSeen := func(v string, limit time.Duration) []int64 {
				deadline := time.Now().Add(limit)
				mu.Lock()
				defer mu.Unlock()
				for len(seen[v]) < 2 && time.Now().Before(deadline) {
					mu.Unlock()
					time.Sleep(time.Millisecond) // polling a map filled by the children's readers
					mu.Lock()
				}
				return append([]int64(nil), seen[v]...)
			}
			if got := waitSeen("v0", 10*time.Second); len(got) < 2 {
				runErr = errors.New("children never saw v0")
				return
			}
			for i := 1; i <= rounds; i++ {
				v := "v" + strconv.Itoa(i)
				if _, err := db.Exec(ctx, "UPDATE bench_items SET name = $1 WHERE id = 1", v); err != nil {
					runErr = err
					return
				}
				committed := time.Now().UnixNano()
				got := waitSeen(v, 5*time.Second)
				for _, at := range got {
					lags = append(lags, time.Duration(max(0, at-committed)))
				}
				if len(got) < 2 {
					lags = append(lags, 5*time.Second) // not seen: count as the limit
				}
				time.Sleep(10 * time.Millisecond) // pacing between updates
			}
		},
		func(_ int, line string) {
			v, at, ok := strings.Cut(line, " ")
			if !ok {
				return
			}
			n, _ := strconv.ParseInt(at, 10, 64)
			mu.Lock()
			seen[v] = append(seen[v], n)
			mu.Unlock()
		})
	if err != nil {
		return err
	}
	if runErr != nil {
		return runErr
	}
	p50, p99 := Percentile(lags, 50), Percentile(lags, 99)
	rs := relay.Stats()
	fmt.Fprintf(cfg.Stderr, "cache staleness: %d samples, p50 %v p99 %v; relay lag p50 %v p99 %v max %v\n", len(lags), p50, p99, rs.P50Lag, rs.P99Lag, rs.MaxLag)
	emit(Latency("cache", "staleness p50: PG commit -> visible in 2 procs' near caches", ms(p50), 50, "target p99 (50 ms)", "ms"))
	emit(Latency("cache", "staleness p99: PG commit -> visible in 2 procs' near caches", ms(p99), 50, "target p99 (50 ms)", "ms"))
	return nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
