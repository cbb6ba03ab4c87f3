package queue

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rediskit/rediskit/internal/redistest"
)

// queueEnv returns an env for another queue under e's prefix (a flow's
// parent and children queues share its hash tag).
func (e *env) queueEnv(t *testing.T, name string) *env {
	t.Helper()
	q, err := New(e.rdb, name, Options{Prefix: e.prefix})
	if err != nil {
		t.Fatal(err)
	}
	c := *e
	c.name, c.q = name, q
	return &c
}

// nodeFlow adds a flow with Node's FlowProducer.
func (e *env) nodeFlow(t *testing.T, flow map[string]any) {
	t.Helper()
	runNode(t, e.tg, e.prefix, "flow", e.name, map[string]any{"flow": flow})
}

// flowDump is what a parent's side of a flow holds: its hash, its
// dependencies/processed/failed/unsuccessful keys, the parent queue's
// lists and its events (without times).
func (e *env) flowDump(t *testing.T, pid string) map[string]any {
	t.Helper()
	ctx := context.Background()
	k := e.q.k
	pk := k.job(pid)
	h, _ := e.rdb.HGetAll(ctx, pk).Result()
	for _, f := range []string{"timestamp", "processedOn", "finishedOn"} {
		delete(h, f)
	}
	d := map[string]any{"parent": h}
	d["dependencies"], _ = e.rdb.SMembers(ctx, pk+":dependencies").Result()
	d["processed"], _ = e.rdb.HGetAll(ctx, pk+":processed").Result()
	d["failed"], _ = e.rdb.HGetAll(ctx, pk+":failed").Result()
	d["unsuccessful"], _ = e.rdb.ZRange(ctx, pk+":unsuccessful", 0, -1).Result()
	d["waiting-children"], _ = e.rdb.ZRange(ctx, k.waitingChildren, 0, -1).Result()
	d["wait"], _ = e.rdb.LRange(ctx, k.wait, 0, -1).Result()
	d["delayed"], _ = e.rdb.ZRange(ctx, k.delayed, 0, -1).Result()
	d["events"] = e.eventsNoDelay(t)
	// keys name the test's own prefix: compare them without it
	b, _ := json.Marshal(d)
	var out map[string]any
	_ = json.Unmarshal([]byte(strings.ReplaceAll(string(b), e.prefix, "{P}")), &out)
	return out
}

// TestFlowChildrenSameAsNode: children finished by a Go worker update
// their parent exactly as children finished by a Node worker do: return
// values in :processed, the parent moved on when nothing is pending, and
// each failure policy (none, failParentOnFailure, continueParentOnFailure,
// ignoreDependencyOnFailure, removeDependencyOnFailure) applied. One flow
// per policy, all added in one FlowProducer.addBulk.
func TestFlowChildrenSameAsNode(t *testing.T) {
	policies := map[string]map[string]any{
		"none": {}, "fpof": {"failParentOnFailure": true}, "cpof": {"continueParentOnFailure": true},
		"idof": {"ignoreDependencyOnFailure": true}, "rdof": {"removeDependencyOnFailure": true},
		"ok": nil,
	}
	var flows []any
	for name, pol := range policies {
		failing := map[string]any{"name": "c2", "queueName": "c", "data": map[string]any{"fail": "boom"},
			"opts": map[string]any{"jobId": "c2-" + name}}
		for k, v := range pol {
			failing["opts"].(map[string]any)[k] = v
		}
		if pol == nil {
			failing["data"] = map[string]any{"ret": 2}
		}
		flows = append(flows, map[string]any{"name": "parent", "queueName": "p", "data": map[string]any{}, "opts": map[string]any{"jobId": "top-" + name},
			"children": []any{
				map[string]any{"name": "c1", "queueName": "c", "data": map[string]any{"ret": 1}, "opts": map[string]any{"jobId": "c1-" + name}},
				failing,
			}})
	}
	redistest.ForEach(t, func(t *testing.T, tg redistest.Target) {
		dumps := map[string]map[string]any{}
		for _, by := range sides {
			e := newEnv(t, tg)
			p, c := e.queueEnv(t, "p"), e.queueEnv(t, "c")
			runNode(t, tg, e.prefix, "flow", "p", map[string]any{"flows": flows})
			if by == "go" {
				c.run(t, fixtureHandler(nil), WorkerOptions{Concurrency: 4})
			} else {
				pr := startNode(t, tg, e.prefix, "work", "c", map[string]any{"concurrency": 4})
				defer pr.Stop()
			}
			redistest.Eventually(t, 15*time.Second, "children finished", func() bool {
				n, _ := c.q.Counts(context.Background())
				return n.Completed+n.Failed == 2*int64(len(policies))
			})
			d := map[string]any{}
			for name := range policies {
				pd := p.flowDump(t, "top-"+name)
				delete(pd, "events") // the policies' flows interleave
				delete(pd, "wait")
				d[name] = pd
			}
			d["wait"], _ = p.rdb.LRange(context.Background(), p.q.k.wait, 0, -1).Result()
			dumps[by] = d
		}
		for name := range policies {
			if !reflect.DeepEqual(dumps["node"][name], dumps["go"][name]) {
				t.Errorf("%s:\n node %v\n go   %v", name, dumps["node"][name], dumps["go"][name])
			}
		}
		if w, _ := dumps["go"]["wait"].([]string); len(w) != 5 {
			t.Errorf("parents in wait = %v, want every parent but the one without a policy", w)
		}
	})
}

// TestFlowParentRunsAfterGoChildren: Node's getChildrenValues() in a
// parent run by Node sees the results of children run by Go, and a Go
// parent sees children run by Node.
func TestFlowParentRunsAfterGoChildren(t *testing.T) {
	redistest.ForEach(t, func(t *testing.T, tg redistest.Target) {
		for _, children := range sides {
			t.Run("children-by-"+children, func(t *testing.T) {
				e := newEnv(t, tg)
				p, c := e.queueEnv(t, "p"), e.queueEnv(t, "c")
				p.nodeFlow(t, map[string]any{"name": "parent", "queueName": "p", "data": map[string]any{"childrenValues": true}, "opts": map[string]any{"jobId": "top"},
					"children": []any{
						map[string]any{"name": "c1", "queueName": "c", "data": map[string]any{"ret": map[string]any{"v": 1}}, "opts": map[string]any{"jobId": "c1"}},
						map[string]any{"name": "c2", "queueName": "c", "data": map[string]any{"ret": "two"}, "opts": map[string]any{"jobId": "c2"}},
					}})
				parents := "node"
				if children == "node" {
					parents = "go"
				}
				for _, side := range []struct{ by, env string }{{children, "c"}, {parents, "p"}} {
					if side.by == "go" {
						e.queueEnv(t, side.env).run(t, fixtureHandler(nil), WorkerOptions{})
					} else {
						pr := startNode(t, tg, e.prefix, "work", side.env, nil)
						defer pr.Stop()
					}
				}
				redistest.Eventually(t, 20*time.Second, "parent completed", func() bool {
					s, _ := p.q.State(context.Background(), "top")
					return s == StateCompleted
				})
				var got map[string]any
				if err := json.Unmarshal([]byte(p.hget(t, "top", "returnvalue")), &got); err != nil {
					t.Fatal(err)
				}
				want := map[string]any{c.q.k.job("c1"): map[string]any{"v": float64(1)}, c.q.k.job("c2"): "two"}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("parent (by %s) saw children values %v, want %v", parents, got, want)
				}
			})
		}
	})
}

// TestFlowParentWithPendingChildren: a parent that reaches a Go worker
// while a child is pending cannot complete: it fails with Node's message.
func TestFlowParentWithPendingChildren(t *testing.T) {
	redistest.ForEach(t, func(t *testing.T, tg redistest.Target) {
		e := newEnv(t, tg)
		ctx := context.Background()
		p := e.queueEnv(t, "p")
		p.nodeFlow(t, map[string]any{"name": "parent", "queueName": "p", "data": map[string]any{}, "opts": map[string]any{"jobId": "top"},
			"children": []any{map[string]any{"name": "c1", "queueName": "c", "data": map[string]any{}, "opts": map[string]any{"jobId": "c1"}}}})
		// pushed to wait by hand (as moveToWaitingChildren races could)
		e.rdb.ZRem(ctx, p.q.k.waitingChildren, "top")
		e.rdb.LPush(ctx, p.q.k.wait, "top")
		ran := make(chan struct{}, 1)
		p.run(t, func(ctx context.Context, j *Job) (any, error) { ran <- struct{}{}; return "done", nil }, WorkerOptions{})
		redistest.Eventually(t, 10*time.Second, "parent failed", func() bool { s, _ := p.q.State(ctx, "top"); return s == StateFailed })
		if r := p.hget(t, "top", "failedReason"); !strings.Contains(r, "has pending dependencies") {
			t.Errorf("failedReason = %q", r)
		}
		if rv := p.hget(t, "top", "returnvalue"); rv != "" {
			t.Errorf("returnvalue = %q, want none", rv)
		}
	})
}

// TestAddFlowSameAsNode: a flow of depth 3 added by Go leaves Redis as
// Node's FlowProducer leaves it, and Node workers run it to the end (the
// root reading its children's values).
func TestAddFlowSameAsNode(t *testing.T) {
	nodeTree := map[string]any{"name": "root", "queueName": "p", "data": map[string]any{"childrenValues": true}, "opts": map[string]any{"jobId": "top"},
		"children": []any{
			map[string]any{"name": "c1", "queueName": "c", "data": map[string]any{"ret": 1}, "opts": map[string]any{"jobId": "c1", "failParentOnFailure": true}},
			map[string]any{"name": "mid", "queueName": "c", "data": map[string]any{"ret": "m"}, "opts": map[string]any{"jobId": "mid", "priority": 3},
				"children": []any{map[string]any{"name": "g1", "queueName": "c", "data": map[string]any{"ret": "g"}, "opts": map[string]any{"jobId": "g1"}}}},
		}}
	goTree := FlowJob{Name: "root", Queue: "p", Data: map[string]any{"childrenValues": true}, Opts: JobOptions{JobID: "top"},
		Children: []FlowJob{
			{Name: "c1", Queue: "c", Data: map[string]any{"ret": 1}, Opts: JobOptions{JobID: "c1", FailParentOnFailure: true}},
			{Name: "mid", Queue: "c", Data: map[string]any{"ret": "m"}, Opts: JobOptions{JobID: "mid", Priority: 3},
				Children: []FlowJob{{Name: "g1", Queue: "c", Data: map[string]any{"ret": "g"}, Opts: JobOptions{JobID: "g1"}}}},
		}}
	redistest.ForEach(t, func(t *testing.T, tg redistest.Target) {
		ctx := context.Background()
		dumps := map[string]map[string]any{}
		var goEnv *env
		for _, by := range sides {
			e := newEnv(t, tg)
			p, c := e.queueEnv(t, "p"), e.queueEnv(t, "c")
			if by == "node" {
				p.nodeFlow(t, nodeTree)
			} else {
				ids, err := p.q.AddFlow(ctx, goTree)
				if err != nil || fmt.Sprint(ids) != "[top c1 mid g1]" {
					t.Fatalf("AddFlow = %v, %v", ids, err)
				}
				goEnv = e
			}
			d := map[string]any{}
			for _, x := range []struct {
				e  *env
				id string
			}{{p, "top"}, {c, "c1"}, {c, "mid"}, {c, "g1"}} {
				h, _ := x.e.rdb.HGetAll(ctx, x.e.q.k.job(x.id)).Result()
				delete(h, "timestamp")
				var o, par any
				_ = json.Unmarshal([]byte(h["opts"]), &o)
				_ = json.Unmarshal([]byte(h["parent"]), &par)
				delete(h, "opts")
				delete(h, "parent")
				d["job "+x.id], d["opts "+x.id], d["parent "+x.id] = h, o, par
				deps, _ := x.e.rdb.SMembers(ctx, x.e.q.k.job(x.id)+":dependencies").Result()
				slices.Sort(deps)
				d["deps "+x.id] = deps
			}
			for _, q := range []*env{p, c} {
				d["waiting-children "+q.name], _ = q.rdb.ZRange(ctx, q.q.k.waitingChildren, 0, -1).Result()
				d["wait "+q.name], _ = q.rdb.LRange(ctx, q.q.k.wait, 0, -1).Result()
				d["prioritized "+q.name], _ = q.rdb.ZRange(ctx, q.q.k.prioritized, 0, -1).Result()
				d["marker "+q.name], _ = q.rdb.ZRange(ctx, q.q.k.marker, 0, -1).Result()
				xs, _ := q.rdb.XRange(ctx, q.q.k.events, "-", "+").Result()
				var evs []string
				for _, x := range xs {
					evs = append(evs, fmt.Sprint(x.Values))
				}
				d["events "+q.name] = evs
			}
			b, _ := json.Marshal(d)
			var norm map[string]any
			_ = json.Unmarshal([]byte(strings.ReplaceAll(string(b), e.prefix, "{P}")), &norm)
			dumps[by] = norm
		}
		for key, nv := range dumps["node"] {
			if !reflect.DeepEqual(nv, dumps["go"][key]) {
				t.Errorf("%s:\n node %v\n go   %v", key, nv, dumps["go"][key])
			}
		}
		// Node workers run the Go flow to the end.
		for _, qn := range []string{"c", "p"} {
			pr := startNode(t, tg, goEnv.prefix, "work", qn, nil)
			defer pr.Stop()
		}
		p := goEnv.queueEnv(t, "p")
		redistest.Eventually(t, 20*time.Second, "root completed", func() bool { s, _ := p.q.State(ctx, "top"); return s == StateCompleted })
		var got map[string]any
		_ = json.Unmarshal([]byte(p.hget(t, "top", "returnvalue")), &got)
		c := goEnv.queueEnv(t, "c")
		if want := map[string]any{c.q.k.job("c1"): float64(1), c.q.k.job("mid"): "m"}; !reflect.DeepEqual(got, want) {
			t.Errorf("root saw %v, want %v", got, want)
		}
	})
}

// TestRemoveFlowChild: removing a flow's pending children (Queue.Remove)
// drops them from the parent's dependencies; once none is left the parent
// moves to wait and runs, as with Node's remove.
func TestRemoveFlowChild(t *testing.T) {
	redistest.ForEach(t, func(t *testing.T, tg redistest.Target) {
		e := newEnv(t, tg)
		ctx := context.Background()
		p, c := e.queueEnv(t, "p"), e.queueEnv(t, "c")
		if _, err := p.q.AddFlow(ctx, FlowJob{Name: "root", Opts: JobOptions{JobID: "top"}, Children: []FlowJob{
			{Name: "c1", Queue: "c", Opts: JobOptions{JobID: "c1"}}, {Name: "c2", Queue: "c", Opts: JobOptions{JobID: "c2"}}}}); err != nil {
			t.Fatal(err)
		}
		if err := c.q.Remove(ctx, "c1"); err != nil {
			t.Fatal(err)
		}
		if s, _ := p.rdb.ZScore(ctx, p.q.k.waitingChildren, "top").Result(); s == 0 {
			t.Fatal("parent left waiting-children with a child pending")
		}
		if err := c.q.Remove(ctx, "c2"); err != nil {
			t.Fatal(err)
		}
		if w, _ := p.rdb.LRange(ctx, p.q.k.wait, 0, -1).Result(); fmt.Sprint(w) != "[top]" {
			t.Errorf("parent queue wait = %v, want [top]", w)
		}
		if n, _ := p.rdb.Exists(ctx, p.q.k.job("top")+":dependencies").Result(); n != 0 {
			t.Error("dependencies left")
		}
	})
}
