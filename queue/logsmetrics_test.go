package queue

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/rediskit/rediskit/internal/redistest"
)

// TestKeepLogs: opts.kl ("keepLogs") bounds a job's log whichever side
// adds the job and whichever side logs; logging to a job that is gone
// fails and writes nothing.
func TestKeepLogs(t *testing.T) {
	redistest.ForEach(t, func(t *testing.T, tg redistest.Target) {
		data := map[string]any{"logs": []string{"a", "b", "c", "d", "e"}}
		for prod, cons := range map[string]string{"node": "go", "go": "node"} {
			{
				t.Run(prod+"-to-"+cons, func(t *testing.T) {
					e := newEnv(t, tg)
					var ids []string
					if prod == "node" {
						ids = e.addSpecs(t, prod, []spec{{Name: "l", Data: data, Opts: map[string]any{"keepLogs": 2}}})
					} else {
						ids = []string{e.add(t, "l", data, WithKeepLogs(2))}
					}
					e.consume(t, cons, 1, nil)
					redistest.Eventually(t, 15*time.Second, "job completes", func() bool {
						s, _ := e.q.State(context.Background(), ids[0])
						return s == StateCompleted
					})
					info := runNode(t, tg, e.prefix, "inspect", e.name, map[string]any{"logs": ids[0]})[0]
					logs, _ := info["logs"].(map[string]any)
					if fmt.Sprint(logs["logs"]) != "[d e]" || fmt.Sprint(logs["count"]) != "2" {
						t.Errorf("Node getJobLogs = %v, want the newest 2 lines", info["logs"])
					}
				})
			}
		}
		t.Run("missing-job", func(t *testing.T) {
			e := newEnv(t, tg)
			ctx := context.Background()
			id := e.add(t, "x", nil, WithKeepLogs(3))
			j, err := e.q.GetJob(ctx, id)
			if err != nil || j.Opts.KeepLogs != 3 {
				t.Fatalf("GetJob = %+v, %v", j, err)
			}
			if err := e.q.Remove(ctx, id); err != nil {
				t.Fatal(err)
			}
			if err := j.Log(ctx, "late"); !errors.Is(err, ErrJobNotFound) {
				t.Errorf("Log on a removed job = %v, want ErrJobNotFound", err)
			}
			if n, _ := e.rdb.Exists(ctx, e.q.k.logs(id)).Result(); n != 0 {
				t.Error("Log on a removed job created its log list")
			}
		})
	})
}

// TestMetricsSameAsNode: a Go worker with the metrics option writes the
// metrics:completed / metrics:failed data a Node worker with the same
// option writes, and Node's getMetrics reads it.
func TestMetricsSameAsNode(t *testing.T) {
	jobs := []spec{{Name: "a", Data: map[string]any{}}, {Name: "b", Data: map[string]any{}}, {Name: "c", Data: map[string]any{}},
		{Name: "f", Data: map[string]any{"fail": "no"}}}
	redistest.ForEach(t, func(t *testing.T, tg redistest.Target) {
		ctx := context.Background()
		dumps := map[string]map[string]any{}
		metrics := map[string]any{}
		for _, by := range sides {
			e := newEnv(t, tg)
			// the run must not straddle a minute boundary
			redistest.Eventually(t, 20*time.Second, "early in a minute", func() bool { return time.Now().Second() < 45 })
			// counts from an earlier minute, as a long-running queue has
			for _, st := range []State{StateCompleted, StateFailed} {
				e.rdb.HSet(ctx, e.q.k.metrics(st), "count", 5, "prevCount", 2, "prevTS", time.Now().Add(-3*time.Minute).UnixMilli())
			}
			e.addSpecs(t, "go", jobs)
			if by == "go" {
				e.run(t, fixtureHandler(nil), WorkerOptions{Concurrency: 4, Metrics: MetricsOptions{MaxDataPoints: 10}})
			} else {
				startNode(t, tg, e.prefix, "work", e.name, map[string]any{"concurrency": 4, "metrics": map[string]any{"maxDataPoints": 10}})
			}
			redistest.Eventually(t, 15*time.Second, "jobs finished", func() bool {
				c, _ := e.q.Counts(ctx)
				return c.Completed == 3 && c.Failed == 1
			})
			d := map[string]any{}
			for _, st := range []State{StateCompleted, StateFailed} {
				m, err := e.q.Metrics(ctx, st, 0, -1)
				if err != nil {
					t.Fatal(err)
				}
				if time.Since(m.PrevTS) > time.Minute {
					t.Errorf("%s %s: prevTS %v not moved to this minute", by, st, m.PrevTS)
				}
				m.PrevTS = time.Time{}
				d[string(st)] = m
			}
			dumps[by] = d
			if by == "go" {
				metrics = runNode(t, tg, e.prefix, "inspect", e.name, map[string]any{"metrics": true})[0]["metrics"].(map[string]any)
			}
		}
		if !reflect.DeepEqual(dumps["node"], dumps["go"]) {
			t.Errorf("metrics:\n node %+v\n go   %+v", dumps["node"], dumps["go"])
		}
		want := Metrics{Count: 8, PrevCount: 5, Data: []int64{0, 0, 3}, Points: 3}
		if got := dumps["go"]["completed"]; !reflect.DeepEqual(got, want) {
			t.Errorf("go completed metrics = %+v, want %+v", got, want)
		}
		c, _ := metrics["completed"].(map[string]any)
		meta, _ := c["meta"].(map[string]any)
		if fmt.Sprint(meta["count"]) != "8" || fmt.Sprint(c["data"]) != "[0 0 3]" {
			t.Errorf("Node getMetrics('completed') on Go's data = %v", c)
		}
	})
}
