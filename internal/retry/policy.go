package retry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// Policy bounds retries. The zero value means the defaults named on each
// field; it is safe to copy.
type Policy struct {
	// Min is the first pause and the step of the linear ramp (the
	// article's min(n*100ms, 3s)). Zero means 100 ms.
	Min time.Duration
	// Max caps one pause. Zero means 3 s.
	Max time.Duration
	// Budget caps the time spent pausing over all tries of one operation.
	// Zero means 10 s.
	Budget time.Duration
	// Attempts caps the number of tries after the first. Zero means 10;
	// negative means none.
	Attempts int
}

// Default is the module's policy: 100 ms steps up to 3 s, at most 10
// retries and 10 s of pauses.
var Default = Policy{}

func (p Policy) withDefaults() Policy {
	if p.Min <= 0 {
		p.Min = 100 * time.Millisecond
	}
	if p.Max <= 0 {
		p.Max = 3 * time.Second
	}
	if p.Budget <= 0 {
		p.Budget = 10 * time.Second
	}
	switch {
	case p.Attempts == 0:
		p.Attempts = 10
	case p.Attempts < 0:
		p.Attempts = 0
	}
	return p
}

// Backoff returns the pause before retry attempt n (1-based): min(n*Min,
// Max) with ±20 % jitter so that many clients recovering from one
// failover do not reconnect in step.
func (p Policy) Backoff(attempt int) time.Duration {
	p = p.withDefaults()
	if attempt < 1 {
		attempt = 1
	}
	d := time.Duration(attempt) * p.Min
	if d > p.Max || d <= 0 {
		d = p.Max
	}
	return jitter(d)
}

// jitter spreads d over [0.8d, 1.2d).
func jitter(d time.Duration) time.Duration {
	return d*4/5 + time.Duration(rand.Int64N(int64(d)*2/5+1))
}

// Do runs fn until it succeeds, returns an error Retryable does not allow
// (MaybeApplied errors are retried only when idempotent), ctx ends, or
// the policy's attempts or budget run out. The last error is returned;
// when ctx ended during a pause, ctx's error is joined to it.
func Do(ctx context.Context, p Policy, idempotent bool, fn func(context.Context) error) error {
	p = p.withDefaults()
	var spent time.Duration
	for attempt := 1; ; attempt++ {
		err := fn(ctx)
		if err == nil || !Retryable(err, idempotent) || attempt > p.Attempts || ctx.Err() != nil {
			return err
		}
		d := p.Backoff(attempt)
		if spent+d > p.Budget {
			return err
		}
		spent += d
		if werr := sleep(ctx, d); werr != nil {
			return errors.Join(err, werr)
		}
	}
}

// sleep pauses for d or until ctx ends (returning its error).
func sleep(ctx context.Context, d time.Duration) error {
	if err := Sleep(ctx, d); err != nil {
		return fmt.Errorf("retry: %w", err)
	}
	return nil
}

// Sleep pauses for d or until ctx ends, returning context.Cause(ctx)
// then: the module's one timer wait for backoffs, polls and rate limits.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-t.C:
		return nil
	}
}

// stopError ends a Loop.
type stopError struct{ err error }

func (e stopError) Error() string { return e.err.Error() }
func (e stopError) Unwrap() error { return e.err }

// Stop wraps err so that Loop.Run returns it instead of retrying.
func Stop(err error) error { return stopError{err} }

// Loop owns a long-running reader (an events tail, a tracking link, a
// notification subscriber, a relay): Run calls its step again and again;
// each failure is counted, logged (at most once a LogEvery per loop,
// with the number of failures in between), and followed by a backoff
// that grows while the failures last and resets after a success. The
// zero value works (no name, slog.Default, Default policy, 10 s between
// log lines). A Loop is safe for concurrent use by Run and the readers of
// its counters; run one Run at a time.
type Loop struct {
	// Name identifies the loop in log lines ("queue events emails").
	Name string
	// Log receives the error lines. Nil means slog.Default().
	Log *slog.Logger
	// Policy shapes the pauses; its Attempts and Budget do not apply (a
	// loop never gives up while ctx lives). The pause is capped by Max.
	Policy Policy
	// LogEvery rate-limits error lines. Zero means 10 s.
	LogEvery time.Duration

	errs    atomic.Int64
	mu      sync.Mutex
	last    error
	lastLog time.Time
	quiet   int64 // failures not logged since lastLog
}

// Run calls step until ctx ends (returning nil) or step returns an error
// made with Stop (returning the wrapped error). A step that returns nil
// is called again at once: steps block on their own reads.
func (l *Loop) Run(ctx context.Context, step func(context.Context) error) error {
	failures := 0
	for {
		if ctx.Err() != nil {
			return nil
		}
		err := step(ctx)
		var stop stopError
		switch {
		case errors.As(err, &stop):
			return stop.err
		case err == nil:
			failures = 0
			continue
		case ctx.Err() != nil:
			return nil
		}
		failures++
		l.record(err)
		if sleep(ctx, l.Policy.Backoff(failures)) != nil {
			return nil
		}
	}
}

func (l *Loop) record(err error) {
	l.errs.Add(1)
	l.mu.Lock()
	l.last = err
	every := l.LogEvery
	if every <= 0 {
		every = 10 * time.Second
	}
	now := time.Now()
	if !l.lastLog.IsZero() && now.Sub(l.lastLog) < every {
		l.quiet++
		l.mu.Unlock()
		return
	}
	skipped := l.quiet
	l.quiet = 0
	l.lastLog = now
	l.mu.Unlock()
	log := l.Log
	if log == nil {
		log = slog.Default()
	}
	log.Warn("rediskit: loop error, retrying", "loop", l.Name, "err", err, "class", Classify(err).String(),
		"errors_total", l.errs.Load(), "not_logged", skipped)
}

// Errors returns how many times the step failed.
func (l *Loop) Errors() int64 { return l.errs.Load() }

// LastError returns the step's last error, or nil.
func (l *Loop) LastError() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.last
}
