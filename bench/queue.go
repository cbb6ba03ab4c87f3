package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/rediskit/rediskit/queue"
)

// The queue area: rediskit/queue vs BullMQ 6.7.0 (Node, bench/node/queue.js)
// and asynq 0.26, on the same single node, in one run. Every rate is
// corrected: jobs counted in the measured window / that window's length
// (warm-up jobs are not counted). Each case runs queueRounds times per
// side, interleaved, and reports each side's best round.
func init() { register("queue", benchQueue) }

const (
	queueWarmup = 500 * time.Millisecond
	// queueRounds: each side runs this many times, interleaved; the
	// worker case reports the median round, the others the best round
	// (other builds share the machine's two cores).
	queueRounds = 3
)

func benchQueue(ctx context.Context, cfg Config, emit func(Result)) error {
	srv, err := cfg.Env.Single(ctx)
	if err != nil {
		return err
	}
	addr := srv.Addr()
	rdb := redis.NewClient(&redis.Options{Addr: addr, PoolSize: 200})
	defer rdb.Close()
	flush := func() { rdb.FlushAll(ctx) }
	fillN := int(40000 * cfg.Duration.Seconds() * 2)

	// 1. Worker, concurrency 100, tiny jobs, results stored. The machine is
	// shared, so each side runs queueRounds times, interleaved, and keeps
	// its best round.
	var ours, bull, aq, oursCPU, bullCPU []float64
	for range queueRounds {
		flush()
		r, cpu, err := oursWorker(ctx, rdb, cfg.Duration, fillN)
		if err != nil {
			return fmt.Errorf("rediskit worker: %w", err)
		}
		ours, oursCPU = append(ours, r), append(oursCPU, cpu)
		flush()
		nr, err := nodeBench(ctx, cfg, "worker", addr, fillN/2)
		if err != nil {
			return fmt.Errorf("bullmq worker: %w", err)
		}
		bull = append(bull, nr.Jobs/nr.Seconds)
		if nr.Done > 0 {
			bullCPU = append(bullCPU, nr.Usec/nr.Done)
		}
		flush()
		r, err = asynqWorker(ctx, addr, cfg.Duration, fillN/3)
		if err != nil {
			return fmt.Errorf("asynq worker: %w", err)
		}
		aq = append(aq, r)
	}
	emit(Rate("queue", "worker c=100 tiny jobs, results stored", median(ours), median(bull), "bullmq 6.7.0 (node)", "jobs/s"))
	emit(Rate("queue", "worker c=100 tiny jobs, results stored", median(ours), median(aq), "asynq 0.26", "jobs/s"))
	emit(Latency("queue", "worker c=100: Redis CPU (INFO cpu) per job", median(oursCPU), median(bullCPU), "bullmq 6.7.0 (node)", "usec/job"))

	// 2. Bulk add, 50 per call, 4 callers.
	var oursAdd, bullAdd float64
	for range queueRounds {
		flush()
		r, err := oursBulkAdd(ctx, rdb, cfg.Duration)
		if err != nil {
			return fmt.Errorf("rediskit bulk add: %w", err)
		}
		oursAdd = max(oursAdd, r)
		flush()
		nr, err := nodeBench(ctx, cfg, "addbulk", addr, 0)
		if err != nil {
			return fmt.Errorf("bullmq addBulk: %w", err)
		}
		bullAdd = max(bullAdd, nr.Jobs/nr.Seconds)
	}
	emit(Rate("queue", "bulk add 50/call, 4 callers", oursAdd, bullAdd, "bullmq 6.7.0 addBulk (node)", "jobs/s"))

	// 3. Enqueue-to-start latency at a steady 5,000 jobs/s (best p99 of the
	// rounds for each side).
	var oursLat, aqLat time.Duration
	for i := range queueRounds {
		flush()
		l, err := oursLatency(ctx, rdb, cfg.Duration)
		if err != nil {
			return fmt.Errorf("rediskit latency: %w", err)
		}
		if i == 0 || l < oursLat {
			oursLat = l
		}
		flush()
		l, err = asynqLatency(ctx, addr, cfg.Duration)
		if err != nil {
			return fmt.Errorf("asynq latency: %w", err)
		}
		if i == 0 || l < aqLat {
			aqLat = l
		}
	}
	emit(Latency("queue", "enqueue-to-start p99 at 5000 jobs/s", msOf(oursLat), msOf(aqLat), "asynq 0.26", "ms"))
	// 4. One flow at a time, 1 parent + 100 children (queue_flow.go).
	if err := benchQueueFlow(ctx, cfg, rdb, addr, emit); err != nil {
		return err
	}
	flush()
	return benchQueueSched(ctx, cfg, emit) // 5. scheduler-heavy queue (queue_sched.go)
}

func msOf(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// redisUsec is the server's CPU time in microseconds (redisCPU: network
// and event loop included). Summing INFO commandstats instead counts a
// script's inner commands twice (in their own line and in EVALSHA's).
func redisUsec(ctx context.Context, rdb *redis.Client) (float64, error) {
	if err := rdb.Ping(ctx).Err(); err != nil {
		return 0, err
	}
	return float64(redisCPU(ctx, rdb)) / float64(time.Microsecond), nil
}

// window counts done() over the measured window after a warm-up, ending
// early when all n jobs are done.
func window(ctx context.Context, d time.Duration, n int64, done func() int64) float64 {
	sleepFor(ctx, queueWarmup)
	c0, t0 := done(), time.Now()
	c1, t1 := c0, t0
	end := t0.Add(d)
	for time.Now().Before(end) && ctx.Err() == nil {
		sleepFor(ctx, 20*time.Millisecond)
		c1, t1 = done(), time.Now()
		if c1 >= n {
			break
		}
	}
	return float64(c1-c0) / t1.Sub(t0).Seconds()
}

func sleepFor(ctx context.Context, d time.Duration) {
	select {
	case <-time.After(d):
	case <-ctx.Done():
	}
}

// oursWorker returns the worker's rate and the Redis CPU time
// per job finished while it ran.
func oursWorker(ctx context.Context, rdb *redis.Client, d time.Duration, n int) (rate, usecPerJob float64, err error) {
	q, err := queue.New(rdb, "bench", queue.Options{})
	if err != nil {
		return 0, 0, err
	}
	if err := fillOurs(ctx, q, n); err != nil {
		return 0, 0, err
	}
	u0, err := redisUsec(ctx, rdb)
	if err != nil {
		return 0, 0, err
	}
	var done atomic.Int64
	w, err := queue.NewWorker(rdb, "bench", func(ctx context.Context, j *queue.Job) (any, error) {
		done.Add(1)
		return map[string]string{"ok": j.ID}, nil
	}, queue.WorkerOptions{Concurrency: 100})
	if err != nil {
		return 0, 0, err
	}
	wctx, cancel := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() { errc <- w.Run(wctx) }()
	rate = window(ctx, d, int64(n), done.Load)
	cancel()
	if err := <-errc; err != nil && !errors.Is(err, context.Canceled) {
		return rate, 0, fmt.Errorf("worker: %w", err)
	}
	u1, err := redisUsec(ctx, rdb)
	if err != nil {
		return 0, 0, err
	}
	if s := w.Stats(); s.Completed > 0 {
		usecPerJob = (u1 - u0) / float64(s.Completed)
	}
	return rate, usecPerJob, nil
}

func fillOurs(ctx context.Context, q *queue.Queue, n int) error {
	var wg sync.WaitGroup
	var firstErr error
	var mu sync.Mutex
	per := (n + 3) / 4
	for g := range 4 {
		wg.Go(func() {
			for i := g * per; i < min(n, (g+1)*per); i += 1000 {
				jobs := make([]queue.BulkJob, 0, 1000)
				for k := i; k < min(n, (g+1)*per, i+1000); k++ {
					jobs = append(jobs, queue.BulkJob{Name: "t", Data: map[string]int{"k": k}})
				}
				if _, err := q.AddBulk(ctx, jobs); err != nil {
					mu.Lock()
					firstErr = err
					mu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	return firstErr
}

func oursBulkAdd(ctx context.Context, rdb *redis.Client, d time.Duration) (float64, error) {
	q, err := queue.New(rdb, "bench", queue.Options{})
	if err != nil {
		return 0, err
	}
	var added atomic.Int64
	var counting atomic.Bool
	bctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var firstErr atomic.Value
	for range 4 {
		wg.Go(func() {
			jobs := make([]queue.BulkJob, 50)
			for k := range jobs {
				jobs[k] = queue.BulkJob{Name: "t", Data: map[string]int{"k": k}}
			}
			for bctx.Err() == nil {
				if _, err := q.AddBulk(bctx, jobs); err != nil {
					if bctx.Err() == nil {
						firstErr.CompareAndSwap(nil, err)
					}
					return
				}
				if counting.Load() {
					added.Add(50)
				}
			}
		})
	}
	sleepFor(ctx, queueWarmup)
	counting.Store(true)
	t0 := time.Now()
	sleepFor(ctx, d)
	n := added.Load()
	el := time.Since(t0)
	cancel()
	wg.Wait()
	if e, ok := firstErr.Load().(error); ok {
		return 0, e
	}
	return float64(n) / el.Seconds(), nil
}

// nodeResult is bench/node/queue.js's line.
type nodeResult struct {
	Jobs    float64 `json:"jobs"`
	Seconds float64 `json:"seconds"`
	// Usec and Done (worker mode): Redis CPU time (INFO cpu) while the
	// worker ran and the jobs it finished.
	Usec float64 `json:"usec"`
	Done float64 `json:"done"`
}

// nodeBench runs bench/node/queue.js (installing it on first use).
func nodeBench(ctx context.Context, cfg Config, mode, addr string, n int) (nodeResult, error) {
	dir, _ := filepath.Abs("node")
	if _, err := exec.LookPath("node"); err != nil {
		return nodeResult{}, fmt.Errorf("node is not installed: %w", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "bullmq")); err != nil {
		cmd := exec.CommandContext(ctx, "npm", "ci", "--no-audit", "--no-fund")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			return nodeResult{}, fmt.Errorf("npm ci: %w\n%s", err, out)
		}
	}
	conc := 100
	if mode == "addbulk" {
		conc = 4
	}
	cmd := exec.CommandContext(ctx, "node", "queue.js", mode)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "REDIS_ADDR="+addr, "QUEUE=bench", "N="+strconv.Itoa(n),
		"WARMUP_MS="+strconv.Itoa(int(queueWarmup.Milliseconds())), "MEASURE_MS="+strconv.Itoa(int(cfg.Duration.Milliseconds())),
		"CONCURRENCY="+strconv.Itoa(conc))
	cmd.Stderr = cfg.Stderr
	out, err := cmd.Output()
	if err != nil {
		return nodeResult{}, err
	}
	var r nodeResult
	if err := json.Unmarshal(out, &r); err != nil {
		return nodeResult{}, fmt.Errorf("node output %q: %w", out, err)
	}
	return r, nil
}

func asynqWorker(ctx context.Context, addr string, d time.Duration, n int) (float64, error) {
	opt := asynq.RedisClientOpt{Addr: addr, PoolSize: 200}
	c := asynq.NewClient(opt)
	defer c.Close()
	var wg sync.WaitGroup
	var firstErr atomic.Value
	var next atomic.Int64
	for range 50 {
		wg.Go(func() {
			for {
				k := next.Add(1)
				if k > int64(n) {
					return
				}
				b, _ := json.Marshal(map[string]int64{"k": k})
				if _, err := c.EnqueueContext(ctx, asynq.NewTask("t", b), asynq.Retention(time.Hour)); err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if e, ok := firstErr.Load().(error); ok {
		return 0, e
	}
	var done atomic.Int64
	srv := asynq.NewServer(opt, asynq.Config{Concurrency: 100, LogLevel: asynq.ErrorLevel})
	mux := asynq.NewServeMux()
	mux.HandleFunc("t", func(ctx context.Context, t *asynq.Task) error {
		_, err := t.ResultWriter().Write([]byte(`{"ok":true}`))
		done.Add(1)
		return err
	})
	if err := srv.Start(mux); err != nil {
		return 0, err
	}
	rate := window(ctx, d, int64(n), done.Load)
	srv.Shutdown()
	return rate, nil
}

// pace calls add at rate per second for d (in 1 ms ticks).
func pace(ctx context.Context, d time.Duration, rate int, add func(sent time.Time) error) error {
	t := time.NewTicker(time.Millisecond)
	defer t.Stop()
	start := time.Now()
	sent := 0
	for now := range t.C {
		if ctx.Err() != nil || now.Sub(start) >= d {
			return ctx.Err()
		}
		due := int(now.Sub(start).Seconds() * float64(rate))
		for ; sent < due; sent++ {
			if err := add(time.Now()); err != nil {
				return err
			}
		}
	}
	return nil
}

type latencies struct {
	mu sync.Mutex
	ds []time.Duration
}

func (l *latencies) add(sentNanos int64) {
	d := time.Since(time.Unix(0, sentNanos))
	l.mu.Lock()
	l.ds = append(l.ds, d)
	l.mu.Unlock()
}

func (l *latencies) p99(skip time.Duration, rate int) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := min(len(l.ds), int(skip.Seconds()*float64(rate)))
	return Percentile(l.ds[n:], 99)
}

func oursLatency(ctx context.Context, rdb *redis.Client, d time.Duration) (time.Duration, error) {
	q, err := queue.New(rdb, "lat", queue.Options{})
	if err != nil {
		return 0, err
	}
	var lat latencies
	w, err := queue.NewWorker(rdb, "lat", func(ctx context.Context, j *queue.Job) (any, error) {
		var sent int64
		if err := j.Decode(&sent); err != nil {
			return nil, err
		}
		lat.add(sent)
		return nil, nil
	}, queue.WorkerOptions{Concurrency: 100})
	if err != nil {
		return 0, err
	}
	wctx, cancel := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() { errc <- w.Run(wctx) }()
	sem := make(chan struct{}, 64)
	var wg sync.WaitGroup
	err = pace(ctx, d+queueWarmup, 5000, func(time.Time) error {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			_, _ = q.Add(ctx, "l", time.Now().UnixNano())
		})
		return nil
	})
	wg.Wait()
	sleepFor(ctx, 200*time.Millisecond)
	cancel()
	if werr := <-errc; werr != nil && !errors.Is(werr, context.Canceled) && err == nil {
		err = fmt.Errorf("worker: %w", werr)
	}
	return lat.p99(queueWarmup, 5000), err
}

func asynqLatency(ctx context.Context, addr string, d time.Duration) (time.Duration, error) {
	opt := asynq.RedisClientOpt{Addr: addr, PoolSize: 200}
	c := asynq.NewClient(opt)
	defer c.Close()
	var lat latencies
	srv := asynq.NewServer(opt, asynq.Config{Concurrency: 100, LogLevel: asynq.ErrorLevel})
	mux := asynq.NewServeMux()
	mux.HandleFunc("l", func(ctx context.Context, t *asynq.Task) error {
		var sent int64
		if err := json.Unmarshal(t.Payload(), &sent); err != nil {
			return err
		}
		lat.add(sent)
		return nil
	})
	if err := srv.Start(mux); err != nil {
		return 0, err
	}
	sem := make(chan struct{}, 64)
	var wg sync.WaitGroup
	err := pace(ctx, d+queueWarmup, 5000, func(time.Time) error {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			b, _ := json.Marshal(time.Now().UnixNano())
			_, _ = c.EnqueueContext(ctx, asynq.NewTask("l", b))
		})
		return nil
	})
	wg.Wait()
	sleepFor(ctx, 1500*time.Millisecond)
	srv.Shutdown()
	return lat.p99(queueWarmup, 5000), err
}
