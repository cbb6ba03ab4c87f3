package queue

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rediskit/rediskit/internal/script"
)

// Pause stops every worker (Go and Node) from fetching jobs of the queue;
// jobs in flight finish. Emits "paused".
func (q *Queue) Pause(ctx context.Context) error { return q.pause(ctx, "paused") }

// Resume undoes Pause and wakes blocked workers. Emits "resumed".
func (q *Queue) Resume(ctx context.Context) error { return q.pause(ctx, "resumed") }

func (q *Queue) pause(ctx context.Context, what string) error {
	k := q.k
	err := pauseScript.Run(ctx, q.rdb, []string{k.meta, k.marker, k.events, k.wait, k.prioritized, k.delayed}, what).Err()
	if err != nil {
		return fmt.Errorf("queue: %s: %w", what, err)
	}
	return nil
}

// IsPaused reports whether the queue is paused.
func (q *Queue) IsPaused(ctx context.Context) (bool, error) {
	n, err := q.rdb.HExists(ctx, q.k.meta, "paused").Result()
	if err != nil {
		return false, fmt.Errorf("queue: is paused: %w", err)
	}
	return n, nil
}

// SetGlobalConcurrency caps the jobs active at once across all workers
// (meta "concurrency"); 0 removes the cap.
func (q *Queue) SetGlobalConcurrency(ctx context.Context, n int) error {
	var err error
	if n <= 0 {
		err = q.rdb.HDel(ctx, q.k.meta, "concurrency").Err()
	} else {
		err = q.rdb.HSet(ctx, q.k.meta, "concurrency", n).Err()
	}
	if err != nil {
		return fmt.Errorf("queue: set global concurrency: %w", err)
	}
	return nil
}

// SetGlobalRateLimit allows at most limit jobs per d across all workers
// (meta "max"/"duration"); limit 0 removes the limit.
func (q *Queue) SetGlobalRateLimit(ctx context.Context, limit int, d time.Duration) error {
	var err error
	if limit <= 0 {
		err = q.rdb.HDel(ctx, q.k.meta, "max", "duration").Err()
	} else {
		err = q.rdb.HSet(ctx, q.k.meta, "max", limit, "duration", d.Milliseconds()).Err()
	}
	if err != nil {
		return fmt.Errorf("queue: set global rate limit: %w", err)
	}
	return nil
}

// Counts are the number of jobs per state.
type Counts struct {
	Waiting, Active, Prioritized, Delayed, Completed, Failed int64
}

// Counts returns the queue depth per state in one round trip.
func (q *Queue) Counts(ctx context.Context) (Counts, error) {
	p := q.rdb.Pipeline()
	k := q.k
	w := p.LLen(ctx, k.wait)
	a := p.LLen(ctx, k.active)
	pr := p.ZCard(ctx, k.prioritized)
	d := p.ZCard(ctx, k.delayed)
	c := p.ZCard(ctx, k.completed)
	f := p.ZCard(ctx, k.failed)
	if _, err := p.Exec(ctx); err != nil {
		return Counts{}, fmt.Errorf("queue: counts: %w", err)
	}
	return Counts{Waiting: w.Val(), Active: a.Val(), Prioritized: pr.Val(), Delayed: d.Val(), Completed: c.Val(), Failed: f.Val()}, nil
}

// GetJob returns the job with id, or ErrJobNotFound. A job whose hash
// cannot be decoded is returned together with an error wrapping
// ErrCorruptJob that names the bad fields.
func (q *Queue) GetJob(ctx context.Context, id string) (*Job, error) {
	f, err := q.rdb.HGetAll(ctx, q.k.job(id)).Result()
	if err != nil {
		return nil, fmt.Errorf("queue: get job %s: %w", id, err)
	}
	if len(f) == 0 {
		return nil, fmt.Errorf("%w: %s", ErrJobNotFound, id)
	}
	j, err := parseJob(q, id, f)
	if err != nil {
		return j, fmt.Errorf("queue: get job %s: %w", id, err)
	}
	return j, nil
}

// JobIDs lists the ids of jobs in state, in the order workers take them
// (waiting, prioritized, delayed) or newest first (completed, failed),
// from offset start, at most count of them.
func (q *Queue) JobIDs(ctx context.Context, state State, start, count int) ([]string, error) {
	if count <= 0 {
		return nil, nil
	}
	key := q.k.state(state)
	if key == "" {
		return nil, fmt.Errorf("%w: unknown state %q", ErrInvalidOption, state)
	}
	var ids []string
	var err error
	stop := int64(start + count - 1)
	switch state {
	case StateWaiting, StateActive:
		// the next job is at the right end
		ids, err = q.rdb.LRange(ctx, key, -stop-1, int64(-start-1)).Result()
		for i, j := 0, len(ids)-1; i < j; i, j = i+1, j-1 {
			ids[i], ids[j] = ids[j], ids[i]
		}
	case StatePrioritized, StateDelayed:
		ids, err = q.rdb.ZRange(ctx, key, int64(start), stop).Result()
	default:
		ids, err = q.rdb.ZRevRange(ctx, key, int64(start), stop).Result()
	}
	if err != nil {
		return nil, fmt.Errorf("queue: list %s: %w", state, err)
	}
	return ids, nil
}

// Jobs returns the jobs of JobIDs(state, start, count); ids whose hash is
// gone are skipped. Jobs whose hash cannot be decoded are returned too,
// partially filled, and the error (wrapping ErrCorruptJob) names each.
func (q *Queue) Jobs(ctx context.Context, state State, start, count int) ([]*Job, error) {
	ids, err := q.JobIDs(ctx, state, start, count)
	if err != nil || len(ids) == 0 {
		return nil, err
	}
	p := q.rdb.Pipeline()
	cmds := make([]*redis.MapStringStringCmd, len(ids))
	for i, id := range ids {
		cmds[i] = p.HGetAll(ctx, q.k.job(id))
	}
	if _, err := p.Exec(ctx); err != nil {
		return nil, fmt.Errorf("queue: jobs %s: %w", state, err)
	}
	jobs := make([]*Job, 0, len(ids))
	var bad []error
	for i, c := range cmds {
		if len(c.Val()) == 0 {
			continue
		}
		j, err := parseJob(q, ids[i], c.Val())
		if err != nil {
			bad = append(bad, err)
		}
		jobs = append(jobs, j)
	}
	if len(bad) > 0 {
		return jobs, fmt.Errorf("queue: jobs %s: %w", state, errors.Join(bad...))
	}
	return jobs, nil
}

// Logs returns a job's log lines.
func (q *Queue) Logs(ctx context.Context, id string) ([]string, error) {
	l, err := q.rdb.LRange(ctx, q.k.logs(id), 0, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("queue: logs %s: %w", id, err)
	}
	return l, nil
}

// RemoveOption is a per-call option of Remove.
type RemoveOption func(*removeOptions)

type removeOptions struct{ keepChildren bool }

// KeepChildren makes Remove delete only the job, not its children (Node's
// remove(id, {removeChildren: false})).
func KeepChildren() RemoveOption { return func(o *removeOptions) { o.keepChildren = true } }

// Remove deletes a job from whatever state it is in and, unless
// KeepChildren, its flow children at any depth (pending, completed and
// failed ones), as Node's Queue.remove does. A flow child leaves its
// parent's dependencies; a parent left without pending children moves to
// wait. It refuses, removing nothing, a job a worker holds or whose
// pending descendants one holds (ErrJobLocked), and the pending run of a
// job scheduler (ErrJobState: remove the scheduler instead). Removing a
// missing job is not an error.
func (q *Queue) Remove(ctx context.Context, id string, opts ...RemoveOption) error {
	var o removeOptions
	for _, f := range opts {
		f(&o)
	}
	args, set := argv(argRmSize)
	set(argRmPrefix, q.k.base)
	set(argRmID, id)
	set(argRmPending, "0")
	set(argRmChildren, "1")
	if o.keepChildren {
		set(argRmChildren, "0")
	}
	err := removeScript.Run(ctx, q.rdb, []string{q.k.job(id), q.k.repeat}, args...).Err()
	if err != nil {
		err = removeScript.Err(err)
		switch {
		case isCode(err, "locked"):
			return fmt.Errorf("%w: %s", ErrJobLocked, id)
		case isCode(err, "scheduler"):
			return fmt.Errorf("%w: %w", ErrJobState, err)
		}
		return fmt.Errorf("queue: remove %s: %w", id, err)
	}
	return nil
}

// RetryFailed moves up to count failed jobs (all when count <= 0) back to
// wait, keeping their attempts counter, and returns how many moved.
func (q *Queue) RetryFailed(ctx context.Context, count int) (int, error) {
	return q.moveToWait(ctx, StateFailed, count)
}

// PromoteDelayed moves up to count delayed jobs (all when count <= 0) to
// wait now.
func (q *Queue) PromoteDelayed(ctx context.Context, count int) (int, error) {
	return q.moveToWait(ctx, StateDelayed, count)
}

func (q *Queue) moveToWait(ctx context.Context, from State, count int) (int, error) {
	k := q.k
	if count <= 0 {
		count = 1 << 30
	}
	n, err := retryScript.Run(ctx, q.rdb, []string{k.state(from), k.wait, k.prioritized, k.pc, k.meta, k.marker, k.events, k.active},
		k.base, count, string(from), time.Now().UnixMilli()).Int()
	if err != nil {
		return 0, fmt.Errorf("queue: move %s to wait: %w", from, err)
	}
	return n, nil
}

// cleanBatch bounds the jobs one clean call deletes (Node's per-call 10,000).
const cleanBatch = 10000

// Clean deletes up to limit jobs (all when limit <= 0) of state (completed,
// failed, delayed, prioritized, waiting or active) older than grace, and
// returns their ids, as Node's Queue.clean: the pending run of a job
// scheduler is kept; a deleted flow child leaves its parent's
// dependencies, and a parent left without any is deleted too when in this
// queue, else moved to wait; dedup ids held by deleted jobs are released.
// An active job is deleted only when no worker holds it (its lock expired:
// its worker died before the stalled check moved it); the time compared
// with grace is when it was last taken. As in Node, the lists (waiting,
// active) are read per call from their oldest end, limit entries at a
// time (10,000 at most), so held active jobs there count against that
// window.
func (q *Queue) Clean(ctx context.Context, state State, grace time.Duration, limit int) ([]string, error) {
	key := q.k.state(state)
	if key == "" {
		return nil, fmt.Errorf("%w: cannot clean %q", ErrInvalidOption, state)
	}
	if limit <= 0 {
		limit = math.MaxInt
	}
	k := q.k
	cutoff := time.Now().Add(-grace).UnixMilli()
	var out []string
	for len(out) < limit {
		n := min(cleanBatch, limit-len(out))
		args, set := argv(argCleanSize)
		set(argCleanPrefix, k.base)
		set(argCleanState, string(state))
		set(argCleanCutoff, cutoff)
		set(argCleanLimit, n)
		ids, err := cleanScript.Run(ctx, q.rdb, []string{key, k.events, k.repeat}, args...).StringSlice()
		if err != nil {
			return out, fmt.Errorf("queue: clean %s: %w", state, err)
		}
		out = append(out, ids...)
		if len(ids) < n {
			break
		}
	}
	return out, nil
}

// Drain deletes every waiting and prioritized job, and the delayed ones
// when delayed is true, as Node's Queue.drain: the pending runs of job
// schedulers stay, a deleted flow child leaves its parent's dependencies
// (a parent left without any is deleted when in this queue, else moved to
// wait) and dedup ids held by deleted jobs are released. Active jobs are
// left alone.
func (q *Queue) Drain(ctx context.Context, delayed bool) error {
	k := q.k
	args, set := argv(argDrainSize)
	set(argDrainPrefix, k.base)
	set(argDrainDelayed, "0")
	if delayed {
		set(argDrainDelayed, "1")
	}
	if err := drainScript.Run(ctx, q.rdb, []string{k.wait, k.prioritized, k.delayed, k.events}, args...).Err(); err != nil {
		return fmt.Errorf("queue: drain: %w", err)
	}
	return nil
}

// Obliterate deletes the whole queue, jobs included. Without force it
// refuses (ErrJobLocked) while jobs are active. It deletes in batches;
// it returns when nothing is left.
func (q *Queue) Obliterate(ctx context.Context, force bool) error {
	k := q.k
	f := "0"
	if force {
		f = "1"
	}
	for {
		n, err := obliterateScript.Run(ctx, q.rdb, []string{k.meta, k.active}, k.base, f, 1000).Int()
		if err != nil {
			if isCode(obliterateScript.Err(err), "active") {
				return fmt.Errorf("%w: queue %s has active jobs", ErrJobLocked, q.name)
			}
			return fmt.Errorf("queue: obliterate: %w", err)
		}
		if n == 0 {
			return nil
		}
	}
}

func isCode(err error, code string) bool {
	var ce *script.CodeError
	return errors.As(err, &ce) && ce.Code == code
}

// State returns the state of job id ("" when it does not exist).
func (q *Queue) State(ctx context.Context, id string) (State, error) {
	k := q.k
	p := q.rdb.Pipeline()
	c := p.ZScore(ctx, k.completed, id)
	f := p.ZScore(ctx, k.failed, id)
	d := p.ZScore(ctx, k.delayed, id)
	pr := p.ZScore(ctx, k.prioritized, id)
	a := p.LPos(ctx, k.active, id, redis.LPosArgs{})
	w := p.LPos(ctx, k.wait, id, redis.LPosArgs{})
	wc := p.ZScore(ctx, k.waitingChildren, id)
	_, err := p.Exec(ctx)
	if err != nil && !errors.Is(err, redis.Nil) {
		return "", fmt.Errorf("queue: state %s: %w", id, err)
	}
	switch {
	case c.Err() == nil:
		return StateCompleted, nil
	case f.Err() == nil:
		return StateFailed, nil
	case d.Err() == nil:
		return StateDelayed, nil
	case pr.Err() == nil:
		return StatePrioritized, nil
	case a.Err() == nil:
		return StateActive, nil
	case w.Err() == nil:
		return StateWaiting, nil
	case wc.Err() == nil:
		return StateWaitingChildren, nil
	}
	return "", nil
}
