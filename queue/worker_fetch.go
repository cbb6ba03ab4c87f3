package queue

// The fetch loop: owned by Worker.Run, it takes jobs while slots are free
// and blocks on the marker when none are ready.

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rediskit/rediskit/internal/retry"
)

// fetched is what take/finish return about new jobs.
type fetched struct {
	ttl     int64 // rate limit: wait this long (ms)
	nextDue int64 // next delayed job (ms since epoch), 0 = none
	n       int
}

// taken is one job a fetch moved to active for this worker.
type taken struct {
	job   *Job
	token string
	// err is set when the job hash could not be decoded: the job fails
	// without running.
	err error
}

// parseFetched starts the jobs a take or finish call moved to active.
// The reply holds each job's id and its fields as they were before the
// call stamped them; the stamp is added here as the script wrote it:
// processedOn = the call's now (nowMs), pb = the worker's name, ats + 1,
// and the token is base .. id (common.lua's fetch and activate).
func (w *Worker) parseFetched(work context.Context, v any, nowMs int64, base string) (fetched, error) {
	arr, ok := v.([]any)
	if !ok || len(arr) < 2 {
		return fetched{}, fmt.Errorf("queue: unexpected fetch reply %T", v)
	}
	f := fetched{}
	f.ttl, _ = arr[0].(int64)
	f.nextDue, _ = arr[1].(int64)
	now := strconv.FormatInt(nowMs, 10)
	jobs := make([]taken, 0, (len(arr)-2)/2)
	for i := 2; i+1 < len(arr); i += 2 {
		id, _ := arr[i].(string)
		fl, _ := arr[i+1].([]any)
		fields := make(map[string]string, len(fl)/2+3)
		for j := 0; j+1 < len(fl); j += 2 {
			k, _ := fl[j].(string)
			s, _ := fl[j+1].(string)
			fields[k] = s
		}
		fields["ats"] = nextAts(fields["ats"])
		fields["processedOn"] = now
		if w.o.Name != "" {
			fields["pb"] = w.o.Name
		}
		job, err := parseJob(w.q, id, fields)
		if err == nil {
			err = checkJob(job)
		}
		token := base + id
		job.token = token
		jobs = append(jobs, taken{job: job, token: token, err: err})
	}
	for _, t := range jobs {
		w.start(work, t)
	}
	f.n = len(jobs)
	return f, nil
}

// nextAts is the attempts-started count activate stores: the stored one
// plus one, as Lua's tostring((tonumber(ats) or 0) + 1) gives it.
func nextAts(ats string) string {
	if n, err := strconv.ParseInt(ats, 10, 64); err == nil {
		return strconv.FormatInt(n+1, 10)
	}
	if x, err := strconv.ParseFloat(ats, 64); err == nil {
		return strconv.FormatFloat(x+1, 'g', 14, 64)
	}
	return "1"
}

// start runs one fetched job in its own goroutine.
func (w *Worker) start(work context.Context, t taken) {
	job, token, perr := t.job, t.token, t.err
	jctx, cancel := context.WithCancelCause(work)
	now := time.Now()
	w.mu.Lock()
	w.held[token] = &heldJob{id: job.ID, cancel: cancel, start: now}
	w.mu.Unlock()
	w.st.started.Add(1)
	go func() {
		r := result{job: job, token: token}
		defer func() {
			if p := recover(); p != nil {
				r.err = fmt.Errorf("panic: %v\n\n%s", p, debug.Stack())
				r.panic = true
			}
			r.took = time.Since(now)
			select {
			case w.results <- r:
			case <-w.gone:
				// Run has returned: the job stays active until its lock
				// expires and the stalled check moves it on.
				w.st.abandoned.Add(1)
				cancel(nil)
			}
		}()
		// A job scheduler's next run is added on take, before the
		// handler, as BullMQ's worker does (scheduler_advance.go).
		w.q.advanceOnTake(jctx, w.log, job)
		switch {
		case perr != nil:
			r.err = fmt.Errorf("%w: %w", ErrUnrecoverable, perr)
		case job.DeferredFailure != "":
			r.err = unrecoverableMsg(job.DeferredFailure)
		default:
			r.val, r.err = w.h(jctx, job)
		}
	}()
}

// fetcher takes jobs when slots are free and blocks on the marker when the
// queue has none ready. Its errors go through w.fetchLoop (internal/retry):
// logged, counted in WorkerStats.Errors, then a backoff. The caller's
// client reloads its own slot map (redisconn's hook); the blocking
// client, a clone without that hook, is reloaded by reloadOnHint.
func (w *Worker) fetcher(ctx, work context.Context, bc redis.UniversalClient) {
	_ = w.fetchLoop.Run(ctx, func(ctx context.Context) error { return w.fetchStep(ctx, work, bc) })
}

// fetchStep is one turn of the fetch loop: take jobs, or wait for some.
func (w *Worker) fetchStep(ctx, work context.Context, bc redis.UniversalClient) error {
	k := w.q.k
	n := w.reserve(w.o.Concurrency)
	if n == 0 {
		select {
		case <-w.slots:
		case <-ctx.Done():
		}
		return nil
	}
	t0 := time.Now()
	base := w.tokenBase()
	lm, ld := w.limiter()
	args, set := argv(argTakeSize)
	set(argTakePrefix, k.base)
	now := time.Now().UnixMilli()
	set(argTakeNow, now)
	set(argTakeMax, n)
	set(argTakeTokenBase, base)
	set(argTakeLockMs, w.o.LockDuration.Milliseconds())
	set(argTakeWorker, w.o.Name)
	set(argTakeLimMax, lm)
	set(argTakeLimDur, ld)
	v, err := takeScript.Run(work, w.q.rdb, k.takeKeys(), args...).Result()
	var f fetched
	if err == nil {
		f, err = w.parseFetched(work, v, now, base)
	}
	w.release(n - f.n)
	if err != nil {
		return fmt.Errorf("queue: fetch: %w", takeScript.Err(err))
	}
	w.st.fetches.Add(1)
	w.st.fetchNanos.Add(int64(time.Since(t0)))
	w.st.lastOK.Store(time.Now().UnixNano())
	if f.n > 0 {
		return nil
	}
	if f.ttl > 0 {
		_ = retry.Sleep(ctx, time.Duration(f.ttl)*time.Millisecond) // rate limited
		return nil
	}
	block := w.o.DrainDelay
	if f.nextDue > 0 {
		d := time.Until(time.UnixMilli(f.nextDue))
		if d <= 0 {
			return nil
		}
		block = min(max(d, time.Millisecond), maxBlock)
	}
	if bc == nil {
		_ = retry.Sleep(ctx, min(block, 100*time.Millisecond))
		return nil
	}
	err = bc.Do(work, "BZPOPMIN", k.marker, strconv.FormatFloat(block.Seconds(), 'f', 3, 64)).Err()
	if err != nil && !errors.Is(err, redis.Nil) {
		if ctx.Err() != nil {
			return nil // the blocking connection was closed to stop
		}
		reloadOnHint(bc, err)
		return fmt.Errorf("queue: waiting for jobs: %w", err)
	}
	w.st.lastOK.Store(time.Now().UnixNano())
	return nil
}

// reloadOnHint asks the worker's own blocking cluster client to reload its
// slot map when err hints at a topology change (internal/retry's
// TopologyHint, the test redisconn's hook uses): that client is a clone
// of the caller's options without its hooks, so a dead master would
// otherwise stay in its map until go-redis's periodic reload
// (ClusterStateReloadInterval), every BZPOPMIN failing until then.
// go-redis runs the reload in the background and coalesces requests.
func reloadOnHint(bc redis.UniversalClient, err error) {
	if cc, ok := bc.(*redis.ClusterClient); ok && retry.TopologyHint(err) {
		cc.ReloadState(context.Background())
	}
}
