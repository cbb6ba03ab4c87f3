package redisconn

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
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
// could have applied them (dial errors, closed connections, CLUSTERDOWN,
// TRYAGAIN, LOADING, MASTERDOWN, READONLY), sleeping RetryBackoff between
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
			if err == nil || attempt > h.max || !Retryable(err) || ctx.Err() != nil {
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
			if deadline.IsZero() {
				deadline = time.Now().Add(h.budget)
			} else if time.Now().After(deadline) {
				return err
			}
			// Retry a pipeline only when no command in it succeeded and
			// every failure is retryable: a partial success must not be
			// applied twice.
			for _, c := range cmds {
				if e := c.Err(); e == nil || !Retryable(e) {
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
func (h retryHook) wait(ctx context.Context, attempt *int, err error) bool {
	d := h.backoff(*attempt)
	if h.reload != nil && topologyHint(err) {
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

// Retryable reports whether err means the command was not applied and may
// be sent again: a failed dial, a connection closed under it before a
// reply, or a cluster/replication state reply that asks the client to try
// later. Timeouts on a sent command are not retryable (the command may have
// run), nor are context errors.
func Retryable(err error) bool {
	if err == nil {
		return false
	}
	if isDial(err) {
		return true
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EPIPE) {
		return true
	}
	msg := err.Error()
	for _, p := range []string{"CLUSTERDOWN", "TRYAGAIN", "LOADING", "MASTERDOWN", "READONLY"} {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return strings.Contains(msg, "connection refused") || strings.Contains(msg, "connection reset")
}

func isDial(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// topologyHint reports errors that suggest the slot map changed.
func topologyHint(err error) bool {
	if isDial(err) || errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) {
		return true
	}
	msg := err.Error()
	return strings.HasPrefix(msg, "CLUSTERDOWN") || strings.HasPrefix(msg, "READONLY") ||
		strings.HasPrefix(msg, "MASTERDOWN") || strings.Contains(msg, "connection refused")
}
