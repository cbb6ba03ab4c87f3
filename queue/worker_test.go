package queue

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rediskit/rediskit/internal/redistest"
)

// TestLockLoss: a job whose lock is lost (stalled check gave it to another
// worker) has its ctx cancelled with ErrLockLost; the old worker's finish is
// refused and counted, not retried; the job completes once, by the new owner.
func TestLockLoss(t *testing.T) {
	redistest.ForEach(t, func(t *testing.T, tg redistest.Target) {
		e := newEnv(t, tg)
		ctx := context.Background()
		id := e.add(t, "x", map[string]int{})
		started := make(chan struct{})
		release := make(chan struct{})
		causes := make(chan error, 1)
		a := e.run(t, func(jctx context.Context, j *Job) (any, error) {
			close(started)
			<-jctx.Done()
			causes <- context.Cause(jctx)
			<-release // keeps working after the loss, like a handler that ignores ctx
			return "A", nil
		}, WorkerOptions{LockDuration: 400 * time.Millisecond})
		<-started
		k := e.q.k
		redistest.Eventually(t, 5*time.Second, "A's first stalled check", func() bool {
			n, _ := e.rdb.Exists(ctx, k.stalledCheck).Result()
			return n == 1
		})
		// The lock expires (simulated) and a stalled check moves the job on.
		e.rdb.Del(ctx, k.lock(id), k.stalledCheck)
		e.rdb.SAdd(ctx, k.stalled, id)
		moved, err := e.q.stalledCheck(ctx, 1, 1000*time.Millisecond)
		if err != nil || len(moved) != 1 {
			t.Fatalf("stalled check moved %v, %v", moved, err)
		}
		select {
		case c := <-causes:
			if !errors.Is(c, ErrLockLost) {
				t.Errorf("ctx cause = %v, want ErrLockLost", c)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("handler ctx not cancelled after the lock was lost")
		}
		b := e.run(t, func(ctx context.Context, j *Job) (any, error) { return "B", nil }, WorkerOptions{})
		redistest.Eventually(t, 10*time.Second, "B completes the job", func() bool { return e.hget(t, id, "returnvalue") == `"B"` })
		close(release)
		redistest.Eventually(t, 5*time.Second, "A's finish refused", func() bool { return a.Stats().LostLocks >= 1 })
		if rv := e.hget(t, id, "returnvalue"); rv != `"B"` {
			t.Errorf("returnvalue = %s, want B's", rv)
		}
		if atm := e.hget(t, id, "atm"); atm != "1" {
			t.Errorf("atm = %s, want 1", atm)
		}
		if s := a.Stats(); s.Completed != 0 || s.Retried != 0 || s.Failed != 0 {
			t.Errorf("A stats = %+v, want nothing finished", s)
		}
		if s := b.Stats(); s.Completed != 1 {
			t.Errorf("B stats = %+v", s)
		}
	})
}

// TestCorruptJobs: undecodable data, a hash without fields, and a panic
// fail their job with a reason; the worker goes on.
func TestCorruptJobs(t *testing.T) {
	redistest.ForEach(t, func(t *testing.T, tg redistest.Target) {
		e := newEnv(t, tg)
		ctx := context.Background()
		bad := e.add(t, "bad", map[string]int{})
		e.rdb.HSet(ctx, e.q.k.job(bad), "data", "{not json")
		e.rdb.LPush(ctx, e.q.k.wait, "ghost")
		pan := e.add(t, "panic", map[string]int{})
		good := e.add(t, "good", map[string]int{})
		rec := newRecorder()
		e.run(t, func(ctx context.Context, j *Job) (any, error) {
			rec.note(j.ID)
			if j.Name == "panic" {
				panic("kaboom")
			}
			return "fine", nil
		}, WorkerOptions{})
		rec.wait(t, 2, 10*time.Second)
		redistest.Eventually(t, 10*time.Second, "all finished", func() bool {
			c, _ := e.q.Counts(ctx)
			return c.Completed == 1 && c.Failed == 3
		})
		for id, want := range map[string]string{bad: "data (not JSON)", "ghost": "data (missing)", pan: "panic: kaboom"} {
			if r := e.hget(t, id, "failedReason"); !strings.Contains(r, want) {
				t.Errorf("job %s failedReason = %q, want it to mention %q", id, r, want)
			}
		}
		if st := e.hget(t, pan, "stacktrace"); !strings.Contains(st, "goroutine") {
			t.Errorf("panic stacktrace = %.200s, want a Go stack", st)
		}
		if rv := e.hget(t, good, "returnvalue"); rv != `"fine"` {
			t.Errorf("good job returnvalue = %q", rv)
		}
	})
}

// TestGracefulShutdown: Run waits for in-flight jobs; past ShutdownTimeout
// it cancels them and returns them to wait.
func TestGracefulShutdown(t *testing.T) {
	redistest.ForEach(t, func(t *testing.T, tg redistest.Target) {
		t.Run("finish", func(t *testing.T) {
			e := newEnv(t, tg)
			for range 3 {
				e.add(t, "slow", map[string]int{})
			}
			started := make(chan struct{}, 3)
			w, _ := NewWorker(e.rdb, e.name, func(ctx context.Context, j *Job) (any, error) {
				started <- struct{}{}
				time.Sleep(300 * time.Millisecond) // work that does not watch ctx
				return "done", nil
			}, WorkerOptions{Options: Options{Prefix: e.prefix}, Concurrency: 3, Logger: testLogger(t)})
			ctx, cancel := context.WithCancel(context.Background())
			errc := make(chan error, 1)
			go func() { errc <- w.Run(ctx) }()
			for range 3 {
				<-started
			}
			cancel()
			if err := <-errc; !errors.Is(err, context.Canceled) {
				t.Errorf("Run = %v", err)
			}
			if c, _ := e.q.Counts(context.Background()); c.Completed != 3 || c.Active != 0 {
				t.Errorf("after shutdown: %+v, want 3 completed", c)
			}
		})
		t.Run("timeout-returns-jobs", func(t *testing.T) {
			e := newEnv(t, tg)
			for range 2 {
				e.add(t, "stuck", map[string]int{})
			}
			started := make(chan struct{}, 2)
			w, _ := NewWorker(e.rdb, e.name, func(ctx context.Context, j *Job) (any, error) {
				started <- struct{}{}
				<-ctx.Done()
				return nil, ctx.Err()
			}, WorkerOptions{Options: Options{Prefix: e.prefix}, Concurrency: 2, ShutdownTimeout: 200 * time.Millisecond, Logger: testLogger(t)})
			ctx, cancel := context.WithCancel(context.Background())
			errc := make(chan error, 1)
			go func() { errc <- w.Run(ctx) }()
			<-started
			<-started
			cancel()
			<-errc
			c, _ := e.q.Counts(context.Background())
			if c.Waiting != 2 || c.Active != 0 || c.Failed != 0 {
				t.Errorf("after timeout: %+v, want 2 waiting", c)
			}
			if s := w.Stats(); s.Returned != 2 {
				t.Errorf("stats = %+v, want Returned 2", s)
			}
		})
	})
}

// TestEventsReader: the Go Events reader sees Node workers' events.
func TestEventsReader(t *testing.T) {
	redistest.ForEach(t, func(t *testing.T, tg redistest.Target) {
		e := newEnv(t, tg)
		ev, err := NewEvents(e.rdb, e.name, EventsOptions{Options: Options{Prefix: e.prefix}})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		got := make(chan Event, 100)
		done := make(chan error, 1)
		go func() { done <- ev.Run(ctx, func(x Event) error { got <- x; return nil }) }()
		defer func() {
			cancel()
			if err := <-done; !errors.Is(err, context.Canceled) {
				t.Errorf("Run = %v", err)
			}
		}()
		// wait until the reader resolved "$" before producing
		redistest.Eventually(t, 5*time.Second, "reader started", func() bool { return ev.LastID() != "$" })
		ids := e.addSpecs(t, "go", []spec{{Name: "ok", Data: map[string]any{"ret": map[string]any{"v": 7}}}, {Name: "ko", Data: map[string]any{"fail": "nope"}}})
		startNode(t, tg, e.prefix, "work", e.name, map[string]any{"concurrency": 2})
		seen := map[string]Event{}
		deadline := time.After(15 * time.Second)
		for seen["completed"+ids[0]].Name == "" || seen["failed"+ids[1]].Name == "" {
			select {
			case x := <-got:
				seen[x.Name+x.JobID] = x
			case <-deadline:
				t.Fatalf("events seen: %v", seen)
			}
		}
		if rv := string(seen["completed"+ids[0]].ReturnValue); rv != `{"v":7}` {
			t.Errorf("completed returnvalue = %s", rv)
		}
		if r := seen["failed"+ids[1]].FailedReason; r != "nope" {
			t.Errorf("failed reason = %q", r)
		}
		for _, name := range []string{"added", "waiting", "active"} {
			if seen[name+ids[0]].Name == "" {
				t.Errorf("no %s event for job %s", name, ids[0])
			}
		}
	})
}

// TestStalledTooOften: a job that stalls more than MaxStalledCount gets
// "defa" from the stalled check and the next worker (Go or Node) fails it
// without running it.
func TestStalledTooOften(t *testing.T) {
	redistest.ForEach(t, func(t *testing.T, tg redistest.Target) {
		for _, by := range sides {
			t.Run("failed-by-"+by, func(t *testing.T) {
				e := newEnv(t, tg)
				ctx := context.Background()
				id := e.add(t, "x", map[string]int{})
				k := e.q.k
				// a worker took it (stc already 1) and died
				e.rdb.HSet(ctx, k.job(id), "stc", 1)
				args, set := argv(argTakeSize)
				set(argTakePrefix, k.base)
				set(argTakeNow, time.Now().UnixMilli())
				set(argTakeMax, 1)
				set(argTakeTokenBase, "dead:")
				set(argTakeLockMs, 1)
				set(argTakeWorker, "")
				set(argTakeLimMax, 0)
				set(argTakeLimDur, 0)
				if _, err := takeScript.Run(ctx, e.rdb, k.takeKeys(), args...).Result(); err != nil {
					t.Fatal(err)
				}
				e.rdb.Del(ctx, k.lock(id))
				e.rdb.SAdd(ctx, k.stalled, id)
				moved, err := e.q.stalledCheck(ctx, 1, 1000*time.Millisecond)
				if err != nil || len(moved) != 1 {
					t.Fatalf("stalled check moved %v, %v", moved, err)
				}
				if d := e.hget(t, id, "defa"); d != "job stalled more than allowable limit" {
					t.Fatalf("defa = %q", d)
				}
				ran := make(chan string, 1)
				if by == "go" {
					e.run(t, func(ctx context.Context, j *Job) (any, error) { ran <- j.ID; return nil, nil }, WorkerOptions{})
				} else {
					startNode(t, tg, e.prefix, "work", e.name, nil)
				}
				redistest.Eventually(t, 10*time.Second, "job failed", func() bool { return e.hget(t, id, "finishedOn") != "" })
				if r := e.hget(t, id, "failedReason"); r != "job stalled more than allowable limit" {
					t.Errorf("failedReason = %q", r)
				}
				if d := e.hget(t, id, "defa"); d != "" {
					t.Errorf("defa still set: %q", d)
				}
				select {
				case <-ran:
					t.Error("handler ran a job with a deferred failure")
				default:
				}
			})
		}
	})
}

// TestHandlerSeesStamp: the job a handler gets carries the stamp the fetch
// wrote to Redis (processedOn, pb, ats, token), on the first run and on a
// retry, though the fetch reply sends the fields as they were before it.
func TestHandlerSeesStamp(t *testing.T) {
	redistest.ForEach(t, func(t *testing.T, tg redistest.Target) {
		e := newEnv(t, tg)
		ctx := context.Background()
		id := e.add(t, "stamp", map[string]int{}, WithAttempts(2))
		type seen struct {
			fields            map[string]string
			stored            []any
			ats               int
			by                string
			on                time.Time
			token, lockHolder string
		}
		runs := make(chan seen, 2)
		var calls atomic.Int32
		e.run(t, func(ctx context.Context, j *Job) (any, error) {
			st, _ := e.rdb.HMGet(ctx, e.q.k.job(j.ID), "processedOn", "pb", "ats").Result()
			holder, _ := e.rdb.Get(ctx, e.q.k.lock(j.ID)).Result()
			runs <- seen{fields: j.Fields, stored: st, ats: j.AttemptsStarted, by: j.ProcessedBy, on: j.ProcessedOn,
				token: j.token, lockHolder: holder}
			if calls.Add(1) == 1 {
				return nil, errors.New("first run fails")
			}
			return "ok", nil
		}, WorkerOptions{Name: "stamp-worker"})
		for run := 1; run <= 2; run++ {
			var s seen
			select {
			case s = <-runs:
			case <-time.After(10 * time.Second):
				t.Fatalf("run %d did not start", run)
			}
			want := []string{s.fields["processedOn"], s.fields["pb"], s.fields["ats"]}
			for i, v := range s.stored {
				if v != want[i] {
					t.Errorf("run %d: stored %v, job fields say %v", run, s.stored, want)
					break
				}
			}
			if s.ats != run || s.by != "stamp-worker" || s.on.UnixMilli() != mustInt(t, s.fields["processedOn"]) {
				t.Errorf("run %d: AttemptsStarted %d, ProcessedBy %q, ProcessedOn %v (fields %v)", run, s.ats, s.by, s.on, s.fields)
			}
			if s.token == "" || s.token != s.lockHolder {
				t.Errorf("run %d: token %q, lock holds %q", run, s.token, s.lockHolder)
			}
		}
		redistest.Eventually(t, 10*time.Second, "the retry completes", func() bool { return e.hget(t, id, "returnvalue") == `"ok"` })
		_ = ctx
	})
}

func mustInt(t *testing.T, s string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatalf("%q: %v", s, err)
	}
	return n
}

func TestNextAts(t *testing.T) {
	for in, want := range map[string]string{"": "1", "0": "1", "3": "4", "2.5": "3.5", "x": "1"} {
		if got := nextAts(in); got != want {
			t.Errorf("nextAts(%q) = %q, want %q", in, got, want)
		}
	}
}
