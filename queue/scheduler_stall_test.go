package queue

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rediskit/rediskit/internal/redistest"
)

// TestSchedulerAdvanceFailureLeavesJobToStalled: when the next run of a
// job scheduler cannot be added (here the run's options lost their
// repeat settings), the Go worker does not run the job and does not
// finish it: its lock runs out and the stalled check puts it back in
// wait, as BullMQ's worker does (instead of running it and losing the
// schedule).
func TestSchedulerAdvanceFailureLeavesJobToStalled(t *testing.T) {
	redistest.ForEach(t, func(t *testing.T, tg redistest.Target) {
		ctx := context.Background()
		e := newEnv(t, tg)
		id := e.add(t, "run", map[string]any{}, WithJobID("broken-run"))
		if err := e.rdb.HSet(ctx, e.q.k.job(id), "rjk", "broken").Err(); err != nil {
			t.Fatal(err)
		}
		var ran atomic.Int32
		e.run(t, func(ctx context.Context, j *Job) (any, error) {
			ran.Add(1)
			return "ran", nil
		}, WorkerOptions{LockDuration: 600 * time.Millisecond, StalledInterval: 300 * time.Millisecond})
		redistest.Eventually(t, 15*time.Second, "run recovered by the stalled check", func() bool {
			return e.hget(t, id, "stc") != ""
		})
		if n := ran.Load(); n != 0 {
			t.Errorf("handler ran %d times; want none while the next run cannot be added", n)
		}
		if s, _ := e.q.State(ctx, id); s == StateCompleted || s == StateFailed {
			t.Errorf("run finished (%s); want it left to the stalled check", s)
		}
	})
}
