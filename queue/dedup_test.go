package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/rediskit/rediskit/internal/redistest"
)

// dedupStep is a group of adds, or (activate) one job moved to active as
// a worker would take it.
type dedupStep struct {
	adds     []spec
	activate bool
}

func de(id string, more map[string]any) map[string]any {
	d := map[string]any{"id": id}
	for k, v := range more {
		d[k] = v
	}
	return map[string]any{"deduplication": d}
}

func withDelay(o map[string]any, ms int) map[string]any {
	o["delay"] = ms
	return o
}

// addDedupSpecs adds jobs from Go or Node; Go reads Node's option name
// ("deduplication") into JobOptions.Deduplication.
func (e *env) addDedupSpecs(t *testing.T, by string, jobs []spec) []string {
	t.Helper()
	if by == "node" {
		return e.addSpecs(t, "node", jobs)
	}
	var ids []string
	for _, s := range jobs {
		raw, _ := json.Marshal(s.Opts)
		var w struct {
			wireOpts
			Dedup *Deduplication `json:"deduplication"`
		}
		if err := json.Unmarshal(raw, &w); err != nil {
			t.Fatal(err)
		}
		o := w.JobOptions
		o.Delay = time.Duration(w.DelayMS) * time.Millisecond
		o.Deduplication = w.Dedup
		a, err := e.q.Add(context.Background(), s.Name, s.Data, WithOptions(o))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, a.ID)
	}
	return ids
}

// activate moves the next job to active, as a worker's fetch does.
func (e *env) activate(t *testing.T) {
	t.Helper()
	e.activateHeld(t, 60000)
}

// dedupDump is what a queue holds for dedup id "d": the key (value, and
// whether it has a TTL), the kept add, every job hash, the lists and the
// events (without times).
func (e *env) dedupDump(t *testing.T) map[string]any {
	t.Helper()
	ctx := context.Background()
	k := e.q.k
	d := map[string]any{}
	d["de"], _ = e.rdb.Get(ctx, k.base+"de:d").Result()
	ttl, _ := e.rdb.PTTL(ctx, k.base+"de:d").Result()
	d["de ttl"] = ttl > 0
	dn, _ := e.rdb.HGetAll(ctx, k.base+"dn:d").Result()
	var dnOpts any
	_ = json.Unmarshal([]byte(dn["opts"]), &dnOpts)
	delete(dn, "opts")
	d["dn"], d["dn opts"] = dn, dnOpts
	n, _ := e.rdb.Get(ctx, k.id).Int()
	d["id"] = n
	for i := 1; i <= n; i++ {
		id := strconv.Itoa(i)
		h, _ := e.rdb.HGetAll(ctx, k.job(id)).Result()
		for _, f := range []string{"timestamp", "processedOn"} {
			delete(h, f)
		}
		var o any
		_ = json.Unmarshal([]byte(h["opts"]), &o)
		delete(h, "opts")
		d["job "+id], d["opts "+id] = h, o
	}
	d["wait"], _ = e.rdb.LRange(ctx, k.wait, 0, -1).Result()
	d["active"], _ = e.rdb.LRange(ctx, k.active, 0, -1).Result()
	d["delayed"], _ = e.rdb.ZRange(ctx, k.delayed, 0, -1).Result()
	d["events"] = e.eventsNoDelay(t)
	return d
}

// TestDedupAddSameAsNode: every deduplication mode leaves Redis as Node
// leaves it for the same adds: simple, throttle (ttl), extend, debounce
// (replace + extend of a delayed job), keepLastIfActive.
func TestDedupAddSameAsNode(t *testing.T) {
	ttl := map[string]any{"ttl": 60000}
	cases := map[string][]dedupStep{
		"simple":   {{adds: []spec{{Name: "a", Data: map[string]any{"n": 1}, Opts: de("d", nil)}, {Name: "b", Data: map[string]any{"n": 2}, Opts: de("d", nil)}}}},
		"throttle": {{adds: []spec{{Name: "a", Data: map[string]any{"n": 1}, Opts: de("d", ttl)}, {Name: "b", Data: map[string]any{}, Opts: de("d", ttl)}}}},
		"extend": {{adds: []spec{{Name: "a", Data: map[string]any{}, Opts: de("d", map[string]any{"ttl": 60000, "extend": true})},
			{Name: "b", Data: map[string]any{}, Opts: de("d", map[string]any{"ttl": 60000, "extend": true})}}}},
		"debounce": {{adds: []spec{
			{Name: "a", Data: map[string]any{"n": 1}, Opts: withDelay(de("d", map[string]any{"ttl": 60000, "extend": true, "replace": true}), 60000)},
			{Name: "b", Data: map[string]any{"n": 2}, Opts: withDelay(de("d", map[string]any{"ttl": 60000, "extend": true, "replace": true}), 60000)},
			{Name: "c", Data: map[string]any{"n": 3}, Opts: withDelay(de("d", map[string]any{"ttl": 60000, "extend": true, "replace": true}), 60000)}}}},
		"keep-last-if-active": {
			{adds: []spec{{Name: "a", Data: map[string]any{"n": 1}, Opts: de("d", map[string]any{"keepLastIfActive": true})}}},
			{activate: true},
			{adds: []spec{{Name: "b", Data: map[string]any{"n": 2}, Opts: de("d", map[string]any{"keepLastIfActive": true})},
				{Name: "c", Data: map[string]any{"n": 3}, Opts: de("d", map[string]any{"keepLastIfActive": true})}}}},
	}
	redistest.ForEach(t, func(t *testing.T, tg redistest.Target) {
		for name, steps := range cases {
			t.Run(name, func(t *testing.T) {
				node, gol := newEnv(t, tg), newEnv(t, tg)
				var nodeIDs, goIDs []string
				for _, s := range steps {
					if s.activate {
						node.activate(t)
						gol.activate(t)
						continue
					}
					nodeIDs = append(nodeIDs, node.addDedupSpecs(t, "node", s.adds)...)
					goIDs = append(goIDs, gol.addDedupSpecs(t, "go", s.adds)...)
				}
				if !reflect.DeepEqual(nodeIDs, goIDs) {
					t.Errorf("returned ids: node %v, go %v", nodeIDs, goIDs)
				}
				n, g := node.dedupDump(t), gol.dedupDump(t)
				for key, nv := range n {
					if !reflect.DeepEqual(nv, g[key]) {
						t.Errorf("%s:\n node %v\n go   %v", key, nv, g[key])
					}
				}
			})
		}
	})
}

// TestDedupFinishSameAsNode: a job holding a dedup id releases it when it
// completes, so the next add with that id adds a job; with
// keepLastIfActive the last add made while it ran is created when it
// finishes, and runs. A Go worker and a Node worker leave the same state.
func TestDedupFinishSameAsNode(t *testing.T) {
	keep := de("d", map[string]any{"keepLastIfActive": true})
	redistest.ForEach(t, func(t *testing.T, tg redistest.Target) {
		dumps := map[string]map[string]any{}
		for _, by := range sides {
			e := newEnv(t, tg)
			ctx := context.Background()
			e.addDedupSpecs(t, "node", []spec{{Name: "a", Data: map[string]any{"sleep": 1500}, Opts: keep}})
			var p *nodeProc
			if by == "go" {
				e.run(t, fixtureHandler(nil), WorkerOptions{})
			} else {
				p = startNode(t, tg, e.prefix, "work", e.name, nil)
			}
			redistest.Eventually(t, 10*time.Second, "a active", func() bool { s, _ := e.q.State(ctx, "1"); return s == StateActive })
			ids := e.addDedupSpecs(t, "go", []spec{{Name: "b", Data: map[string]any{"ret": "b"}, Opts: keep}, {Name: "c", Data: map[string]any{"ret": "c"}, Opts: keep}})
			if fmt.Sprint(ids) != "[1 1]" {
				t.Errorf("%s: adds while a runs returned %v, want [1 1]", by, ids)
			}
			redistest.Eventually(t, 15*time.Second, "c's job completes", func() bool { s, _ := e.q.State(ctx, "3"); return s == StateCompleted })
			if rv := e.hget(t, "3", "returnvalue"); rv != `"c"` {
				t.Errorf("%s: job 3 returnvalue %q, want c's", by, rv)
			}
			// released: the next add is a job of its own
			next := e.addDedupSpecs(t, "node", []spec{{Name: "d", Data: map[string]any{"ret": "d"}, Opts: de("d", nil)}})
			// (the kept add took the counter's 4 and its own id 3)
			if next[0] != "5" {
				t.Errorf("%s: add after release returned %v, want a new job 5", by, next)
			}
			redistest.Eventually(t, 15*time.Second, "job 5 completes", func() bool { s, _ := e.q.State(ctx, "5"); return s == StateCompleted })
			if p != nil {
				p.Stop()
			}
			d := e.dedupDump(t)
			delete(d, "events") // drained/active interleave with timing
			for i := 1; i <= 5; i++ {
				if h, ok := d[fmt.Sprint("job ", i)].(map[string]string); ok {
					for _, f := range []string{"finishedOn", "pb", "returnvalue"} {
						delete(h, f)
					}
				}
			}
			dumps[by] = d
		}
		for key, nv := range dumps["node"] {
			if !reflect.DeepEqual(nv, dumps["go"][key]) {
				t.Errorf("%s:\n node %v\n go   %v", key, nv, dumps["go"][key])
			}
		}
	})
}

// TestDedupReleasedOnRemoveAndClean: removing or cleaning the job that
// holds a dedup id releases it (and drops a kept add), as Node does.
func TestDedupReleasedOnRemoveAndClean(t *testing.T) {
	redistest.ForEach(t, func(t *testing.T, tg redistest.Target) {
		e := newEnv(t, tg)
		ctx := context.Background()
		k := e.q.k
		a, err := e.q.Add(ctx, "a", nil, WithDeduplication(Deduplication{ID: "d"}))
		if err != nil {
			t.Fatal(err)
		}
		b, err := e.q.Add(ctx, "b", nil, WithDeduplication(Deduplication{ID: "d"}))
		if err != nil || !b.Deduplicated || b.ID != a.ID {
			t.Fatalf("second add = %+v, %v; want deduplicated into %s", b, err, a.ID)
		}
		if err := e.q.Remove(ctx, a.ID); err != nil {
			t.Fatal(err)
		}
		if n, _ := e.rdb.Exists(ctx, k.base+"de:d").Result(); n != 0 {
			t.Error("Remove left the dedup key")
		}
		c, _ := e.q.Add(ctx, "c", nil, WithDeduplication(Deduplication{ID: "d"}))
		if c.Deduplicated {
			t.Fatalf("add after Remove = %+v, want a new job", c)
		}
		if _, err := e.q.Clean(ctx, StateWaiting, 0, 0); err != nil {
			t.Fatal(err)
		}
		if n, _ := e.rdb.Exists(ctx, k.base+"de:d").Result(); n != 0 {
			t.Error("Clean left the dedup key")
		}
		if _, err := e.q.Add(ctx, "x", nil, WithDeduplication(Deduplication{})); !errors.Is(err, ErrInvalidOption) {
			t.Errorf("dedup without id = %v, want ErrInvalidOption", err)
		}
	})
}
