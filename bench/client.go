package main

import (
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rediskit/rediskit/internal/redisproc"
	"github.com/rediskit/rediskit/redisconn"
)

func init() { register("client", benchClient) }

func benchClient(ctx context.Context, cfg Config, emit func(Result)) error {
	cl, err := cfg.Env.Cluster(ctx)
	if err != nil {
		return err
	}
	ours, err := redisconn.Connect(ctx, redisconn.Config{Nodes: cl.Addrs()})
	if err != nil {
		return err
	}
	defer ours.Close()
	plain := redis.NewClusterClient(&redis.ClusterOptions{Addrs: cl.Addrs()})
	defer plain.Close()

	keys := make([]string, 1000)
	for i := range keys {
		keys[i] = "bench:client:" + strconv.Itoa(i)
		if err := plain.Set(ctx, keys[i], "value-"+strconv.Itoa(i), 0).Err(); err != nil {
			return err
		}
	}
	get := func(c redis.UniversalClient) func(context.Context, int) error {
		return func(ctx context.Context, g int) error {
			return c.Get(ctx, keys[(g*7919+int(time.Now().UnixNano()))%len(keys)]).Err()
		}
	}
	set := func(c redis.UniversalClient) func(context.Context, int) error {
		return func(ctx context.Context, g int) error {
			return c.Set(ctx, keys[(g*7919+int(time.Now().UnixNano()))%len(keys)], "v", 0).Err()
		}
	}
	for _, tc := range []struct {
		name string
		op   func(redis.UniversalClient) func(context.Context, int) error
	}{{"GET cluster 100 goroutines", get}, {"SET cluster 100 goroutines", set}} {
		// Five alternating rounds share the machine's noise fairly; the
		// medians are reported.
		var ourRates, peerRates []float64
		for range 5 {
			p, err := Throughput(ctx, 100, cfg.Duration/2, tc.op(plain))
			if err != nil {
				return err
			}
			o, err := Throughput(ctx, 100, cfg.Duration/2, tc.op(ours.Client))
			if err != nil {
				return err
			}
			peerRates, ourRates = append(peerRates, p), append(ourRates, o)
		}
		emit(Rate("client", tc.name, median(ourRates), median(peerRates), "go-redis ClusterClient", "ops/s"))
	}

	// Pipelined GET on one node vs redis-benchmark -P 32, the practical
	// ceiling of a node on this machine.
	single, err := cfg.Env.Single(ctx)
	if err != nil {
		return err
	}
	// 50 connections, as redis-benchmark -c 50 opens: with go-redis's
	// default pool (10 per CPU, plus its 10-connection pipeline pool) the
	// 50 goroutines shared 30 here (INFO clients), and 20 of them waited
	// for a connection.
	sc, err := redisconn.Connect(ctx, redisconn.Config{Nodes: []string{single.Addr()}, PoolSize: 50})
	if err != nil {
		return err
	}
	defer sc.Close()
	if err := sc.Client.Set(ctx, "key:__rand_int__", "xxx", 0).Err(); err != nil {
		return err
	}
	// Three alternating rounds of ours and redis-benchmark; medians.
	var pipeRates, ceilings []float64
	for range 3 {
		rate, err := Throughput(ctx, 50, cfg.Duration, func(ctx context.Context, _ int) error {
			p := sc.Client.Pipeline()
			for range 32 {
				p.Get(ctx, "key:__rand_int__")
			}
			_, err := p.Exec(ctx)
			return err
		})
		if err != nil {
			return err
		}
		ceiling, err := redisBenchmark(ctx, single.Port(), cfg.Duration)
		if err != nil {
			fmt.Fprintf(cfg.Stderr, "client: redis-benchmark unavailable: %v\n", err)
			break
		}
		pipeRates, ceilings = append(pipeRates, rate*32), append(ceilings, ceiling)
	}
	if len(ceilings) > 0 {
		emit(Rate("client", "pipelined GET x32, 50 conns, single node", median(pipeRates), median(ceilings), "redis-benchmark -P 32 -c 50", "ops/s"))
	}

	// Recovery after a master is killed: time from SIGKILL until a key on
	// the dead master's slots can be written again.
	oursRec, err := failoverRecovery(ctx, true)
	if err != nil {
		return err
	}
	plainRec, err := failoverRecovery(ctx, false)
	if err != nil {
		return err
	}
	emit(Latency("client", "write recovery after master SIGKILL (node-timeout 2s, capped at 30s)", oursRec.Seconds(), plainRec.Seconds(), "go-redis ClusterClient defaults", "s"))
	return nil
}

func failoverRecovery(ctx context.Context, ours bool) (time.Duration, error) {
	cl, err := redisproc.StartCluster(ctx, redisproc.ClusterOptions{})
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	var c redis.UniversalClient
	if ours {
		conn, err := redisconn.Connect(ctx, redisconn.Config{Nodes: cl.Addrs()})
		if err != nil {
			return 0, err
		}
		defer conn.Close()
		c = conn.Client
	} else {
		pc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: cl.Addrs()})
		defer pc.Close()
		c = pc
	}
	const key = "recovery-probe"
	if err := c.Set(ctx, key, "x", 0).Err(); err != nil {
		return 0, err
	}
	victim, err := cl.MasterForKey(ctx, key)
	if err != nil {
		return 0, err
	}
	if err := victim.Kill(); err != nil {
		return 0, err
	}
	killed := time.Now()
	limit := 30 * time.Second
	for time.Since(killed) < limit {
		opCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := c.Set(opCtx, key, "y", 0).Err()
		cancel()
		if err == nil {
			return time.Since(killed), nil
		}
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		time.Sleep(10 * time.Millisecond) // the application's own retry loop
	}
	return limit, nil
}

var rpsLine = regexp.MustCompile(`GET: ([0-9.]+)`)

// redisBenchmark runs redis-benchmark GET with pipeline 32 and 50
// connections against port for about d and returns requests per second.
func redisBenchmark(ctx context.Context, port int, d time.Duration) (float64, error) {
	n := int(2_000_000 * d.Seconds() / 3)
	cmd := exec.CommandContext(ctx, "redis-benchmark", "-p", strconv.Itoa(port), "-t", "get", "-P", "32", "-c", "50", "-n", strconv.Itoa(n), "-q")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("%w: %s", err, out)
	}
	// -q prints progress lines with \r and a final "GET: 1234.56 requests per second".
	m := rpsLine.FindAllStringSubmatch(strings.ReplaceAll(string(out), "\r", "\n"), -1)
	if len(m) == 0 {
		return 0, fmt.Errorf("no rate in %q", out)
	}
	return strconv.ParseFloat(m[len(m)-1][1], 64)
}
