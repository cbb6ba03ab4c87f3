package migrate

import (
	"context"
	"time"
)

// A shard keeps several batches in flight (Options.Pipelines): the
// dispatcher cuts batches while earlier ones are read and written, and
// batches complete in any order. Two rules keep that safe:
//
//   - A key is in at most one batch in flight. A dirty key already in
//     flight is deferred and goes back into the dirty set when its batch
//     is written, so its next read happens after that write: the writes
//     of one key reach the target in the order of their reads.
//   - The checkpoint cursor only moves past a SCAN reply (a step) once
//     every batch of it and of every step before it is written.

// scanStep is one SCAN reply of a pass.
type scanStep struct {
	gen      int64 // the pass it belongs to (a gap starts a new one)
	cursor   uint64
	scanned  int64
	passDone bool
	compare  bool // a compare pass (see passCompare)
	left     int  // batches cut from it and not yet written
	sealed   bool // every key of the reply has been cut into a batch
}

// claim marks keys as in flight in b and returns those that were free;
// taken (dirty or scan) keys already in flight are deferred with their
// first-seen time, probed (prune) ones are dropped: the batch holding
// them writes the source's state anyway.
func (sh *shard) claim(b *batch, keys []string, since time.Time) []string {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	out := keys[:0]
	for _, k := range keys {
		if _, busy := sh.busy[k]; !busy {
			sh.busy[k] = struct{}{}
			out = append(out, k)
			continue
		}
		if b.kind == kindPrune {
			continue
		}
		if t, ok := sh.deferred[k]; !ok || (!since.IsZero() && (t.IsZero() || since.Before(t))) {
			sh.deferred[k] = since
		}
	}
	sh.flights[b] = since
	if b.step != nil {
		b.step.left++
	}
	return out
}

// finish releases a written batch: its keys are free again (deferred
// ones go back into the dirty set) and the checkpoint may move. It
// returns the step the pass now stands at (nil if it did not move).
func (m *Migrator) finish(sh *shard, b *batch) *scanStep {
	sh.mu.Lock()
	delete(sh.flights, b)
	var back []string
	var backAt []time.Time
	for _, k := range b.keys {
		delete(sh.busy, k)
		if t, ok := sh.deferred[k]; ok {
			delete(sh.deferred, k)
			if !sh.follow {
				continue // a key SCAN returned twice: already copied
			}
			if t.IsZero() {
				t = time.Now()
			}
			back, backAt = append(back, k), append(backAt, t)
		}
	}
	var at *scanStep
	if b.step != nil {
		b.step.left--
		at = sh.advanceLocked()
	}
	sh.mu.Unlock()
	for i, k := range back {
		if !sh.dirty.add(k, backAt[i]) {
			sh.markGap(m, "dirty set full (MaxDirty)")
		}
	}
	sh.poke()
	return at
}

// advanceLocked pops the finished steps at the head of the pass and
// returns the last one popped (nil if none). sh.mu is held.
func (sh *shard) advanceLocked() *scanStep {
	var at *scanStep
	for len(sh.steps) > 0 && sh.steps[0].sealed && sh.steps[0].left == 0 {
		at = sh.steps[0]
		sh.steps[0] = nil
		sh.steps = sh.steps[1:]
	}
	if at != nil && at.gen != sh.gen {
		return nil
	}
	return at
}

// openStep starts the bookkeeping of a SCAN reply.
func (sh *shard) openStep(cursor uint64, scanned int64, compare bool) *scanStep {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	st := &scanStep{gen: sh.gen, cursor: cursor, scanned: scanned, passDone: cursor == 0, compare: compare}
	sh.steps = append(sh.steps, st)
	return st
}

// sealStep records that every key of st is in a batch; it returns the
// step the pass now stands at when that moved it (an empty reply).
func (sh *shard) sealStep(st *scanStep) *scanStep {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	st.sealed = true
	return sh.advanceLocked()
}

// newPass forgets the steps of the previous pass (their batches still
// finish, but no longer move the checkpoint).
func (sh *shard) newPass() {
	sh.mu.Lock()
	sh.gen++
	sh.steps = nil
	sh.mu.Unlock()
}

// passWritten reports whether every SCAN reply of the current pass is
// written.
func (sh *shard) passWritten() bool {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return len(sh.steps) == 0
}

func (sh *shard) inFlight() int {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return len(sh.flights)
}

// saveStep checkpoints the pass at st unless a later step was saved.
func (m *Migrator) saveStep(ctx context.Context, sh *shard, st *scanStep) error {
	sh.saveMu.Lock()
	defer sh.saveMu.Unlock()
	if st.gen < sh.savedGen || (st.gen == sh.savedGen && st.scanned < sh.savedScanned) {
		return nil
	}
	err := saveState(ctx, m.dst, sh.label, position{RunID: sh.runIDNow(), Cursor: st.cursor, Scanned: st.scanned,
		Done: st.passDone, Compare: st.compare})
	if err == nil {
		sh.savedGen, sh.savedScanned = st.gen, st.scanned
	}
	return err
}
