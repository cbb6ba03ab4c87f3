package queue

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/rediskit/rediskit/internal/redistest"
)

// TestUnsupportedOptionFailsJob: a job carrying an option this worker does
// not know (here BullMQ Pro's "group") fails without running, its reason
// naming the option; known options run as usual.
func TestUnsupportedOptionFailsJob(t *testing.T) {
	redistest.ForEach(t, func(t *testing.T, tg redistest.Target) {
		e := newEnv(t, tg)
		ctx := context.Background()
		bad := e.add(t, "pro", nil)
		e.rdb.HSet(ctx, e.q.k.job(bad), "opts", `{"attempts":3,"group":{"id":"tenant-1"}}`)
		good := e.add(t, "plain", nil, WithAttempts(2), WithKeepLogs(5))
		ran := make(chan string, 2)
		e.run(t, func(ctx context.Context, j *Job) (any, error) { ran <- j.ID; return "ok", nil }, WorkerOptions{})
		redistest.Eventually(t, 10*time.Second, "both finished", func() bool {
			c, _ := e.q.Counts(ctx)
			return c.Completed == 1 && c.Failed == 1
		})
		if r := e.hget(t, bad, "failedReason"); !strings.Contains(r, `"group"`) || !strings.Contains(r, "not supported") {
			t.Errorf("failedReason = %q, want it to name the option", r)
		}
		if got := <-ran; got != good {
			t.Errorf("ran %s, want only %s", got, good)
		}
	})
}

// TestWorkerRefusesUnknownQueueVersion: a queue written by a BullMQ this
// worker does not speak is refused at start, nothing fetched.
func TestWorkerRefusesUnknownQueueVersion(t *testing.T) {
	redistest.ForEach(t, func(t *testing.T, tg redistest.Target) {
		e := newEnv(t, tg)
		ctx := context.Background()
		id := e.add(t, "x", nil)
		e.rdb.HSet(ctx, e.q.k.meta, "version", "bullmq-pro:7.1.0")
		w, err := NewWorker(e.rdb, e.name, func(ctx context.Context, j *Job) (any, error) { return nil, nil },
			WorkerOptions{Options: Options{Prefix: e.prefix}, Logger: testLogger(t)})
		if err != nil {
			t.Fatal(err)
		}
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		err = w.Run(rctx)
		if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "bullmq-pro:7.1.0") {
			t.Errorf("Run = %v, want ErrUnsupported naming the version", err)
		}
		if s, _ := e.q.State(ctx, id); s != StateWaiting {
			t.Errorf("job state = %q, want waiting (nothing fetched)", s)
		}
	})
}
