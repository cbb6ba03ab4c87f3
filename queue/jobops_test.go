package queue

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/rediskit/rediskit/internal/redistest"
)

// TestJobOpsSameAsNode: UpdateData, ChangePriority, ChangeDelay and
// Promote leave Redis as Node's job.updateData, changePriority,
// changeDelay and promote do.
func TestJobOpsSameAsNode(t *testing.T) {
	jobs := []spec{
		{Name: "w1", Data: map[string]any{"a": 1}}, {Name: "w2", Data: map[string]any{}}, {Name: "w3", Data: map[string]any{}},
		{Name: "p", Data: map[string]any{}, Opts: map[string]any{"priority": 5}},
		{Name: "d1", Data: map[string]any{}, Opts: map[string]any{"delay": 60000}},
		{Name: "d2", Data: map[string]any{}, Opts: map[string]any{"delay": 60000, "priority": 2}},
	}
	ops := []map[string]any{
		{"id": "1", "op": "updateData", "arg": map[string]any{"b": 2}},
		{"id": "2", "op": "changePriority", "arg": map[string]any{"priority": 3}},
		{"id": "4", "op": "changePriority", "arg": map[string]any{"priority": 1, "lifo": true}},
		{"id": "3", "op": "changePriority", "arg": map[string]any{"priority": 0, "lifo": true}},
		{"id": "5", "op": "changeDelay", "arg": 120000},
		{"id": "6", "op": "promote"},
	}
	redistest.ForEach(t, func(t *testing.T, tg redistest.Target) {
		ctx := context.Background()
		dumps := map[string]map[string]any{}
		for _, by := range sides {
			e := newEnv(t, tg)
			e.addSpecs(t, "go", jobs)
			if by == "node" {
				for _, l := range runNode(t, tg, e.prefix, "jobops", e.name, map[string]any{"ops": ops}) {
					if l["error"] != nil {
						t.Fatalf("node %v", l)
					}
				}
			} else {
				get := func(id string) *Job {
					j, err := e.q.GetJob(ctx, id)
					if err != nil {
						t.Fatal(err)
					}
					return j
				}
				for _, err := range []error{
					get("1").UpdateData(ctx, map[string]any{"b": 2}),
					get("2").ChangePriority(ctx, 3, false),
					get("4").ChangePriority(ctx, 1, true),
					get("3").ChangePriority(ctx, 0, true),
					get("5").ChangeDelay(ctx, 2*time.Minute),
					get("6").Promote(ctx),
				} {
					if err != nil {
						t.Fatal(err)
					}
				}
			}
			k := e.q.k
			d := map[string]any{}
			for _, id := range []string{"1", "2", "3", "4", "5", "6"} {
				h, _ := e.rdb.HGetAll(ctx, k.job(id)).Result()
				delete(h, "timestamp")
				d["job "+id] = h
			}
			d["wait"], _ = e.rdb.LRange(ctx, k.wait, 0, -1).Result()
			d["prioritized"], _ = e.rdb.ZRangeWithScores(ctx, k.prioritized, 0, -1).Result()
			d["delayed"], _ = e.rdb.ZRange(ctx, k.delayed, 0, -1).Result()
			d["marker"], _ = e.rdb.ZRange(ctx, k.marker, 0, -1).Result()
			xs, _ := e.rdb.XRange(ctx, k.events, "-", "+").Result()
			var evs []string
			for _, x := range xs {
				delete(x.Values, "delay")
				evs = append(evs, x.Values["event"].(string)+" "+x.Values["jobId"].(string))
			}
			d["events"] = evs
			dumps[by] = d
		}
		for key, nv := range dumps["node"] {
			if !reflect.DeepEqual(nv, dumps["go"][key]) {
				t.Errorf("%s:\n node %v\n go   %v", key, nv, dumps["go"][key])
			}
		}
		// errors
		e := newEnv(t, tg)
		id := e.add(t, "x", nil)
		j, _ := e.q.GetJob(ctx, id)
		if err := j.Promote(ctx); !errors.Is(err, ErrJobState) {
			t.Errorf("Promote of a waiting job = %v, want ErrJobState", err)
		}
		if err := j.ChangeDelay(ctx, time.Second); !errors.Is(err, ErrJobState) {
			t.Errorf("ChangeDelay of a waiting job = %v, want ErrJobState", err)
		}
		_ = e.q.Remove(ctx, id)
		if err := j.UpdateData(ctx, 1); !errors.Is(err, ErrJobNotFound) {
			t.Errorf("UpdateData of a removed job = %v, want ErrJobNotFound", err)
		}
	})
}

// TestWorkersLists: Queue.Workers lists Go and Node workers with their
// names.
func TestWorkersLists(t *testing.T) {
	redistest.ForEach(t, func(t *testing.T, tg redistest.Target) {
		e := newEnv(t, tg)
		e.run(t, func(ctx context.Context, j *Job) (any, error) { return nil, nil }, WorkerOptions{Name: "gopher"})
		startNode(t, tg, e.prefix, "work", e.name, map[string]any{"name": "noder"})
		redistest.Eventually(t, 10*time.Second, "both workers listed", func() bool {
			ws, err := e.q.Workers(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, w := range ws {
				names = append(names, w.Name)
			}
			return slices.Contains(names, "gopher") && slices.Contains(names, "noder")
		})
	})
}
