package lock

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Do runs fn while holding the lock name: the equivalent of a
// @DistributedLock decorator.
//
// It acquires like Acquire (waiting up to Options.MaxWait, woken on
// release). While fn runs, the lease is extended every Options.ExtendEvery
// (ttl/4 by default) on its own timer, whatever fn does. fn's ctx is
// cancelled the moment the lock is lost, with context.Cause(ctx) wrapping
// ErrLost, and when fn runs past Options.MaxHold (10 × ttl by default),
// with ErrHoldExceeded; extension stops then and the lock expires unless
// fn returns first. The lock is released when fn returns, and when fn
// panics (the panic then goes on).
//
// Do returns the acquire error, or fn's error joined with the loss or
// hold-exceeded error, if any. When the caller's ctx ends while waiting it
// returns ctx's error, wrapped.
func (l *Locker) Do(ctx context.Context, name string, ttl time.Duration, fn func(ctx context.Context, l *Lease) error) (err error) {
	le, err := l.acquire(ctx, name, ttl)
	if err != nil {
		return err
	}
	every := l.opts.ExtendEvery
	if every <= 0 {
		every = ttl / 4
	}
	hold := l.opts.MaxHold
	if hold == 0 {
		hold = 10 * ttl
	}
	fctx, cancel := context.WithCancelCause(ctx)
	le.startWatch(every, max(hold, 0), cancel)
	defer func() {
		// Runs on return and while a panic unwinds; the panic continues.
		cancel(context.Canceled)
		rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), ttl)
		defer rcancel()
		rerr := le.Release(rctx)
		if err == nil && rerr != nil && !errors.Is(rerr, ErrNotHeld) {
			err = rerr
		}
	}()
	err = fn(fctx, le)
	if lerr := le.Err(); lerr != nil {
		return errors.Join(err, fmt.Errorf("lock: do %q: %w", name, lerr))
	}
	if cause := context.Cause(fctx); errors.Is(cause, ErrHoldExceeded) {
		return errors.Join(err, cause)
	}
	return err
}
