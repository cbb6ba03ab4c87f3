package main

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/rediskit/rediskit/metrics"
)

// metrics: the overhead of metrics.InstrumentClient. The same GET load
// (100 goroutines, 1,000 keys over the cluster) runs on a plain cluster
// client and on an instrumented one, first side by side (both loads at
// once, so load from other processes hits both alike), then alternating
// A B B A in short phases. ratio = instrumented / plain.
// A second case times one whole-cluster scrape of the server collector.
func init() {
	register("metrics", func(ctx context.Context, cfg Config, emit func(Result)) error {
		cl, err := cfg.Env.Cluster(ctx)
		if err != nil {
			return err
		}
		newClient := func() *redis.ClusterClient {
			return redis.NewClusterClient(&redis.ClusterOptions{Addrs: cl.Addrs(), PoolSize: 200})
		}
		plain, inst := newClient(), newClient()
		defer plain.Close()
		defer inst.Close()
		if _, err := metrics.InstrumentClient(inst, prometheus.NewRegistry(), metrics.ClientOptions{Name: "bench"}); err != nil {
			return err
		}
		const nkeys = 1000
		keys := make([]string, nkeys)
		for i := range keys {
			keys[i] = "bench:metrics:" + strconv.Itoa(i)
			if err := plain.Set(ctx, keys[i], "value-"+strconv.Itoa(i), 0).Err(); err != nil {
				return err
			}
		}
		load := func(c *redis.ClusterClient) func(ctx context.Context, g int) error {
			i := 0
			return func(ctx context.Context, g int) error {
				i++
				return c.Get(ctx, keys[(g*7919+i)%nkeys]).Err()
			}
		}
		// Warm both clients' pools and slot maps.
		for _, c := range []*redis.ClusterClient{plain, inst} {
			if _, err := Throughput(ctx, 100, 300*time.Millisecond, load(c)); err != nil {
				return err
			}
		}
		// Case 1: both clients at once, 100 goroutines each, so load from
		// other processes on the machine hits both alike.
		var sumPlain, sumInst float64
		const rounds = 3
		for range rounds {
			var opsPlain, opsInst float64
			var errPlain, errInst error
			done := make(chan struct{})
			go func() {
				defer close(done)
				opsPlain, errPlain = Throughput(ctx, 100, cfg.Duration/2, load(plain))
			}()
			opsInst, errInst = Throughput(ctx, 100, cfg.Duration/2, load(inst))
			<-done
			if errPlain != nil || errInst != nil {
				return fmt.Errorf("plain: %v, instrumented: %v", errPlain, errInst)
			}
			sumPlain += opsPlain
			sumInst += opsInst
		}
		emit(Rate("metrics", "GET cluster 100 goroutines, side by side: instrumented vs plain", sumInst/rounds, sumPlain/rounds, "go-redis plain", "ops/s"))

		// Case 2: one client at a time, alternating A B B A.
		sumPlain, sumInst = 0, 0
		for r := range 2 * rounds {
			order := []bool{false, true}
			if r%2 == 1 {
				order = []bool{true, false}
			}
			for _, instrumented := range order {
				c := plain
				if instrumented {
					c = inst
				}
				ops, err := Throughput(ctx, 100, cfg.Duration/4, load(c))
				if err != nil {
					return fmt.Errorf("instrumented=%v: %w", instrumented, err)
				}
				if instrumented {
					sumInst += ops
				} else {
					sumPlain += ops
				}
			}
		}
		emit(Rate("metrics", "GET cluster 100 goroutines, alternating: instrumented vs plain", sumInst/(2*rounds), sumPlain/(2*rounds), "go-redis plain", "ops/s"))

		// One scrape of all six nodes.
		sc, err := metrics.NewServerCollector(plain, metrics.ServerOptions{})
		if err != nil {
			return err
		}
		defer sc.Close()
		reg := prometheus.NewRegistry()
		reg.MustRegister(sc)
		var took []time.Duration
		for range 20 {
			start := time.Now()
			if _, err := reg.Gather(); err != nil {
				return err
			}
			took = append(took, time.Since(start))
		}
		p50 := Percentile(took, 50).Seconds() * 1000
		emit(Latency("metrics", "whole-cluster scrape p50 (6 nodes, INFO+SLOWLOG+CLUSTER)", p50, p50, "itself (no peer covers a cluster per scrape)", "ms"))
		return nil
	})
}
