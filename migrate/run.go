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
)

type batchKind int

const (
	kindScan  batchKind = iota // keys from SCAN of the source
	kindDirty                  // keys from notifications
	kindPrune                  // target keys to check against the source
)

// batch is a set of keys read from the source, on its way to the target.
// Batches of a shard are read in order and written in the same order, so
// the target sees each key's states in the order the source had them.
type batch struct {
	kind  batchKind
	keys  []string
	reads []readResult
	bytes int64
	since time.Time // oldest change in a dirty batch
	// checkpoint: after writing, the pass stands at cursor (passDone: the
	// pass is over).
	checkpoint bool
	cursor     uint64
	passDone   bool
	scanned    int64
}

// runShard copies one source master and, when follow is set, applies its
// changes until ctx is done. It owns the shard's reader, writer,
// heartbeat and subscriber goroutines and returns after all of them.
func (m *Migrator) runShard(ctx context.Context, sh *shard, follow bool) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	batches := make(chan *batch, 2)
	var wg sync.WaitGroup
	var readErr, writeErr error
	if follow {
		ready := make(chan struct{})
		wg.Go(func() { m.watch(ctx, sh, ready) })
		select {
		case <-ready:
		case <-ctx.Done():
			wg.Wait()
			return fmt.Errorf("migrate: %w", ctx.Err())
		}
	}
	wg.Go(func() {
		defer close(batches)
		readErr = m.reader(ctx, sh, follow, batches)
	})
	writeErr = m.writer(ctx, sh, batches)
	cancel()
	wg.Wait()
	if readErr != nil && !errors.Is(readErr, context.Canceled) {
		return readErr
	}
	if writeErr != nil && !errors.Is(writeErr, context.Canceled) {
		return writeErr
	}
	return nil
}

// reader produces batches: dirty keys first, then the current pass (SCAN
// forwards, then target keys backwards when pruning), then waits for
// changes. In copy mode it returns when the pass is over.
func (m *Migrator) reader(ctx context.Context, sh *shard, follow bool, out chan<- *batch) error {
	var pending []string // keys of the last SCAN reply not yet read
	var pendingCursor uint64
	var pr *pruner
	passStarted := false
	dirtyLast := false // alternate dirty and scan batches so neither starves
	attempt := 0
	send := func(b *batch) error {
		if b.bytes > 0 {
			if err := m.mem.Acquire(ctx, min(b.bytes, m.opts.MaxInflightBytes)); err != nil {
				return err
			}
		}
		sh.pushInflight(b.since) // zero for scan and prune batches
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
			// Start the pass again from the beginning; in follow mode,
			// also remove what the source no longer has.
			sh.cursor, sh.done, pending, pr = 0, false, nil, nil
			sh.prune = follow
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
		node, _ := sh.current()
		var b *batch
		var err error
		switch {
		case follow && sh.dirty.len() > 0 && (!dirtyLast || (sh.done && !sh.prune)):
			dirtyLast = true
			keys, since := sh.dirty.take(m.opts.ReadBatch)
			b = &batch{kind: kindDirty, keys: keys, since: since}
			b.reads, b.bytes, err = m.read(ctx, node, keys, modeDump)
			if err != nil {
				// Put them back: they must still be applied.
				for _, k := range keys {
					if !sh.dirty.add(k, since) {
						sh.markGap(m, "dirty set full")
					}
				}
			}
		case !sh.done && len(pending) == 0:
			dirtyLast = false
			var keys []string
			var next uint64
			keys, next, err = node.Scan(ctx, sh.cursor, "", int64(m.opts.ScanCount)).Result()
			if err == nil {
				pending, pendingCursor = keys[:0], next
				for _, k := range keys {
					if !reserved(k) {
						pending = append(pending, k)
					}
				}
				sh.scanned.Add(int64(len(keys)))
				m.c.scanned.Add(int64(len(keys)))
				if len(pending) == 0 {
					// Nothing to read: checkpoint through an empty batch.
					b = &batch{kind: kindScan, checkpoint: true, cursor: next, passDone: next == 0, scanned: sh.scanned.Load()}
					sh.cursor = next
					if next == 0 {
						sh.done = true
					}
				}
			}
		case !sh.done && len(pending) > 0:
			dirtyLast = false
			n := min(len(pending), m.opts.ReadBatch)
			keys := pending[:n:n]
			b = &batch{kind: kindScan, keys: keys}
			b.reads, b.bytes, err = m.read(ctx, node, keys, modeDump)
			if err == nil {
				pending = pending[n:]
				if len(pending) == 0 {
					b.checkpoint, b.cursor, b.passDone, b.scanned = true, pendingCursor, pendingCursor == 0, sh.scanned.Load()
					sh.cursor = pendingCursor
					sh.done = pendingCursor == 0
				}
			}
		case sh.done && sh.prune:
			dirtyLast = false
			if pr == nil {
				pr, err = m.newPruner(ctx)
			}
			if err == nil {
				var keys []string
				var finished bool
				keys, finished, err = pr.next(ctx, sh, int64(m.opts.ScanCount))
				if err == nil && len(keys) > 0 {
					b = &batch{kind: kindPrune, keys: keys}
					b.reads, _, err = m.read(ctx, node, keys, modeProbe)
				}
				if err == nil && finished {
					sh.prune, pr = false, nil
				}
			}
		default:
			if passStarted {
				sh.scanning.Store(false)
				passStarted = false
			}
			sh.copied.Store(true)
			if !follow {
				return nil
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
		if err != nil {
			if err := m.readFailed(ctx, sh, err, &attempt); err != nil {
				return err
			}
			continue
		}
		attempt = 0
		if b != nil {
			if err := send(b); err != nil {
				return err
			}
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
	if msg := err.Error(); retry.Classify(err) == retry.Fatal && !strings.Contains(msg, "non local key") &&
		!strings.HasPrefix(msg, "MOVED") && !strings.HasPrefix(msg, "ASK") {
		// No permission, a script refused, ...: retrying cannot help.
		m.noteError(err, "migrate: source read refused", "shard", sh.label, "addr", addr)
		return fmt.Errorf("migrate: source %s (%s): %w", addr, sh.label, err)
	}
	m.noteError(err, "migrate: source read failed; retrying", "shard", sh.label, "addr", addr)
	*attempt++
	if err := sleepCtx(ctx, backoff(*attempt)); err != nil {
		return err
	}
	if err := m.refresh(ctx, sh); err != nil && ctx.Err() == nil {
		m.noteError(err, "migrate: source master not reachable", "shard", sh.label)
	}
	return nil
}

// writer applies batches in order; a failed write is retried (writes are
// idempotent) until it succeeds or ctx is done.
func (m *Migrator) writer(ctx context.Context, sh *shard, in <-chan *batch) error {
	for b := range in {
		for attempt := 1; ; attempt++ {
			node, _ := sh.current()
			err := m.write(ctx, node, b)
			if err == nil && b.checkpoint {
				err = saveState(ctx, m.dst, sh.label, position{RunID: sh.runIDNow(), Cursor: b.cursor, Scanned: b.scanned, Done: b.passDone})
			}
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if retry.Classify(err) == retry.Fatal {
				// Retrying cannot help (out of memory, no permission, ...):
				// stop; the checkpoint lets a later run resume.
				m.noteError(err, "migrate: write to target refused", "shard", sh.label)
				return fmt.Errorf("migrate: shard %s: %w", sh.label, err)
			}
			m.noteError(err, "migrate: write to target failed; retrying", "shard", sh.label)
			if err := sleepCtx(ctx, backoff(attempt)); err != nil {
				return err
			}
		}
		sh.popInflight()
		if b.bytes > 0 {
			m.mem.Release(min(b.bytes, m.opts.MaxInflightBytes))
		}
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

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// pruner walks the target's keys (every target master) to find those a
// source master owns.
type pruner struct {
	nodes  []*redis.Client
	i      int
	cursor uint64
}

func (m *Migrator) newPruner(ctx context.Context) (*pruner, error) {
	p := &pruner{}
	switch c := m.dst.(type) {
	case *redis.ClusterClient:
		var mu sync.Mutex
		err := c.ForEachMaster(ctx, func(_ context.Context, n *redis.Client) error {
			mu.Lock()
			p.nodes = append(p.nodes, n)
			mu.Unlock()
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("target masters: %w", err)
		}
	case *redis.Client:
		p.nodes = []*redis.Client{c}
	default:
		return nil, fmt.Errorf("migrate: target client %T is not supported", m.dst)
	}
	return p, nil
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
