package redisconn

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rediskit/rediskit/internal/retry"
)

// LinearBackoff returns the article's min(attempt*step, cap).
func LinearBackoff(step, limit time.Duration) func(int) time.Duration {
	return func(attempt int) time.Duration {
		d := time.Duration(attempt) * step
		if d > limit || d < 0 {
			return limit
		}
		return d
	}
}

// retryHook retries commands that failed without reaching a server that
// could have applied them (internal/retry's NotApplied class: dial errors,
// CLUSTERDOWN, TRYAGAIN, LOADING, MASTERDOWN, READONLY) and read-only
// commands whose reply was lost (MaybeApplied), sleeping RetryBackoff between
// attempts, and asks for a topology reload at once on such errors: this is
// what makes a cluster client find the promoted replica within a second of
// the promotion instead of at the next 60 s reload.
type retryHook struct {
	max     int
	backoff func(int) time.Duration
	// budget is the sum of all backoff pauses: while a cluster failover is
	// under way (dead node), the hook re-checks the slot map every
	// recheck instead of sleeping the next backoff step, within budget.
	budget  time.Duration
	recheck time.Duration
	reload  func() // nil for non-cluster clients
	stats   *retryStats
}

type retryStats struct {
	retries, reloads atomic.Int64
}

var _ redis.Hook = retryHook{}

func (h retryHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h retryHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		var deadline time.Time
		for attempt := 1; ; {
			err := next(ctx, cmd)
			// Idempotency is looked at only on a failure: the success path
			// costs one closure call.
			if err == nil || attempt > h.max || !retry.Retryable(err, retry.Idempotent(cmd.Args())) || ctx.Err() != nil {
				return err
			}
			if deadline.IsZero() {
				deadline = time.Now().Add(h.budget)
			} else if time.Now().After(deadline) {
				return err
			}
			if !h.wait(ctx, &attempt, err) {
				return err
			}
			cmd.SetErr(nil)
		}
	}
}

func (h retryHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		var deadline time.Time
		for attempt := 1; ; {
			err := next(ctx, cmds)
			if err == nil || attempt > h.max || ctx.Err() != nil {
				return err
			}
			idempotent := true
			for _, c := range cmds {
				idempotent = idempotent && retry.Idempotent(c.Args())
			}
			if deadline.IsZero() {
				deadline = time.Now().Add(h.budget)
			} else if time.Now().After(deadline) {
				return err
			}
			// Retry a pipeline only when no command in it succeeded and
			// every failure may be retried: a partial success must not
			// be applied twice.
			for _, c := range cmds {
				if e := c.Err(); e == nil || !retry.Retryable(e, idempotent) {
					return err
				}
			}
			if !h.wait(ctx, &attempt, err) {
				return err
			}
			for _, c := range cmds {
				c.SetErr(nil)
			}
		}
	}
}

// wait pauses before the next try. A cluster error that hints at a
// topology change (a dead or demoted node) reloads the slot map and
// re-checks after h.recheck without using up an attempt: the total time is
// still bounded by the budget. Other errors use backoff(attempt) and count.
// This hook is the only place in the module that reloads a slot map.
func (h retryHook) wait(ctx context.Context, attempt *int, err error) bool {
	d := h.backoff(*attempt)
	if h.reload != nil && retry.TopologyHint(err) {
		h.stats.reloads.Add(1)
		h.reload()
		d = h.recheck
	} else {
		*attempt++
	}
	h.stats.retries.Add(1)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// Retryable reports whether err proves the command was not applied, so
// that any command may be sent again (internal/retry's NotApplied class:
// a failed dial, an exhausted pool, CLUSTERDOWN, TRYAGAIN, LOADING,
// MASTERDOWN, READONLY). A lost reply (EOF, reset, timeout) is not: the
// command may have run.
func Retryable(err error) bool { return retry.Classify(err) == retry.NotApplied }
