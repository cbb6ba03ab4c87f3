package dashboard

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rediskit/rediskit/internal/redistest"
	"github.com/rediskit/rediskit/queue"
)

// fixture is a queue with a Go worker that fails jobs named "bad" (or
// "node-bad") on their first attempt.
type fixture struct {
	q  *queue.Queue
	id string
}

func newFixture(t *testing.T, rdb redis.UniversalClient, ok, bad int) *fixture {
	t.Helper()
	prefix := "{" + redistest.Unique(t) + "}"
	q, err := queue.New(rdb, "orders", queue.Options{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{q: q, id: prefix + ":orders"}
	ctx := ctxT(t)
	var jobs []queue.BulkJob
	for i := range ok {
		jobs = append(jobs, queue.BulkJob{Name: "ok", Data: map[string]any{"n": i, "customer": fmt.Sprintf("c%d", i)}})
	}
	for i := range bad {
		jobs = append(jobs, queue.BulkJob{Name: "bad", Data: map[string]any{"n": i, "customer": "special-42"}})
	}
	if _, err := q.AddBulk(ctx, jobs); err != nil {
		t.Fatal(err)
	}
	return f
}

// run starts the Go worker until the test ends; strict fails the test
// when the worker ends with an error.
func (f *fixture) run(t *testing.T, rdb redis.UniversalClient, name string, strict bool) {
	t.Helper()
	w, err := queue.NewWorker(rdb, "orders", func(_ context.Context, j *queue.Job) (any, error) {
		if (j.Name == "bad" || j.Name == "node-bad") && j.AttemptsMade == 0 {
			var d struct{ N int }
			_ = j.Decode(&d)
			return nil, fmt.Errorf("card declined %d", d.N)
		}
		return map[string]string{"done": j.ID}, nil
	}, queue.WorkerOptions{Options: queue.Options{Prefix: strings.TrimSuffix(f.id, ":orders")}, Name: name, Concurrency: 4, DrainDelay: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) && strict {
			t.Errorf("worker: %v", err)
		}
	})
}

func (e *env) queueView(id string) QueueDetail {
	e.t.Helper()
	var v QueueDetail
	e.get("api/queue?queue="+id, &v)
	return v
}

func TestQueues(t *testing.T) {
	redistest.ForEach(t, func(t *testing.T, tg redistest.Target) {
		rdb := tg.Client(t)
		f := newFixture(t, rdb, 30, 5)
		e := newEnv(t, rdb, Options{})
		e.login()

		// discovery and counts before any worker
		var qs QueuesView
		e.get("api/queues?fresh=1", &qs)
		var found *QueueView
		for i := range qs.Queues {
			if qs.Queues[i].ID == f.id {
				found = &qs.Queues[i]
			}
		}
		if found == nil {
			t.Fatalf("queue %s not discovered in %+v", f.id, qs.Queues)
		}
		if found.Counts["waiting"] != 35 || found.Err != "" {
			t.Fatalf("counts %+v err %q, want 35 waiting", found.Counts, found.Err)
		}

		f.run(t, rdb, "go-w1", true)
		redistest.Eventually(t, 20*time.Second, "30 completed, 5 failed", func() bool {
			v := e.queueView(f.id)
			return v.Counts["completed"] == 30 && v.Counts["failed"] == 5
		})
		v := e.queueView(f.id)
		if len(v.Workers) == 0 || v.Workers[0].Name != "go-w1" {
			t.Errorf("workers %+v, want go-w1", v.Workers)
		}

		var page JobsView
		e.get("api/jobs?queue="+f.id+"&state=failed&count=2", &page)
		if page.Total != 5 || len(page.Jobs) != 2 || page.Jobs[0].Name != "bad" || !strings.Contains(page.Jobs[0].FailedReason, "card declined") {
			t.Fatalf("failed page %+v", page)
		}
		e.get("api/jobs?queue="+f.id+"&state=completed&start=20&count=20", &page)
		if page.Total != 30 || len(page.Jobs) != 10 {
			t.Fatalf("completed page 2: total %d, %d jobs", page.Total, len(page.Jobs))
		}
		if code, b := e.getRaw("api/jobs?queue=" + f.id + "&state=nope"); code != http.StatusBadRequest {
			t.Errorf("bad state: %d %s", code, b)
		}

		search := func(q string) SearchView {
			var s SearchView
			e.get("api/search?queue="+f.id+"&"+q, &s)
			return s
		}
		for _, c := range []struct {
			q    string
			want int
		}{
			{"field=data&text=special-42", 5},
			{"field=reason&text=DECLINED", 5},
			{"field=name&text=bad", 5},
			{"text=c17", 1},
			{"field=id&text=" + page.Jobs[0].ID, 1},
			{"field=data&text=nothing-like-this", 0},
		} {
			if s := search(c.q); len(s.Jobs) != c.want || s.Cursor != "" {
				t.Errorf("search %s: %d jobs (cursor %q), want %d", c.q, len(s.Jobs), s.Cursor, c.want)
			}
		}

		failedID := e.jobIDs(f.id, "failed")[0]
		var det JobDetail
		e.get("api/job?queue="+f.id+"&id="+failedID, &det)
		if det.State != "failed" || !strings.Contains(det.FailedReason, "card declined") || !strings.Contains(string(det.Data), "special-42") || det.Name != "bad" {
			t.Fatalf("job detail %+v", det)
		}
		if code, _ := e.getRaw("api/job?queue=" + f.id + "&id=nope"); code != http.StatusNotFound {
			t.Errorf("missing job: %d, want 404", code)
		}

		// retry one failed job: the worker runs it again and it completes
		e.mustPost("retry", actionBody{Queue: f.id, ID: failedID})
		redistest.Eventually(t, 10*time.Second, "retried job completes", func() bool {
			var d JobDetail
			e.get("api/job?queue="+f.id+"&id="+failedID, &d)
			return d.State == "completed"
		})
		if code, _ := e.post("retry", actionBody{Queue: f.id, ID: failedID}); code != http.StatusBadRequest {
			t.Errorf("retry of a completed job: %d, want 400", code)
		}
		if r := e.mustPost("retry-all", actionBody{Queue: f.id}); r.Count != 4 {
			t.Errorf("retry-all moved %d, want 4", r.Count)
		}
		redistest.Eventually(t, 10*time.Second, "all complete", func() bool {
			v := e.queueView(f.id)
			return v.Counts["completed"] == 35 && v.Counts["failed"] == 0
		})

		e.mustPost("pause", actionBody{Queue: f.id})
		if !e.queueView(f.id).Paused {
			t.Error("not paused")
		}
		added := e.mustPost("add", actionBody{Queue: f.id, Name: "ok", Data: json.RawMessage(`{"customer":"added-by-ui"}`)})
		if v := e.queueView(f.id); v.Counts["waiting"] != 1 {
			t.Errorf("paused queue: waiting %d, want 1", v.Counts["waiting"])
		}
		e.mustPost("resume", actionBody{Queue: f.id})
		redistest.Eventually(t, 10*time.Second, "added job completes after resume", func() bool {
			var d JobDetail
			e.get("api/job?queue="+f.id+"&id="+added.ID, &d)
			return d.State == "completed"
		})

		delayed := e.mustPost("add", actionBody{Queue: f.id, Name: "ok", Data: json.RawMessage(`{}`), Opts: json.RawMessage(`{"delay":3600000,"jobId":"later"}`)})
		if delayed.ID != "later" {
			t.Fatalf("add with jobId: id %q", delayed.ID)
		}
		e.mustPost("promote", actionBody{Queue: f.id, ID: "later"})
		redistest.Eventually(t, 10*time.Second, "promoted job completes", func() bool {
			var d JobDetail
			e.get("api/job?queue="+f.id+"&id=later", &d)
			return d.State == "completed"
		})

		if code, b := e.post("remove", actionBody{Queue: f.id, ID: "later"}); code != http.StatusBadRequest || !strings.Contains(string(b), "confirm") {
			t.Errorf("remove without confirm: %d %s", code, b)
		}
		e.mustPost("remove", actionBody{Queue: f.id, ID: "later", Confirm: true})
		if code, _ := e.getRaw("api/job?queue=" + f.id + "&id=later"); code != http.StatusNotFound {
			t.Errorf("removed job: %d, want 404", code)
		}
		if r := e.mustPost("clean", actionBody{Queue: f.id, State: "completed", Confirm: true}); r.Count != 36 {
			t.Errorf("clean removed %d, want 36", r.Count)
		}
		// an active job no worker holds (its worker died, no lock) is cleaned;
		// a locked one would be skipped (queue's Clean tests)
		e.mustPost("add", actionBody{Queue: f.id, Name: "ok", Data: json.RawMessage(`{}`), Opts: json.RawMessage(`{"delay":3600000,"jobId":"orphan"}`)})
		if err := rdb.ZRem(ctxT(t), f.id+":delayed", "orphan").Err(); err != nil {
			t.Fatal(err)
		}
		if err := rdb.LPush(ctxT(t), f.id+":active", "orphan").Err(); err != nil {
			t.Fatal(err)
		}
		if r := e.mustPost("clean", actionBody{Queue: f.id, State: "active", Confirm: true}); r.Count != 1 {
			t.Errorf("clean active removed %d, want 1 (the orphan)", r.Count)
		}
		if code, b := e.post("add", actionBody{Queue: f.id, Name: "x", Opts: json.RawMessage(`{"nope":1}`)}); code != http.StatusBadRequest {
			t.Errorf("add with unknown opts: %d %s", code, b)
		}
		if code, _ := e.post("pause", actionBody{Queue: "{nothing}:here"}); code != http.StatusNotFound {
			t.Errorf("pause of a missing queue: %d, want 404", code)
		}
		if log := e.log.String(); !strings.Contains(log, "action=retry") || !strings.Contains(log, "who=anonymous@") || !strings.Contains(log, "id="+failedID) {
			t.Errorf("audit log lacks the retry line:\n%s", log)
		}
	})
}

func (e *env) jobIDs(id, state string) []string {
	e.t.Helper()
	var page JobsView
	e.get("api/jobs?queue="+id+"&state="+state+"&count=200", &page)
	var out []string
	for _, j := range page.Jobs {
		out = append(out, j.ID)
	}
	return out
}

// TestSearchBounded checks that a search examines at most SearchBudget
// jobs per request and that following the cursor finds every match.
func TestSearchBounded(t *testing.T) {
	rdb := redistest.SingleTarget(t).Client(t)
	f := newFixture(t, rdb, 40, 3)
	e := newEnv(t, rdb, Options{SearchBudget: 10})
	var all []string
	cursor := ""
	steps := 0
	for {
		var s SearchView
		path := "api/search?queue=" + f.id + "&field=data&text=special-42"
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		e.get(path, &s)
		if s.Examined > 10 {
			t.Fatalf("examined %d > budget 10", s.Examined)
		}
		for _, j := range s.Jobs {
			all = append(all, j.ID)
		}
		steps++
		if cursor = s.Cursor; cursor == "" {
			break
		}
		if steps > 20 {
			t.Fatal("search does not end")
		}
	}
	if len(all) != 3 || steps < 5 {
		t.Errorf("found %v in %d steps, want 3 jobs in >= 5 steps", all, steps)
	}
	if code, _ := e.getRaw("api/search?queue=" + f.id + "&text=x&cursor=bogus"); code != http.StatusBadRequest {
		t.Errorf("bad cursor: %d", code)
	}
}
