package main

// Area "lock": rediskit/lock vs redsync v4 (one pool over the same
// go-redis cluster client options), on the run's 3+3 cluster.
//
//   - uncontended: 100 goroutines, each acquiring and releasing its own
//     lock name in a loop (try once, 10 s ttl); ops/s of acquire+release.
//     The sides alternate in six rounds after a warm-up each; each side's
//     figure is the median of its rounds.
//   - handoff: 50 goroutines contend for one lock; each holder records the
//     moment it calls release, the next holder (one that was already
//     waiting when the releaser got the lock) measures from there to the
//     moment its acquire returns; between holds each goroutine works
//     0-20 ms outside the lock. p50 and p99 in ms. rediskit wakes waiters
//     with a sharded pub/sub message from the release script; redsync
//     retries on its default random 50-250 ms delay (tries raised so that
//     no one gives up).
//   - release notification: publish-to-receive p50 of SPUBLISH (what the
//     lock uses) vs plain PUBLISH (broadcast over the cluster bus).
//
// rediskit draws a fencing token (INCR) on every acquire; redsync does not.

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/go-redsync/redsync/v4"
	"github.com/go-redsync/redsync/v4/redis/goredis/v9"
	"github.com/redis/go-redis/v9"
	"github.com/rediskit/rediskit/lock"
)

func init() {
	register("lock", func(ctx context.Context, cfg Config, emit func(Result)) error {
		cluster, err := cfg.Env.Cluster(ctx)
		if err != nil {
			return err
		}
		newClient := func() *redis.ClusterClient {
			return redis.NewClusterClient(&redis.ClusterOptions{Addrs: cluster.Addrs(), PoolSize: 100})
		}
		oc, pc := newClient(), newClient()
		defer oc.Close()
		defer pc.Close()
		ours := lock.New(oc, lock.Options{Prefix: "bench:lock:"})
		defer ours.Close()
		rs := redsync.New(goredis.NewPool(pc))

		const ttl = 10 * time.Second
		// phase makes the names of each measured phase distinct, so a lock
		// left behind when a phase's deadline cut an op short cannot
		// collide with the next phase.
		phase := 0
		oursOp := func(ctx context.Context, g int) error {
			le, err := ours.TryAcquire(ctx, fmt.Sprintf("u%d-%d", phase, g), ttl)
			if err != nil {
				return err
			}
			return le.Release(context.WithoutCancel(ctx))
		}
		peerOp := func(ctx context.Context, g int) error {
			m := rs.NewMutex(fmt.Sprintf("bench:redsync:u%d-%d", phase, g), redsync.WithTries(1), redsync.WithExpiry(ttl))
			if err := m.LockContext(ctx); err != nil {
				return err
			}
			_, err := m.UnlockContext(context.WithoutCancel(ctx))
			return err
		}
		// The two sides alternate in short rounds so that the load of a
		// shared machine drifts over both alike; each side's figure is the
		// median of its rounds, after one warm-up round each.
		measure := func(op func(context.Context, int) error, d time.Duration) (float64, error) {
			phase++
			return Throughput(ctx, 100, d, op)
		}
		if _, err := measure(oursOp, cfg.Duration/4); err != nil {
			return fmt.Errorf("ours uncontended: %w", err)
		}
		if _, err := measure(peerOp, cfg.Duration/4); err != nil {
			return fmt.Errorf("redsync uncontended: %w", err)
		}
		const rounds = 6
		var oursR, peerR []float64
		for range rounds {
			r, err := measure(oursOp, cfg.Duration/rounds)
			if err != nil {
				return fmt.Errorf("ours uncontended: %w", err)
			}
			oursR = append(oursR, r)
			r, err = measure(peerOp, cfg.Duration/rounds)
			if err != nil {
				return fmt.Errorf("redsync uncontended: %w", err)
			}
			peerR = append(peerR, r)
		}
		o, p := lockMedian(oursR), lockMedian(peerR)
		fmt.Fprintf(cfg.Stderr, "lock uncontended rounds: ours %.0f, redsync %.0f ops/s\n", oursR, peerR)
		emit(Rate("lock", "uncontended acquire+release, 100 goroutines, cluster", o, p, "redsync", "ops/s"))

		oursAcq := func(ctx context.Context) (func(context.Context) error, error) {
			le, err := ours.Acquire(ctx, "handoff", ttl)
			if err != nil {
				return nil, err
			}
			return le.Release, nil
		}
		peerAcq := func(ctx context.Context) (func(context.Context) error, error) {
			m := rs.NewMutex("bench:redsync:handoff", redsync.WithTries(1<<20), redsync.WithExpiry(ttl))
			if err := m.LockContext(ctx); err != nil {
				return nil, err
			}
			return func(ctx context.Context) error { _, err := m.UnlockContext(ctx); return err }, nil
		}
		o50, o99, on, err := handoff(ctx, cfg.Duration, oursAcq)
		if err != nil {
			return fmt.Errorf("ours handoff: %w", err)
		}
		p50, p99, pn, err := handoff(ctx, cfg.Duration, peerAcq)
		if err != nil {
			return fmt.Errorf("redsync handoff: %w", err)
		}
		fmt.Fprintf(cfg.Stderr, "lock handoff: %d handoffs (ours), %d (redsync)\n", on, pn)

		emit(Latency("lock", "handoff release->next holder p50, 50 goroutines, cluster", lockMS(o50), lockMS(p50), "redsync", "ms"))
		emit(Latency("lock", "handoff release->next holder p99, 50 goroutines, cluster", lockMS(o99), lockMS(p99), "redsync", "ms"))
		// How the release is announced: sharded pub/sub (what the lock
		// uses) vs plain PUBLISH, which a cluster broadcasts to every node
		// over the cluster bus. Publish-to-receive latency, one message at
		// a time, subscriber on a node that is not the publisher's for
		// plain pub/sub (any node receives it).
		sp50, pp50, err := pubsubLatency(ctx, oc, cfg.Duration)
		if err != nil {
			return fmt.Errorf("pub/sub: %w", err)
		}
		emit(Latency("lock", "release notification SPUBLISH vs PUBLISH p50, cluster", lockMS(sp50), lockMS(pp50), "plain PUBLISH", "ms"))
		return nil
	})
}

// handoff runs 50 goroutines contending for one lock for d and returns the
// p50 and p99 of the gap between a holder starting to release and the
// next holder getting the lock, and the number of gaps measured. After a
// release a goroutine "works" outside the lock for a random 0-20 ms before
// it contends again (without it, the previous holder's immediate retry
// races the current holder's release and the figures measure a two-
// goroutine relay). Only holders that were already waiting when the
// previous holder got the lock count: an arrival that finds the lock free,
// or whose first try races the release, is no handoff.
func handoff(ctx context.Context, d time.Duration, acquire func(context.Context) (func(context.Context) error, error)) (p50, p99 time.Duration, n int, err error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var mu sync.Mutex
	var lastRelease, holderSince time.Time
	var gaps []time.Duration
	var firstErr error
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			for ctx.Err() == nil {
				called := time.Now()
				release, err := acquire(ctx)
				if err != nil {
					if ctx.Err() == nil && !errors.Is(err, context.DeadlineExceeded) {
						mu.Lock()
						firstErr = err
						mu.Unlock()
					}
					return
				}
				now := time.Now()
				mu.Lock()
				if !lastRelease.IsZero() && called.Before(holderSince) {
					gaps = append(gaps, now.Sub(lastRelease))
				}
				holderSince = now
				lastRelease = time.Now()
				mu.Unlock()
				if err := release(context.WithoutCancel(ctx)); err != nil {
					mu.Lock()
					firstErr = err
					mu.Unlock()
					return
				}
				t := time.NewTimer(rand.N(20 * time.Millisecond))
				select {
				case <-t.C:
				case <-ctx.Done():
					t.Stop()
					return
				}
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return 0, 0, 0, firstErr
	}
	return Percentile(gaps, 50), Percentile(gaps, 99), len(gaps), nil
}

// pubsubLatency returns the p50 publish-to-receive latency of SPUBLISH and
// of PUBLISH on the cluster, alternating messages for d.
func pubsubLatency(ctx context.Context, c *redis.ClusterClient, d time.Duration) (sharded, plain time.Duration, err error) {
	const ch = "bench:lock:{pubsub}:released"
	ss := c.SSubscribe(ctx, ch)
	defer ss.Close()
	if _, err := ss.Receive(ctx); err != nil {
		return 0, 0, err
	}
	// A plain subscriber on a node other than the channel's slot owner.
	owner, err := c.MasterForKey(ctx, ch)
	if err != nil {
		return 0, 0, err
	}
	var other *redis.Client
	err = c.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
		if m.Options().Addr != owner.Options().Addr && other == nil {
			other = redis.NewClient(&redis.Options{Addr: m.Options().Addr})
		}
		return nil
	})
	if err != nil || other == nil {
		return 0, 0, fmt.Errorf("no second master: %v", err)
	}
	defer other.Close()
	ps := other.Subscribe(ctx, ch)
	defer ps.Close()
	if _, err := ps.Receive(ctx); err != nil {
		return 0, 0, err
	}
	sc, pc := ss.Channel(), ps.Channel()
	var sl, pl []time.Duration
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		start := time.Now()
		if err := c.SPublish(ctx, ch, "1").Err(); err != nil {
			return 0, 0, err
		}
		<-sc
		sl = append(sl, time.Since(start))
		start = time.Now()
		if err := c.Publish(ctx, ch, "1").Err(); err != nil {
			return 0, 0, err
		}
		<-pc
		pl = append(pl, time.Since(start))
	}
	return Percentile(sl, 50), Percentile(pl, 50), nil
}

func lockMedian(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func lockMS(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
