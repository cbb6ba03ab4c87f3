package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rediskit/rediskit/internal/redistest"
)

// Flow parity with BullMQ 6.7.0: Remove, Clean and MoveToWaitingChildren
// leave Redis as Node's Queue.remove, Queue.clean and
// job.moveToWaitingChildren do, with flows added and worked by either side.

// flowWorld is one side's flow: queue p holds the root, queue c the rest.
type flowWorld struct {
	e, p, c *env
	// since is each queue's last event id before the step under test.
	since map[string]string
}

func newFlowWorld(t *testing.T, tg redistest.Target) *flowWorld {
	e := newEnv(t, tg)
	return &flowWorld{e: e, p: e.queueEnv(t, "p"), c: e.queueEnv(t, "c"), since: map[string]string{}}
}

// testFlow: top(p) -> c1(c), mid(c) -> g1(c); c2 delayed when delayed.
func testFlow(delayed bool) FlowJob {
	g := FlowJob{Name: "root", Queue: "p", Data: map[string]any{"ret": "top"}, Opts: JobOptions{JobID: "top"},
		Children: []FlowJob{
			{Name: "c1", Queue: "c", Data: map[string]any{"ret": 1}, Opts: JobOptions{JobID: "c1"}},
			{Name: "mid", Queue: "c", Data: map[string]any{"ret": "m"}, Opts: JobOptions{JobID: "mid"},
				Children: []FlowJob{{Name: "g1", Queue: "c", Data: map[string]any{"ret": "g"}, Opts: JobOptions{JobID: "g1"}}}},
		}}
	if delayed {
		g.Children = append(g.Children, FlowJob{Name: "c2", Queue: "c", Data: map[string]any{"ret": 2}, Opts: JobOptions{JobID: "c2", Delay: time.Minute}})
	}
	return g
}

// otherSide is the side that is not by.
func otherSide(by string) string {
	if by == "go" {
		return "node"
	}
	return "go"
}

// goFlow returns a world holding testFlow(delayed) added by Go (AddFlow
// writes what Node's FlowProducer writes: TestAddFlowSameAsNode), so
// that the Node side works on a flow Go wrote.
func goFlow(t *testing.T, tg redistest.Target, delayed bool) *flowWorld {
	t.Helper()
	w := newFlowWorld(t, tg)
	if _, err := w.p.q.AddFlow(context.Background(), testFlow(delayed)); err != nil {
		t.Fatal(err)
	}
	return w
}

// mark notes the last event of each queue: dump shows only later ones.
func (w *flowWorld) mark(t *testing.T) {
	t.Helper()
	for _, q := range []*env{w.p, w.c} {
		xs, _ := q.rdb.XRevRangeN(context.Background(), q.q.k.events, "+", "-", 1).Result()
		w.since[q.name] = "-"
		if len(xs) > 0 {
			w.since[q.name] = "(" + xs[0].ID
		}
	}
}

// dump is what both queues hold for the flow: every job hash (times
// dropped, JSON fields decoded), its dependencies, processed and failed
// children, the state lists, marker members and the events since mark,
// with the test's prefix replaced.
func (w *flowWorld) dump(t *testing.T, ids ...string) map[string]any {
	t.Helper()
	ctx := context.Background()
	d := map[string]any{}
	for _, q := range []*env{w.p, w.c} {
		k := q.q.k
		for _, id := range ids {
			jk := k.job(id)
			h, _ := q.rdb.HGetAll(ctx, jk).Result()
			if len(h) > 0 {
				j := map[string]any{}
				for f, v := range h {
					switch f {
					case "timestamp", "processedOn", "finishedOn", "pb":
					case "data", "opts", "returnvalue", "parent":
						var x any
						_ = json.Unmarshal([]byte(v), &x)
						j[f] = x
					default:
						j[f] = v
					}
				}
				d[q.name+" job "+id] = j
			}
			deps, _ := q.rdb.SMembers(ctx, jk+":dependencies").Result()
			slices.Sort(deps)
			d[q.name+" deps "+id] = deps
			d[q.name+" processed "+id], _ = q.rdb.HGetAll(ctx, jk+":processed").Result()
		}
		for _, s := range []string{"wait", "active", "waiting-children", "delayed", "prioritized", "completed", "failed", "marker"} {
			m, _ := q.rdb.ZRange(ctx, k.base+s, 0, -1).Result()
			if s == "wait" || s == "active" {
				m, _ = q.rdb.LRange(ctx, k.base+s, 0, -1).Result()
			}
			if s == "completed" {
				slices.Sort(m)
			}
			d[q.name+" "+s] = m
		}
		from := w.since[q.name]
		if from == "" {
			from = "-"
		}
		xs, _ := q.rdb.XRange(ctx, k.events, from, "+").Result()
		var evs []string
		for _, x := range xs {
			delete(x.Values, "delay")
			evs = append(evs, fmt.Sprint(x.Values))
		}
		// children are visited in SMEMBERS order, which differs with
		// the prefix: the events of one removal compare as a multiset
		slices.Sort(evs)
		d[q.name+" events"] = evs
	}
	b, _ := json.Marshal(d)
	var out map[string]any
	_ = json.Unmarshal([]byte(strings.ReplaceAll(string(b), w.e.prefix, "{P}")), &out)
	return out
}

// remove removes id of queue q from the side by.
func (w *flowWorld) remove(t *testing.T, by string, q *env, id string, children bool) {
	t.Helper()
	if by == "node" {
		r := runNodeScript(t, w.e.tg, "flowparity.js", w.e.prefix, "remove", q.name, map[string]any{"id": id, "removeChildren": children})
		if len(r) != 1 || r[0]["code"] != float64(1) {
			t.Fatalf("node remove %s: %v", id, r)
		}
		return
	}
	var opts []RemoveOption
	if !children {
		opts = append(opts, KeepChildren())
	}
	if err := q.q.Remove(context.Background(), id, opts...); err != nil {
		t.Fatalf("Remove %s: %v", id, err)
	}
}

var flowIDs = []string{"top", "c1", "mid", "g1", "c2"}

// TestRemoveFlowSameAsNode: Remove of a flow's root, middle or leaf,
// with or without its children, pending or completed, leaves both queues
// as Node's Queue.remove does: children removed at any depth, parents
// released to wait (event "waiting") when their last pending child goes,
// "removed" events with the state each job was in. The flow is added by
// Go; in "after-work" its children are first run by a worker of the side
// that does not remove (Node's worker for Go's Remove and vice versa).
func TestRemoveFlowSameAsNode(t *testing.T) {
	type rm struct {
		q        string
		id       string
		children bool
	}
	cases := map[string][]rm{
		"root":               {{"p", "top", true}},
		"middle":             {{"c", "mid", true}},
		"middle-only":        {{"c", "mid", false}},
		"last-pending-child": {{"c", "c1", true}, {"c", "mid", true}},
		"after-work":         {{"p", "top", true}},
	}
	redistest.ForEach(t, func(t *testing.T, tg redistest.Target) {
		for name, steps := range cases {
			t.Run(name, func(t *testing.T) {
				dumps := map[string]map[string]any{}
				for _, by := range sides {
					w := goFlow(t, tg, false)
					if name == "after-work" {
						if otherSide(by) == "go" {
							w.c.run(t, fixtureHandler(nil), WorkerOptions{})
						} else {
							pr := startNode(t, tg, w.e.prefix, "work", "c", nil)
							defer pr.Stop()
						}
						redistest.Eventually(t, 20*time.Second, "children done, root released", func() bool {
							l, _ := w.p.rdb.LRange(context.Background(), w.p.q.k.wait, 0, -1).Result()
							return len(l) == 1
						})
					}
					w.mark(t)
					for _, s := range steps {
						q := w.c
						if s.q == "p" {
							q = w.p
						}
						w.remove(t, by, q, s.id, s.children)
					}
					dumps[by] = w.dump(t, flowIDs...)
					if name == "after-work" {
						delete(dumps[by], "c marker") // popped by whichever worker blocks
					}
				}
				compareDumps(t, name, dumps["node"], dumps["go"])
			})
		}
	})
}

// TestCleanFlowSameAsNode: cleaning flow children (waiting, then
// delayed) from queue c leaves both queues as Node's Queue.clean does: a
// parent in another queue whose last pending child is cleaned moves to
// wait (no event), one in the cleaned queue is deleted with it; the ids
// returned match.
func TestCleanFlowSameAsNode(t *testing.T) {
	redistest.ForEach(t, func(t *testing.T, tg redistest.Target) {
		ctx := context.Background()
		dumps := map[string]map[string]any{}
		cleaned := map[string][]string{}
		for _, by := range sides {
			w := goFlow(t, tg, true)
			w.mark(t)
			for _, state := range []State{StateWaiting, StateDelayed} {
				var ids []string
				if by == "node" {
					typ := map[State]string{StateWaiting: "wait", StateDelayed: "delayed"}[state]
					r := runNodeScript(t, tg, "flowparity.js", w.e.prefix, "clean", "c", map[string]any{"grace": 0, "type": typ})
					for _, id := range r[0]["ids"].([]any) {
						ids = append(ids, id.(string))
					}
				} else {
					var err error
					if ids, err = w.c.q.Clean(ctx, state, 0, 0); err != nil {
						t.Fatal(err)
					}
				}
				slices.Sort(ids)
				cleaned[by] = append(cleaned[by], ids...)
			}
			dumps[by] = w.dump(t, flowIDs...)
		}
		if !reflect.DeepEqual(cleaned["node"], cleaned["go"]) {
			t.Errorf("cleaned: node %v, go %v", cleaned["node"], cleaned["go"])
		}
		compareDumps(t, "clean", dumps["node"], dumps["go"])
		if w, _ := dumps["go"]["p wait"].([]any); fmt.Sprint(w) != "[top]" {
			t.Errorf("root queue wait = %v, want [top]", w)
		}
	})
}

// spawnData is the data of a parent that adds its children while it runs
// (the fixture's parentwork mode does the same in Node).
type spawnData struct {
	Spawn   []spawnChild `json:"spawn"`
	Spawned bool         `json:"spawned,omitempty"`
}

type spawnChild struct {
	Name  string         `json:"name"`
	Queue string         `json:"queue"`
	Data  map[string]any `json:"data"`
	Opts  map[string]any `json:"opts"`
}

// spawnHandler is the Go twin of the fixture's parentwork processor: add
// the children with the job as their parent, wait for them
// (MoveToWaitingChildren + ErrWaitingChildren), then return their values.
func spawnHandler(prefix string) Handler {
	return func(ctx context.Context, j *Job) (any, error) {
		var d spawnData
		if err := j.Decode(&d); err != nil {
			return nil, err
		}
		if len(d.Spawn) > 0 && !d.Spawned {
			for _, c := range d.Spawn {
				q, err := New(j.q.rdb, c.Queue, Options{Prefix: prefix})
				if err != nil {
					return nil, err
				}
				id, _ := c.Opts["jobId"].(string)
				if _, err := q.Add(ctx, c.Name, c.Data, WithJobID(id), WithParent(j.Ref())); err != nil {
					return nil, err
				}
			}
			d.Spawned = true
			if err := j.UpdateData(ctx, d); err != nil {
				return nil, err
			}
			moved, err := j.MoveToWaitingChildren(ctx, nil)
			if err != nil {
				return nil, err
			}
			if moved {
				return nil, ErrWaitingChildren
			}
		}
		return j.ChildrenValues(ctx)
	}
}

// TestMoveToWaitingChildrenSameAsNode: a parent that adds children while
// it runs and waits for them (Go: WithParent, MoveToWaitingChildren,
// ErrWaitingChildren; Node: parent option, moveToWaitingChildren,
// WaitingChildrenError) leaves both queues as Node does, then runs again
// once the children, run by a worker of the other side, are done, and
// sees their values.
func TestMoveToWaitingChildrenSameAsNode(t *testing.T) {
	data := map[string]any{"spawn": []any{
		map[string]any{"name": "k1", "queue": "c", "data": map[string]any{"ret": 1}, "opts": map[string]any{"jobId": "k1"}},
		map[string]any{"name": "k2", "queue": "c", "data": map[string]any{"ret": "two"}, "opts": map[string]any{"jobId": "k2"}},
	}}
	redistest.ForEach(t, func(t *testing.T, tg redistest.Target) {
		ctx := context.Background()
		dumps := map[string][2]map[string]any{}
		for _, parents := range sides {
			w := newFlowWorld(t, tg)
			w.p.add(t, "parent", data, WithJobID("top"))
			if parents == "go" {
				w.p.run(t, spawnHandler(w.e.prefix), WorkerOptions{})
			} else {
				pr := startNode(t, tg, w.e.prefix, "parentwork", "p", nil)
				defer pr.Stop()
			}
			redistest.Eventually(t, 20*time.Second, "parent waits for its children", func() bool {
				_, err := w.p.rdb.ZScore(ctx, w.p.q.k.waitingChildren, "top").Result()
				return err == nil
			})
			before := w.dump(t, "top", "k1", "k2")
			delete(before, "p marker") // popped when Node's worker blocks
			if parents == "go" {
				pr := startNode(t, tg, w.e.prefix, "work", "c", nil)
				defer pr.Stop()
			} else {
				w.c.run(t, fixtureHandler(nil), WorkerOptions{})
			}
			redistest.Eventually(t, 20*time.Second, "parent completed", func() bool {
				s, _ := w.p.q.State(ctx, "top")
				return s == StateCompleted
			})
			after := w.dump(t, "top", "k1", "k2")
			for k := range after {
				if strings.HasSuffix(k, "events") || k == "p marker" || k == "c marker" {
					delete(after, k) // worker timing (drained, markers)
				}
			}
			dumps[parents] = [2]map[string]any{before, after}
		}
		compareDumps(t, "parent waiting", dumps["node"][0], dumps["go"][0])
		compareDumps(t, "parent completed", dumps["node"][1], dumps["go"][1])
		want := map[string]any{"{P}:c:k1": float64(1), "{P}:c:k2": "two"}
		if rv := dumps["go"][1]["p job top"].(map[string]any)["returnvalue"]; !reflect.DeepEqual(rv, want) {
			t.Errorf("Go parent returned %v, want %v", rv, want)
		}
	})
}

// TestMoveToWaitingChildrenNothingPending: with no pending child
// MoveToWaitingChildren returns false and the job completes as usual;
// a job not taken by a worker is refused; Add of a child whose parent
// does not exist adds nothing (ErrParent).
func TestMoveToWaitingChildrenNothingPending(t *testing.T) {
	redistest.ForEach(t, func(t *testing.T, tg redistest.Target) {
		ctx := context.Background()
		e := newEnv(t, tg)
		e.add(t, "solo", map[string]any{}, WithJobID("solo"))
		e.run(t, func(ctx context.Context, j *Job) (any, error) {
			moved, err := j.MoveToWaitingChildren(ctx, nil)
			if err != nil || moved {
				return nil, fmt.Errorf("moved=%v err=%v", moved, err)
			}
			return "done", nil
		}, WorkerOptions{})
		redistest.Eventually(t, 10*time.Second, "solo completed", func() bool { s, _ := e.q.State(ctx, "solo"); return s == StateCompleted })
		j, err := e.q.GetJob(ctx, "solo")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := j.MoveToWaitingChildren(ctx, nil); !errors.Is(err, ErrJobState) {
			t.Errorf("MoveToWaitingChildren of a job no worker holds = %v, want ErrJobState", err)
		}
		before, _ := e.rdb.Get(ctx, e.q.k.id).Int()
		_, err = e.q.AddBulk(ctx, []BulkJob{{Name: "fine"}, {Name: "orphan", Opts: JobOptions{Parent: &JobRef{ID: "nope", Queue: e.prefix + ":q"}}}})
		if !errors.Is(err, ErrParent) {
			t.Errorf("Add with a missing parent = %v, want ErrParent", err)
		}
		if n, _ := e.rdb.Get(ctx, e.q.k.id).Int(); n != before {
			t.Errorf("id counter = %d after a refused add, want %d (nothing added)", n, before)
		}
	})
}

// TestRemovedOnFailChildReleasesParent: a flow child without a failure
// policy that fails for good with removeOnFail is deleted, and like in
// Node it leaves its parent's dependencies: the parent, left without
// pending children, moves to wait. Children run by a Go or a Node worker
// leave the same state.
func TestRemovedOnFailChildReleasesParent(t *testing.T) {
	flow := FlowJob{Name: "root", Queue: "p", Opts: JobOptions{JobID: "top"}, Children: []FlowJob{
		{Name: "c1", Queue: "c", Data: map[string]any{"ret": 1}, Opts: JobOptions{JobID: "c1"}},
		{Name: "c2", Queue: "c", Data: map[string]any{"fail": "boom"}, Opts: JobOptions{JobID: "c2", RemoveOnFail: &Removal{Remove: true}}},
	}}
	redistest.ForEach(t, func(t *testing.T, tg redistest.Target) {
		dumps := map[string]map[string]any{}
		for _, by := range sides {
			w := newFlowWorld(t, tg)
			if _, err := w.p.q.AddFlow(context.Background(), flow); err != nil {
				t.Fatal(err)
			}
			if by == "go" {
				w.c.run(t, fixtureHandler(nil), WorkerOptions{})
			} else {
				pr := startNode(t, tg, w.e.prefix, "work", "c", nil)
				defer pr.Stop()
			}
			redistest.Eventually(t, 20*time.Second, "parent released", func() bool {
				l, _ := w.p.rdb.LRange(context.Background(), w.p.q.k.wait, 0, -1).Result()
				return len(l) == 1
			})
			d := w.dump(t, "top", "c1", "c2")
			delete(d, "c events") // worker timing (drained)
			delete(d, "c marker")
			dumps[by] = d
		}
		compareDumps(t, "after work", dumps["node"], dumps["go"])
	})
}

// TestDrainFlowSameAsNode: draining queue c (delayed jobs included), which
// holds flow children, leaves both queues as Node's Queue.drain does: the
// root in queue p moves to wait, the parent in c is deleted with its
// last child.
func TestDrainFlowSameAsNode(t *testing.T) {
	redistest.ForEach(t, func(t *testing.T, tg redistest.Target) {
		dumps := map[string]map[string]any{}
		for _, by := range sides {
			w := goFlow(t, tg, true)
			w.mark(t)
			if by == "node" {
				runNodeScript(t, tg, "flowparity.js", w.e.prefix, "drain", "c", map[string]any{"delayed": true})
			} else if err := w.c.q.Drain(context.Background(), true); err != nil {
				t.Fatal(err)
			}
			dumps[by] = w.dump(t, flowIDs...)
		}
		compareDumps(t, "drain", dumps["node"], dumps["go"])
		if w, _ := dumps["go"]["p wait"].([]any); fmt.Sprint(w) != "[top]" {
			t.Errorf("root queue wait = %v, want [top]", w)
		}
	})
}
