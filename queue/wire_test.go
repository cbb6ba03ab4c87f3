package queue

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/rediskit/rediskit/internal/redistest"
)

// TestWireSameAsNode adds the same jobs from Node and from Go to two
// queues and compares what each left in Redis: job hashes (opts as JSON
// values), wait/prioritized/delayed contents, marker members, meta and the
// events written (names and fields, without times).
func TestWireSameAsNode(t *testing.T) {
	jobs := []spec{
		{Name: "plain", Data: map[string]any{"a": 1, "s": "x", "ret": map[string]any{"ok": true}}},
		{Name: "fails", Data: map[string]any{"fail": "bad input"}, Opts: map[string]any{"attempts": 2}},
		{Name: "prio", Data: map[string]any{"ret": 5}, Opts: map[string]any{"priority": 7, "attempts": 3, "backoff": map[string]any{"type": "exponential", "delay": 100, "jitter": 0.5}}},
		{Name: "lifo", Data: map[string]any{"ret": "s"}, Opts: map[string]any{"lifo": true, "removeOnComplete": 5, "removeOnFail": map[string]any{"age": 60, "count": 10}}},
		{Name: "custom", Data: map[string]any{"ret": []int{1}}, Opts: map[string]any{"jobId": "my-id", "removeOnComplete": true}},
		{Name: "custom", Data: map[string]any{}, Opts: map[string]any{"jobId": "my-id"}},
		{Name: "later", Data: map[string]any{}, Opts: map[string]any{"delay": 60000}},
	}
	redistest.ForEach(t, func(t *testing.T, tg redistest.Target) {
		ctx := context.Background()
		node, gol := newEnv(t, tg), newEnv(t, tg)
		nodeIDs := node.addSpecs(t, "node", jobs)
		goIDs := gol.addSpecs(t, "go", jobs)
		if !reflect.DeepEqual(nodeIDs, goIDs) {
			t.Fatalf("ids: node %v, go %v", nodeIDs, goIDs)
		}
		dump := func(e *env) map[string]any {
			k := e.q.k
			d := map[string]any{}
			for _, id := range nodeIDs {
				h, _ := e.rdb.HGetAll(ctx, k.job(id)).Result()
				for _, f := range []string{"timestamp", "processedOn", "finishedOn", "stacktrace"} {
					delete(h, f)
				}
				var o any
				_ = json.Unmarshal([]byte(h["opts"]), &o)
				delete(h, "opts")
				d["job "+id] = h
				d["opts "+id] = o
			}
			d["wait"], _ = e.rdb.LRange(ctx, k.wait, 0, -1).Result()
			d["prioritized"], _ = e.rdb.ZRangeWithScores(ctx, k.prioritized, 0, -1).Result()
			d["delayed"], _ = e.rdb.ZRange(ctx, k.delayed, 0, -1).Result()
			d["marker"], _ = e.rdb.ZRange(ctx, k.marker, 0, -1).Result()
			// scores are finish times: compare members only
			c, _ := e.rdb.ZRange(ctx, k.completed, 0, -1).Result()
			slices.Sort(c)
			d["completed"] = c
			d["failed"], _ = e.rdb.ZRange(ctx, k.failed, 0, -1).Result()
			d["active"], _ = e.rdb.LRange(ctx, k.active, 0, -1).Result()
			d["pc"], _ = e.rdb.Get(ctx, k.pc).Result()
			d["id"], _ = e.rdb.Get(ctx, k.id).Result()
			m, _ := e.rdb.HGetAll(ctx, k.meta).Result()
			d["meta"] = m
			xs, _ := e.rdb.XRange(ctx, k.events, "-", "+").Result()
			var evs []string
			for _, x := range xs {
				delete(x.Values, "delay") // a due time
				evs = append(evs, fmt.Sprint(x.Values))
			}
			d["events"] = evs
			return d
		}
		compare := func(stage string) {
			t.Helper()
			n, g := dump(node), dump(gol)
			if stage != "after add" {
				// the marker is a wake-up hint: whichever worker blocks
				// last pops it, so after work it depends on timing
				delete(n, "marker")
			}
			for key, nv := range n {
				if !reflect.DeepEqual(nv, g[key]) {
					t.Errorf("%s: %s:\n node %v\n go   %v", stage, key, nv, g[key])
				}
			}
		}
		compare("after add")
		// Now each side works its own queue, one job at a time.
		p := startNode(t, tg, node.prefix, "work", node.name, map[string]any{"concurrency": 1})
		gol.run(t, fixtureHandler(nil), WorkerOptions{Concurrency: 1})
		for _, e := range []*env{node, gol} {
			redistest.Eventually(t, 20*time.Second, "finished", func() bool {
				c, _ := e.q.Counts(ctx)
				return c.Waiting+c.Active+c.Prioritized == 0 && c.Failed == 1
			})
		}
		p.Stop()
		compare("after work")
	})
}
