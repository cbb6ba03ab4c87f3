package queue

// The lock loop: owned by Worker.Run, it renews held locks and runs the
// stalled check.

import (
	"context"
	"fmt"
	"time"
)

// lockLoop renews held locks every LockRenewTime until work ends (Run
// ends work after the last handler returned or was given up on), and runs
// the stalled check every StalledInterval until ctx ends. Errors go
// through w.lockLoop (internal/retry): logged, counted, then a backoff
// before the next tick.
func (w *Worker) lockLoop(ctx, work context.Context) {
	renew := time.NewTicker(w.o.LockRenewTime)
	defer renew.Stop()
	stalled := time.NewTicker(w.o.StalledInterval)
	defer stalled.Stop()
	stopping := ctx.Done()
	first := true
	_ = w.locksLoop.Run(work, func(work context.Context) error {
		if first {
			first = false
			return w.checkStalled(work)
		}
		select {
		case <-work.Done():
			return nil
		case <-stopping:
			// shutting down: no more stalled checks, keep renewing while
			// in-flight jobs drain
			stopping = nil
			stalled.Stop()
			return nil
		case <-renew.C:
			return w.renew(work)
		case <-stalled.C:
			return w.checkStalled(work)
		}
	})
}

// renew extends every held lock in one call and cancels the jobs whose
// lock is gone.
func (w *Worker) renew(ctx context.Context) error {
	w.mu.Lock()
	if len(w.held) == 0 {
		w.mu.Unlock()
		return nil
	}
	args := make([]any, argExtendJobs-1, argExtendJobs-1+2*len(w.held))
	args[argExtendPrefix-1], args[argExtendLockMs-1] = w.q.k.base, w.o.LockDuration.Milliseconds()
	for token, h := range w.held {
		args = append(args, h.id, token)
	}
	w.mu.Unlock()
	res, err := extendScript.Run(ctx, w.q.rdb, []string{w.q.k.stalled}, args...).StringSlice()
	if err != nil {
		return fmt.Errorf("queue: lock renewal: %w", err)
	}
	var lost []string
	w.mu.Lock()
	for _, token := range res {
		// a job finished meanwhile released its lock itself: not lost
		if h, ok := w.held[token]; ok {
			h.cancel(ErrLockLost)
			lost = append(lost, h.id)
		}
	}
	w.mu.Unlock()
	if len(lost) > 0 {
		w.st.lostLocks.Add(int64(len(lost)))
		w.log.Warn("queue: lost job locks", "jobs", lost)
	}
	return nil
}

func (w *Worker) checkStalled(ctx context.Context) error {
	moved, err := w.q.stalledCheck(ctx, w.o.MaxStalledCount, w.o.StalledInterval)
	if err != nil {
		return err
	}
	if len(moved) > 0 {
		w.st.stalled.Add(int64(len(moved)))
		w.log.Warn("queue: recovered stalled jobs", "jobs", moved)
	}
	return nil
}

// stalledCheck runs one stalled-job check (unless one ran within
// interval, on any worker) and returns the ids moved back to wait.
func (q *Queue) stalledCheck(ctx context.Context, maxStalled int, interval time.Duration) ([]string, error) {
	args, set := argv(argStalledSize)
	set(argStalledMax, maxStalled)
	set(argStalledPrefix, q.k.base)
	set(argStalledNow, time.Now().UnixMilli())
	set(argStalledInterval, interval.Milliseconds())
	moved, err := stalledScript.Run(ctx, q.rdb, q.k.stalledKeys(), args...).StringSlice()
	if err != nil {
		return nil, fmt.Errorf("queue: stalled check: %w", err)
	}
	return moved, nil
}
