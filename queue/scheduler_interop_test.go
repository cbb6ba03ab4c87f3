package queue

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rediskit/rediskit/internal/redistest"
)

// runMillis is the time of run id "repeat:<sid>:<millis>".
func runMillis(t *testing.T, id string) int64 {
	t.Helper()
	i := strings.LastIndexByte(id, ':')
	n, err := strconv.ParseInt(id[i+1:], 10, 64)
	if err != nil {
		t.Fatalf("run id %q: %v", id, err)
	}
	return n
}

// runsOf keeps the runs of scheduler sid, in time order.
func runsOf(t *testing.T, ids []string, sid string) []int64 {
	t.Helper()
	var out []int64
	for _, id := range ids {
		if strings.HasPrefix(id, "repeat:"+sid+":") {
			out = append(out, runMillis(t, id))
		}
	}
	slices.Sort(out)
	return out
}

// TestSchedulerNodeSchedulesGoWorkers: Node creates an `every` and a cron
// scheduler (with a time zone) on two queues at once; one queue has only
// Go workers, the other only a Node worker. Both run ≥ 10 iterations and
// the run times of the two queues are the same instants.
func TestSchedulerNodeSchedulesGoWorkers(t *testing.T) {
	redistest.ForEach(t, func(t *testing.T, tg redistest.Target) {
		gol, node := newEnv(t, tg), newEnv(t, tg)
		specs := []schedSpec{
			{ID: "ev", Repeat: Repeat{Every: 500 * time.Millisecond, Offset: 123 * time.Millisecond}, NodeTemplate: map[string]any{"name": "ev"}},
			{ID: "cr", Repeat: Repeat{Pattern: "* * * * * *", TZ: "Asia/Kolkata"}, NodeTemplate: map[string]any{"name": "cr", "data": map[string]any{"k": 1}}},
		}
		rec := newRecorder()
		gol.run(t, func(ctx context.Context, j *Job) (any, error) {
			rec.note(j.ID)
			return nil, nil
		}, WorkerOptions{Concurrency: 2})
		gol.run(t, func(ctx context.Context, j *Job) (any, error) {
			rec.note(j.ID)
			return nil, nil
		}, WorkerOptions{Concurrency: 2})
		p := startNode(t, tg, node.prefix, "work", node.name, map[string]any{"concurrency": 2})
		gol.upsertSchedulers(t, "node", specs)
		node.upsertSchedulers(t, "node", specs)

		var goIDs, nodeIDs []string
		deadline := time.Now().Add(40 * time.Second)
		for len(runsOf(t, goIDs, "cr")) < 11 || len(runsOf(t, goIDs, "ev")) < 11 {
			select {
			case id := <-rec.ch:
				goIDs = append(goIDs, id)
			case <-time.After(time.Until(deadline)):
				t.Fatalf("Go workers ran %d cron and %d every runs of a Node scheduler: %v",
					len(runsOf(t, goIDs, "cr")), len(runsOf(t, goIDs, "ev")), goIDs)
			}
		}
		for len(runsOf(t, nodeIDs, "cr")) < 11 || len(runsOf(t, nodeIDs, "ev")) < 11 {
			m := p.WaitFor(t, 40*time.Second, "node runs", func(m map[string]any) bool { return m["event"] == "start" })
			nodeIDs = append(nodeIDs, fmt.Sprint(m["id"]))
		}
		p.Stop()
		for _, sid := range []string{"ev", "cr"} {
			g, n := runsOf(t, goIDs, sid), runsOf(t, nodeIDs, sid)
			// every run is on the schedule
			for _, ms := range g {
				if (sid == "ev" && ms%500 != 123) || (sid == "cr" && ms%1000 != 0) {
					t.Errorf("%s: Go-created run at %d is off the schedule", sid, ms)
				}
			}
			// same instants over the window both sides cover (the first
			// runs differ: each queue was upserted at its own time)
			lo, hi := max(g[1], n[1]), min(g[len(g)-1], n[len(n)-1])
			in := func(xs []int64) []int64 {
				var out []int64
				for _, x := range xs {
					if x >= lo && x <= hi {
						out = append(out, x)
					}
				}
				return out
			}
			if gi, ni := in(g), in(n); fmt.Sprint(gi) != fmt.Sprint(ni) || len(gi) < 5 {
				t.Errorf("%s: run times differ between Go workers and a Node worker over [%d, %d]:\n go   %v\n node %v", sid, lo, hi, gi, ni)
			}
		}
	})
}

// TestSchedulerGoSchedulesNodeWorker: a scheduler Go creates is run by a
// Node worker, which adds each next run.
func TestSchedulerGoSchedulesNodeWorker(t *testing.T) {
	redistest.ForEach(t, func(t *testing.T, tg redistest.Target) {
		e := newEnv(t, tg)
		ctx := context.Background()
		if _, err := e.q.UpsertScheduler(ctx, "gev", Repeat{Every: 300 * time.Millisecond}, JobTemplate{Name: "g", Data: map[string]int{"a": 1}}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.q.UpsertScheduler(ctx, "gcr", Repeat{Pattern: "*/1 * * * * *", TZ: "Australia/Sydney"}, JobTemplate{}); err != nil {
			t.Fatal(err)
		}
		p := startNode(t, tg, e.prefix, "work", e.name, map[string]any{"concurrency": 2})
		var ids []string
		for len(runsOf(t, ids, "gev")) < 5 || len(runsOf(t, ids, "gcr")) < 3 {
			m := p.WaitFor(t, 30*time.Second, "node runs of Go schedulers", func(m map[string]any) bool { return m["event"] == "start" })
			ids = append(ids, fmt.Sprint(m["id"]))
		}
		p.Stop()
		s, err := e.q.GetScheduler(ctx, "gev")
		if err != nil {
			t.Fatal(err)
		}
		if s.Iterations < 5 || s.Every != 300*time.Millisecond || s.Name != "g" {
			t.Errorf("GetScheduler after Node runs: %+v", s)
		}
	})
}

// TestSchedulerLimit: with Limit 3 the Go worker adds no run after the third.
func TestSchedulerLimit(t *testing.T) {
	redistest.ForEach(t, func(t *testing.T, tg redistest.Target) {
		e := newEnv(t, tg)
		ctx := context.Background()
		if _, err := e.q.UpsertScheduler(ctx, "lim", Repeat{Every: 200 * time.Millisecond, Limit: 3}, JobTemplate{}); err != nil {
			t.Fatal(err)
		}
		rec := newRecorder()
		e.run(t, func(ctx context.Context, j *Job) (any, error) {
			rec.note(j.ID)
			return nil, nil
		}, WorkerOptions{Concurrency: 1})
		got := rec.wait(t, 3, 20*time.Second)
		redistest.Eventually(t, 10*time.Second, "3 completed", func() bool {
			c, _ := e.q.Counts(ctx)
			return c.Completed == 3
		})
		// the third run was taken (and advanced) before its handler ran, so
		// no fourth run can appear any more
		c, _ := e.q.Counts(ctx)
		if c.Delayed+c.Waiting+c.Active != 0 {
			t.Errorf("after the limit: %+v (runs %v)", c, got)
		}
		s, err := e.q.GetScheduler(ctx, "lim")
		if err != nil {
			t.Fatal(err)
		}
		if s.Iterations != 3 || s.Next.UnixMilli() != runMillis(t, got[2]) {
			t.Errorf("scheduler after the limit: %+v, last run %s", s, got[2])
		}
		if _, err := e.q.UpsertScheduler(ctx, "none", Repeat{Every: time.Second, EndDate: time.Now().Add(-time.Minute)}, JobTemplate{}); err == nil {
			t.Error("UpsertScheduler past its end date: no error")
		}
	})
}

// TestUpsertSchedulerRefuses: schedules BullMQ refuses are refused with a
// matchable error and leave nothing behind.
func TestUpsertSchedulerRefuses(t *testing.T) {
	tg := redistest.SingleTarget(t)
	e := newEnv(t, tg)
	ctx := context.Background()
	past := time.Now().Add(-time.Hour)
	for _, c := range []struct {
		name string
		r    Repeat
		tpl  JobTemplate
		want error
	}{
		{"both", Repeat{Every: time.Second, Pattern: "* * * * *"}, JobTemplate{}, ErrScheduler},
		{"neither", Repeat{}, JobTemplate{}, ErrScheduler},
		{"sub-millisecond every", Repeat{Every: time.Microsecond}, JobTemplate{}, ErrScheduler},
		{"immediately with start", Repeat{Pattern: "* * * * *", Immediately: true, StartDate: time.Now()}, JobTemplate{}, ErrScheduler},
		{"bad pattern", Repeat{Pattern: "0 60 * * *"}, JobTemplate{}, ErrCron},
		{"hashed pattern", Repeat{Pattern: "H * * * *"}, JobTemplate{}, ErrCron},
		{"bad zone", Repeat{Pattern: "* * * * *", TZ: "Mars/Olympus"}, JobTemplate{}, ErrCron},
		{"job id in template", Repeat{Every: time.Second}, JobTemplate{Opts: JobOptions{JobID: "x"}}, ErrScheduler},
		{"ended", Repeat{Every: time.Second, EndDate: past}, JobTemplate{}, ErrSchedulerEnded},
		{"no cron run before the end", Repeat{Pattern: "0 0 1 1 *", EndDate: time.Now().Add(time.Hour)}, JobTemplate{}, ErrSchedulerEnded},
	} {
		if _, err := e.q.UpsertScheduler(ctx, "s", c.r, c.tpl); !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
		}
	}
	if n, _ := e.rdb.ZCard(ctx, e.q.k.repeat).Result(); n != 0 {
		t.Errorf("refused upserts left %d schedulers", n)
	}
	if _, err := e.q.GetScheduler(ctx, "s"); !errors.Is(err, ErrSchedulerNotFound) {
		t.Errorf("GetScheduler: %v", err)
	}
}

// TestSchedulerMixedWorkers: a Node scheduler on a queue worked by a Node
// worker and Go workers, one of which is stopped mid-run: every run
// happens once, on the schedule, and the schedule goes on.
func TestSchedulerMixedWorkers(t *testing.T) {
	redistest.ForEach(t, func(t *testing.T, tg redistest.Target) {
		e := newEnv(t, tg)
		rec := newRecorder()
		h := func(ctx context.Context, j *Job) (any, error) {
			rec.note(j.ID)
			return nil, nil
		}
		// a Go worker that is stopped after a few runs
		w, err := NewWorker(e.rdb, e.name, h, WorkerOptions{Options: Options{Prefix: e.prefix}, Concurrency: 2, Logger: testLogger(t)})
		if err != nil {
			t.Fatal(err)
		}
		wctx, stop := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- w.Run(wctx) }()
		p := startNode(t, tg, e.prefix, "work", e.name, map[string]any{"concurrency": 2})
		e.upsertSchedulers(t, "node", []schedSpec{{ID: "mx", Repeat: Repeat{Every: 300 * time.Millisecond, Offset: 50 * time.Millisecond},
			NodeTemplate: map[string]any{"name": "mx"}}})
		var ids []string
		collect := func(n int) {
			t.Helper()
			deadline := time.After(30 * time.Second)
			for len(ids) < n {
				select {
				case id := <-rec.ch:
					ids = append(ids, id)
				case m, ok := <-p.Lines:
					if ok && m["event"] == "start" {
						ids = append(ids, fmt.Sprint(m["id"]))
					}
				case <-deadline:
					t.Fatalf("saw %d of %d runs: %v", len(ids), n, ids)
				}
			}
		}
		collect(6)
		stop()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Fatalf("stopped Go worker: %v", err)
		}
		e.run(t, h, WorkerOptions{Concurrency: 2}) // a fresh Go worker joins
		collect(16)
		p.Stop()
		runs := runsOf(t, ids, "mx")
		for i, ms := range runs {
			if ms%300 != 50 {
				t.Errorf("run %d at %d is off the schedule", i, ms)
			}
			if i > 0 && runs[i-1] == ms {
				t.Errorf("run at %d ran twice", ms)
			}
		}
		if len(runs) < 16 {
			t.Errorf("%d runs, want 16: %v", len(runs), ids)
		}
	})
}
