package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/rediskit/rediskit/internal/retry"
)

// advanceRetry bounds the retries of one advance (it delays the handler):
// the step is idempotent (the script adds a run once), so a reply lost
// after the send is retried too, as BullMQ's worker retries it.
var advanceRetry = retry.Policy{Attempts: 3, Budget: 3 * time.Second}

// advanceOnTake is called by the worker for every job it takes, before the
// handler runs, exactly where BullMQ's worker does it: for a run of a job
// scheduler (field rjk) it adds the next run. When that fails after
// retries the job is not run: like Node's worker, this one leaves it
// active without renewing its lock (j.stall), so the stalled check offers
// it again later and the next take retries the advance; the schedule is
// never lost to a run that went ahead without its successor.
func (q *Queue) advanceOnTake(ctx context.Context, log *slog.Logger, j *Job) {
	if j == nil || j.Fields["rjk"] == "" {
		return
	}
	err := retry.Do(ctx, advanceRetry, true, func(ctx context.Context) error { return q.advanceScheduler(ctx, j) })
	if err != nil {
		j.stall = true
		log.Error("queue: failed to add the next run of a job scheduler; the run is left to the stalled check (as BullMQ does)",
			"scheduler", j.Fields["rjk"], "job", j.ID, "err", err)
	}
}

// errLegacyRepeat reports a v5 repeatable job, which BullMQ 6 refuses too.
var errLegacyRepeat = errors.New("queue: legacy repeatable jobs (BullMQ < 6) are not supported; migrate them to job schedulers")

// advanceScheduler adds the run after j, the way BullMQ 6.7's worker calls
// upsertJobScheduler(rjk, opts.repeat, name, data, opts, {override: false,
// producerId: j.ID}): nothing when the limit is reached or the end date has
// passed, and the script adds the run only if j is the scheduler's current
// run.
func (q *Queue) advanceScheduler(ctx context.Context, j *Job) error {
	sid := j.Fields["rjk"]
	if legacyRepeatKey(sid) {
		ok, err := q.rdb.HExists(ctx, q.k.scheduler(sid), "ic").Result()
		if err != nil {
			return fmt.Errorf("queue: scheduler %q: %w", sid, err)
		}
		if !ok {
			return fmt.Errorf("%w (key %q)", errLegacyRepeat, sid)
		}
	}
	opts, err := decodeJSONMap(j.RawOpts)
	if err != nil {
		return fmt.Errorf("%w: job %s opts: %w", ErrCorruptJob, j.ID, err)
	}
	rep, _ := opts["repeat"].(map[string]any)
	if rep == nil {
		return fmt.Errorf("%w: job %s of scheduler %q has no opts.repeat", ErrCorruptJob, j.ID, sid)
	}
	pattern, _ := rep["pattern"].(string)
	every, _ := jsonInt(rep["every"])
	switch {
	case pattern != "" && truthy(rep["every"]):
		return fmt.Errorf("%w %q: both pattern and every are set", ErrScheduler, sid)
	case pattern == "" && !truthy(rep["every"]):
		return fmt.Errorf("%w %q: neither pattern nor every is set", ErrScheduler, sid)
	case truthy(rep["immediately"]) && truthy(rep["startDate"]):
		return fmt.Errorf("%w %q: both immediately and startDate are set", ErrScheduler, sid)
	}
	count := int64(1)
	if c, _ := jsonInt(rep["count"]); c != 0 {
		count = c + 1
	}
	if l, ok := rep["limit"]; ok && l != nil {
		if lim, _ := jsonInt(l); count > lim {
			return nil
		}
	}
	now := q.now().UnixMilli()
	startMS, err := jsonDate(rep["startDate"])
	if err != nil {
		return fmt.Errorf("%w: scheduler %q startDate: %w", ErrCorruptJob, sid, err)
	}
	endMS, err := jsonDate(rep["endDate"])
	if err != nil {
		return fmt.Errorf("%w: scheduler %q endDate: %w", ErrCorruptJob, sid, err)
	}
	if endMS != 0 && now > endMS {
		return nil
	}
	prev, _ := jsonInt(opts["prevMillis"])
	now = max(now, prev)
	var next int64
	if pattern != "" {
		tz, _ := rep["tz"].(string)
		next, err = cronNext(pattern, tz, max(now, startMS), startMS, endMS)
		switch {
		case errors.Is(err, errCronSpan) || errors.Is(err, errCronLoop):
			return nil // BullMQ stops the scheduler here
		case err != nil:
			return fmt.Errorf("%w %q: %w", ErrScheduler, sid, err)
		case truthy(rep["immediately"]):
			next = q.now().UnixMilli()
		}
		next = max(next, now)
	}

	// the next run's options: this run's, as Node's Job reads and rewrites
	// them, plus the run's own fields
	delete(opts, "repeatJobKey")
	if _, ok := opts["attempts"]; !ok {
		opts["attempts"] = 0
	}
	if b, ok := opts["backoff"].(json.Number); ok {
		opts["backoff"] = map[string]any{"type": "fixed", "delay": b}
	}
	nrep := cloneMap(rep)
	delete(nrep, "immediately")
	delete(nrep, "offset")
	if every != 0 && truthy(rep["offset"]) {
		nrep["offset"] = rep["offset"]
	}
	nrep["count"] = count
	delete(nrep, "startDate")
	delete(nrep, "endDate")
	if startMS != 0 {
		nrep["startDate"] = startMS
	}
	if endMS != 0 {
		nrep["endDate"] = endMS
	}
	opts["repeat"] = nrep
	opts["timestamp"] = q.now().UnixMilli()
	opts["repeatJobKey"] = sid
	delete(opts, "prevMillis")
	nextArg := any("")
	if pattern != "" {
		opts["prevMillis"] = next
		opts["jobId"] = "repeat:" + sid + ":" + strconv.FormatInt(next, 10)
		nextArg = next
	}
	jo, err := json.Marshal(opts)
	if err != nil {
		return fmt.Errorf("queue: scheduler %q opts: %w", sid, err)
	}
	k := q.k
	// the reply (new id, 0 = not the current run, codeSchedDuplicate = the
	// next run exists) needs no action: each is what BullMQ does too
	args, set := argv(argAdvanceCount)
	set(argAdvancePrefix, k.base)
	set(argAdvanceNow, q.now().UnixMilli())
	set(argAdvanceID, sid)
	set(argAdvanceNext, nextArg)
	set(argAdvanceJobOpts, string(jo))
	set(argAdvanceProducer, j.ID)
	_, err = schedAdvanceScript.Run(ctx, q.rdb, []string{k.repeat, k.delayed, k.wait, k.meta, k.prioritized, k.marker,
		k.id, k.events, k.pc, k.active}, args...).Result()
	if err != nil {
		return fmt.Errorf("queue: next run of scheduler %q: %w", sid, schedAdvanceScript.Err(err))
	}
	return nil
}

// truthy is JavaScript truthiness of a decoded JSON value.
func truthy(v any) bool {
	switch x := v.(type) {
	case nil:
		return false
	case bool:
		return x
	case string:
		return x != ""
	case json.Number:
		f, err := x.Float64()
		return err == nil && f != 0
	}
	return true
}

// jsonInt reads an integer JSON number (or numeric string).
func jsonInt(v any) (int64, bool) {
	switch x := v.(type) {
	case json.Number:
		if n, err := x.Int64(); err == nil {
			return n, true
		}
		f, err := x.Float64()
		return int64(f), err == nil
	case string:
		n, err := strconv.ParseInt(x, 10, 64)
		return n, err == nil
	}
	return 0, false
}

// jsonDate reads a date as JavaScript's new Date(v).getTime() would from
// what Node stores (milliseconds, or an ISO string); 0 = none.
func jsonDate(v any) (int64, error) {
	if !truthy(v) {
		return 0, nil
	}
	if n, ok := jsonInt(v); ok {
		return n, nil
	}
	if s, ok := v.(string); ok {
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			return t.UnixMilli(), nil
		}
	}
	return 0, fmt.Errorf("unsupported date %v", v)
}

// legacyRepeatKey is BullMQ's hasLegacyRepeatableKeyShape: a v5 key
// "name:id:endDate:tz:pattern|every".
func legacyRepeatKey(key string) bool {
	parts := strings.SplitN(key, ":", 5)
	if len(parts) < 5 || parts[4] == "" {
		return false
	}
	if parts[2] != "" && !allDigits(parts[2]) {
		return false
	}
	return strings.Contains(parts[4], " ") || allDigits(parts[4])
}
