package queue

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rediskit/rediskit/internal/redistest"
)

// depth3Policies are the failure policies of TestFlowDepth3MixedLevels,
// as Node's job options ("none" = no policy).
var depth3Policies = map[string]map[string]any{
	"none": {}, "fpof": {"failParentOnFailure": true}, "cpof": {"continueParentOnFailure": true},
	"idof": {"ignoreDependencyOnFailure": true}, "rdof": {"removeDependencyOnFailure": true},
}

// depth3Levels are the levels' queue names: root, middle, leaves. Each
// layout of a run prefixes them with its name ("go-node-go/l0").
var depth3Levels = []string{"l0", "l1", "l2"}

// depth3Tree is one flow per policy, on the queues qs (root, middle,
// leaves): a root with two middles, mid-P carrying policy P and mid2-P
// none; mid-P has a leaf that succeeds and one that fails with policy P,
// mid2-P one leaf that succeeds. Parents return their children's values.
func depth3Tree(pol string, qs []string) map[string]any {
	node := func(q, id string, data map[string]any, extra map[string]any, children ...any) map[string]any {
		o := map[string]any{"jobId": id + "-" + pol}
		for k, v := range extra {
			o[k] = v
		}
		n := map[string]any{"name": id, "queueName": q, "data": data, "opts": o}
		if len(children) > 0 {
			n["children"] = children
		}
		return n
	}
	cv := map[string]any{"childrenValues": true}
	p := depth3Policies[pol]
	return node(qs[0], "top", cv, nil,
		node(qs[1], "mid", cv, p,
			node(qs[2], "ok", map[string]any{"ret": "ok"}, nil),
			// bad fails after ok is done: with continueParentOnFailure
			// the middle then runs with nothing pending, on both sides.
			node(qs[2], "bad", map[string]any{"fail": "boom", "sleep": 300}, p)),
		node(qs[1], "mid2", cv, nil,
			node(qs[2], "ok2", map[string]any{"ret": 2}, nil)))
}

// depth3Jobs lists every job of depth3Tree(pol) with its level.
func depth3Jobs(pol string) []struct {
	level int
	id    string
} {
	return []struct {
		level int
		id    string
	}{{0, "top-" + pol}, {1, "mid-" + pol}, {1, "mid2-" + pol}, {2, "ok-" + pol}, {2, "bad-" + pol}, {2, "ok2-" + pol}}
}

// TestFlowDepth3MixedLevels: depth-3 Node FlowProducer trees, one per
// failure policy, whose levels are run by Go and Node workers alternately
// (root Go, middles Node, leaves Go, and the reverse), end in exactly the
// state a Node-only run leaves: each job's state, return value and failed
// reason, and each parent's :processed, :failed, :unsuccessful and
// :dependencies. The three layouts run at once, on queues of their own
// (one Node producer and one Node worker process for all).
func TestFlowDepth3MixedLevels(t *testing.T) {
	layouts := [][]string{{"node", "node", "node"}, {"go", "node", "go"}, {"node", "go", "node"}}
	queuesOf := func(layout []string) []string {
		var qs []string
		for _, l := range depth3Levels {
			qs = append(qs, strings.Join(layout, "-")+"/"+l)
		}
		return qs
	}
	var flows []any
	for _, layout := range layouts {
		for pol := range depth3Policies {
			flows = append(flows, depth3Tree(pol, queuesOf(layout)))
		}
	}
	redistest.ForEach(t, func(t *testing.T, tg redistest.Target) {
		e := newEnv(t, tg)
		runNode(t, tg, e.prefix, "flow", "unused", map[string]any{"flows": flows})
		var nodeQueues []string
		for _, layout := range layouts {
			for i, by := range layout {
				q := queuesOf(layout)[i]
				if by == "go" {
					e.queueEnv(t, q).run(t, fixtureHandler(nil), WorkerOptions{Concurrency: 4})
				} else {
					nodeQueues = append(nodeQueues, q)
				}
			}
		}
		p := startNodeScript(t, tg, "mixedpool.js", e.prefix, "work", strings.Join(nodeQueues, ","), map[string]any{"concurrency": 4})
		dumps := map[string]map[string]any{}
		for _, layout := range layouts {
			name := strings.Join(layout, "-")
			e.waitFlowsSettled(t, queuesOf(layout), 3*len(depth3Policies))
			dumps[name] = e.depth3Dump(t, queuesOf(layout), name+"/")
		}
		p.Stop()
		want := dumps["node-node-node"]
		for _, layout := range layouts[1:] {
			name := strings.Join(layout, "-")
			for key, nv := range want {
				if gv := dumps[name][key]; !reflect.DeepEqual(nv, gv) {
					t.Errorf("%s, %s:\n node only %v\n mixed     %v", name, key, nv, gv)
				}
			}
		}
		// The policies did what they say (the Node-only run is the
		// reference; this pins it to BullMQ's documented behaviour).
		for pol, st := range map[string]string{"none": "waiting-children", "fpof": "failed", "cpof": "completed", "idof": "completed", "rdof": "completed"} {
			if got := want["state top-"+pol]; got != st {
				t.Errorf("node only: root of %s is %v, want %s", pol, got, st)
			}
		}
	})
}

// waitFlowsSettled waits until the leaves queue has finished all its
// leaves and no level has a job waiting or active (read in one MULTI:
// a parent moves to wait in the same script that finishes its last child).
func (e *env) waitFlowsSettled(t *testing.T, qs []string, leaves int) {
	t.Helper()
	ctx := context.Background()
	redistest.Eventually(t, 30*time.Second, "flows settled", func() bool {
		var cmds []*redis.IntCmd
		_, err := e.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
			for _, q := range qs {
				base := e.prefix + ":" + q + ":"
				cmds = append(cmds, p.LLen(ctx, base+"wait"), p.LLen(ctx, base+"active"), p.ZCard(ctx, base+"prioritized"))
			}
			base := e.prefix + ":" + qs[2] + ":"
			cmds = append(cmds, p.ZCard(ctx, base+"completed"), p.ZCard(ctx, base+"failed"))
			return nil
		})
		if err != nil {
			return false
		}
		busy := int64(0)
		for _, c := range cmds[:len(cmds)-2] {
			busy += c.Val()
		}
		return busy == 0 && cmds[len(cmds)-2].Val()+cmds[len(cmds)-1].Val() == int64(leaves)
	})
}

// depth3Dump is the state of every job of the depth-3 flows, without
// times, stack traces and worker names, the test's prefix and the
// layout's queue prefix qprefix replaced.
func (e *env) depth3Dump(t *testing.T, qs []string, qprefix string) map[string]any {
	t.Helper()
	ctx := context.Background()
	d := map[string]any{}
	for pol := range depth3Policies {
		for _, j := range depth3Jobs(pol) {
			qe := e.queueEnv(t, qs[j.level])
			id := j.id
			st, err := qe.q.State(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			d["state "+id] = string(st)
			key := qe.q.k.job(id)
			h, _ := e.rdb.HMGet(ctx, key, "returnvalue", "failedReason", "atm", "ats", "parentKey", "parent", "data", "opts").Result()
			for i, v := range h {
				// JSON fields compared as values (key order aside)
				if s, ok := v.(string); ok && json.Valid([]byte(s)) {
					var x any
					_ = json.Unmarshal([]byte(s), &x)
					h[i] = x
				}
			}
			d["job "+id] = h
			d["processed "+id], _ = e.rdb.HGetAll(ctx, key+":processed").Result()
			d["failed "+id], _ = e.rdb.HGetAll(ctx, key+":failed").Result()
			d["unsuccessful "+id], _ = e.rdb.ZRange(ctx, key+":unsuccessful", 0, -1).Result()
			deps, _ := e.rdb.SMembers(ctx, key+":dependencies").Result()
			d["dependencies "+id] = len(deps)
		}
	}
	b, _ := json.Marshal(d)
	var out map[string]any
	norm := strings.ReplaceAll(strings.ReplaceAll(string(b), e.prefix, "{P}"), qprefix, "")
	_ = json.Unmarshal([]byte(norm), &out)
	return out
}
