package queue

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/rediskit/rediskit/internal/redistest"
)

// AddFlow beyond a plain new tree, compared with BullMQ 6.7.0's
// FlowProducer.add: a root under an existing job, deduplication, and
// nodes whose ids exist.

// TestAddFlowUnderParentSameAsNode: AddFlow of a root with a Parent
// leaves both queues as Node's FlowProducer.add with opts.parent: the
// root becomes a pending dependency of the existing job (a plain waiting
// job, a flow parent in waiting-children), whose state does not change;
// a missing parent is refused with nothing added.
func TestAddFlowUnderParentSameAsNode(t *testing.T) {
	ids := []string{"host1", "host2", "hc", "subA", "leafA", "subB", "subC", "leafC"}
	redistest.ForEach(t, func(t *testing.T, tg redistest.Target) {
		ctx := context.Background()
		dumps := map[string]map[string]any{}
		for _, by := range sides {
			w := newFlowWorld(t, tg)
			w.p.add(t, "host", map[string]any{}, WithJobID("host1"))
			if _, err := w.p.q.AddFlow(ctx, FlowJob{Name: "host", Queue: "p", Opts: JobOptions{JobID: "host2"},
				Children: []FlowJob{{Name: "hc", Queue: "c", Data: map[string]any{"ret": "h"}, Opts: JobOptions{JobID: "hc"}}}}); err != nil {
				t.Fatal(err)
			}
			w.mark(t)
			ref := func(id string) map[string]any { return map[string]any{"id": id, "queue": w.e.prefix + ":p"} }
			flows := []map[string]any{
				{"name": "subA", "queueName": "c", "data": map[string]any{"ret": "a"}, "opts": map[string]any{"jobId": "subA", "parent": ref("host1")},
					"children": []any{map[string]any{"name": "leafA", "queueName": "c", "data": map[string]any{"ret": 1}, "opts": map[string]any{"jobId": "leafA"}}}},
				{"name": "subB", "queueName": "c", "data": map[string]any{"ret": "b"}, "opts": map[string]any{"jobId": "subB", "parent": ref("host2"), "ignoreDependencyOnFailure": true}},
				{"name": "subC", "queueName": "c", "opts": map[string]any{"jobId": "subC", "parent": ref("nohost")},
					"children": []any{map[string]any{"name": "leafC", "queueName": "c", "opts": map[string]any{"jobId": "leafC"}}}},
			}
			var errs []bool
			if by == "node" {
				for _, r := range nodeFlows(t, w, flows) {
					_, failed := r["error"]
					errs = append(errs, failed)
				}
			} else {
				for _, f := range flows {
					fj := toGoFlowLeaf(f)
					r := f["opts"].(map[string]any)["parent"].(map[string]any)
					fj.Opts.Parent = &JobRef{ID: r["id"].(string), Queue: r["queue"].(string)}
					if kids, ok := f["children"].([]any); ok {
						fj.Children = []FlowJob{toGoFlowLeaf(kids[0].(map[string]any))}
					}
					_, err := w.p.q.AddFlow(ctx, fj)
					if err != nil && !errors.Is(err, ErrParent) {
						t.Errorf("AddFlow %s: %v, want nil or ErrParent", fj.Name, err)
					}
					errs = append(errs, err != nil)
				}
			}
			if fmt.Sprint(errs) != "[false false true]" {
				t.Errorf("%s: refused = %v, want [false false true]", by, errs)
			}
			dumps[by] = w.dump(t, ids...)
			// the other side's worker runs the sub-flows: host2, in
			// waiting-children, moves to wait once hc and subB are done
			if otherSide(by) == "go" {
				w.c.run(t, fixtureHandler(nil), WorkerOptions{})
			} else {
				pr := startNode(t, tg, w.e.prefix, "work", "c", nil)
				defer pr.Stop()
			}
			redistest.Eventually(t, 20*time.Second, "sub-flows done, host2 released", func() bool {
				c, _ := w.c.q.Counts(ctx)
				s, _ := w.p.q.State(ctx, "host2")
				return c.Completed == 4 && s == StateWaiting
			})
			after := w.dump(t, ids...)
			for k := range after {
				if strings.HasSuffix(k, "events") || strings.HasSuffix(k, "marker") {
					delete(after, k) // worker timing (drained, markers)
				}
			}
			dumps[by+" after"] = after
		}
		compareDumps(t, "flows under parents", dumps["node"], dumps["go"])
		compareDumps(t, "after work", dumps["node after"], dumps["go after"])
		if p, _ := dumps["go after"]["p processed host1"].(map[string]any); len(p) != 1 {
			t.Errorf("host1 processed = %v, want subA's value", p)
		}
	})
}

// nodeFlows adds the flows in order with Node's FlowProducer (one
// process) and returns each result: {ids} or {error}.
func nodeFlows(t *testing.T, w *flowWorld, flows []map[string]any) []map[string]any {
	t.Helper()
	r := runNodeScript(t, w.e.tg, "flowparity.js", w.e.prefix, "flows", "p", map[string]any{"flows": flows})
	var out []map[string]any
	for _, x := range r[0]["results"].([]any) {
		out = append(out, x.(map[string]any))
	}
	if len(out) != len(flows) {
		t.Fatalf("node flows: %d results for %d flows", len(out), len(flows))
	}
	return out
}

// TestFlowDedupSameAsNode: BullMQ 6.7.0 takes deduplication in a flow
// only on a root without children: such a flow is deduplicated as an add
// (the first takes the dedup id, a later one adds nothing and answers the
// holder's id); a root with children or a child with deduplication is
// refused, by both sides, with nothing added.
func TestFlowDedupSameAsNode(t *testing.T) {
	kid := func(id string) map[string]any {
		return map[string]any{"name": id, "queueName": "c", "data": map[string]any{"ret": id}, "opts": map[string]any{"jobId": id}}
	}
	root := func(id, did string, ttl int, kids ...any) map[string]any {
		de := map[string]any{"id": did}
		if ttl > 0 {
			de["ttl"] = ttl
		}
		f := map[string]any{"name": id, "queueName": "p", "data": map[string]any{"ret": id}, "opts": map[string]any{"jobId": id, "deduplication": de}}
		if len(kids) > 0 {
			f["children"] = kids
		}
		return f
	}
	badKid := kid("k5")
	badKid["opts"].(map[string]any)["deduplication"] = map[string]any{"id": "x"}
	flows := []map[string]any{
		root("r1", "d", 0, kid("k1")),
		root("r2", "d", 0, kid("k2")),
		root("r3", "e", 60000),
		root("r4", "e", 60000),
		{"name": "r5", "queueName": "p", "opts": map[string]any{"jobId": "r5"}, "children": []any{badKid}},
	}
	toGo := func(f map[string]any) FlowJob {
		fj := toGoFlowLeaf(f)
		if kids, ok := f["children"].([]any); ok {
			for _, k := range kids {
				fj.Children = append(fj.Children, toGoFlowLeaf(k.(map[string]any)))
			}
		}
		return fj
	}
	ids := []string{"r1", "k1", "r2", "k2", "r3", "r4", "r5", "k5"}
	redistest.ForEach(t, func(t *testing.T, tg redistest.Target) {
		ctx := context.Background()
		dumps := map[string]map[string]any{}
		answers := map[string][]string{}
		for _, by := range sides {
			w := newFlowWorld(t, tg)
			w.mark(t)
			var nodeRes []map[string]any
			if by == "node" {
				nodeRes = nodeFlows(t, w, flows)
			}
			for i, f := range flows {
				got := "error"
				if by == "node" {
					if l, ok := nodeRes[i]["ids"].([]any); ok {
						got = fmt.Sprint(l[0])
					}
				} else if r, err := w.p.q.AddFlow(ctx, toGo(f)); err == nil {
					got = r[0]
				} else if !errors.Is(err, ErrInvalidOption) {
					t.Errorf("AddFlow %s: %v, want nil or ErrInvalidOption", f["name"], err)
				}
				answers[by] = append(answers[by], got)
			}
			if by == "go" {
				// Node's Queue.add refuses a flow child with deduplication too
				_, err := w.c.q.Add(ctx, "k6", nil, WithParent(JobRef{ID: "r3", Queue: w.e.prefix + ":p"}), WithDeduplication(Deduplication{ID: "x"}))
				if !errors.Is(err, ErrInvalidOption) {
					t.Errorf("Add of a child with deduplication = %v, want ErrInvalidOption", err)
				}
			}
			d := w.dump(t, ids...)
			for _, did := range []string{"d", "e", "x"} {
				dk := w.p.q.k.base + "de:" + did
				v, _ := w.p.rdb.Get(ctx, dk).Result()
				ttl, _ := w.p.rdb.PTTL(ctx, dk).Result()
				d["dedup "+did] = fmt.Sprint(v, " ttl:", ttl > 0)
			}
			dumps[by] = d
		}
		if fmt.Sprint(answers["go"]) != "[error error r3 r3 error]" || !reflect.DeepEqual(answers["node"], answers["go"]) {
			t.Errorf("answers: node %v, go %v, want [error error r3 r3 error]", answers["node"], answers["go"])
		}
		compareDumps(t, "flow dedup", dumps["node"], dumps["go"])
	})
}

// toGoFlowLeaf is a Node flow node {name, queueName, data, opts: {jobId,
// ignoreDependencyOnFailure, deduplication: {id, ttl}}} without its
// children and parent, as a FlowJob.
func toGoFlowLeaf(k map[string]any) FlowJob {
	o := k["opts"].(map[string]any)
	fj := FlowJob{Name: k["name"].(string), Queue: k["queueName"].(string), Data: k["data"], Opts: JobOptions{JobID: o["jobId"].(string)}}
	fj.Opts.IgnoreDependencyOnFailure = o["ignoreDependencyOnFailure"] == true
	if de, ok := o["deduplication"].(map[string]any); ok {
		fj.Opts.Deduplication = &Deduplication{ID: de["id"].(string)}
		if ttl, ok := de["ttl"].(int); ok {
			fj.Opts.Deduplication.TTL = time.Duration(ttl) * time.Millisecond
		}
	}
	return fj
}

// TestAddFlowLinksExistingSameAsNode: flow nodes whose ids exist are
// linked as Node's FlowProducer links them: a completed job counts as its
// new parent's processed child, a waiting one becomes a pending child,
// one that is another live parent's child stays there, a parent left with
// nothing pending moves to wait, and an existing root takes new children.
func TestAddFlowLinksExistingSameAsNode(t *testing.T) {
	kid := func(id string) map[string]any {
		return map[string]any{"name": id, "queueName": "c", "data": map[string]any{"ret": id}, "opts": map[string]any{"jobId": id}}
	}
	root := func(id string, kids ...any) map[string]any {
		return map[string]any{"name": id, "queueName": "p", "data": map[string]any{"ret": id}, "opts": map[string]any{"jobId": id}, "children": kids}
	}
	flows := []map[string]any{
		root("top", kid("done1"), kid("free1"), kid("owned1"), kid("new1")),
		root("top2", kid("done2")),
		root("top", kid("new2")),
	}
	ids := []string{"top", "top2", "other", "done1", "done2", "free1", "owned1", "new1", "new2"}
	redistest.ForEach(t, func(t *testing.T, tg redistest.Target) {
		ctx := context.Background()
		dumps := map[string]map[string]any{}
		answers := map[string][]string{}
		for _, by := range sides {
			w := newFlowWorld(t, tg)
			w.c.add(t, "done1", map[string]any{"ret": "d1"}, WithJobID("done1"))
			w.c.add(t, "done2", map[string]any{"ret": "d2"}, WithJobID("done2"))
			t.Run("complete done1 and done2 "+by, func(t *testing.T) {
				w.c.run(t, fixtureHandler(nil), WorkerOptions{})
				redistest.Eventually(t, 10*time.Second, "done1, done2 completed", func() bool {
					c, _ := w.c.q.Counts(ctx)
					return c.Completed == 2
				})
			})
			w.c.add(t, "free1", map[string]any{"ret": "f1"}, WithJobID("free1"))
			if _, err := w.p.q.AddFlow(ctx, FlowJob{Name: "other", Queue: "p", Opts: JobOptions{JobID: "other"},
				Children: []FlowJob{{Name: "owned1", Queue: "c", Opts: JobOptions{JobID: "owned1"}}}}); err != nil {
				t.Fatal(err)
			}
			w.mark(t)
			if by == "node" {
				for _, r := range nodeFlows(t, w, flows) {
					answers[by] = append(answers[by], fmt.Sprint(r["ids"], r["error"]))
				}
			} else {
				for _, f := range flows {
					fj := toGoFlowLeaf(f)
					for _, k := range f["children"].([]any) {
						fj.Children = append(fj.Children, toGoFlowLeaf(k.(map[string]any)))
					}
					got, err := w.p.q.AddFlow(ctx, fj)
					if err != nil {
						t.Fatal(err)
					}
					answers[by] = append(answers[by], fmt.Sprint(jsonValue(got), nil))
				}
			}
			d := w.dump(t, ids...)
			delete(d, "c marker") // popped or not by the stopped worker's last block
			dumps[by] = d
		}
		if !reflect.DeepEqual(answers["node"], answers["go"]) {
			t.Errorf("answers: node %v, go %v", answers["node"], answers["go"])
		}
		compareDumps(t, "flows over existing jobs", dumps["node"], dumps["go"])
		if s, _ := dumps["go"]["p wait"].([]any); fmt.Sprint(s) != "[top2]" {
			t.Errorf("p wait = %v, want [top2] (its only child was completed)", s)
		}
	})
}
