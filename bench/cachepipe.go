package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rediskit/rediskit/cache"
)

func init() { register("cachepipe", benchCachePipe) }

// benchCachePipe measures the cache's Redis-hit path (near cache off) on
// its own per-master pipelined connections (cache.PipeliningOn) against
// the same cache reading through go-redis's auto-pipeliner
// (cache.PipeliningOff), half-duplex (go-redis' default) and full-duplex,
// on a cluster and on a single node. The ratio decides whether the
// hand-written pipe earns its keep (> 1.10).
func benchCachePipe(ctx context.Context, cfg Config, emit func(Result)) error {
	cl, err := cfg.Env.Cluster(ctx)
	if err != nil {
		return err
	}
	single, err := cfg.Env.Single(ctx)
	if err != nil {
		return err
	}
	const nkeys = 1000
	keys := make([]string, nkeys)
	for i := range keys {
		keys[i] = "item-" + strconv.Itoa(i)
	}
	value := func(k string) string { return "value-of-" + k + "-" + strings.Repeat("x", 64) }
	type topo struct {
		name string
		mk   func(fd bool) redis.UniversalClient
	}
	topos := []topo{
		{"cluster", func(fd bool) redis.UniversalClient {
			o := &redis.ClusterOptions{Addrs: cl.Addrs()}
			if fd {
				o.AutoPipelineOptions = &redis.AutoPipelineOptions{FullDuplex: true}
			}
			return redis.NewClusterClient(o)
		}},
		{"single node", func(fd bool) redis.UniversalClient {
			o := &redis.Options{Addr: single.Addr()}
			if fd {
				o.AutoPipelineOptions = &redis.AutoPipelineOptions{FullDuplex: true}
			}
			return redis.NewClient(o)
		}},
	}
	for _, tp := range topos {
		mkCache := func(client redis.UniversalClient, p cache.Pipelining) (func(context.Context, int) error, func(), error) {
			c, err := cache.New[string](client, cache.Options{Namespace: "benchpipe", TTL: time.Hour, Codec: cache.Raw{}, Pipelining: p})
			if err != nil {
				return nil, nil, err
			}
			for _, k := range keys {
				if _, err := c.Get(ctx, k, func(context.Context) (string, error) { return value(k), nil }); err != nil {
					return nil, nil, err
				}
			}
			var s slots
			op := func(ctx context.Context, g int) error {
				_, err := c.Get(ctx, keys[s.next(g, nkeys)], func(context.Context) (string, error) {
					return "", errors.New("cachepipe bench: unexpected load")
				})
				return err
			}
			return op, func() { _ = c.Close(); _ = client.Close() }, nil
		}
		hand, closeHand, err := mkCache(tp.mk(false), cache.PipeliningOn)
		if err != nil {
			return err
		}
		half, closeHalf, err := mkCache(tp.mk(false), cache.PipeliningOff)
		if err != nil {
			closeHand()
			return err
		}
		full, closeFull, err := mkCache(tp.mk(true), cache.PipeliningOff)
		if err != nil {
			closeHand()
			closeHalf()
			return err
		}
		o, p, err := alternate(ctx, cfg.Duration, hand, half)
		if err == nil {
			emit(Rate("cachepipe", "cache Get redis hit, "+tp.name+", 100 goroutines: own pipe", o, p, "go-redis AutoPipeline (half-duplex)", "ops/s"))
			o, p, err = alternate(ctx, cfg.Duration, hand, full)
		}
		if err == nil {
			emit(Rate("cachepipe", "cache Get redis hit, "+tp.name+", 100 goroutines: own pipe", o, p, "go-redis AutoPipeline (full-duplex)", "ops/s"))
		}
		closeHand()
		closeHalf()
		closeFull()
		if err != nil {
			return fmt.Errorf("cachepipe %s: %w", tp.name, err)
		}
	}
	return nil
}
