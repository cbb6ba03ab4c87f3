package queue

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rediskit/rediskit/internal/redistest"
)

func TestNewRejects(t *testing.T) {
	tg := redistest.ClusterTarget(t)
	rdb := tg.Client(t)
	if _, err := New(rdb, "q", Options{}); !errors.Is(err, ErrCrossSlot) {
		t.Errorf("New on a cluster without hash tag = %v, want ErrCrossSlot", err)
	}
	if _, err := New(rdb, "{q}", Options{}); err != nil {
		t.Errorf("New with tagged name: %v", err)
	}
	if _, err := New(rdb, "a:b", Options{Prefix: "{x}"}); !errors.Is(err, ErrInvalidName) {
		t.Errorf("New with ':' = %v", err)
	}
	single := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer single.Close()
	if _, err := New(single, "q", Options{}); err != nil {
		t.Errorf("New on a single node needs no tag: %v", err)
	}
}

func TestGetters(t *testing.T) {
	redistest.ForEach(t, func(t *testing.T, tg redistest.Target) {
		e := newEnv(t, tg)
		ctx := context.Background()
		var ids []string
		for i := range 5 {
			ids = append(ids, e.add(t, fmt.Sprint("w", i), map[string]int{"i": i}))
		}
		p := e.add(t, "p", nil, WithPriority(2))
		d := e.add(t, "d", nil, WithDelay(time.Hour))
		c, err := e.q.Counts(ctx)
		if err != nil || c != (Counts{Waiting: 5, Prioritized: 1, Delayed: 1}) {
			t.Fatalf("Counts = %+v, %v", c, err)
		}
		page1, _ := e.q.JobIDs(ctx, StateWaiting, 0, 3)
		page2, _ := e.q.JobIDs(ctx, StateWaiting, 3, 3)
		if !slices.Equal(append(page1, page2...), ids) {
			t.Errorf("waiting pages = %v + %v, want %v (next first)", page1, page2, ids)
		}
		jobs, _ := e.q.Jobs(ctx, StateWaiting, 1, 2)
		if len(jobs) != 2 || jobs[0].ID != ids[1] || jobs[0].Name != "w1" {
			t.Errorf("Jobs page = %+v", jobs)
		}
		j, err := e.q.GetJob(ctx, d)
		if err != nil || j.Delay != time.Hour || j.Opts.Delay != time.Hour {
			t.Errorf("GetJob delayed = %+v, %v", j, err)
		}
		if _, err := e.q.GetJob(ctx, "nope"); !errors.Is(err, ErrJobNotFound) {
			t.Errorf("GetJob missing = %v", err)
		}
		if s, _ := e.q.State(ctx, p); s != StatePrioritized {
			t.Errorf("State(p) = %q", s)
		}
		if err := e.q.Remove(ctx, ids[4]); err != nil {
			t.Fatal(err)
		}
		if n, _ := e.rdb.Exists(ctx, e.q.k.job(ids[4])).Result(); n != 0 {
			t.Error("removed job still exists")
		}
		if n, err := e.q.PromoteDelayed(ctx, 0); n != 1 || err != nil {
			t.Errorf("PromoteDelayed = %d, %v", n, err)
		}
		// run them: w0, w1 fail; others complete
		e.run(t, func(ctx context.Context, j *Job) (any, error) {
			if j.Name == "w0" || j.Name == "w1" {
				return nil, errors.New("bad")
			}
			return nil, nil
		}, WorkerOptions{})
		redistest.Eventually(t, 10*time.Second, "all ran", func() bool {
			c, _ := e.q.Counts(ctx)
			return c.Failed == 2 && c.Completed == 4
		})
		failed, _ := e.q.JobIDs(ctx, StateFailed, 0, 10)
		if len(failed) != 2 {
			t.Errorf("failed ids %v", failed)
		}
		if n, err := e.q.RetryFailed(ctx, 0); n != 2 || err != nil {
			t.Errorf("RetryFailed = %d, %v", n, err)
		}
		redistest.Eventually(t, 10*time.Second, "retried ran", func() bool {
			c, _ := e.q.Counts(ctx)
			return c.Failed == 2 && c.Waiting == 0 && c.Active == 0
		})
		cleaned, err := e.q.Clean(ctx, StateCompleted, 0, 0)
		if err != nil || len(cleaned) != 4 {
			t.Errorf("Clean completed = %v, %v", cleaned, err)
		}
		if err := e.q.Pause(ctx); err != nil {
			t.Fatal(err)
		}
		e.add(t, "x", nil)
		e.add(t, "y", nil, WithDelay(time.Hour))
		if err := e.q.Drain(ctx, true); err != nil {
			t.Fatal(err)
		}
		if c, _ := e.q.Counts(ctx); c.Waiting != 0 || c.Delayed != 0 {
			t.Errorf("after Drain: %+v", c)
		}
		if err := e.q.Obliterate(ctx, false); err != nil {
			t.Fatal(err)
		}
		keys, _ := scanAll(ctx, e, e.prefix+":"+e.name+":*")
		if len(keys) != 0 {
			t.Errorf("keys left after Obliterate: %v", keys)
		}
	})
}

func scanAll(ctx context.Context, e *env, pattern string) ([]string, error) {
	var out []string
	scan := func(ctx context.Context, c *redis.Client) error {
		it := c.Scan(ctx, 0, pattern, 1000).Iterator()
		for it.Next(ctx) {
			out = append(out, it.Val())
		}
		return it.Err()
	}
	if cc, ok := e.rdb.(*redis.ClusterClient); ok {
		return out, cc.ForEachMaster(ctx, scan)
	}
	return out, scan(ctx, e.rdb.(*redis.Client))
}
