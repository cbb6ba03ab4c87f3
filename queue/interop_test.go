package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/rediskit/rediskit/internal/redistest"
)

// spec is one job added by Go or Node in an interop scenario.
type spec struct {
	Name string         `json:"name"`
	Data map[string]any `json:"data"`
	Opts map[string]any `json:"opts,omitempty"`
}

// addSpecs adds jobs from Go ("go") or Node ("node") and returns their ids.
func (e *env) addSpecs(t *testing.T, by string, jobs []spec) []string {
	t.Helper()
	var ids []string
	if by == "node" {
		for _, l := range runNode(t, e.tg, e.prefix, "produce", e.name, map[string]any{"jobs": jobs}) {
			ids = append(ids, fmt.Sprint(l["id"]))
		}
		return ids
	}
	for _, s := range jobs {
		b, _ := json.Marshal(s.Opts)
		o, err := decodeOpts(string(b))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, e.add(t, s.Name, s.Data, WithOptions(o)))
	}
	return ids
}

// fixtureHandler behaves like the Node fixture's processor.
func fixtureHandler(rec *recorder) Handler {
	return func(ctx context.Context, j *Job) (any, error) {
		var d struct {
			Sleep         int      `json:"sleep"`
			Unrecoverable string   `json:"unrecoverable"`
			FailTimes     int      `json:"failTimes"`
			Fail          string   `json:"fail"`
			Ret           any      `json:"ret"`
			Logs          []string `json:"logs"`
			Children      bool     `json:"childrenValues"`
		}
		if err := j.Decode(&d); err != nil {
			return nil, err
		}
		if rec != nil {
			rec.note(j.ID)
		}
		if d.Children {
			return j.ChildrenValues(ctx)
		}
		for _, l := range d.Logs {
			if err := j.Log(ctx, l); err != nil {
				return nil, err
			}
		}
		if d.Sleep > 0 {
			select {
			case <-time.After(time.Duration(d.Sleep) * time.Millisecond):
			case <-ctx.Done():
				return nil, context.Cause(ctx)
			}
		}
		switch {
		case d.Unrecoverable != "":
			return nil, fmt.Errorf("%w: %s", ErrUnrecoverable, d.Unrecoverable)
		case d.FailTimes > 0 && j.AttemptsMade < d.FailTimes:
			return nil, fmt.Errorf("fail %d", j.AttemptsMade)
		case d.Fail != "":
			return nil, errors.New(d.Fail)
		case d.Ret != nil:
			return d.Ret, nil
		}
		return map[string]any{"by": "go", "id": j.ID}, nil
	}
}

// consume runs a Go or Node worker until n jobs started and returns the
// ids in start order.
func (e *env) consume(t *testing.T, by string, n int, opts map[string]any) []string {
	t.Helper()
	if by == "node" {
		p := startNode(t, e.tg, e.prefix, "work", e.name, opts)
		var got []string
		for len(got) < n {
			m := p.WaitFor(t, 20*time.Second, fmt.Sprintf("job %d of %d", len(got)+1, n), func(m map[string]any) bool { return m["event"] == "start" })
			got = append(got, fmt.Sprint(m["id"]))
		}
		return got
	}
	rec := newRecorder()
	c, _ := opts["concurrency"].(int)
	e.run(t, fixtureHandler(rec), WorkerOptions{Concurrency: c})
	return rec.wait(t, n, 20*time.Second)
}

var sides = []string{"go", "node"}

// TestInteropOrder: ids, FIFO, LIFO, priority and delayed order are the
// same whichever side adds and whichever side works, and match what
// Node alone does.
func TestInteropOrder(t *testing.T) {
	jobs := []spec{
		{Name: "a1", Data: map[string]any{"n": 1}},
		{Name: "a2", Data: map[string]any{"n": 2}},
		{Name: "p3", Data: map[string]any{}, Opts: map[string]any{"priority": 3}},
		{Name: "p1", Data: map[string]any{}, Opts: map[string]any{"priority": 1}},
		{Name: "p1b", Data: map[string]any{}, Opts: map[string]any{"priority": 1}},
		{Name: "l", Data: map[string]any{}, Opts: map[string]any{"lifo": true}},
		{Name: "c", Data: map[string]any{}, Opts: map[string]any{"jobId": "cust"}},
		{Name: "dup", Data: map[string]any{}, Opts: map[string]any{"jobId": "cust"}},
		{Name: "d1", Data: map[string]any{}, Opts: map[string]any{"delay": 1500}},
		{Name: "d2", Data: map[string]any{}, Opts: map[string]any{"delay": 1200}},
	}
	// What Node does with its own jobs, by job name; the delayed jobs come
	// after these in due order (d2, d1), but may overtake the prioritized
	// ones when the worker starts late, so they are checked apart.
	want := []string{"l", "a1", "a2", "c", "p1", "p1b", "p3"}
	redistest.ForEach(t, func(t *testing.T, tg redistest.Target) {
		for _, prod := range sides {
			for _, cons := range sides {
				t.Run(prod+"-to-"+cons, func(t *testing.T) {
					e := newEnv(t, tg)
					start := time.Now()
					ids := e.addSpecs(t, prod, jobs)
					if ids[6] != "cust" || ids[7] != "cust" {
						t.Fatalf("custom ids = %v", ids)
					}
					wantIDs := map[string]string{}
					for i, s := range jobs {
						if s.Name != "dup" {
							wantIDs[ids[i]] = s.Name
						}
					}
					if ids[0] != "1" || ids[1] != "2" || ids[8] != "9" {
						t.Errorf("generated ids = %v, want the counter (1, 2, ..., 9)", ids)
					}
					got := e.consume(t, cons, len(want)+2, map[string]any{"concurrency": 1})
					var names, delayed []string
					for _, id := range got {
						if n := wantIDs[id]; n == "d1" || n == "d2" {
							delayed = append(delayed, n)
						} else {
							names = append(names, n)
						}
					}
					if !slices.Equal(names, want) {
						t.Errorf("run order = %v, want %v", names, want)
					}
					if !slices.Equal(delayed, []string{"d2", "d1"}) {
						t.Errorf("delayed order = %v, want due order [d2 d1]", delayed)
					}
					if el := time.Since(start); el < 1500*time.Millisecond {
						t.Errorf("delayed jobs all ran after %v, before the 1.5s delay", el)
					}
					ev, _ := e.rdb.XRange(context.Background(), e.q.k.events, "-", "+").Result()
					dups := 0
					for _, m := range ev {
						if m.Values["event"] == "duplicated" {
							dups++
						}
					}
					if dups != 1 {
						t.Errorf("duplicated events = %d, want 1", dups)
					}
				})
			}
		}
	})
}

// TestInteropRetries: fixed and exponential backoff, unrecoverable errors
// and the stored attempts/reasons read by Node, for Go and Node workers on
// jobs added by the other side.
func TestInteropRetries(t *testing.T) {
	jobs := []spec{
		{Name: "fixed", Data: map[string]any{"failTimes": 2}, Opts: map[string]any{"attempts": 3, "backoff": map[string]any{"type": "fixed", "delay": 200}}},
		{Name: "exp", Data: map[string]any{"fail": "always"}, Opts: map[string]any{"attempts": 3, "backoff": map[string]any{"type": "exponential", "delay": 100}}},
		{Name: "unrec", Data: map[string]any{"unrecoverable": "stop now"}, Opts: map[string]any{"attempts": 5}},
		{Name: "now", Data: map[string]any{"failTimes": 1}, Opts: map[string]any{"attempts": 2}},
	}
	redistest.ForEach(t, func(t *testing.T, tg redistest.Target) {
		for _, pair := range [][2]string{{"node", "go"}, {"go", "node"}} {
			t.Run(pair[0]+"-to-"+pair[1], func(t *testing.T) {
				e := newEnv(t, tg)
				ids := e.addSpecs(t, pair[0], jobs)
				start := map[string][]time.Time{}
				var mu sync.Mutex
				if pair[1] == "go" {
					rec := newRecorder()
					e.run(t, fixtureHandler(rec), WorkerOptions{Concurrency: 4})
					for range 3 + 3 + 1 + 2 {
						id := rec.wait(t, 1, 20*time.Second)[0]
						mu.Lock()
						start[id] = append(start[id], time.Now())
						mu.Unlock()
					}
				} else {
					p := startNode(t, e.tg, e.prefix, "work", e.name, map[string]any{"concurrency": 4})
					for range 3 + 3 + 1 + 2 {
						m := p.WaitFor(t, 20*time.Second, "start", func(m map[string]any) bool { return m["event"] == "start" })
						id := fmt.Sprint(m["id"])
						start[id] = append(start[id], time.Now())
					}
				}
				redistest.Eventually(t, 10*time.Second, "all finished", func() bool {
					c, _ := e.q.Counts(context.Background())
					return c.Completed+c.Failed == 4
				})
				if g := start[ids[0]]; len(g) != 3 || g[1].Sub(g[0]) < 180*time.Millisecond {
					t.Errorf("fixed: starts %v", g)
				}
				if g := start[ids[1]]; len(g) != 3 || g[1].Sub(g[0]) < 90*time.Millisecond || g[2].Sub(g[1]) < 190*time.Millisecond {
					t.Errorf("exponential: starts %v", g)
				}
				info := runNode(t, e.tg, e.prefix, "inspect", e.name, map[string]any{"ids": ids})[0]
				js := info["jobs"].(map[string]any)
				check := func(id, state string, atm float64, reason string) {
					t.Helper()
					j := js[id].(map[string]any)
					if j["state"] != state || j["attemptsMade"] != atm {
						t.Errorf("job %s: state %v attemptsMade %v, want %s %v", id, j["state"], j["attemptsMade"], state, atm)
					}
					if reason != "" && j["failedReason"] != reason {
						t.Errorf("job %s: failedReason %q, want %q", id, j["failedReason"], reason)
					}
				}
				check(ids[0], "completed", 3, "")
				check(ids[1], "failed", 3, "always")
				check(ids[3], "completed", 2, "")
				j := js[ids[2]].(map[string]any)
				if j["state"] != "failed" || j["attemptsMade"] != 1.0 {
					t.Errorf("unrecoverable: %v", j)
				}
				if st, _ := j["stacktrace"].([]any); len(st) != 1 {
					t.Errorf("unrecoverable stacktrace = %v", j["stacktrace"])
				}
				if st, _ := js[ids[1]].(map[string]any)["stacktrace"].([]any); len(st) != 3 {
					t.Errorf("exp stacktrace has %d entries, want 3", len(st))
				}
				ev, _ := e.rdb.XRange(context.Background(), e.q.k.events, "-", "+").Result()
				exhausted := 0
				for _, m := range ev {
					if m.Values["event"] == "retries-exhausted" {
						exhausted++
					}
				}
				if exhausted != 1 {
					t.Errorf("retries-exhausted events = %d, want 1 (exp; unrecoverable jobs with attempts left emit none, as in Node)", exhausted)
				}
			})
		}
	})
}
