package queue

import (
	"context"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rediskit/rediskit/internal/redistest"
)

// TestSchedulerKilledGoWorkers: Go worker processes taking a Node job
// scheduler's runs are SIGKILLed while holding runs, twice in a row; the
// stalled check of the worker that takes over (Go or Node) moves every
// held run back and it runs again, and the scheduler goes on with exactly
// one next run per run: the scheduler's iteration count equals the runs
// that exist (no run got two successors, a re-run none), run times step
// by whole multiples of `every`, a step longer than `every` only after a
// run taken late (BullMQ's catch-up: the next run is the next slot after
// the take), and one next run is pending at the end.
func TestSchedulerKilledGoWorkers(t *testing.T) {
	const every = 400 * time.Millisecond
	redistest.ForEach(t, func(t *testing.T, tg redistest.Target) {
		for _, by := range sides {
			t.Run("recovered-by-"+by, func(t *testing.T) {
				e := newEnv(t, tg)
				ctx := context.Background()
				e.upsertSchedulers(t, "node", []schedSpec{{ID: "k", Repeat: Repeat{Every: every}, NodeTemplate: map[string]any{"name": "k"}}})
				// Two Go worker processes in turn, each killed holding runs.
				for range 2 {
					cmd, sc := e.startChildWorker(t)
					for sc.Scan() && !strings.HasPrefix(sc.Text(), "started ") {
					}
					if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
						t.Fatal(err)
					}
					_ = cmd.Wait()
				}
				killed, _ := e.rdb.LRange(ctx, e.q.k.active, 0, -1).Result()
				if len(killed) < 2 {
					t.Fatalf("killed workers held %v, want a run each", killed)
				}
				ran := map[string]bool{}
				done := func() bool {
					for _, id := range killed {
						if !ran[id] {
							return false
						}
					}
					return len(ran) >= len(killed)+6
				}
				deadline := time.After(30 * time.Second)
				if by == "go" {
					rec := newRecorder()
					e.run(t, fixtureHandler(rec), WorkerOptions{Concurrency: 2, StalledInterval: 300 * time.Millisecond})
					for !done() {
						select {
						case id := <-rec.ch:
							ran[id] = true
						case <-deadline:
							t.Fatalf("runs %v; held by the killed workers %v", ran, killed)
						}
					}
				} else {
					p := startNode(t, tg, e.prefix, "work", e.name, map[string]any{"concurrency": 2, "stalledInterval": 300})
					for !done() {
						select {
						case m := <-p.Lines:
							if m["event"] == "start" {
								ran[fmt.Sprint(m["id"])] = true
							}
						case <-deadline:
							t.Fatalf("runs %v; held by the killed workers %v", ran, killed)
						}
					}
					p.Stop()
				}
				for _, id := range killed {
					if stc := e.hget(t, id, "stc"); stc != "1" {
						t.Errorf("run %s: stc = %q, want 1 (moved back by the stalled check)", id, stc)
					}
				}
				e.checkSchedulerChain(t, "k", every)
				t.Logf("runs held by the killed workers, run again: %v", killed)
			})
		}
	})
}

// checkSchedulerChain checks the runs of scheduler sid that exist (run
// or pending): one pending, as many as its iteration count, steps of
// whole multiples of every, longer than every only after a late take.
func (e *env) checkSchedulerChain(t *testing.T, sid string, every time.Duration) {
	t.Helper()
	ctx := context.Background()
	k := e.q.k
	var all []string
	for _, z := range []string{k.completed, k.failed, k.delayed, k.prioritized} {
		ids, _ := e.rdb.ZRange(ctx, z, 0, -1).Result()
		all = append(all, ids...)
	}
	for _, l := range []string{k.wait, k.active} {
		ids, _ := e.rdb.LRange(ctx, l, 0, -1).Result()
		all = append(all, ids...)
	}
	runs := runsOf(t, all, sid)
	ic, _ := e.rdb.HGet(ctx, k.base+"repeat:"+sid, "ic").Int()
	if ic != len(runs) {
		t.Errorf("scheduler %s: iteration count %d, but %d runs exist: %v", sid, ic, len(runs), runs)
	}
	ev := every.Milliseconds()
	pending := 0
	for i, ms := range runs {
		id := fmt.Sprintf("repeat:%s:%d", sid, ms)
		taken, _ := e.rdb.HGet(ctx, k.job(id), "processedOn").Int64()
		if taken == 0 {
			pending++
			continue
		}
		if i+1 == len(runs) {
			continue
		}
		d := runs[i+1] - ms
		switch {
		case d <= 0 || d%ev != 0:
			t.Errorf("run %d follows %d: not a multiple of %d", runs[i+1], ms, ev)
		case d > ev && taken <= ms+ev:
			t.Errorf("gap: run %d follows %d, taken at %d (in time for %d)", runs[i+1], ms, taken, ms+ev)
		}
	}
	if pending != 1 {
		t.Errorf("scheduler %s: %d runs pending, want 1: %v", sid, pending, runs)
	}
	t.Logf("scheduler %s: %d runs, %d-%d", sid, len(runs), runs[0], runs[len(runs)-1])
}
