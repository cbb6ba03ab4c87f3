package queue

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/rediskit/rediskit/internal/redistest"
)

// TestShutdownLateHandler: a handler that ignores cancellation past
// ShutdownTimeout + LockDuration returns after Run did; its result is
// dropped and counted (no send on a closed channel, no panic), and the job
// is left to the stalled check.
func TestShutdownLateHandler(t *testing.T) {
	redistest.ForEach(t, func(t *testing.T, tg redistest.Target) {
		e := newEnv(t, tg)
		id := e.add(t, "stubborn", map[string]int{})
		started := make(chan struct{})
		release := make(chan struct{})
		w, err := NewWorker(e.rdb, e.name, func(ctx context.Context, j *Job) (any, error) {
			close(started)
			<-release // ignores ctx
			return "late", nil
		}, WorkerOptions{Options: Options{Prefix: e.prefix}, ShutdownTimeout: 50 * time.Millisecond,
			LockDuration: 200 * time.Millisecond, Logger: testLogger(t)})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go func() { errc <- w.Run(ctx) }()
		<-started
		cancel()
		select {
		case err := <-errc:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("Run = %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Run did not give up on a handler that ignores ctx")
		}
		close(release)
		redistest.Eventually(t, 5*time.Second, "late result dropped", func() bool { return w.Stats().Abandoned == 1 })
		if s, _ := e.q.State(context.Background(), id); s != StateActive {
			t.Errorf("state = %q, want active (left to the stalled check)", s)
		}
		if rv := e.hget(t, id, "returnvalue"); rv != "" {
			t.Errorf("returnvalue = %q, want none", rv)
		}
	})
}

// TestRefetchAfterStall: a job that stalls (its lock expired, the stalled
// check moved it back) and is fetched again by the same worker under a new
// token does not hide the first goroutine: that one is still counted in
// flight, its ctx is cancelled with ErrLockLost by the next renewal, and
// its late finish is refused.
func TestRefetchAfterStall(t *testing.T) {
	redistest.ForEach(t, func(t *testing.T, tg redistest.Target) {
		e := newEnv(t, tg)
		ctx := context.Background()
		id := e.add(t, "x", map[string]int{})
		runs := make(chan int, 2)
		causes := make(chan error, 1)
		release := make(chan struct{})
		n := 0
		w := e.run(t, func(jctx context.Context, j *Job) (any, error) {
			n++ // handlers of this job never overlap before the second starts
			runs <- n
			if n == 1 {
				<-jctx.Done()
				causes <- context.Cause(jctx)
				<-release
				return "first", nil
			}
			return "second", nil
		}, WorkerOptions{Concurrency: 2, LockDuration: 2 * time.Second, LockRenewTime: 300 * time.Millisecond})
		if r := <-runs; r != 1 {
			t.Fatalf("run %d", r)
		}
		k := e.q.k
		redistest.Eventually(t, 5*time.Second, "first stalled check", func() bool {
			n, _ := e.rdb.Exists(ctx, k.stalledCheck).Result()
			return n == 1
		})
		// The lock expires (simulated) and a stalled check moves the job on.
		e.rdb.Del(ctx, k.lock(id), k.stalledCheck)
		e.rdb.SAdd(ctx, k.stalled, id)
		moved, err := e.q.stalledCheck(ctx, 1, 60000*time.Millisecond)
		if err != nil || len(moved) != 1 {
			t.Fatalf("stalled check moved %v, %v", moved, err)
		}
		select {
		case r := <-runs:
			if r != 2 {
				t.Fatalf("run %d", r)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("job not fetched again")
		}
		redistest.Eventually(t, 10*time.Second, "second run completes", func() bool { return e.hget(t, id, "returnvalue") == `"second"` })
		if got := w.Stats().InFlight; got != 1 {
			t.Errorf("in flight = %d, want 1 (the first run still going)", got)
		}
		select {
		case c := <-causes:
			if !errors.Is(c, ErrLockLost) {
				t.Errorf("first run's ctx cause = %v, want ErrLockLost", c)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("first run's ctx not cancelled after its lock was lost")
		}
		close(release)
		redistest.Eventually(t, 5*time.Second, "first run's finish refused", func() bool { return w.Stats().InFlight == 0 && w.Stats().LostLocks >= 1 })
		if rv := e.hget(t, id, "returnvalue"); rv != `"second"` {
			t.Errorf("returnvalue = %s, want the second run's", rv)
		}
	})
}
