package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rediskit/rediskit/migrate"
	"github.com/rediskit/rediskit/queue"
)

// runMigrateCutover is `rediskit migrate cutover`: sync until the lag is
// under -max-lag and verify is clean, pause the BullMQ queues on the
// source and wait for their active jobs to finish, optionally pause
// writes on the source, drain every change to the target, stop syncing,
// carry the lock fence counters over with a bump, resume the queues on
// the target, and report. The runbook is docs/MIGRATION.md.
func runMigrateCutover(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("migrate cutover", flag.ContinueOnError)
	fs.SetOutput(stderr)
	mf := addMigrateFlags(fs)
	maxLag := fs.Duration("max-lag", time.Second, "sync lag under which the switch starts")
	queues := fs.String("queues", "", "comma-separated BullMQ queue names to move (paused on the source, resumed on the target)")
	queuePrefix := fs.String("queue-prefix", "bull", "BullMQ key prefix of those queues")
	lockPrefix := fs.String("lock-prefix", "rediskit:lock:", "rediskit lock key prefix whose fence counters are carried over")
	bump := fs.Int64("fence-bump", 0, "added to every fence counter on the target (0 = 1,000,000)")
	drainTimeout := fs.Duration("drain-timeout", 5*time.Minute, "how long to wait for active jobs to finish on the source")
	pauseWrites := fs.Duration("pause-writes", 0, "CLIENT PAUSE WRITE on every source master for this long once queues are drained (0 = do not pause; then stop the writers yourself)")
	tol := fs.Duration("ttl-tolerance", 0, "verify: accepted difference between absolute expiries")
	sd, err := parseAndConnect(ctx, fs, args)
	if err != nil {
		return err
	}
	defer sd.Close()
	say := func(format string, a ...any) { fmt.Fprintf(stdout, "cutover: "+format+"\n", a...) }

	m := migrate.New(sd.src.Client, sd.dst.Client, mf.options(stderr))
	syncCtx, stopSync := context.WithCancel(ctx)
	defer stopSync()
	syncDone := make(chan error, 1)
	go func() { syncDone <- m.Sync(syncCtx) }()
	stopBar := startProgress(syncCtx, m, *mf.progress, stderr)
	stopped := false
	stop := func() error {
		if stopped {
			return nil
		}
		stopped = true
		stopSync()
		stopBar()
		if err := <-syncDone; err != nil && !errors.Is(err, context.Canceled) {
			return err
		}
		return nil
	}
	defer func() { _ = stop() }()

	// 1. Lag under the bound.
	if err := waitStatus(ctx, m, syncDone, func(s migrate.Status) bool {
		return s.Phase == migrate.PhaseSync && s.LagSeconds < maxLag.Seconds()
	}); err != nil {
		if ctx.Err() == nil {
			stopped = true // sync ended by itself
			stopBar()
		}
		return fmt.Errorf("migrate cutover: waiting for sync: %w", err)
	}
	say("sync caught up (lag %.3fs)", m.Status().LagSeconds)
	// 2. Verify.
	rep, err := migrate.Verify(ctx, sd.src.Client, sd.dst.Client, migrate.VerifyOptions{TTLTolerance: *tol})
	if err != nil {
		return fmt.Errorf("migrate cutover: verify: %w", err)
	}
	if !rep.Clean() {
		writeVerifyReport(stdout, rep)
		return errors.New("migrate cutover: verify found differences; nothing was switched")
	}
	say("verify clean: %v", rep)
	// 3. Queues: pause on the source, wait for active jobs.
	var qs []*queue.Queue
	for name := range strings.SplitSeq(*queues, ",") {
		if name = strings.TrimSpace(name); name == "" {
			continue
		}
		q, err := queue.New(sd.src.Client, name, queue.Options{Prefix: *queuePrefix})
		if err != nil {
			return fmt.Errorf("migrate cutover: queue %q: %w", name, err)
		}
		if err := q.Pause(ctx); err != nil {
			return fmt.Errorf("migrate cutover: pause %q on the source: %w", name, err)
		}
		qs = append(qs, q)
		say("queue %q paused on the source", name)
	}
	resumeSource := func() {
		for _, q := range qs {
			_ = q.Resume(context.WithoutCancel(ctx))
		}
	}
	dctx, cancel := context.WithTimeout(ctx, *drainTimeout)
	for _, q := range qs {
		err := pollUntil(dctx, func() (bool, error) {
			c, err := q.Counts(dctx)
			return err == nil && c.Active == 0, err
		})
		if err != nil {
			cancel()
			resumeSource()
			return fmt.Errorf("migrate cutover: queue %q still has active jobs after %v (%w); queues resumed on the source, nothing switched", q.Name(), *drainTimeout, err)
		}
	}
	cancel()
	if len(qs) > 0 {
		say("no active job left on the source")
	}
	// 4. Optional write pause on the source.
	if *pauseWrites > 0 {
		err := forEachSourceMaster(ctx, sd.src.Client, func(n *redis.Client) error {
			return n.Do(ctx, "CLIENT", "PAUSE", pauseWrites.Milliseconds(), "WRITE").Err()
		})
		if err != nil {
			resumeSource()
			return fmt.Errorf("migrate cutover: CLIENT PAUSE on the source (refused by some managed services; stop the writers instead): %w", err)
		}
		say("writes paused on the source for %v", *pauseWrites)
	}
	// 5. Drain, stop syncing.
	if err := m.Drain(ctx); err != nil {
		resumeSource()
		return fmt.Errorf("migrate cutover: drain: %w", err)
	}
	s := m.Status()
	if err := stop(); err != nil {
		return err
	}
	say("every change applied; sync stopped (applied %d keys, %d gaps repaired)", s.Applied, s.Gaps)
	// 6. Fences, then queues on the target.
	n, err := migrate.CarryFences(ctx, sd.src.Client, sd.dst.Client, *lockPrefix, *bump)
	if err != nil {
		return fmt.Errorf("migrate cutover: %w", err)
	}
	say("%d lock fence counters carried over and bumped", n)
	for _, q := range qs {
		tq, err := queue.New(sd.dst.Client, q.Name(), queue.Options{Prefix: *queuePrefix})
		if err == nil {
			err = tq.Resume(ctx)
		}
		if err != nil {
			return fmt.Errorf("migrate cutover: resume %q on the target: %w", q.Name(), err)
		}
		c, _ := tq.Counts(ctx)
		say("queue %q resumed on the target: %d waiting, %d delayed, %d prioritized", q.Name(), c.Waiting, c.Delayed, c.Prioritized)
	}
	say("done: point the applications at the target now (TARGET_REDIS_* become their REDIS_*); the source queues stay paused")
	return nil
}

func waitStatus(ctx context.Context, m *migrate.Migrator, done <-chan error, ok func(migrate.Status) bool) error {
	return pollUntil(ctx, func() (bool, error) {
		select {
		case err := <-done:
			if err == nil {
				err = errors.New("sync ended")
			}
			return false, err
		default:
		}
		return ok(m.Status()), nil
	})
}

// pollUntil calls cond every 20 ms until it is true, fails, or ctx ends.
func pollUntil(ctx context.Context, cond func() (bool, error)) error {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		ok, err := cond()
		if ok {
			return nil
		}
		if err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

func forEachSourceMaster(ctx context.Context, c redis.UniversalClient, fn func(*redis.Client) error) error {
	if cc, ok := c.(*redis.ClusterClient); ok {
		var mu sync.Mutex
		return cc.ForEachMaster(ctx, func(_ context.Context, n *redis.Client) error {
			mu.Lock()
			defer mu.Unlock()
			return fn(n)
		})
	}
	if n, ok := c.(*redis.Client); ok {
		return fn(n)
	}
	return fmt.Errorf("unsupported client %T", c)
}
