package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rediskit/rediskit/internal/redisproc"
	"github.com/rediskit/rediskit/internal/redistest"
)

// runSchedNode runs a mode of testdata/node/scheduler.js and returns its
// JSON lines.
func runSchedNode(t *testing.T, tg redistest.Target, prefix, mode, queue string, args any) []map[string]any {
	t.Helper()
	return runNodeScript(t, tg, "scheduler.js", prefix, mode, queue, args)
}

// schedSpec is one scheduler, given to Node as upsertJobScheduler's
// arguments and to Go as Repeat and JobTemplate.
type schedSpec struct {
	ID       string
	Repeat   Repeat
	Template JobTemplate
	// NodeTemplate is the template as Node gets it.
	NodeTemplate map[string]any
}

func (s schedSpec) node() map[string]any {
	r := map[string]any{}
	if s.Repeat.Every != 0 {
		r["every"] = s.Repeat.Every.Milliseconds()
	}
	if s.Repeat.Pattern != "" {
		r["pattern"] = s.Repeat.Pattern
	}
	if s.Repeat.TZ != "" {
		r["tz"] = s.Repeat.TZ
	}
	if s.Repeat.Limit != 0 {
		r["limit"] = s.Repeat.Limit
	}
	if !s.Repeat.StartDate.IsZero() {
		r["startDate"] = s.Repeat.StartDate.UnixMilli()
	}
	if !s.Repeat.EndDate.IsZero() {
		r["endDate"] = s.Repeat.EndDate.UnixMilli()
	}
	if s.Repeat.Offset != 0 {
		r["offset"] = s.Repeat.Offset.Milliseconds()
	}
	if s.Repeat.Immediately {
		r["immediately"] = true
	}
	return map[string]any{"id": s.ID, "repeat": r, "template": s.NodeTemplate}
}

func (e *env) upsertSchedulers(t *testing.T, by string, specs []schedSpec) {
	t.Helper()
	if by == "node" {
		var ns []map[string]any
		for _, s := range specs {
			ns = append(ns, s.node())
		}
		runSchedNode(t, e.tg, e.prefix, "upsert", e.name, map[string]any{"schedulers": ns})
		return
	}
	for _, s := range specs {
		if _, err := e.q.UpsertScheduler(context.Background(), s.ID, s.Repeat, s.Template); err != nil {
			t.Fatalf("upsert %s: %v", s.ID, err)
		}
	}
}

var repeatIDRe = regexp.MustCompile(`\d{13}`)

// schedDump is what a queue holds after scheduler work, with the instants
// that depend on when the test ran (within [from, to]) replaced by "NOW".
func (e *env) schedDump(t *testing.T, ids []string, from, to int64) map[string]any {
	t.Helper()
	ctx := context.Background()
	k := e.q.k
	norm := func(s string) string {
		return repeatIDRe.ReplaceAllStringFunc(s, func(m string) string {
			n, _ := strconv.ParseInt(m, 10, 64)
			if n >= from-60_000 && n <= to+60_000 {
				return "NOW"
			}
			return m
		})
	}
	var walk func(v any) any
	walk = func(v any) any {
		switch x := v.(type) {
		case map[string]any:
			for kk, vv := range x {
				x[kk] = walk(vv)
			}
		case []any:
			for i := range x {
				x[i] = walk(x[i])
			}
		case string:
			return norm(x)
		case float64:
			return norm(strconv.FormatFloat(x, 'f', -1, 64))
		}
		return v
	}
	d := map[string]any{}
	zs, _ := e.rdb.ZRangeWithScores(ctx, k.repeat, 0, -1).Result()
	rep := map[string]string{}
	for _, z := range zs {
		rep[fmt.Sprint(z.Member)] = norm(strconv.FormatFloat(z.Score, 'f', -1, 64))
	}
	d["repeat"] = rep
	for _, id := range ids {
		h, _ := e.rdb.HGetAll(ctx, k.scheduler(id)).Result()
		for f, v := range h {
			h[f] = norm(v)
		}
		if o, ok := h["opts"]; ok {
			var v any
			_ = json.Unmarshal([]byte(o), &v)
			d["scheduler opts "+id] = v
			delete(h, "opts")
		}
		d["scheduler "+id] = h
	}
	var jobs []string
	for _, l := range []string{k.wait, k.active} {
		v, _ := e.rdb.LRange(ctx, l, 0, -1).Result()
		jobs = append(jobs, v...)
		slices.Sort(v)
		d[l[len(k.base):]] = norm(fmt.Sprint(v))
	}
	for _, z := range []string{k.delayed, k.prioritized, k.completed, k.failed} {
		v, _ := e.rdb.ZRange(ctx, z, 0, -1).Result()
		jobs = append(jobs, v...)
		slices.Sort(v)
		d[z[len(k.base):]] = norm(fmt.Sprint(v))
	}
	for _, id := range jobs {
		h, _ := e.rdb.HGetAll(ctx, k.job(id)).Result()
		for _, f := range []string{"timestamp", "processedOn", "finishedOn", "delay", "returnvalue", "pb", "ats"} {
			delete(h, f)
		}
		var o map[string]any
		_ = json.Unmarshal([]byte(h["opts"]), &o)
		delete(o, "timestamp")
		delete(o, "delay")
		delete(h, "opts")
		for f, v := range h {
			h[f] = norm(v)
		}
		d["job "+norm(id)] = h
		d["opts "+norm(id)] = walk(map[string]any(o))
	}
	d["id"], _ = e.rdb.Get(ctx, k.id).Result()
	xs, _ := e.rdb.XRange(ctx, k.events, "-", "+").Result()
	var evs []string
	for _, x := range xs {
		delete(x.Values, "delay")
		delete(x.Values, "returnvalue")
		evs = append(evs, norm(fmt.Sprint(x.Values)))
	}
	d["events"] = evs
	return d
}

func compareDumps(t *testing.T, stage string, n, g map[string]any) {
	t.Helper()
	for key := range n {
		if _, ok := g[key]; !ok {
			t.Errorf("%s: %s: node has %v, go has nothing", stage, key, n[key])
		}
	}
	for key, gv := range g {
		if nv, ok := n[key]; !ok || !reflect.DeepEqual(nv, gv) {
			t.Errorf("%s: %s:\n node %v\n go   %v", stage, key, nv, gv)
		}
	}
}

// TestSchedulerWireSameAsNode upserts the same schedulers from Node and
// from Go into two queues and compares the keys each left, then lets a
// Node worker take the due runs of the Node queue and a Go worker those
// of the Go queue and compares again: schedulers, runs, their options
// and the events.
func TestSchedulerWireSameAsNode(t *testing.T) {
	redistest.ForEach(t, func(t *testing.T, tg redistest.Target) {
		now := time.Now()
		startAt := now.Add(10 * time.Minute).Truncate(time.Second)
		hour := time.Hour
		offset := time.Duration((now.Add(30*time.Minute).UnixMilli())%hour.Milliseconds()) * time.Millisecond
		specs := []schedSpec{
			{ID: "cron-imm", Repeat: Repeat{Pattern: "0 0 3 * * *", TZ: "Europe/Berlin", Immediately: true, Limit: 3},
				Template:     JobTemplate{Name: "c", Data: map[string]any{"x": 1}, Opts: JobOptions{Attempts: 2, Backoff: &Backoff{Type: "fixed", Delay: 500}}},
				NodeTemplate: map[string]any{"name": "c", "data": map[string]any{"x": 1}, "opts": map[string]any{"attempts": 2, "backoff": map[string]any{"type": "fixed", "delay": 500}}}},
			{ID: "cron-local", Repeat: Repeat{Pattern: "*/10 * * * *", Immediately: true},
				NodeTemplate: map[string]any{}},
			{ID: "cron-later", Repeat: Repeat{Pattern: "0 30 4 * * 1#2", TZ: "America/New_York", EndDate: now.Add(90 * 24 * time.Hour).Truncate(time.Second)},
				Template: JobTemplate{Name: "d"}, NodeTemplate: map[string]any{"name": "d"}},
			{ID: "every-start", Repeat: Repeat{Every: time.Minute, StartDate: startAt, Limit: 4},
				Template:     JobTemplate{Opts: JobOptions{RemoveOnComplete: &Removal{Count: 5}, Priority: 3}},
				NodeTemplate: map[string]any{"opts": map[string]any{"removeOnComplete": 5, "priority": 3}}},
			{ID: "every-off", Repeat: Repeat{Every: hour, Offset: offset},
				Template: JobTemplate{Data: map[string]any{"y": 2}}, NodeTemplate: map[string]any{"data": map[string]any{"y": 2}}},
		}
		// a second upsert replaces the pending runs
		again := []schedSpec{specs[3], specs[2]}
		again[0].Repeat.StartDate = startAt.Add(20 * time.Minute)
		var ids []string
		for _, s := range specs {
			ids = append(ids, s.ID)
		}
		node, gol := newEnv(t, tg), newEnv(t, tg)
		from := time.Now().UnixMilli()
		node.upsertSchedulers(t, "node", specs)
		gol.upsertSchedulers(t, "go", specs)
		node.upsertSchedulers(t, "node", again)
		gol.upsertSchedulers(t, "go", again)
		to := time.Now().UnixMilli()
		compareDumps(t, "after upsert", node.schedDump(t, ids, from, to), gol.schedDump(t, ids, from, to))

		// the due runs (the two "immediately" crons) are taken by a worker of
		// each side, which adds their next runs
		ctx := context.Background()
		p := startNode(t, tg, node.prefix, "work", node.name, map[string]any{"concurrency": 1})
		gol.run(t, fixtureHandler(nil), WorkerOptions{Concurrency: 1})
		for _, e := range []*env{node, gol} {
			redistest.Eventually(t, 20*time.Second, "both due runs done", func() bool {
				c, _ := e.q.Counts(ctx)
				return c.Completed == 2 && c.Active == 0
			})
		}
		p.Stop()
		to = time.Now().UnixMilli()
		compareDumps(t, "after work", node.schedDump(t, ids, from, to), gol.schedDump(t, ids, from, to))

		// both sides list the same schedulers
		list := runSchedNode(t, tg, gol.prefix, "list", gol.name, nil)
		nodeList, _ := list[0]["schedulers"].([]any)
		goList, err := gol.q.Schedulers(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(goList) != len(nodeList) {
			t.Fatalf("Schedulers: go %d, node %d", len(goList), len(nodeList))
		}
		for i, s := range goList {
			ns, _ := nodeList[i].(map[string]any)
			if ns["key"] != s.ID || int64(ns["next"].(float64)) != s.Next.UnixMilli() || ns["name"] != s.Name {
				t.Errorf("Schedulers[%d]: go %+v, node %v", i, s, ns)
			}
		}
		// removal, from Go, of a scheduler Node created
		if err := node.q.RemoveScheduler(ctx, "every-start"); err != nil {
			t.Fatal(err)
		}
		if _, err := node.q.GetScheduler(ctx, "every-start"); !errors.Is(err, ErrSchedulerNotFound) {
			t.Fatalf("GetScheduler after RemoveScheduler: %v", err)
		}
		if err := node.q.RemoveScheduler(ctx, "every-start"); !errors.Is(err, ErrSchedulerNotFound) {
			t.Fatalf("second RemoveScheduler: %v", err)
		}
	})
}

// NewExampleRedis starts a private redis-server for a runnable example and
// returns a client and the function that stops both.
func NewExampleRedis() (redis.UniversalClient, func()) {
	s, err := redisproc.StartServer(context.Background(), redisproc.ServerOptions{})
	if err != nil {
		panic(err)
	}
	c := redis.NewClient(&redis.Options{Addr: s.Addr()})
	return c, func() { _ = c.Close(); _ = s.Close() }
}
