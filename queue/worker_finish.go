package queue

// The finish loops: owned by Worker.Run, they complete, fail or retry
// finished jobs in batches and fetch the next ones in the same call.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	mrand "math/rand/v2"
	"time"

	"github.com/rediskit/rediskit/internal/retry"
)

// finisher sends finished jobs in batches, fetching new ones in the same
// call while slots are free.
func (w *Worker) finisher(work context.Context) {
	batch := make([]result, 0, w.o.MaxBatch)
	for {
		var r result
		select {
		case r = <-w.results:
		case <-w.gone:
			// take what was sent before Run gave up, then stop
			select {
			case r = <-w.results:
			default:
				return
			}
		}
		batch = append(batch[:0], r)
	more:
		for len(batch) < w.o.MaxBatch {
			select {
			case r := <-w.results:
				batch = append(batch, r)
			default:
				break more
			}
		}
		w.finish(work, batch)
	}
}

func (w *Worker) finish(work context.Context, batch []result) {
	w.mu.Lock()
	draining := w.draining
	for _, r := range batch {
		if h, ok := w.held[r.token]; ok {
			delete(w.held, r.token)
			h.cancel(nil)
		}
	}
	w.free += len(batch)
	n := 0
	if !draining {
		n, w.free = w.free, 0
	}
	w.mu.Unlock()
	batch = w.dropUnfinished(batch)
	if len(batch) == 0 && n == 0 {
		return
	}
	w.send(work, batch, n, draining)
}

// errStall is the result of a job the worker left to the stalled check
// without running it.
var errStall = errors.New("queue: job left to the stalled check")

// dropUnfinished takes out of batch the jobs that are not to be finished:
// those whose handler returned ErrWaitingChildren (Node's worker does the
// same on WaitingChildrenError; one that did not move stays active,
// unlocked from now on, until the stalled check, as in Node: logged) and
// those left to the stalled check (job.stall).
func (w *Worker) dropUnfinished(batch []result) []result {
	out := batch[:0]
	for _, r := range batch {
		switch {
		case r.job.stall:
		case r.err == nil || r.panic || !errors.Is(r.err, ErrWaitingChildren):
			out = append(out, r)
		case !r.job.waiting:
			w.log.Warn("queue: handler returned ErrWaitingChildren but its job did not move to waiting-children; it stays active until the stalled check",
				"job", r.job.ID)
		}
	}
	return out
}

// send finishes batch (whose slots are already given back) in one call
// that also fetches up to n new jobs.
func (w *Worker) send(work context.Context, batch []result, n int, draining bool) {
	k := w.q.k

	base := w.tokenBase()
	lm, ld := w.limiter()
	now := time.Now()
	// removal settings are sent once per batch and referred to by index
	type keepTuple struct {
		count int
		age   int64
		limit int
	}
	var tuples []keepTuple
	idx := map[keepTuple]int{}
	keepIndex := func(r *Removal) int {
		c, a, l := r.keep()
		t := keepTuple{c, a, l}
		i, ok := idx[t]
		if !ok {
			tuples = append(tuples, t)
			i = len(tuples)
			idx[t] = i
		}
		return i
	}
	entries := make([]any, 0, 10*len(batch))
	kinds := make([]string, len(batch))
	for i, r := range batch {
		e := w.entry(r, draining, keepIndex)
		kinds[i] = e[finKind].(string)
		entries = append(entries, e...)
	}
	args := make([]any, argFinRemovals+finKeepSize*len(tuples), argFinRemovals+finKeepSize*len(tuples)+len(entries))
	set := func(pos int, v any) { args[pos-1] = v }
	set(argFinPrefix, k.base)
	set(argFinNow, now.UnixMilli())
	set(argFinCount, len(batch))
	set(argFinFetch, n)
	set(argFinTokenBase, base)
	set(argFinLockMs, w.o.LockDuration.Milliseconds())
	set(argFinWorker, w.o.Name)
	set(argFinLimMax, lm)
	set(argFinLimDur, ld)
	set(argFinMetrics, w.o.Metrics.MaxDataPoints)
	set(argFinRemovals, len(tuples))
	for i, t := range tuples {
		a := args[argFinRemovals+i*finKeepSize:]
		a[finKeepCount], a[finKeepAge], a[finKeepLimit] = t.count, t.age, t.limit
	}
	args = append(args, entries...)
	keys := k.finishKeys()
	v, err := w.runFinish(work, keys, args, &n)
	if err != nil {
		w.release(n)
		w.log.Error("queue: finishing jobs failed; the stalled check will recover them", "err", err, "jobs", len(batch))
		return
	}
	codes, _ := v[0].([]any)
	var refused []result
	for i, r := range batch {
		var c int64
		if i < len(codes) {
			c, _ = codes[i].(int64)
		}
		w.st.processNanos.Add(int64(r.took))
		if c == -4 || c == -9 {
			// a parent completed before its children: fail it as Node's
			// worker does (retries apply to -4; -9 is unrecoverable)
			r.val = nil
			if c == -4 {
				r.err = fmt.Errorf("Job %s has pending dependencies. moveToFinished", r.job.ID) //nolint:staticcheck // Node's message
			} else {
				r.err = unrecoverableMsg(fmt.Sprintf("Cannot complete job %s because it has at least one failed child. moveToFinished", r.job.ID))
			}
			refused = append(refused, r)
			continue
		}
		if c != 0 {
			w.st.lostLocks.Add(1)
			w.log.Warn("queue: job finished after losing its lock; not retried", "err", &FinishError{JobID: r.job.ID, Code: c})
			continue
		}
		switch kinds[i] {
		case "c":
			w.st.completed.Add(1)
		case "f":
			w.st.failed.Add(1)
		case "d", "w":
			w.st.retried.Add(1)
		case "r":
			w.st.returned.Add(1)
		}
	}
	var f fetched
	if len(v) > 1 {
		f, err = w.parseFetched(work, v[1], now.UnixMilli(), base)
		if err != nil {
			w.log.Warn("queue: bad fetch reply", "err", err)
		}
	}
	w.st.lastOK.Store(time.Now().UnixNano())
	w.release(n - f.n)
	if len(refused) > 0 {
		w.send(work, refused, 0, draining)
	}
}

// runFinish runs finish-12.lua under the module's retry policy.
//
// Retries: finish-12.lua is idempotent for the jobs it finishes (each
// entry carries its lock token: a second run finds the lock gone, answers
// -1/-2/-3 and changes nothing) but not for the jobs it fetches, so a
// retry asks for none (*n becomes 0 and the slots are released). A lost
// reply (retry.MaybeApplied) is therefore retried like a command that
// never ran (retry.NotApplied); script errors and the rest are Fatal and
// never retried. The whole finish is bounded by LockDuration: past it the
// locks are gone and the stalled check owns the jobs. On a redisconn
// client the hook's retries of one EVALSHA happen inside one try here,
// within that same bound.
func (w *Worker) runFinish(work context.Context, keys []string, args []any, n *int) ([]any, error) {
	ctx, cancel := context.WithTimeout(work, w.o.LockDuration)
	defer cancel()
	var v []any
	tries := 0
	err := retry.Do(ctx, retry.Default, true, func(ctx context.Context) error {
		tries++
		if tries > 1 && *n > 0 {
			w.release(*n)
			*n = 0
			args[argFinFetch-1] = 0
		}
		var err error
		v, err = finishScript.Run(ctx, w.q.rdb, keys, args...).Slice()
		if err != nil {
			err = finishScript.Err(err)
			w.st.errors.Add(1)
			w.log.Warn("queue: finishing jobs failed", "err", err, "class", retry.Classify(err).String(), "try", tries)
			return err
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("queue: finish: %w", err)
	}
	return v, nil
}

// entry builds the script arguments of one finished job (see
// finish-12.lua), deciding between completion, retry and failure as
// BullMQ's worker does.
func (w *Worker) entry(r result, draining bool, keepIndex func(*Removal) int) []any {
	j := r.job
	keepC, keepF := j.Opts.RemoveOnComplete, j.Opts.RemoveOnFail
	if keepC == nil {
		keepC = w.o.RemoveOnComplete
	}
	if keepF == nil {
		keepF = w.o.RemoveOnFail
	}
	lifo := "0"
	if j.Opts.LIFO {
		lifo = "1"
	}
	atm := j.AttemptsMade + 1
	mk := func(kind, value, stack string, delay int64, keep *Removal) []any {
		if kind == "c" {
			e := make([]any, finDoneSize)
			e[finKind], e[finID], e[finToken], e[finValue], e[finDedup] = kind, j.ID, r.token, value, j.Fields["deid"]
			e[finParentKey], e[finParent] = j.Fields["parentKey"], j.Fields["parent"]
			e[finDoneATM], e[finDoneRemoval] = atm, keepIndex(keep)
			return e
		}
		e := make([]any, finFailSize)
		e[finKind], e[finID], e[finToken], e[finValue], e[finDedup] = kind, j.ID, r.token, value, j.Fields["deid"]
		e[finParentKey], e[finParent] = j.Fields["parentKey"], j.Fields["parent"]
		e[finFailStack], e[finFailDelay], e[finFailRemoval] = stack, delay, keepIndex(keep)
		e[finFailAttempts], e[finFailLIFO], e[finFailATM] = j.Opts.Attempts, lifo, atm
		return e
	}
	if r.err == nil {
		b, err := json.Marshal(r.val)
		if err == nil {
			return mk("c", string(b), "", 0, keepC)
		}
		r.err = fmt.Errorf("%w: return value: %w", ErrUnrecoverable, err)
	}
	if draining && !r.panic && errors.Is(r.err, context.Canceled) && !errors.Is(r.err, ErrLockLost) {
		return mk("r", "", "", 0, nil)
	}
	reason := r.err.Error()
	trace := append([]string(nil), j.Stacktrace...)
	trace = append(trace, fmt.Sprintf("%+v", r.err))
	if lim := j.Opts.StackTraceLimit; lim > 0 && len(trace) > lim {
		trace = trace[len(trace)-lim:]
	}
	st, _ := json.Marshal(trace)
	if j.AttemptsMade+1 < j.Opts.Attempts && !unrecoverable(r.err) {
		if d, ok := w.backoff(j, r.err); ok {
			if d > 0 {
				return mk("d", reason, string(st), d.Milliseconds(), keepF)
			}
			return mk("w", reason, string(st), 0, keepF)
		}
	}
	return mk("f", reason, string(st), 0, keepF)
}

// backoff returns the retry delay of j after err (BullMQ's Backoffs).
func (w *Worker) backoff(j *Job, err error) (time.Duration, bool) {
	b := j.Opts.Backoff
	if b == nil {
		return 0, true
	}
	attempt := j.AttemptsMade + 1
	delay := float64(b.Delay)
	switch b.Type {
	case "fixed":
	case "exponential":
		delay = math.Round(math.Pow(2, float64(attempt-1)) * delay)
	default:
		if w.o.Backoff == nil {
			return 0, true
		}
		return w.o.Backoff(attempt, b.Type, err, j)
	}
	if b.Jitter > 0 {
		delay = math.Floor(mrand.Float64()*delay*b.Jitter + delay*(1-b.Jitter))
	}
	return time.Duration(delay) * time.Millisecond, true
}
