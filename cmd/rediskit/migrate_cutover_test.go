package main

import (
	"bytes"
	"context"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rediskit/rediskit/internal/redisproc"
	"github.com/rediskit/rediskit/internal/redistest"
	"github.com/rediskit/rediskit/lock"
	"github.com/rediskit/rediskit/queue"
)

// TestMigrateCutover moves a lock's fence counter and a BullMQ queue with
// active jobs from a single node to a cluster: no fencing token is
// issued twice, every job runs exactly once.
func TestMigrateCutover(t *testing.T) {
	clearMigrateEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srcSrv := redistest.NewSingle(t, redisproc.ServerOptions{Args: []string{"notify-keyspace-events KEA", "maxmemory-policy noeviction"}})
	dstCl := redistest.NewCluster(t, redisproc.ClusterOptions{Replicas: -1, Args: []string{"maxmemory-policy noeviction"}})
	src := srcSrv.Client()
	defer src.Close()
	dst := redis.NewClusterClient(&redis.ClusterOptions{Addrs: dstCl.Addrs()})
	defer dst.Close()
	t.Setenv("SOURCE_REDIS_NODES", srcSrv.Addr())
	t.Setenv("TARGET_REDIS_NODES", strings.Join(dstCl.Addrs(), ","))

	// Tokens issued on the source.
	lk := lock.New(src, lock.Options{})
	var last int64
	for range 3 {
		le, err := lk.Acquire(ctx, "acct-1", time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if le.Token() <= last {
			t.Fatalf("source token %d after %d", le.Token(), last)
		}
		last = le.Token()
		if err := le.Release(ctx); err != nil {
			t.Fatal(err)
		}
	}
	lk.Close()

	// A queue with 40 jobs, 4 of them active (held by the handler) when
	// the cutover starts.
	const name, jobs = "{pay}", 40
	q, err := queue.New(src, name, queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range jobs {
		if _, err := q.Add(ctx, "charge", map[string]int{"i": i}); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	runs := map[string]int{}
	gate := make(chan struct{})
	handler := func(where string) queue.Handler {
		return func(ctx context.Context, j *queue.Job) (any, error) {
			if where == "source" {
				<-gate
			}
			mu.Lock()
			runs[j.ID]++
			mu.Unlock()
			return where, nil
		}
	}
	w, err := queue.NewWorker(src, name, handler("source"), queue.WorkerOptions{Concurrency: 4, DrainDelay: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	wctx, wstop := context.WithCancel(ctx)
	wdone := make(chan error, 1)
	go func() { wdone <- w.Run(wctx) }()
	redistest.Eventually(t, 30*time.Second, "4 jobs active on the source", func() bool {
		c, _ := q.Counts(ctx)
		return c.Active == 4
	})
	// Release the held jobs once the cutover has paused the source queue.
	go func() {
		for ctx.Err() == nil {
			if p, _ := q.IsPaused(ctx); p {
				close(gate)
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	var out, errb bytes.Buffer
	if err := run(ctx, []string{"migrate", "cutover", "-queues", name, "-progress", "off"}, &out, &errb); err != nil {
		t.Fatalf("cutover: %v\n%s\n%s", err, out.String(), errb.String())
	}
	t.Log(out.String())
	wstop()
	<-wdone

	// An instance not yet switched takes the lock on the source in the
	// window: its token too must never be issued by the target.
	sl := lock.New(src, lock.Options{})
	if le, err := sl.Acquire(ctx, "acct-1", time.Minute); err != nil {
		t.Fatal(err)
	} else {
		last = le.Token()
		_ = le.Release(ctx)
	}
	sl.Close()
	// Tokens on the target are above every source token.
	tl := lock.New(dst, lock.Options{})
	defer tl.Close()
	le, err := tl.Acquire(ctx, "acct-1", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if le.Token() <= last {
		t.Fatalf("target token %d reissues a source token (last %d)", le.Token(), last)
	}
	_ = le.Release(ctx)

	// The rest of the jobs run on the target, each exactly once.
	tw, err := queue.NewWorker(dst, name, handler("target"), queue.WorkerOptions{Concurrency: 4, DrainDelay: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	tctx, tstop := context.WithCancel(ctx)
	tdone := make(chan error, 1)
	go func() { tdone <- tw.Run(tctx) }()
	tq, _ := queue.New(dst, name, queue.Options{})
	redistest.Eventually(t, 30*time.Second, "every job completed on the target", func() bool {
		c, _ := tq.Counts(ctx)
		return c.Completed == jobs
	})
	tstop()
	<-tdone
	mu.Lock()
	defer mu.Unlock()
	if len(runs) != jobs {
		t.Fatalf("%d distinct jobs ran, want %d", len(runs), jobs)
	}
	for id, n := range runs {
		if n != 1 {
			t.Errorf("job %s ran %d times", id, n)
		}
	}
}

// TestMigrateCutoverPauseWrites: with -pause-writes the cutover drains
// while the source holds writes (it writes nothing there itself) and
// returns inside the pause: every write the source acknowledged is on the
// target, and a write sent after the cutover is still held.
func TestMigrateCutoverPauseWrites(t *testing.T) {
	clearMigrateEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	args := []string{"notify-keyspace-events KEA", "maxmemory-policy noeviction"}
	srcSrv := redistest.NewSingle(t, redisproc.ServerOptions{Args: args})
	dstSrv := redistest.NewSingle(t, redisproc.ServerOptions{Args: args})
	src, dst := srcSrv.Client(), dstSrv.Client()
	defer src.Close()
	defer dst.Close()
	t.Cleanup(func() { _ = src.Do(context.Background(), "CLIENT", "UNPAUSE").Err() })
	t.Setenv("SOURCE_REDIS_NODES", srcSrv.Addr())
	t.Setenv("TARGET_REDIS_NODES", dstSrv.Addr())

	// A writer that never stops: w:<i> then w:last = i, one at a time.
	var acked atomic.Int64
	wctx, wstop := context.WithCancel(ctx)
	wdone := make(chan struct{})
	go func() {
		defer close(wdone)
		for i := int64(1); wctx.Err() == nil; {
			p := src.TxPipeline()
			p.Set(wctx, "w:"+strconv.FormatInt(i, 10), i, 0)
			p.Set(wctx, "w:last", i, 0)
			if _, err := p.Exec(wctx); err == nil {
				acked.Store(i)
				i++
			}
		}
	}()
	defer func() { wstop(); <-wdone }()
	redistest.Eventually(t, 30*time.Second, "the writer is writing", func() bool { return acked.Load() > 100 })

	const pause = 30 * time.Second
	var out, errb bytes.Buffer
	start := time.Now()
	if err := run(ctx, []string{"migrate", "cutover", "-pause-writes", pause.String(), "-progress", "off"}, &out, &errb); err != nil {
		t.Fatalf("cutover: %v\n%s\n%s", err, out.String(), errb.String())
	}
	took := time.Since(start)
	last := acked.Load()
	t.Logf("cutover took %v; last acknowledged write %d\n%s", took, last, out.String())
	// The pause still holds: a write now is held, not done.
	probe := redis.NewClient(&redis.Options{Addr: srcSrv.Addr(), ReadTimeout: 300 * time.Millisecond})
	defer probe.Close()
	if err := probe.Set(ctx, "probe", 1, 0).Err(); err == nil {
		t.Fatalf("a write went through %v after the cutover returned: the pause was over (cutover took %v of %v)", time.Since(start)-took, took, pause)
	}
	if got, err := dst.Get(ctx, "w:last").Int64(); err != nil || got != last {
		t.Fatalf("target w:last = %d (%v), want the last acknowledged write %d", got, err, last)
	}
	if n, _ := dst.Exists(ctx, "w:"+strconv.FormatInt(last, 10)).Result(); n != 1 {
		t.Fatalf("target lacks w:%d", last)
	}
}
