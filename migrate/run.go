package migrate

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rediskit/rediskit/internal/retry"
	"golang.org/x/sync/errgroup"
)

type batchKind int

const (
	kindScan  batchKind = iota // keys from SCAN of the source
	kindDirty                  // keys from notifications
	kindPrune                  // target keys to check against the source
)

// passMode is how a pass treats the keys it scans.
type passMode int

const (
	// passCopy reads and writes every key (the first pass).
	passCopy passMode = iota
	// passCompare reads a digest of each key on both sides and copies
	// only those that differ (a pass after a restart or a gap, when most
	// of the target is already right).
	passCompare
)

// batch is a set of keys on its way from the source to the target.
type batch struct {
	kind    batchKind
	compare bool // a scan batch of a compare pass
	keys    []string
	reads   []readResult
	bytes   int64
	since   time.Time // oldest change in a dirty batch
	step    *scanStep // the SCAN reply of a scan batch
}

// runShard copies one source master and, when follow is set, applies its
// changes until ctx is done. It owns the shard's dispatcher, its
// Pipelines workers and its heartbeat and subscriber goroutines, and
// returns after all of them.
func (m *Migrator) runShard(ctx context.Context, sh *shard, follow bool) error {
	g, ctx := errgroup.WithContext(ctx)
	if follow {
		ready := make(chan struct{})
		g.Go(func() error { m.watch(ctx, sh, ready); return nil })
		select {
		case <-ready:
		case <-ctx.Done():
			_ = g.Wait()
			return fmt.Errorf("migrate: %w", ctx.Err())
		}
	}
	work := make(chan *batch)
	g.Go(func() error {
		// Returns nil in copy mode once every batch is written; closing
		// work then stops the idle workers.
		defer close(work)
		return m.dispatch(ctx, sh, follow, work)
	})
	for range m.opts.Pipelines {
		g.Go(func() error {
			for b := range work {
				if err := m.process(ctx, sh, b); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// dispatch cuts batches: dirty keys first, then the current pass (SCAN
// forwards, then target keys backwards when pruning), then waits for
// changes. In copy mode it returns once the pass is over and written.
func (m *Migrator) dispatch(ctx context.Context, sh *shard, follow bool, out chan<- *batch) error {
	var pending []string // keys of the last SCAN reply not yet in a batch
	var step *scanStep
	var pr *pruner
	passStarted := false
	dirtyLast := false // alternate dirty and scan batches so neither starves
	attempt := 0
	send := func(b *batch) error {
		select {
		case out <- b:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		if sh.gap.Swap(false) {
			// Start the pass again from the beginning, comparing (most of
			// the target is right); in follow mode, also remove what the
			// source no longer has.
			sh.newPass()
			sh.cursor, sh.done, pending, step, pr = 0, false, nil, nil, nil
			sh.mode, sh.prune = passCompare, follow
			passStarted = false
			sh.rescans.Add(1)
		}
		if !passStarted && !sh.done {
			node, _ := sh.current()
			n, err := node.DBSize(ctx).Result()
			if err != nil {
				if err := m.readFailed(ctx, sh, err, &attempt); err != nil {
					return err
				}
				continue
			}
			sh.total.Store(n)
			if sh.cursor == 0 {
				sh.scanned.Store(0)
			}
			sh.scanning.Store(true)
			passStarted = true
		}
		if passStarted && sh.done && !sh.prune && len(pending) == 0 && sh.passWritten() {
			// The pass is over and written: say so even if changes keep
			// the dispatcher busy with dirty keys.
			sh.scanning.Store(false)
			passStarted = false
			sh.mode = passCopy
			sh.copied.Store(true)
		}
		var b *batch
		switch {
		case follow && sh.dirty.len() > 0 && (!dirtyLast || (sh.done && !sh.prune && len(pending) == 0)):
			dirtyLast = true
			keys, since := sh.dirty.take(m.opts.ReadBatch)
			b = &batch{kind: kindDirty, since: since}
			b.keys = sh.claim(b, keys, since)
		case !sh.done && len(pending) == 0:
			dirtyLast = false
			node, _ := sh.current()
			keys, next, err := node.Scan(ctx, sh.cursor, "", int64(m.opts.ScanCount)).Result()
			if err != nil {
				if err := m.readFailed(ctx, sh, err, &attempt); err != nil {
					return err
				}
				continue
			}
			attempt = 0
			pending = keys[:0]
			for _, k := range keys {
				if !reserved(k) {
					pending = append(pending, k)
				}
			}
			sh.scanned.Add(int64(len(keys)))
			m.c.scanned.Add(int64(len(keys)))
			sh.cursor, sh.done = next, next == 0
			step = sh.openStep(next, sh.scanned.Load(), sh.mode == passCompare)
			if len(pending) == 0 {
				if err := m.stepDone(ctx, sh, sh.sealStep(step)); err != nil {
					return err
				}
			}
			continue
		case len(pending) > 0:
			dirtyLast = false
			n := min(len(pending), m.opts.ReadBatch)
			b = &batch{kind: kindScan, compare: sh.mode == passCompare, step: step}
			b.keys = sh.claim(b, pending[:n:n], time.Time{})
			pending = pending[n:]
			if len(pending) == 0 {
				if err := m.stepDone(ctx, sh, sh.sealStep(step)); err != nil {
					return err
				}
			}
		case sh.done && sh.prune:
			dirtyLast = false
			var err error
			if pr == nil {
				pr, err = m.newPruner(ctx)
			}
			var keys []string
			finished := false
			if err == nil {
				keys, finished, err = pr.next(ctx, sh, int64(m.opts.ScanCount))
			}
			if err != nil {
				if err := m.readFailed(ctx, sh, err, &attempt); err != nil {
					return err
				}
				continue
			}
			if finished {
				sh.prune, pr = false, nil
			}
			if len(keys) == 0 {
				continue
			}
			b = &batch{kind: kindPrune}
			b.keys = sh.claim(b, keys, time.Time{})
		default:
			if sh.inFlight() == 0 {
				if passStarted {
					sh.scanning.Store(false)
					passStarted = false
					sh.mode = passCopy
				}
				sh.copied.Store(true)
				if !follow {
					return nil
				}
			}
			t := time.NewTimer(100 * time.Millisecond)
			select {
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			case <-sh.wake:
			case <-t.C:
			}
			t.Stop()
			continue
		}
		if len(b.keys) == 0 {
			// Every key was already in flight: nothing to send.
			if st := m.finish(sh, b); st != nil {
				if err := m.stepDone(ctx, sh, st); err != nil {
					return err
				}
			}
			continue
		}
		if err := send(b); err != nil {
			return err
		}
	}
}

// stepDone checkpoints the pass at st (nil: nothing to do), retrying
// until it is saved.
func (m *Migrator) stepDone(ctx context.Context, sh *shard, st *scanStep) error {
	if st == nil {
		return nil
	}
	return m.retryWrite(ctx, sh, func() error { return m.saveStep(ctx, sh, st) })
}

// process reads a batch from the source and writes it to the target,
// retrying both until they succeed (reads and writes are idempotent), then
// releases its keys and moves the checkpoint.
func (m *Migrator) process(ctx context.Context, sh *shard, b *batch) error {
	mode := modeDump
	if b.kind == kindPrune {
		mode = modeProbe
	}
	if b.compare {
		keys, err := m.differing(ctx, sh, b.keys)
		if err != nil {
			return err
		}
		m.c.compared.Add(int64(len(b.keys) - len(keys)))
		m.releaseKeys(sh, b, keys)
	}
	// Read and write in parts of at most readBudget bytes of payload.
	for done := 0; done < len(b.keys); {
		part := &batch{kind: b.kind}
		for attempt := 0; ; {
			node, _ := sh.current()
			var err error
			if part.reads, part.bytes, err = m.readPart(ctx, node, b.keys[done:], mode); err == nil {
				break
			}
			if err := m.readFailed(ctx, sh, err, &attempt); err != nil {
				return err
			}
		}
		part.keys = b.keys[done : done+len(part.reads)]
		done += len(part.reads)
		if err := m.writePart(ctx, sh, part); err != nil {
			return err
		}
	}
	return m.stepDone(ctx, sh, m.finish(sh, b))
}

// writePart writes what was read of a batch, holding its bytes against
// MaxInflightBytes meanwhile.
func (m *Migrator) writePart(ctx context.Context, sh *shard, part *batch) error {
	if part.bytes > 0 {
		n := min(part.bytes, m.opts.MaxInflightBytes)
		if err := m.mem.Acquire(ctx, n); err != nil {
			return err
		}
		defer m.mem.Release(n)
	}
	return m.retryWrite(ctx, sh, func() error {
		node, _ := sh.current()
		return m.write(ctx, node, part)
	})
}

// releaseKeys narrows a compare batch to keys: the others are equal on
// both sides and are released now.
func (m *Migrator) releaseKeys(sh *shard, b *batch, keep []string) {
	if len(keep) == len(b.keys) {
		return
	}
	want := make(map[string]bool, len(keep))
	for _, k := range keep {
		want[k] = true
	}
	var free []string
	for _, k := range b.keys {
		if !want[k] {
			free = append(free, k)
		}
	}
	m.finish(sh, &batch{keys: free}) // no step: only frees the keys
	b.keys = keep
}

// retryWrite runs write until it succeeds, ctx is done, or it fails for
// good (out of memory, no permission, ...: the checkpoint lets a later
// run resume).
func (m *Migrator) retryWrite(ctx context.Context, sh *shard, write func() error) error {
	for attempt := 1; ; attempt++ {
		err := write()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if retry.Classify(err) == retry.Fatal {
			m.noteError(err, "migrate: write to target refused", "shard", sh.label)
			return fmt.Errorf("migrate: shard %s: %w", sh.label, err)
		}
		m.noteError(err, "migrate: write to target failed; retrying", "shard", sh.label)
		if err := retry.Sleep(ctx, backoff(attempt)); err != nil {
			return err
		}
	}
}

// readFailed logs and counts a failed read, backs off, and re-resolves
// the shard's master (a failover shows up as a gap).
func (m *Migrator) readFailed(ctx context.Context, sh *shard, err error, attempt *int) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	_, addr := sh.current()
	// A script refused because the cluster is down (a failover under way)
	// or a key moved is retried like the failover itself.
	if msg := err.Error(); retry.Classify(err) == retry.Fatal && !strings.Contains(msg, "non local key") &&
		!strings.Contains(msg, "cluster is down") && !strings.HasPrefix(msg, "MOVED") && !strings.HasPrefix(msg, "ASK") {
		// No permission, a script refused, ...: retrying cannot help.
		m.noteError(err, "migrate: source read refused", "shard", sh.label, "addr", addr)
		return fmt.Errorf("migrate: source %s (%s): %w", addr, sh.label, err)
	}
	m.noteError(err, "migrate: source read failed; retrying", "shard", sh.label, "addr", addr)
	*attempt++
	if err := retry.Sleep(ctx, backoff(*attempt)); err != nil {
		return err
	}
	if err := m.refresh(ctx, sh); err != nil && ctx.Err() == nil {
		m.noteError(err, "migrate: source master not reachable", "shard", sh.label)
	}
	return nil
}

func (sh *shard) runIDNow() string {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return sh.runID
}

// backoff is the pause before retry attempt n: the module's policy.
func backoff(n int) time.Duration { return retry.Default.Backoff(n) }

// pruner walks the target's keys (every target master) to find those a
// source master owns.
type pruner struct {
	nodes  []*redis.Client
	i      int
	cursor uint64
}

func (m *Migrator) newPruner(ctx context.Context) (*pruner, error) {
	nodes, err := m.targetNodes(ctx)
	if err != nil {
		return nil, err
	}
	return &pruner{nodes: nodes}, nil
}

// targetNodes lists the target's masters (or its one node).
func (m *Migrator) targetNodes(ctx context.Context) ([]*redis.Client, error) {
	switch c := m.dst.(type) {
	case *redis.ClusterClient:
		var mu sync.Mutex
		var nodes []*redis.Client
		err := c.ForEachMaster(ctx, func(_ context.Context, n *redis.Client) error {
			mu.Lock()
			nodes = append(nodes, n)
			mu.Unlock()
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("target masters: %w", err)
		}
		return nodes, nil
	case *redis.Client:
		return []*redis.Client{c}, nil
	default:
		return nil, fmt.Errorf("migrate: target client %T is not supported", m.dst)
	}
}

// next returns target keys of sh's slots from one SCAN step, and whether
// the walk is over.
func (p *pruner) next(ctx context.Context, sh *shard, count int64) ([]string, bool, error) {
	if p.i >= len(p.nodes) {
		return nil, true, nil
	}
	keys, next, err := p.nodes[p.i].Scan(ctx, p.cursor, "", count).Result()
	if err != nil {
		return nil, false, fmt.Errorf("target: %w", err)
	}
	out := keys[:0]
	for _, k := range keys {
		if !reserved(k) && sh.owns(k) {
			out = append(out, k)
		}
	}
	p.cursor = next
	if next == 0 {
		p.i++
	}
	return out, p.i >= len(p.nodes), nil
}
