package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/rediskit/rediskit/internal/redistest"
)

// Flow job calls from Go (Dependencies, DependenciesCount,
// RemoveChildDependency, RemoveUnprocessedChildren), AddFlow under an
// existing job and Clean("active") compared with BullMQ 6.7.0: the same
// step done by Node and by Go leaves Redis the same, on flows added by the
// other side.

// nodeTestFlow is testFlow(delayed) as a Node FlowProducer tree.
func nodeTestFlow(delayed bool) map[string]any {
	leaf := func(name string, ret any, opts map[string]any) map[string]any {
		opts["jobId"] = name
		return map[string]any{"name": name, "queueName": "c", "data": map[string]any{"ret": ret}, "opts": opts}
	}
	mid := leaf("mid", "m", map[string]any{})
	mid["children"] = []any{leaf("g1", "g", map[string]any{})}
	kids := []any{leaf("c1", 1, map[string]any{}), mid}
	if delayed {
		kids = append(kids, leaf("c2", 2, map[string]any{"delay": 60000}))
	}
	return map[string]any{"name": "root", "queueName": "p", "data": map[string]any{"ret": "top"},
		"opts": map[string]any{"jobId": "top"}, "children": kids}
}

// flowAddedBy returns a world holding testFlow(true) added by side (Go's
// AddFlow or Node's FlowProducer).
func flowAddedBy(t *testing.T, tg redistest.Target, side string) *flowWorld {
	t.Helper()
	if side == "go" {
		return goFlow(t, tg, true)
	}
	w := newFlowWorld(t, tg)
	w.p.nodeFlow(t, nodeTestFlow(true))
	return w
}

// jobCall is one Job method call: Node's name for it, on job ID of queue
// Queue ("p" or "c").
type jobCall struct {
	Queue string `json:"queue"`
	ID    string `json:"id"`
	Op    string `json:"op"`
	Arg   any    `json:"arg,omitempty"`
}

// jsonValue is v as encoding/json decodes it into an any.
func jsonValue(v any) any {
	b, _ := json.Marshal(v)
	var x any
	_ = json.Unmarshal(b, &x)
	return x
}

// nodeDeps is Go's Dependencies in the shape Node's getDependencies
// returns: every kind in the whole form, the asked ones with their next
// cursors in the paged form.
func nodeDeps(d Dependencies, o DependenciesOptions) any {
	m := map[string]any{}
	full := o == DependenciesOptions{}
	if full || o.Processed != nil {
		m["processed"] = d.Processed
	}
	if full || o.Unprocessed != nil {
		m["unprocessed"] = d.Unprocessed
	}
	if full || o.Ignored != nil {
		m["ignored"] = d.Ignored
	}
	if full || o.Failed != nil {
		m["failed"] = d.Failed
	}
	if !full {
		for name, p := range map[string]*DependenciesPage{"Processed": o.Processed, "Unprocessed": o.Unprocessed, "Ignored": o.Ignored, "Failed": o.Failed} {
			if p != nil {
				m["next"+name+"Cursor"] = map[string]uint64{"Processed": d.NextProcessed, "Unprocessed": d.NextUnprocessed,
					"Ignored": d.NextIgnored, "Failed": d.NextFailed}[name]
			}
		}
	}
	return sortLists(jsonValue(m))
}

// sortLists sorts the string lists of a decoded JSON object (set members
// come in SMEMBERS order).
func sortLists(v any) any {
	m, ok := v.(map[string]any)
	if !ok {
		return v
	}
	for k, x := range m {
		if l, ok := x.([]any); ok {
			slices.SortFunc(l, func(a, b any) int {
				if fmt.Sprint(a) < fmt.Sprint(b) {
					return -1
				}
				return 1
			})
			m[k] = l
		}
	}
	return m
}

// depsOptions is the Go twin of a getDependencies argument.
func depsOptions(arg any) DependenciesOptions {
	var o DependenciesOptions
	m, _ := arg.(map[string]any)
	page := func(k string) *DependenciesPage {
		x, ok := m[k].(map[string]any)
		if !ok {
			return nil
		}
		c, _ := x["cursor"].(int)
		n, _ := x["count"].(int)
		return &DependenciesPage{Cursor: uint64(c), Count: n}
	}
	o.Processed, o.Unprocessed, o.Ignored, o.Failed = page("processed"), page("unprocessed"), page("ignored"), page("failed")
	return o
}

// calls runs the calls in order on the side by and returns each result as
// JSON decodes it ("error" for a failed call).
func (w *flowWorld) calls(t *testing.T, by string, cs []jobCall) []any {
	t.Helper()
	var out []any
	if by == "node" {
		r := runNodeScript(t, w.e.tg, "flowparity.js", w.e.prefix, "jobcall", "p", map[string]any{"calls": cs})
		for i, x := range r[0]["results"].([]any) {
			m := x.(map[string]any)
			if e, ok := m["error"]; ok {
				t.Logf("node %s %s: %v", cs[i].Op, cs[i].ID, e)
				out = append(out, "error")
				continue
			}
			if cs[i].Op == "getDependencies" {
				out = append(out, sortLists(m["result"]))
				continue
			}
			out = append(out, m["result"])
		}
		return out
	}
	ctx := context.Background()
	for _, c := range cs {
		q := w.p
		if c.Queue == "c" {
			q = w.c
		}
		j, err := q.q.GetJob(ctx, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		var r any
		switch c.Op {
		case "removeChildDependency":
			r, err = j.RemoveChildDependency(ctx)
		case "removeUnprocessedChildren":
			err = j.RemoveUnprocessedChildren(ctx)
		case "getDependenciesCount":
			var n DependencyCounts
			n, err = j.DependenciesCount(ctx)
			r = map[string]int64{"processed": n.Processed, "unprocessed": n.Unprocessed, "ignored": n.Ignored, "failed": n.Failed}
		case "getDependencies":
			o := depsOptions(c.Arg)
			var d Dependencies
			d, err = j.Dependencies(ctx, o)
			r = nodeDeps(d, o)
		default:
			t.Fatalf("unknown op %s", c.Op)
		}
		if err != nil {
			t.Logf("go %s %s: %v", c.Op, c.ID, err)
			out = append(out, "error")
			continue
		}
		out = append(out, jsonValue(r))
	}
	return out
}

// TestFlowJobCallsSameAsNode: RemoveChildDependency and
// RemoveUnprocessedChildren leave both queues as Node's
// job.removeChildDependency and job.removeUnprocessedChildren do, on a
// flow the other side added, and return the same: a detached child's
// parent moves to wait when it was the last; a second detach fails
// (no parent any more); unprocessed children go at any depth, except one a
// worker holds (its lock is set as a worker's take sets it), and the
// parent left without pending children moves to wait.
func TestFlowJobCallsSameAsNode(t *testing.T) {
	cases := map[string][]jobCall{
		"removeChildDependency": {
			{Queue: "c", ID: "c1", Op: "removeChildDependency"},
			{Queue: "c", ID: "g1", Op: "removeChildDependency"},
			{Queue: "c", ID: "g1", Op: "removeChildDependency"},
		},
		"removeUnprocessedChildren": {
			{Queue: "c", ID: "mid", Op: "removeUnprocessedChildren"},
			{Queue: "p", ID: "top", Op: "removeUnprocessedChildren"},
		},
	}
	redistest.ForEach(t, func(t *testing.T, tg redistest.Target) {
		for name, cs := range cases {
			t.Run(name, func(t *testing.T) {
				dumps := map[string]map[string]any{}
				results := map[string][]any{}
				for _, by := range sides {
					w := flowAddedBy(t, tg, otherSide(by))
					if name == "removeUnprocessedChildren" {
						if err := w.c.rdb.Set(context.Background(), w.c.q.k.lock("c1"), "held", time.Minute).Err(); err != nil {
							t.Fatal(err)
						}
					}
					w.mark(t)
					results[by] = w.calls(t, by, cs)
					dumps[by] = w.dump(t, flowIDs...)
				}
				if !reflect.DeepEqual(results["node"], results["go"]) {
					t.Errorf("results: node %v, go %v", results["node"], results["go"])
				}
				compareDumps(t, name, dumps["node"], dumps["go"])
			})
		}
	})
}

// TestFlowDependenciesSameAsNode: on a flow added by Node whose children
// a Go worker ran (one completed, failures under each policy, one still
// delayed), Dependencies and DependenciesCount return what Node's
// getDependencies and getDependenciesCount return, whole and paged.
func TestFlowDependenciesSameAsNode(t *testing.T) {
	kid := func(id string, data, opts map[string]any) map[string]any {
		opts["jobId"] = id
		return map[string]any{"name": id, "queueName": "c", "data": data, "opts": opts}
	}
	flow := map[string]any{"name": "root", "queueName": "p", "opts": map[string]any{"jobId": "top"}, "children": []any{
		kid("k1", map[string]any{"ret": map[string]any{"n": 1}}, map[string]any{}),
		kid("k2", map[string]any{"fail": "x2"}, map[string]any{"ignoreDependencyOnFailure": true}),
		kid("k3", map[string]any{"fail": "x3"}, map[string]any{"continueParentOnFailure": true}),
		kid("k4", map[string]any{"fail": "x4"}, map[string]any{"failParentOnFailure": true}),
		kid("k5", map[string]any{"fail": "x5"}, map[string]any{"failParentOnFailure": true}),
		kid("k6", map[string]any{"ret": 6}, map[string]any{"delay": 60000}),
	}}
	calls := []jobCall{
		{Queue: "p", ID: "top", Op: "getDependencies"},
		{Queue: "p", ID: "top", Op: "getDependenciesCount"},
		{Queue: "p", ID: "top", Op: "getDependencies", Arg: map[string]any{
			"processed": map[string]any{"count": 1}, "unprocessed": map[string]any{},
			"ignored": map[string]any{"count": 5}, "failed": map[string]any{"count": 1}}},
		{Queue: "c", ID: "k1", Op: "getDependenciesCount"},
	}
	redistest.ForEach(t, func(t *testing.T, tg redistest.Target) {
		ctx := context.Background()
		w := newFlowWorld(t, tg)
		w.p.nodeFlow(t, flow)
		w.c.run(t, fixtureHandler(nil), WorkerOptions{})
		redistest.Eventually(t, 20*time.Second, "children finished", func() bool {
			c, _ := w.c.q.Counts(ctx)
			return c.Completed == 1 && c.Failed == 4
		})
		n, g := w.calls(t, "node", calls), w.calls(t, "go", calls)
		for i := range calls {
			if !reflect.DeepEqual(n[i], g[i]) {
				t.Errorf("%s %v:\n node %v\n go   %v", calls[i].Op, calls[i].Arg, n[i], g[i])
			}
		}
		if got := fmt.Sprint(g[1]); got != "map[failed:2 ignored:2 processed:1 unprocessed:1]" {
			t.Errorf("counts = %s", got)
		}
		// the second page of failed children (Node 6.7.0 returns none there)
		top, err := w.p.q.GetJob(ctx, "top")
		if err != nil {
			t.Fatal(err)
		}
		first, _ := top.Dependencies(ctx, DependenciesOptions{Failed: &DependenciesPage{Count: 1}})
		second, err := top.Dependencies(ctx, DependenciesOptions{Failed: &DependenciesPage{Cursor: first.NextFailed, Count: 1}})
		if err != nil || first.NextFailed != 1 || len(second.Failed) != 1 || second.Failed[0] == first.Failed[0] || second.NextFailed != 0 {
			t.Errorf("failed pages: %+v then %+v (%v)", first, second, err)
		}
	})
}

// activateHeld moves the next job of e to active as a worker's fetch does,
// with a lock of lockMs.
func (e *env) activateHeld(t *testing.T, lockMs int) {
	t.Helper()
	k := e.q.k
	args, set := argv(argTakeSize)
	set(argTakePrefix, k.base)
	set(argTakeNow, time.Now().UnixMilli())
	set(argTakeMax, 1)
	set(argTakeTokenBase, "t:")
	set(argTakeLockMs, lockMs)
	set(argTakeWorker, "")
	set(argTakeLimMax, 0)
	set(argTakeLimDur, 0)
	if err := takeScript.Run(context.Background(), e.rdb, k.takeKeys(), args...).Err(); err != nil {
		t.Fatal(err)
	}
}

// TestCleanActiveSameAsNode: Clean("active") deletes the active jobs no
// worker holds (taken with a lock that expired, as when a worker dies) and
// keeps the held ones, as Node's clean(grace, limit, 'active'): the same
// ids, and the same state after, a flow child's parent in the same queue
// deleted with its last child.
func TestCleanActiveSameAsNode(t *testing.T) {
	redistest.ForEach(t, func(t *testing.T, tg redistest.Target) {
		ctx := context.Background()
		dumps := map[string]map[string]any{}
		cleaned := map[string]any{}
		for _, by := range sides {
			w := goFlow(t, tg, false)
			w.c.activateHeld(t, 60000) // c1, held
			w.c.activateHeld(t, 1)     // g1, its worker gone
			redistest.Eventually(t, 5*time.Second, "g1's lock expired", func() bool {
				n, _ := w.c.rdb.Exists(ctx, w.c.q.k.lock("g1")).Result()
				return n == 0
			})
			w.mark(t)
			if by == "node" {
				r := runNodeScript(t, tg, "flowparity.js", w.e.prefix, "clean", "c", map[string]any{"grace": 0, "type": "active"})
				cleaned[by] = r[0]["ids"]
			} else {
				ids, err := w.c.q.Clean(ctx, StateActive, 0, 0)
				if err != nil {
					t.Fatal(err)
				}
				cleaned[by] = jsonValue(ids)
			}
			dumps[by] = w.dump(t, flowIDs...)
		}
		if fmt.Sprint(cleaned["go"]) != "[g1]" || !reflect.DeepEqual(cleaned["node"], cleaned["go"]) {
			t.Errorf("cleaned: node %v, go %v, want [g1]", cleaned["node"], cleaned["go"])
		}
		compareDumps(t, "clean active", dumps["node"], dumps["go"])
	})
}

// TestDependenciesPagesSameAsNode: with more pending children than fit a
// small set encoding (300), the paged form really pages: the first page
// is Node's first page (same cursor and members), and following the
// cursors returns every child once.
func TestDependenciesPagesSameAsNode(t *testing.T) {
	redistest.ForEach(t, func(t *testing.T, tg redistest.Target) {
		ctx := context.Background()
		w := newFlowWorld(t, tg)
		root := FlowJob{Name: "root", Queue: "p", Opts: JobOptions{JobID: "top"}}
		for i := range 300 {
			root.Children = append(root.Children, FlowJob{Name: "k", Queue: "c", Opts: JobOptions{JobID: fmt.Sprintf("k%d", i)}})
		}
		if _, err := w.p.q.AddFlow(ctx, root); err != nil {
			t.Fatal(err)
		}
		page := []jobCall{{Queue: "p", ID: "top", Op: "getDependencies", Arg: map[string]any{"unprocessed": map[string]any{"count": 50}}}}
		n, g := w.calls(t, "node", page), w.calls(t, "go", page)
		if !reflect.DeepEqual(n, g) {
			t.Errorf("first page:\n node %v\n go   %v", n, g)
		}
		top, err := w.p.q.GetJob(ctx, "top")
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		pages := 0
		for cur := uint64(0); ; pages++ {
			d, err := top.Dependencies(ctx, DependenciesOptions{Unprocessed: &DependenciesPage{Cursor: cur, Count: 50}})
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range d.Unprocessed {
				seen[k] = true
			}
			if cur = d.NextUnprocessed; cur == 0 {
				break
			}
		}
		if len(seen) != 300 || pages < 2 {
			t.Errorf("paged through %d children in %d pages, want 300 in several", len(seen), pages+1)
		}
	})
}

// flowTree is a FlowNode as the fixture's getflow mode prints Node's tree.
func flowTree(n *FlowNode) any {
	if n == nil {
		return nil
	}
	kids := []any{}
	for _, c := range n.Children {
		kids = append(kids, flowTree(c))
	}
	return map[string]any{"id": n.Job.ID, "queue": n.Job.q.name, "children": kids}
}

// TestGetFlowSameAsNode: GetFlow reads the tree Node's getFlow reads, on
// a flow run part way by a Go worker (completed, failed and pending
// children, two queues, three levels), whole and bounded by depth and
// maxChildren.
func TestGetFlowSameAsNode(t *testing.T) {
	redistest.ForEach(t, func(t *testing.T, tg redistest.Target) {
		ctx := context.Background()
		w := goFlow(t, tg, true)
		if _, err := w.p.q.AddFlow(ctx, FlowJob{Name: "f", Queue: "p", Opts: JobOptions{JobID: "top2"}, Children: []FlowJob{
			{Name: "ok", Queue: "c", Data: map[string]any{"ret": 1}, Opts: JobOptions{JobID: "ok"}},
			{Name: "bad", Queue: "c", Data: map[string]any{"fail": "x"}, Opts: JobOptions{JobID: "bad", IgnoreDependencyOnFailure: true}},
			{Name: "badf", Queue: "c", Data: map[string]any{"fail": "y"}, Opts: JobOptions{JobID: "badf", FailParentOnFailure: true, Delay: 50 * time.Millisecond}},
		}}); err != nil {
			t.Fatal(err)
		}
		w.c.run(t, fixtureHandler(nil), WorkerOptions{})
		redistest.Eventually(t, 20*time.Second, "c's ready jobs finished", func() bool {
			c, _ := w.c.q.Counts(ctx)
			return c.Completed == 4 && c.Failed == 2
		})
		type call struct {
			ID    string `json:"id"`
			Depth int    `json:"depth"`
			N     int    `json:"maxChildren"`
		}
		calls := []call{{"top", 0, 0}, {"top", 2, 0}, {"top", 0, 1}, {"top2", 0, 0}, {"nope", 0, 0}}
		trees := runNodeScript(t, tg, "flowparity.js", w.e.prefix, "getflow", "p", map[string]any{"calls": calls})[0]["trees"].([]any)
		for i, c := range calls {
			want := trees[i]
			n, err := w.p.q.GetFlow(ctx, c.ID, GetFlowOptions{Depth: c.Depth, MaxChildren: c.N})
			if c.ID == "nope" {
				if !errors.Is(err, ErrJobNotFound) || want != nil {
					t.Errorf("GetFlow(nope) = %v, node %v", err, want)
				}
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := jsonValue(flowTree(n)); !reflect.DeepEqual(got, want) {
				t.Errorf("GetFlow(%+v):\n node %v\n go   %v", c, want, got)
			}
		}
	})
}
