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
// the stalled check every StalledInterval until ctx ends.
func (w *Worker) lockLoop(ctx, work context.Context) {
	renew := time.NewTicker(w.o.LockRenewTime)
	defer renew.Stop()
	stalled := time.NewTicker(w.o.StalledInterval)
	defer stalled.Stop()
	w.checkStalled(work)
	stopping := ctx.Done()
	for {
		select {
		case <-work.Done():
			return
		case <-stopping:
			// shutting down: no more stalled checks, keep renewing while
			// in-flight jobs drain
			stopping = nil
			stalled.Stop()
		case <-renew.C:
			w.renew(work)
		case <-stalled.C:
			w.checkStalled(work)
		}
	}
}

// renew extends every held lock in one call and cancels the jobs whose
// lock is gone.
func (w *Worker) renew(ctx context.Context) {
	w.mu.Lock()
	if len(w.held) == 0 {
		w.mu.Unlock()
		return
	}
	args := make([]any, argExtendJobs-1, argExtendJobs-1+2*len(w.held))
	args[argExtendPrefix-1], args[argExtendLockMs-1] = w.q.k.base, w.o.LockDuration.Milliseconds()
	for token, h := range w.held {
		args = append(args, h.id, token)
	}
	w.mu.Unlock()
	res, err := extendScript.Run(ctx, w.q.rdb, []string{w.q.k.stalled}, args...).StringSlice()
	if err != nil {
		w.st.errors.Add(1)
		w.log.Warn("queue: lock renewal failed", "err", err)
		reload(ctx, w.q.rdb)
		return
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
}

func (w *Worker) checkStalled(ctx context.Context) {
	moved, err := w.q.stalledCheck(ctx, w.o.MaxStalledCount, w.o.StalledInterval)
	if err != nil {
		w.st.errors.Add(1)
		w.log.Warn("queue: stalled check failed", "err", err)
		return
	}
	if len(moved) > 0 {
		w.st.stalled.Add(int64(len(moved)))
		w.log.Warn("queue: recovered stalled jobs", "jobs", moved)
	}
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
