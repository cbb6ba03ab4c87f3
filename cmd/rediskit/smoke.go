package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rediskit/rediskit/redisconn"
)

func runSmoke(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("smoke", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", ".rediskit", "local cluster directory used when no deployment is given in the environment")
	dur := fs.Duration("duration", 3*time.Second, "how long each phase runs")
	workers := fs.Int("workers", 50, "concurrent workers")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := configFromEnv(*dir)
	if err != nil {
		return err
	}
	conn, err := redisconn.Connect(ctx, cfg)
	if err != nil {
		return err
	}
	defer conn.Close()
	c := conn.Client
	fmt.Fprintf(stdout, "connected: %s, %d nodes (%d masters)\n", conn.Mode, len(conn.Topology.Nodes), len(conn.Topology.Masters()))

	phase := func(name string, op func(ctx context.Context, w, i int) error) error {
		ctx, cancel := context.WithTimeout(ctx, *dur)
		defer cancel()
		var ops, fails atomic.Int64
		var wg sync.WaitGroup
		start := time.Now()
		for w := range *workers {
			wg.Go(func() {
				for i := 0; ctx.Err() == nil; i++ {
					if err := op(ctx, w, i); err != nil {
						if ctx.Err() == nil {
							fails.Add(1)
						}
						continue
					}
					ops.Add(1)
				}
			})
		}
		wg.Wait()
		el := time.Since(start)
		fmt.Fprintf(stdout, "%-28s %9d ops in %v = %8.0f ops/s, %d failed\n", name, ops.Load(), el.Round(time.Millisecond), float64(ops.Load())/el.Seconds(), fails.Load())
		return nil
	}
	key := func(w, i int) string { return "smoke:" + strconv.Itoa(w) + ":" + strconv.Itoa(i%1000) }
	_ = phase("SET (one per round trip)", func(ctx context.Context, w, i int) error {
		return c.Set(ctx, key(w, i), i, time.Minute).Err()
	})
	_ = phase("GET (one per round trip)", func(ctx context.Context, w, i int) error {
		return ignoreNil(c.Get(ctx, key(w, i)).Err())
	})
	_ = phase("GET x32 pipelined (ops=cmds)", func(ctx context.Context, w, i int) error {
		p := c.Pipeline()
		for j := range 32 {
			p.Get(ctx, key(w, i*32+j))
		}
		_, err := p.Exec(ctx)
		return ignoreNil(err)
	})
	fmt.Fprintln(stdout, "(a GET of a missing key is a miss, not a failure; the pipelined phase counts one op per 32 commands)")
	topo, err := redisconn.Describe(ctx, c)
	if err != nil {
		return err
	}
	if conn.Mode == redisconn.ModeSentinel {
		topo.Mode = conn.Mode // Describe sees the failover client as a single node
	}
	printTopology(stdout, topo)
	return nil
}

func ignoreNil(err error) error {
	if errors.Is(err, redis.Nil) {
		return nil
	}
	return err
}
