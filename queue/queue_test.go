package queue

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rediskit/rediskit/internal/redistest"
)

type env struct {
	tg     redistest.Target
	rdb    redis.UniversalClient
	prefix string
	name   string
	q      *Queue
}

func newEnv(t *testing.T, tg redistest.Target) *env {
	t.Helper()
	e := &env{tg: tg, rdb: tg.Client(t), prefix: "{" + redistest.Unique(t) + "}", name: "q"}
	q, err := New(e.rdb, e.name, Options{Prefix: e.prefix})
	if err != nil {
		t.Fatal(err)
	}
	e.q = q
	return e
}

// run starts a worker and stops it (gracefully) when the test ends.
func (e *env) run(t *testing.T, h Handler, o WorkerOptions) *Worker {
	t.Helper()
	o.Prefix = e.prefix
	if o.Logger == nil {
		o.Logger = testLogger(t)
	}
	w, err := NewWorker(e.rdb, e.name, h, o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(40 * time.Second):
			t.Errorf("Run did not return")
		}
	})
	return w
}

func (e *env) add(t *testing.T, name string, data any, opts ...JobOption) string {
	t.Helper()
	a, err := e.q.Add(context.Background(), name, data, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return a.ID
}

// eventsNoDelay lists the queue's events, each without its "delay" field
// (a time), for comparing runs.
func (e *env) eventsNoDelay(t *testing.T) []string {
	t.Helper()
	xs, err := e.rdb.XRange(context.Background(), e.q.k.events, "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	var evs []string
	for _, x := range xs {
		delete(x.Values, "delay")
		evs = append(evs, fmt.Sprint(x.Values))
	}
	return evs
}

func (e *env) hget(t *testing.T, id, field string) string {
	t.Helper()
	v, _ := e.rdb.HGet(context.Background(), e.q.k.job(id), field).Result()
	return v
}

// recorder records handler calls.
type recorder struct {
	mu    sync.Mutex
	order []string
	runs  map[string]int
	ch    chan string
}

func newRecorder() *recorder { return &recorder{runs: map[string]int{}, ch: make(chan string, 100000)} }

func (r *recorder) note(id string) {
	r.mu.Lock()
	r.order = append(r.order, id)
	r.runs[id]++
	r.mu.Unlock()
	r.ch <- id
}

func (r *recorder) wait(t *testing.T, n int, limit time.Duration) []string {
	t.Helper()
	tm := time.After(limit)
	var got []string
	for len(got) < n {
		select {
		case id := <-r.ch:
			got = append(got, id)
		case <-tm:
			t.Fatalf("saw %d of %d jobs: %v", len(got), n, got)
		}
	}
	return got
}

func TestAddAndProcess(t *testing.T) {
	redistest.ForEach(t, func(t *testing.T, tg redistest.Target) {
		e := newEnv(t, tg)
		rec := newRecorder()
		for i := range 5 {
			e.add(t, "plain", map[string]int{"i": i})
		}
		e.run(t, func(ctx context.Context, j *Job) (any, error) {
			var d struct{ I int }
			if err := j.Decode(&d); err != nil {
				return nil, err
			}
			defer rec.note(j.ID)
			return map[string]int{"double": d.I * 2}, nil
		}, WorkerOptions{Concurrency: 1, Name: "go-w"})
		got := rec.wait(t, 5, 10*time.Second)
		if fmt.Sprint(got) != "[1 2 3 4 5]" {
			t.Errorf("order = %v, want FIFO", got)
		}
		redistest.Eventually(t, 5*time.Second, "5 completed", func() bool {
			n, _ := e.rdb.ZCard(context.Background(), e.q.k.completed).Result()
			return n == 5
		})
		if rv := e.hget(t, "3", "returnvalue"); rv != `{"double":4}` {
			t.Errorf("returnvalue = %q", rv)
		}
		if pb := e.hget(t, "3", "pb"); pb != "go-w" {
			t.Errorf("pb = %q", pb)
		}
		if atm := e.hget(t, "3", "atm"); atm != "1" {
			t.Errorf("atm = %q", atm)
		}
	})
}
