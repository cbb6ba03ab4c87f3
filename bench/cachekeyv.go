package main

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rediskit/rediskit/cache"
	"github.com/rediskit/rediskit/payments"
)

func init() { register("cache-keyv", benchCacheKeyv) }

// benchCacheKeyv measures what sharing a cache with NestJS costs a Go
// reader: a Redis hit (near cache off) on Keyv entries of the payments
// service's products (JSON envelope,
// Keyv's string escaping) against the same values in rediskit's own
// binary envelope, on the cluster.
func benchCacheKeyv(ctx context.Context, cfg Config, emit func(Result)) error {
	cl, err := cfg.Env.Cluster(ctx)
	if err != nil {
		return err
	}
	newClient := func() *redis.ClusterClient { return redis.NewClusterClient(&redis.ClusterOptions{Addrs: cl.Addrs()}) }
	const nkeys = 1000
	keys := make([]string, nkeys)
	for i := range keys {
		keys[i] = "product:" + strconv.Itoa(i)
	}
	side := func(f cache.Format) (*cache.Cache[payments.Product], func(context.Context, int) error, func(), error) {
		client := newClient()
		c, err := cache.New[payments.Product](client, cache.Options{Namespace: "benchkeyv" + f.String(), Format: f, TTL: time.Hour})
		if err != nil {
			_ = client.Close()
			return nil, nil, nil, err
		}
		closeAll := func() { _ = c.Close(); _ = client.Close() }
		for i, k := range keys {
			p := payments.Product{ID: int64(i), Name: "product " + k, PriceCents: 1999, Stock: 100, Version: 1, UpdatedAt: time.Now().UTC()}
			if _, err := c.Write(ctx, k, func(context.Context) (payments.Product, error) { return p, nil }); err != nil {
				closeAll()
				return nil, nil, nil, err
			}
		}
		var s slots
		get := func(ctx context.Context, g int) error {
			_, err := c.Get(ctx, keys[s.next(g, nkeys)], func(context.Context) (payments.Product, error) {
				return payments.Product{}, errors.New("cache-keyv bench: unexpected load")
			})
			return err
		}
		return c, get, closeAll, nil
	}
	_, ours, closeOurs, err := side(cache.FormatKeyv)
	if err != nil {
		return err
	}
	defer closeOurs()
	_, peer, closePeer, err := side(cache.FormatRediskit)
	if err != nil {
		return err
	}
	defer closePeer()
	o, p, err := alternate(ctx, cfg.Duration, ours, peer)
	if err != nil {
		return err
	}
	emit(Rate("cache-keyv", "Redis hit of a Keyv entry (FormatKeyv), near off, cluster, 100 goroutines", o, p, "rediskit FormatRediskit, same values", "ops/s"))
	return nil
}
