package lock_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/rediskit/rediskit/internal/clock"
	"github.com/rediskit/rediskit/internal/redistest"
	"github.com/rediskit/rediskit/lock"
)

// The timing logic runs on a fake clock against a real Redis: validity,
// automatic extension, maximum hold, fallback polling and MaxWait.

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// fakeClock makes the internal fake clock a lock.Clock: the interface is
// public, so any clock a user writes fits it the same way.
type fakeClock struct{ *clock.Fake }

func (f fakeClock) NewTimer(d time.Duration) lock.Timer { return f.Fake.NewTimer(d) }

var _ lock.Clock = fakeClock{}

func waitTimers(t *testing.T, f *clock.Fake, n int) {
	t.Helper()
	redistest.Eventually(t, 5*time.Second, "timers armed", func() bool { return f.Timers() >= n })
}

func closedWithin(ch <-chan struct{}, d time.Duration) bool {
	select {
	case <-ch:
		return true
	case <-time.After(d):
		return false
	}
}

func TestFakeClockValidity(t *testing.T) {
	c := redistest.SingleTarget(t).Client(t)
	f := clock.NewFake(epoch)
	l, _ := newLocker(t, c, lock.Options{Clock: fakeClock{f}})
	ctx := ctxT(t, 20*time.Second)
	le, err := l.TryAcquire(ctx, "v", 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	// validity = ttl - elapsed (0 on a fake clock) - (1% of ttl + 2 ms)
	if want := epoch.Add(10*time.Second - 102*time.Millisecond); !le.ValidUntil().Equal(want) {
		t.Fatalf("ValidUntil = %v, want %v", le.ValidUntil(), want)
	}
	lost := le.Lost()
	waitTimers(t, f, 1)
	f.Advance(5 * time.Second)
	if err := le.Extend(ctx, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	f.Advance(9 * time.Second) // 14 s: valid until 14.898 s
	if le.Err() != nil {
		t.Fatalf("lost before its validity: %v", le.Err())
	}
	f.Advance(time.Second)
	if !closedWithin(lost, 5*time.Second) {
		t.Fatal("Lost() not closed after validity passed")
	}
	if !errors.Is(le.Err(), lock.ErrLost) {
		t.Errorf("Err = %v, want ErrLost", le.Err())
	}
	// The key itself is still there (real ttl); Release cleans it up and
	// reports the loss.
	if err := le.Release(ctx); !errors.Is(err, lock.ErrLost) {
		t.Errorf("Release after loss: %v, want ErrLost", err)
	}
}

func TestFakeClockDoExtendsThenHoldExceeded(t *testing.T) {
	c := redistest.SingleTarget(t).Client(t)
	f := clock.NewFake(epoch)
	l, prefix := newLocker(t, c, lock.Options{Clock: fakeClock{f}, MaxHold: 12 * time.Second})
	ctx := ctxT(t, 30*time.Second)
	const ttl = 10 * time.Second // extended every 2.5 s
	started := make(chan *lock.Lease)
	errc := make(chan error, 1)
	var cause error
	go func() {
		errc <- l.Do(ctx, "x", ttl, func(fctx context.Context, le *lock.Lease) error {
			started <- le
			<-fctx.Done()
			cause = context.Cause(fctx)
			return fctx.Err()
		})
	}()
	le := <-started
	waitTimers(t, f, 3) // expiry, extension, hold
	for i := 1; i <= 4; i++ {
		f.Advance(2500 * time.Millisecond)
		redistest.Eventually(t, 5*time.Second, "extension", func() bool {
			return l.Stats().Extended == uint64(i) && f.Timers() == 3
		})
		want := epoch.Add(time.Duration(i)*2500*time.Millisecond + ttl - 102*time.Millisecond)
		if !le.ValidUntil().Equal(want) {
			t.Fatalf("after extension %d: ValidUntil %v, want %v", i, le.ValidUntil(), want)
		}
	}
	f.Advance(2 * time.Second) // 12 s: MaxHold
	select {
	case err := <-errc:
		if !errors.Is(err, lock.ErrHoldExceeded) || !errors.Is(cause, lock.ErrHoldExceeded) {
			t.Errorf("Do = %v (cause %v), want ErrHoldExceeded", err, cause)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("fn ctx not cancelled at MaxHold")
	}
	if l.Stats().Extended != 4 {
		t.Errorf("extended %d times, want 4", l.Stats().Extended)
	}
	if n := c.Exists(ctx, prefix+"{x}").Val(); n != 0 {
		t.Error("lock not released after Do returned")
	}
}

func TestFakeClockFallbackPollAndMaxWait(t *testing.T) {
	c := redistest.SingleTarget(t).Client(t)
	f := clock.NewFake(epoch)
	l, prefix := newLocker(t, c, lock.Options{Clock: fakeClock{f}, PollEvery: 10 * time.Second})
	ctx := ctxT(t, 20*time.Second)
	// A holder that will vanish without a release message.
	if err := c.Set(ctx, prefix+"{f}", "dead:1:crashed", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	got := make(chan error, 1)
	go func() {
		le, err := l.Acquire(ctx, "f", time.Minute)
		if err == nil {
			err = le.Release(ctx)
		}
		got <- err
	}()
	redistest.Eventually(t, 5*time.Second, "waiter sleeping", func() bool { return l.Stats().Contended >= 2 && f.Timers() >= 1 })
	if err := c.Del(ctx, prefix+"{f}").Err(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-got:
		t.Fatalf("waiter returned before its fallback timer: %v", err)
	default:
	}
	f.Advance(12 * time.Second) // PollEvery + 20 % jitter at most
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("fallback poll did not retry")
	}

	// MaxWait on the same clock.
	lw := lock.New(c, lock.Options{Prefix: prefix, Clock: fakeClock{f}, MaxWait: 30 * time.Second, PollEvery: time.Hour})
	defer lw.Close()
	held, err := lw.TryAcquire(ctx, "m", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Release(ctx)
	errc := make(chan error, 1)
	go func() {
		_, err := lw.Acquire(ctx, "m", time.Minute)
		errc <- err
	}()
	redistest.Eventually(t, 5*time.Second, "waiter sleeping", func() bool { return lw.Stats().Contended >= 2 && f.Timers() >= 2 })
	f.Advance(30 * time.Second)
	select {
	case err := <-errc:
		if !errors.Is(err, lock.ErrTaken) {
			t.Errorf("after MaxWait: %v, want ErrTaken", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("MaxWait did not end the wait")
	}
}
