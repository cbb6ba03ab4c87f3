package queue

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rediskit/rediskit/internal/redistest"
)

// TestInteropRemoveOn: removeOnComplete/removeOnFail set by either side are
// applied by either worker.
func TestInteropRemoveOn(t *testing.T) {
	redistest.ForEach(t, func(t *testing.T, tg redistest.Target) {
		for _, pair := range [][2]string{{"node", "go"}, {"go", "node"}} {
			t.Run(pair[0]+"-to-"+pair[1], func(t *testing.T) {
				e := newEnv(t, tg)
				var jobs []spec
				for i := range 5 {
					jobs = append(jobs, spec{Name: "keep2", Data: map[string]any{"i": i}, Opts: map[string]any{"removeOnComplete": 2}})
				}
				jobs = append(jobs,
					spec{Name: "gone", Data: map[string]any{}, Opts: map[string]any{"removeOnComplete": true}},
					spec{Name: "failgone", Data: map[string]any{"fail": "x"}, Opts: map[string]any{"removeOnFail": true}},
					spec{Name: "failkept", Data: map[string]any{"fail": "y"}, Opts: map[string]any{"removeOnFail": map[string]any{"age": 3600, "count": 10}}},
				)
				ids := e.addSpecs(t, pair[0], jobs)
				e.consume(t, pair[1], len(jobs), map[string]any{"concurrency": 1})
				ctx := context.Background()
				redistest.Eventually(t, 10*time.Second, "all finished", func() bool {
					n, _ := e.rdb.LLen(ctx, e.q.k.active).Result()
					w, _ := e.rdb.LLen(ctx, e.q.k.wait).Result()
					return n == 0 && w == 0
				})
				redistest.Eventually(t, 5*time.Second, "counts", func() bool {
					c, _ := e.q.Counts(ctx)
					return c.Completed == 2 && c.Failed == 1
				})
				for _, i := range []int{0, 1, 2, 5, 6} {
					if n, _ := e.rdb.Exists(ctx, e.q.k.job(ids[i])).Result(); n != 0 {
						t.Errorf("job %s (%s) still exists", ids[i], jobs[i].Name)
					}
				}
				for _, i := range []int{3, 4, 7} {
					if n, _ := e.rdb.Exists(ctx, e.q.k.job(ids[i])).Result(); n != 1 {
						t.Errorf("job %s (%s) was removed", ids[i], jobs[i].Name)
					}
				}
			})
		}
	})
}

// TestInteropPause: a pause by one side stops the other side's workers; a
// resume restarts them.
func TestInteropPause(t *testing.T) {
	redistest.ForEach(t, func(t *testing.T, tg redistest.Target) {
		for _, pair := range [][2]string{{"node", "go"}, {"go", "node"}} {
			t.Run("pause-by-"+pair[0]+"-worker-"+pair[1], func(t *testing.T) {
				e := newEnv(t, tg)
				ctx := context.Background()
				if pair[0] == "node" {
					runNode(t, tg, e.prefix, "inspect", e.name, map[string]any{"pause": true})
				} else if err := e.q.Pause(ctx); err != nil {
					t.Fatal(err)
				}
				ids := e.addSpecs(t, pair[0], []spec{{Name: "a", Data: map[string]any{}}, {Name: "b", Data: map[string]any{}}})
				var started atomic.Int64
				var p *nodeProc
				if pair[1] == "go" {
					rec := newRecorder()
					e.run(t, fixtureHandler(rec), WorkerOptions{Concurrency: 2, DrainDelay: 200 * time.Millisecond})
					go func() {
						for range rec.ch {
							started.Add(1)
						}
					}()
				} else {
					p = startNode(t, tg, e.prefix, "work", e.name, map[string]any{"concurrency": 2})
				}
				// Paused: give the worker a fair chance to (wrongly) take a job.
				time.Sleep(700 * time.Millisecond) // negative check: nothing may happen while paused
				if c, _ := e.q.Counts(ctx); c.Waiting != 2 || c.Active != 0 || started.Load() != 0 {
					t.Fatalf("paused queue: counts %+v, started %d", c, started.Load())
				}
				if paused, _ := e.q.IsPaused(ctx); !paused {
					t.Fatal("IsPaused = false")
				}
				if pair[0] == "node" {
					runNode(t, tg, e.prefix, "inspect", e.name, map[string]any{"resume": true})
				} else if err := e.q.Resume(ctx); err != nil {
					t.Fatal(err)
				}
				if p != nil {
					for range 2 {
						p.WaitFor(t, 10*time.Second, "job after resume", func(m map[string]any) bool { return m["event"] == "completed" })
					}
				}
				redistest.Eventually(t, 10*time.Second, "jobs done after resume", func() bool {
					c, _ := e.q.Counts(ctx)
					return c.Completed == 2
				})
				_ = ids
			})
		}
	})
}

// TestInteropGlobalLimits: the global concurrency and rate limit Node sets
// in meta bind Go workers.
func TestInteropGlobalLimits(t *testing.T) {
	redistest.ForEach(t, func(t *testing.T, tg redistest.Target) {
		t.Run("concurrency", func(t *testing.T) {
			e := newEnv(t, tg)
			runNode(t, tg, e.prefix, "inspect", e.name, map[string]any{"globalConcurrency": 2})
			var jobs []spec
			for range 12 {
				jobs = append(jobs, spec{Name: "c", Data: map[string]any{"sleep": 50}})
			}
			e.addSpecs(t, "node", jobs)
			var cur, peak atomic.Int64
			var wg sync.WaitGroup
			wg.Add(12)
			h := func(ctx context.Context, j *Job) (any, error) {
				defer wg.Done()
				n := cur.Add(1)
				for {
					p := peak.Load()
					if n <= p || peak.CompareAndSwap(p, n) {
						break
					}
				}
				time.Sleep(50 * time.Millisecond) // the job's work
				cur.Add(-1)
				return nil, nil
			}
			e.run(t, h, WorkerOptions{Concurrency: 5})
			e.run(t, h, WorkerOptions{Concurrency: 5})
			wg.Wait()
			if p := peak.Load(); p > 2 {
				t.Errorf("peak concurrency %d, want <= 2 (global)", p)
			}
		})
		t.Run("rate", func(t *testing.T) {
			e := newEnv(t, tg)
			runNode(t, tg, e.prefix, "inspect", e.name, map[string]any{"globalRateLimit": map[string]any{"max": 4, "duration": 500}})
			var jobs []spec
			for range 12 {
				jobs = append(jobs, spec{Name: "r", Data: map[string]any{}})
			}
			e.addSpecs(t, "go", jobs)
			rec := newRecorder()
			start := time.Now()
			e.run(t, fixtureHandler(rec), WorkerOptions{Concurrency: 10})
			rec.wait(t, 12, 20*time.Second)
			// 4 per 500 ms: jobs 9-12 start in the third window.
			if el := time.Since(start); el < 1000*time.Millisecond {
				t.Errorf("12 jobs at 4/500ms took %v, want >= 1s", el)
			}
		})
		t.Run("worker-limiter-node-sees", func(t *testing.T) {
			e := newEnv(t, tg)
			var jobs []spec
			for range 9 {
				jobs = append(jobs, spec{Name: "r", Data: map[string]any{}})
			}
			e.addSpecs(t, "node", jobs)
			rec := newRecorder()
			start := time.Now()
			e.run(t, fixtureHandler(rec), WorkerOptions{Concurrency: 10, Limiter: Limiter{Max: 3, Duration: 400 * time.Millisecond}})
			rec.wait(t, 9, 20*time.Second)
			if el := time.Since(start); el < 800*time.Millisecond {
				t.Errorf("9 jobs at 3/400ms took %v, want >= 800ms", el)
			}
		})
	})
}

// TestInteropEventsAndGetters: Node QueueEvents sees Go workers' events with
// parsed return values and progress; Node getJob/getJobCounts/getWorkers
// read what Go wrote.
func TestInteropEventsAndGetters(t *testing.T) {
	redistest.ForEach(t, func(t *testing.T, tg redistest.Target) {
		e := newEnv(t, tg)
		ev := startNode(t, tg, e.prefix, "events", e.name, nil)
		ok := e.add(t, "ok", map[string]any{"x": 1})
		bad := e.add(t, "bad", map[string]any{"x": 2})
		e.run(t, func(ctx context.Context, j *Job) (any, error) {
			if err := j.UpdateProgress(ctx, map[string]int{"pct": 50}); err != nil {
				return nil, err
			}
			if err := j.Log(ctx, "hello from go"); err != nil {
				return nil, err
			}
			if j.Name == "bad" {
				return nil, fmt.Errorf("boom %s", j.ID)
			}
			return map[string]any{"sum": 42, "list": []int{1, 2}}, nil
		}, WorkerOptions{Name: "gopher", Concurrency: 2})
		got := map[string]map[string]any{}
		for len(got) < 4 {
			m := ev.WaitFor(t, 10*time.Second, "events", func(m map[string]any) bool {
				switch m["event"] {
				case "completed", "failed", "progress":
					return true
				}
				return false
			})
			got[fmt.Sprint(m["event"], m["jobId"])] = m
		}
		rv, _ := got["completed"+ok]["returnvalue"].(map[string]any)
		if rv["sum"] != 42.0 {
			t.Errorf("QueueEvents completed returnvalue = %#v, want parsed object", got["completed"+ok])
		}
		if got["failed"+bad]["failedReason"] != "boom "+bad {
			t.Errorf("QueueEvents failed = %#v", got["failed"+bad])
		}
		if d, _ := got["progress"+ok]["data"].(map[string]any); d["pct"] != 50.0 {
			t.Errorf("QueueEvents progress = %#v", got["progress"+ok])
		}
		info := runNode(t, tg, e.prefix, "inspect", e.name, map[string]any{"ids": []string{ok, bad}, "workers": true, "logs": ok})[0]
		counts := info["counts"].(map[string]any)
		if counts["completed"] != 1.0 || counts["failed"] != 1.0 || counts["waiting"] != 0.0 {
			t.Errorf("getJobCounts = %v", counts)
		}
		j := info["jobs"].(map[string]any)[ok].(map[string]any)
		if j["state"] != "completed" || j["processedBy"] != "gopher" || j["name"] != "ok" {
			t.Errorf("getJob = %v", j)
		}
		if rv, _ := j["returnvalue"].(map[string]any); rv["sum"] != 42.0 {
			t.Errorf("getJob returnvalue = %v", j["returnvalue"])
		}
		if p, _ := j["progress"].(map[string]any); p["pct"] != 50.0 {
			t.Errorf("getJob progress = %v", j["progress"])
		}
		ws, _ := info["workers"].([]any)
		if len(ws) == 0 {
			t.Errorf("getWorkers lists no Go worker")
		}
		logs, _ := info["logs"].(map[string]any)
		if l, _ := logs["logs"].([]any); len(l) != 1 || l[0] != "hello from go" {
			t.Errorf("getJobLogs = %v", info["logs"])
		}
	})
}

// TestInteropGoLimitsBindNode: global concurrency and rate limit set from
// Go bind Node workers.
func TestInteropGoLimitsBindNode(t *testing.T) {
	redistest.ForEach(t, func(t *testing.T, tg redistest.Target) {
		t.Run("concurrency", func(t *testing.T) {
			e := newEnv(t, tg)
			ctx := context.Background()
			if err := e.q.SetGlobalConcurrency(ctx, 1); err != nil {
				t.Fatal(err)
			}
			var jobs []spec
			for range 6 {
				jobs = append(jobs, spec{Name: "c", Data: map[string]any{"sleep": 60}})
			}
			e.addSpecs(t, "go", jobs)
			p := startNode(t, tg, e.prefix, "work", e.name, map[string]any{"concurrency": 5})
			var starts, ends []time.Time
			for len(ends) < 6 {
				m := p.WaitFor(t, 20*time.Second, "jobs", func(m map[string]any) bool { return m["event"] == "start" || m["event"] == "completed" })
				if m["event"] == "start" {
					starts = append(starts, time.Now())
				} else {
					ends = append(ends, time.Now())
				}
			}
			// one at a time: 6 x 60 ms back to back
			if el := ends[5].Sub(starts[0]); el < 300*time.Millisecond {
				t.Errorf("6 jobs of 60ms with global concurrency 1 took %v", el)
			}
		})
		t.Run("rate", func(t *testing.T) {
			e := newEnv(t, tg)
			if err := e.q.SetGlobalRateLimit(context.Background(), 3, 400*time.Millisecond); err != nil {
				t.Fatal(err)
			}
			var jobs []spec
			for range 9 {
				jobs = append(jobs, spec{Name: "r", Data: map[string]any{}})
			}
			e.addSpecs(t, "go", jobs)
			start := time.Now()
			p := startNode(t, tg, e.prefix, "work", e.name, map[string]any{"concurrency": 10})
			for range 9 {
				p.WaitFor(t, 20*time.Second, "start", func(m map[string]any) bool { return m["event"] == "start" })
			}
			if el := time.Since(start); el < 800*time.Millisecond {
				t.Errorf("9 jobs at 3/400ms took %v, want >= 800ms", el)
			}
		})
	})
}
