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
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rediskit/rediskit/queue"
)

// The scheduler-heavy case of the queue area: 1,000 job schedulers every
// second on one queue, run by rediskit/queue's worker and by BullMQ 6.7.0's
// (bench/node/sched.js), on the same single node, alternating rounds; each
// side reports its median round. Measured: the time to upsert the
// schedulers, the runs per second while all are live (1,000/s is the
// schedule), how late runs start (start - scheduled time, p99) and the
// Redis CPU per run (the server's used_cpu_user+sys over the whole round,
// upserts and idle waits included, / completed runs). Called at the end of the queue area.

const (
	schedCount  = 1000
	schedEvery  = time.Second
	schedRounds = 3
)

type schedRound struct {
	upsert  time.Duration
	rate    float64
	p99     time.Duration
	usecRun float64
}

func benchQueueSched(ctx context.Context, cfg Config, emit func(Result)) error {
	srv, err := cfg.Env.Single(ctx)
	if err != nil {
		return err
	}
	addr := srv.Addr()
	rdb := redis.NewClient(&redis.Options{Addr: addr, PoolSize: 200})
	defer rdb.Close()
	var ours, bull []schedRound
	for range schedRounds {
		rdb.FlushAll(ctx)
		r, err := oursSched(ctx, rdb, cfg.Duration)
		if err != nil {
			return fmt.Errorf("rediskit schedulers: %w", err)
		}
		ours = append(ours, r)
		rdb.FlushAll(ctx)
		r, err = nodeSched(ctx, cfg, rdb, addr)
		if err != nil {
			return fmt.Errorf("bullmq schedulers: %w", err)
		}
		bull = append(bull, r)
	}
	rdb.FlushAll(ctx)
	med := func(rs []schedRound, f func(schedRound) float64) float64 {
		v := make([]float64, len(rs))
		for i, r := range rs {
			v[i] = f(r)
		}
		return median(v)
	}
	const peer = "bullmq 6.7.0 (node)"
	const name = "1,000 schedulers every 1s"
	emit(Latency("queue", name+": upsert all", med(ours, func(r schedRound) float64 { return msOf(r.upsert) }),
		med(bull, func(r schedRound) float64 { return msOf(r.upsert) }), peer, "ms"))
	emit(Rate("queue", name+": runs", med(ours, func(r schedRound) float64 { return r.rate }),
		med(bull, func(r schedRound) float64 { return r.rate }), peer, "runs/s"))
	emit(Latency("queue", name+": start lateness p99", med(ours, func(r schedRound) float64 { return msOf(r.p99) }),
		med(bull, func(r schedRound) float64 { return msOf(r.p99) }), peer, "ms"))
	emit(Latency("queue", name+": Redis CPU per run", med(ours, func(r schedRound) float64 { return r.usecRun }),
		med(bull, func(r schedRound) float64 { return r.usecRun }), peer, "µs/run"))
	return nil
}

// redisCPU is the CPU time (user + system) the Redis process used so far.
func redisCPU(ctx context.Context, rdb *redis.Client) time.Duration {
	s, err := rdb.Info(ctx, "cpu").Result()
	if err != nil {
		return 0
	}
	var total float64
	for _, l := range strings.Split(s, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(l), ":")
		if ok && (k == "used_cpu_user" || k == "used_cpu_sys") {
			f, _ := strconv.ParseFloat(v, 64)
			total += f
		}
	}
	return time.Duration(total * float64(time.Second))
}

// usecPerRun is the Redis CPU used since cpu0 (the upserts, the runs and
// the idle waits) per completed run, in microseconds.
func usecPerRun(ctx context.Context, rdb *redis.Client, cpu0 time.Duration, completed string) float64 {
	n, err := rdb.ZCard(ctx, completed).Result()
	if err != nil || n == 0 {
		return 0
	}
	return float64(redisCPU(ctx, rdb)-cpu0) / float64(time.Microsecond) / float64(n)
}

func oursSched(ctx context.Context, rdb *redis.Client, d time.Duration) (schedRound, error) {
	var r schedRound
	q, err := queue.New(rdb, "sched", queue.Options{})
	if err != nil {
		return r, err
	}
	cpu0 := redisCPU(ctx, rdb)
	t0 := time.Now()
	for i := range schedCount {
		if _, err := q.UpsertScheduler(ctx, "s"+strconv.Itoa(i), queue.Repeat{Every: schedEvery},
			queue.JobTemplate{Name: "t", Data: map[string]int{"i": i}}); err != nil {
			return r, err
		}
	}
	r.upsert = time.Since(t0)
	var counting atomic.Bool
	var done atomic.Int64
	var mu sync.Mutex
	var late []time.Duration
	w, err := queue.NewWorker(rdb, "sched", func(ctx context.Context, j *queue.Job) (any, error) {
		if counting.Load() {
			ms, _ := strconv.ParseInt(j.ID[strings.LastIndexByte(j.ID, ':')+1:], 10, 64)
			mu.Lock()
			late = append(late, time.Since(time.UnixMilli(ms)))
			mu.Unlock()
			done.Add(1)
		}
		return nil, nil
	}, queue.WorkerOptions{Concurrency: 100})
	if err != nil {
		return r, err
	}
	wctx, cancel := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() { errc <- w.Run(wctx) }()
	sleepFor(ctx, schedEvery)
	counting.Store(true)
	m0 := time.Now()
	sleepFor(ctx, d)
	counting.Store(false)
	el := time.Since(m0)
	cancel()
	if err := <-errc; err != nil && !errors.Is(err, context.Canceled) {
		return r, fmt.Errorf("worker: %w", err)
	}
	n := done.Load()
	r.rate = float64(n) / el.Seconds()
	mu.Lock()
	r.p99 = Percentile(late, 99)
	mu.Unlock()
	r.usecRun = usecPerRun(ctx, rdb, cpu0, "bull:sched:completed")
	return r, nil
}

func nodeSched(ctx context.Context, cfg Config, rdb *redis.Client, addr string) (schedRound, error) {
	var r schedRound
	dir, _ := filepath.Abs("node")
	if _, err := exec.LookPath("node"); err != nil {
		return r, fmt.Errorf("node is not installed: %w", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "bullmq")); err != nil {
		cmd := exec.CommandContext(ctx, "npm", "ci", "--no-audit", "--no-fund")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			return r, fmt.Errorf("npm ci: %w\n%s", err, out)
		}
	}
	cmd := exec.CommandContext(ctx, "node", "sched.js")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "REDIS_ADDR="+addr, "QUEUE=sched", "SCHEDULERS="+strconv.Itoa(schedCount),
		"EVERY_MS="+strconv.Itoa(int(schedEvery.Milliseconds())), "WARMUP_MS="+strconv.Itoa(int(schedEvery.Milliseconds())),
		"MEASURE_MS="+strconv.Itoa(int(cfg.Duration.Milliseconds())), "CONCURRENCY=100")
	cmd.Stderr = cfg.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return r, err
	}
	if err := cmd.Start(); err != nil {
		return r, err
	}
	cpu0 := redisCPU(ctx, rdb)
	var out struct {
		UpsertMs float64   `json:"upsertMs"`
		Jobs     float64   `json:"jobs"`
		Seconds  float64   `json:"seconds"`
		LateMs   []float64 `json:"lateMs"`
	}
	derr := json.NewDecoder(stdout).Decode(&out)
	if err := cmd.Wait(); err != nil {
		return r, err
	}
	if derr != nil {
		return r, fmt.Errorf("node output: %w", derr)
	}
	r.upsert = time.Duration(out.UpsertMs * float64(time.Millisecond))
	r.rate = out.Jobs / out.Seconds
	late := make([]time.Duration, len(out.LateMs))
	for i, ms := range out.LateMs {
		late[i] = time.Duration(ms * float64(time.Millisecond))
	}
	r.p99 = Percentile(late, 99)
	r.usecRun = usecPerRun(ctx, rdb, cpu0, "bull:sched:completed")
	return r, nil
}
