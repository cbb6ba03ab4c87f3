package lock_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rediskit/rediskit/internal/pgtest"
	"github.com/rediskit/rediskit/internal/redisproc"
	"github.com/rediskit/rediskit/internal/redistest"
	"github.com/rediskit/rediskit/lock"
)

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		os.Exit(helperMain())
	}
	// A private node for the examples that run (Example tests get no *testing.T).
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	ex, err := redisproc.StartServer(ctx, redisproc.ServerOptions{})
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "lock tests: start example server:", err)
		os.Exit(1)
	}
	exampleAddr = ex.Addr()
	code := m.Run()
	_ = ex.Close()
	redistest.Shutdown()
	pgtest.Shutdown()
	os.Exit(code)
}

func newLocker(t *testing.T, c redis.UniversalClient, opts lock.Options) (*lock.Locker, string) {
	t.Helper()
	if opts.Prefix == "" {
		opts.Prefix = redistest.Unique(t) + ":"
	}
	l := lock.New(c, opts)
	t.Cleanup(func() { _ = l.Close() })
	return l, opts.Prefix
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// Suite runs on the shared single node and cluster, and on a sentinel.
func TestSuite(t *testing.T) {
	redistest.ForEach(t, func(t *testing.T, tg redistest.Target) {
		t.Parallel()
		suite(t, func(t *testing.T) redis.UniversalClient { return tg.Client(t) })
	})
	t.Run("sentinel", func(t *testing.T) {
		t.Parallel()
		st := redistest.NewSentinel(t, redisproc.SentinelOptions{})
		suite(t, func(t *testing.T) redis.UniversalClient {
			c := redis.NewFailoverClient(&redis.FailoverOptions{MasterName: st.MasterName, SentinelAddrs: st.SentinelAddrs()})
			t.Cleanup(func() { _ = c.Close() })
			return c
		})
	})
}

func suite(t *testing.T, client func(t *testing.T) redis.UniversalClient) {
	t.Run("TakenAndTokens", func(t *testing.T) {
		c := client(t)
		ctx := ctxT(t, 20*time.Second)
		a, prefix := newLocker(t, c, lock.Options{Holder: "alpha"})
		b := lock.New(c, lock.Options{Prefix: prefix, Holder: "beta"})
		defer b.Close()
		la, err := a.TryAcquire(ctx, "job", 10*time.Second)
		if err != nil {
			t.Fatalf("TryAcquire: %v", err)
		}
		_, err = b.TryAcquire(ctx, "job", 10*time.Second)
		var te *lock.TakenError
		if !errors.Is(err, lock.ErrTaken) || !errors.As(err, &te) {
			t.Fatalf("second TryAcquire: %v, want ErrTaken", err)
		}
		if te.Holder != "alpha" || te.Token != la.Token() || te.TTL <= 0 || te.TTL > 10*time.Second {
			t.Errorf("TakenError = %+v, want holder alpha, token %d, ttl in (0, 10s]", te, la.Token())
		}
		if err := la.Release(ctx); err != nil {
			t.Fatalf("Release: %v", err)
		}
		select {
		case <-la.Lost():
		default:
			t.Error("Lost() not closed after Release")
		}
		if !errors.Is(la.Err(), lock.ErrNotHeld) || errors.Is(la.Err(), lock.ErrLost) {
			t.Errorf("Err after release = %v, want ErrNotHeld only", la.Err())
		}
		if err := la.Release(ctx); err != nil {
			t.Errorf("second Release: %v, want nil", err)
		}
		prev := la.Token()
		for range 3 {
			lb, err := b.TryAcquire(ctx, "job", 10*time.Second)
			if err != nil {
				t.Fatalf("TryAcquire after release: %v", err)
			}
			if lb.Token() <= prev {
				t.Errorf("token %d after %d: not increasing", lb.Token(), prev)
			}
			prev = lb.Token()
			if err := lb.Release(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := a.TryAcquire(ctx, "a{b}", time.Second); !errors.Is(err, lock.ErrInvalidName) {
			t.Errorf("name with brace: %v, want ErrInvalidName", err)
		}
	})

	t.Run("ReleaseNotHeldIsNoop", func(t *testing.T) {
		c := client(t)
		ctx := ctxT(t, 20*time.Second)
		l, prefix := newLocker(t, c, lock.Options{})
		stale, err := l.TryAcquire(ctx, "r", 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		// Someone removes it (an expiry would do the same), another owner
		// takes it.
		if err := c.Del(ctx, prefix+"{r}").Err(); err != nil {
			t.Fatal(err)
		}
		cur, err := l.TryAcquire(ctx, "r", 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		before, _ := c.Get(ctx, prefix+"{r}").Result()
		err = stale.Release(ctx)
		if !errors.Is(err, lock.ErrNotHeld) || !errors.Is(err, lock.ErrLost) {
			t.Errorf("stale Release: %v, want ErrNotHeld and ErrLost", err)
		}
		after, _ := c.Get(ctx, prefix+"{r}").Result()
		if before == "" || after != before {
			t.Errorf("current holder's key changed by a stale release: %q -> %q", before, after)
		}
		if cur.Err() != nil {
			t.Errorf("current lease: %v", cur.Err())
		}
		_ = cur.Release(ctx)
	})

	t.Run("ExtendFailureSurfaced", func(t *testing.T) {
		c := client(t)
		ctx := ctxT(t, 20*time.Second)
		l, prefix := newLocker(t, c, lock.Options{})
		le, err := l.TryAcquire(ctx, "e", 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if err := le.Extend(ctx, 20*time.Second); err != nil {
			t.Fatalf("Extend: %v", err)
		}
		if pttl := c.PTTL(ctx, prefix+"{e}").Val(); pttl <= 10*time.Second {
			t.Errorf("PTTL after extend = %v, want > 10s", pttl)
		}
		if err := c.Del(ctx, prefix+"{e}").Err(); err != nil {
			t.Fatal(err)
		}
		if err := le.Extend(ctx, 20*time.Second); !errors.Is(err, lock.ErrLost) {
			t.Fatalf("Extend of a deleted lock: %v, want ErrLost", err)
		}
		select {
		case <-le.Lost():
		default:
			t.Fatal("Lost() not closed after a failed extend")
		}
		if err := le.Extend(ctx, time.Second); !errors.Is(err, lock.ErrNotHeld) {
			t.Errorf("Extend after loss: %v, want ErrNotHeld", err)
		}
		s := l.Stats()
		if s.Extended != 1 || s.ExtendFailed != 2 || s.Lost != 1 {
			t.Errorf("stats = %+v, want 1 extended, 2 failed, 1 lost", s.Counters)
		}
	})

	t.Run("DoLossCancelsWithinTTLThird", func(t *testing.T) {
		c := client(t)
		ctx := ctxT(t, 30*time.Second)
		l, prefix := newLocker(t, c, lock.Options{})
		const ttl = 3 * time.Second
		started := make(chan struct{})
		var cancelledAfter time.Duration
		var deleted time.Time
		var cause error
		err := l.Do(ctx, "d", ttl, func(fctx context.Context, le *lock.Lease) error {
			close(started)
			// Delete from outside, then wait for the cancellation.
			deleted = time.Now()
			if err := c.Del(ctx, prefix+"{d}").Err(); err != nil {
				return err
			}
			<-fctx.Done()
			cancelledAfter = time.Since(deleted)
			cause = context.Cause(fctx)
			return fctx.Err()
		})
		if !errors.Is(err, lock.ErrLost) || !errors.Is(err, context.Canceled) {
			t.Errorf("Do = %v, want ErrLost joined with context.Canceled", err)
		}
		if !errors.Is(cause, lock.ErrLost) {
			t.Errorf("context.Cause = %v, want ErrLost", cause)
		}
		if cancelledAfter > ttl/3 {
			t.Errorf("fn ctx cancelled %v after the delete, want <= %v", cancelledAfter, ttl/3)
		}
		t.Logf("cancelled %v after the delete", cancelledAfter)
	})

	t.Run("DoReleasesOnPanic", func(t *testing.T) {
		c := client(t)
		ctx := ctxT(t, 20*time.Second)
		l, prefix := newLocker(t, c, lock.Options{})
		func() {
			defer func() {
				if r := recover(); r != "boom" {
					t.Errorf("recovered %v, want boom", r)
				}
			}()
			_ = l.Do(ctx, "p", 10*time.Second, func(context.Context, *lock.Lease) error { panic("boom") })
		}()
		if n := c.Exists(ctx, prefix+"{p}").Val(); n != 0 {
			t.Errorf("lock key still exists after panic")
		}
		if err := l.Do(ctx, "p", 10*time.Second, func(context.Context, *lock.Lease) error { return nil }); err != nil {
			t.Errorf("Do after panic: %v", err)
		}
	})

	t.Run("WaiterWokenByRelease", func(t *testing.T) {
		c := client(t)
		ctx := ctxT(t, 20*time.Second)
		// Fallback polling far away: only the release message can wake.
		l, _ := newLocker(t, c, lock.Options{PollEvery: time.Minute})
		held, err := l.TryAcquire(ctx, "w", 30*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		got := make(chan time.Time, 1)
		errc := make(chan error, 1)
		go func() {
			le, err := l.Acquire(ctx, "w", 30*time.Second)
			if err != nil {
				errc <- err
				return
			}
			got <- time.Now()
			_ = le.Release(ctx)
		}()
		redistest.Eventually(t, 5*time.Second, "waiter contended", func() bool { return l.Stats().Contended >= 2 })
		released := time.Now()
		if err := held.Release(ctx); err != nil {
			t.Fatal(err)
		}
		select {
		case at := <-got:
			if d := at.Sub(released); d > time.Second {
				t.Errorf("waiter started %v after release, want well under the 1 min fallback", d)
			} else {
				t.Logf("handoff %v", d)
			}
		case err := <-errc:
			t.Fatal(err)
		case <-ctx.Done():
			t.Fatal("waiter never woke")
		}
		s := l.Stats()
		if s.Waits != 1 || s.ByName["w"].Acquired != 2 {
			t.Errorf("stats %+v, want 1 wait, 2 acquisitions of w", s)
		}
	})

	t.Run("MaxWaitAndCancel", func(t *testing.T) {
		c := client(t)
		ctx := ctxT(t, 20*time.Second)
		l, prefix := newLocker(t, c, lock.Options{MaxWait: 300 * time.Millisecond, Holder: "h1"})
		held, err := l.TryAcquire(ctx, "m", 30*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer held.Release(ctx)
		start := time.Now()
		_, err = l.Acquire(ctx, "m", time.Second)
		var te *lock.TakenError
		if !errors.As(err, &te) || te.Holder != "h1" {
			t.Errorf("Acquire past MaxWait: %v, want *TakenError from h1", err)
		}
		if d := time.Since(start); d < 300*time.Millisecond || d > 5*time.Second {
			t.Errorf("gave up after %v, want about 300ms", d)
		}
		l2 := lock.New(c, lock.Options{Prefix: prefix})
		defer l2.Close()
		cctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		defer cancel()
		err = l2.Do(cctx, "m", time.Second, func(context.Context, *lock.Lease) error { return nil })
		if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, lock.ErrTaken) {
			t.Errorf("Do with expiring ctx: %v, want context.DeadlineExceeded", err)
		}
	})

	t.Run("FairFIFO", func(t *testing.T) {
		c := client(t)
		ctx := ctxT(t, 30*time.Second)
		// Two Lockers stand for two processes; fallback polling is far
		// away, so only the release naming the head can wake a waiter.
		l1, prefix := newLocker(t, c, lock.Options{Fair: true, PollEvery: time.Minute})
		l2 := lock.New(c, lock.Options{Prefix: prefix, Fair: true, PollEvery: time.Minute})
		defer l2.Close()
		held, err := l1.TryAcquire(ctx, "f", 30*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		const n = 6
		order := make(chan int, n)
		for i := range n {
			l := l1
			if i%2 == 1 {
				l = l2
			}
			go func() {
				le, err := l.Acquire(ctx, "f", 30*time.Second)
				if err != nil {
					t.Error(err)
					order <- -1
					return
				}
				order <- i
				_ = le.Release(ctx)
			}()
			redistest.Eventually(t, 5*time.Second, "waiter queued", func() bool {
				return c.ZCard(ctx, prefix+"{f}:queue").Val() == int64(i+1)
			})
		}
		if err := held.Release(ctx); err != nil {
			t.Fatal(err)
		}
		for want := range n {
			select {
			case got := <-order:
				if got != want {
					t.Fatalf("holder %d came in place %d", got, want)
				}
			case <-ctx.Done():
				t.Fatal("fair waiters stalled")
			}
		}
		if n := c.Exists(ctx, prefix+"{f}:queue").Val(); n != 0 {
			t.Error("queue not empty at the end")
		}
	})

	t.Run("FairDeadWaiterExpires", func(t *testing.T) {
		c := client(t)
		ctx := ctxT(t, 30*time.Second)
		l, prefix := newLocker(t, c, lock.Options{Fair: true, PollEvery: 100 * time.Millisecond})
		// A waiter that queued and died: its entry expires 300 ms from now.
		deadline := time.Now().Add(300 * time.Millisecond).UnixMilli()
		c.ZAdd(ctx, prefix+"{g}:queue", redis.Z{Score: 0, Member: "ghost"})
		c.HSet(ctx, prefix+"{g}:waiters", "ghost", deadline)
		_, err := l.TryAcquire(ctx, "g", 10*time.Second)
		var te *lock.TakenError
		if !errors.As(err, &te) || te.Holder != "" {
			t.Fatalf("TryAcquire ahead of a queued waiter: %v, want ErrTaken with no holder", err)
		}
		start := time.Now()
		le, err := l.Acquire(ctx, "g", 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("took %v to pass a dead waiter", d)
		}
		_ = le.Release(ctx)
	})

	t.Run("ConcurrentNames", func(t *testing.T) {
		c := client(t)
		ctx := ctxT(t, 30*time.Second)
		l, _ := newLocker(t, c, lock.Options{StatsNames: 3})
		var wg sync.WaitGroup
		errs := make(chan error, 100)
		for i := range 10 {
			name := string(rune('a' + i))
			wg.Go(func() {
				for range 5 {
					if err := l.Do(ctx, name, 5*time.Second, func(context.Context, *lock.Lease) error { return nil }); err != nil {
						errs <- err
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		s := l.Stats()
		if s.Acquired != 50 || s.Released != 50 || len(s.ByName) != 4 || s.ByName[lock.OtherNames].Acquired != 35 {
			t.Errorf("stats %+v, want 50 acquired/released, 3 names + %s with 35", s, lock.OtherNames)
		}
	})
}

var exampleAddr string

// exampleClient connects to the shared single node (started on demand).
func exampleClient() *redis.Client {
	return redis.NewClient(&redis.Options{Addr: exampleAddr})
}

// TestDoRedisUnreachable: a paused server cannot extend the lease; fn's
// ctx is cancelled when the validity runs out, the failures are counted,
// and Do returns promptly after fn.
func TestDoRedisUnreachable(t *testing.T) {
	s := redistest.NewSingle(t, redisproc.ServerOptions{})
	c := redis.NewClient(&redis.Options{Addr: s.Addr(), MaxRetries: -1})
	defer c.Close()
	l, _ := newLocker(t, c, lock.Options{})
	ctx := ctxT(t, 30*time.Second)
	const ttl = 2 * time.Second
	var paused time.Time
	var cause error
	var cancelledAfter time.Duration
	err := l.Do(ctx, "u", ttl, func(fctx context.Context, le *lock.Lease) error {
		if err := s.Pause(); err != nil {
			return err
		}
		paused = time.Now()
		<-fctx.Done()
		cancelledAfter = time.Since(paused)
		cause = context.Cause(fctx)
		return nil
	})
	returned := time.Since(paused)
	_ = s.Resume()
	if !errors.Is(err, lock.ErrLost) || !errors.Is(cause, lock.ErrLost) {
		t.Errorf("Do = %v, cause %v; want ErrLost", err, cause)
	}
	// Valid for ttl - 1% - 2 ms after the acquire, which came before
	// the pause.
	if cancelledAfter > ttl+500*time.Millisecond || cancelledAfter < ttl/2 {
		t.Errorf("fn ctx cancelled %v after the pause, want about %v", cancelledAfter, ttl)
	}
	if returned > cancelledAfter+time.Second {
		t.Errorf("Do returned %v after the pause, %v after fn's ctx ended", returned, returned-cancelledAfter)
	}
	if s := l.Stats(); s.Lost != 1 {
		t.Errorf("stats %+v, want 1 loss", s.Counters)
	}
	// The extend that was in flight fails at its deadline (the validity).
	redistest.Eventually(t, 5*time.Second, "extend failure counted", func() bool { return l.Stats().ExtendFailed > 0 })
}
