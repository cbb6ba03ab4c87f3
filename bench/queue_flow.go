package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rediskit/rediskit/queue"
)

// The flow case of the queue area: one flow at a time, a parent with
// flowChildren children (in a queue of their own) added in one call and
// run to the parent's completion, ours vs BullMQ 6.7.0's FlowProducer and
// workers (bench/node/queue.js flow). Children run on a worker of
// concurrency 100, the parent on one of concurrency 1. The rate is flows
// completed in the measured window / its length; each side runs
// queueRounds times, interleaved, and reports its median round.
const flowChildren = 100

func benchQueueFlow(ctx context.Context, cfg Config, rdb *redis.Client, addr string, emit func(Result)) error {
	var ours, bull []float64
	for range queueRounds {
		rdb.FlushAll(ctx)
		r, err := oursFlow(ctx, rdb, cfg.Duration)
		if err != nil {
			return fmt.Errorf("rediskit flow: %w", err)
		}
		ours = append(ours, r)
		rdb.FlushAll(ctx)
		nr, err := nodeBench(ctx, cfg, "flow", addr, 0)
		if err != nil {
			return fmt.Errorf("bullmq flow: %w", err)
		}
		bull = append(bull, nr.Jobs/nr.Seconds)
	}
	rdb.FlushAll(ctx)
	emit(Rate("queue", "flow: 1 parent + "+strconv.Itoa(flowChildren)+" children added and processed, one at a time",
		median(ours), median(bull), "bullmq 6.7.0 FlowProducer (node)", "flows/s"))
	return nil
}

// oursFlow adds flows one after the other for the warm-up and d, each
// when the previous parent completed, and returns the measured rate.
func oursFlow(ctx context.Context, rdb *redis.Client, d time.Duration) (float64, error) {
	pq, err := queue.New(rdb, "bench-p", queue.Options{})
	if err != nil {
		return 0, err
	}
	loopDone := make(chan struct{})
	cw, err := queue.NewWorker(rdb, "bench-c", func(ctx context.Context, j *queue.Job) (any, error) {
		return map[string]string{"ok": j.ID}, nil
	}, queue.WorkerOptions{Concurrency: 100})
	if err != nil {
		return 0, err
	}
	pw, err := queue.NewWorker(rdb, "bench-p", func(ctx context.Context, j *queue.Job) (any, error) {
		return map[string]string{"n": j.ID}, nil
	}, queue.WorkerOptions{Concurrency: 1})
	if err != nil {
		return 0, err
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 2)
	go func() { errc <- cw.Run(wctx) }()
	go func() { errc <- pw.Run(wctx) }()
	// A parent's completion (written to Redis, as Node's "completed"
	// event) is seen in its worker's stats: a poll of an in-process
	// counter, no Redis call.
	var done atomic.Int64
	loopErr := make(chan error, 1)
	go func() {
		defer close(loopDone)
		for i := 0; wctx.Err() == nil; i++ {
			root := queue.FlowJob{Name: "p", Data: map[string]int{"i": i}}
			for k := range flowChildren {
				root.Children = append(root.Children, queue.FlowJob{Name: "c", Queue: "bench-c", Data: map[string]int{"k": k}})
			}
			want := pw.Stats().Completed + 1
			if _, err := pq.AddFlow(wctx, root); err != nil {
				if wctx.Err() == nil {
					loopErr <- err
				}
				return
			}
			for pw.Stats().Completed < want && wctx.Err() == nil {
				time.Sleep(100 * time.Microsecond)
			}
			done.Add(1)
		}
	}()
	rate := window(ctx, d, 1<<62, done.Load)
	cancel()
	<-loopDone
	for range 2 {
		if err := <-errc; err != nil && !errors.Is(err, context.Canceled) {
			return rate, fmt.Errorf("worker: %w", err)
		}
	}
	select {
	case err := <-loopErr:
		return rate, err
	default:
	}
	return rate, nil
}
