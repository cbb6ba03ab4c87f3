package queue_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rediskit/rediskit/internal/redistest"
	"github.com/rediskit/rediskit/queue"
)

func ExampleQueue_Add() {
	ctx := context.Background()
	rdb := redistest.ExampleClient() // in a service: conn.Client from redisconn.Connect
	defer rdb.Close()
	q, err := queue.New(rdb, "emails", queue.Options{})
	if err != nil {
		panic(err)
	}
	_ = q.Obliterate(ctx, true) // the example starts from an empty queue
	added, err := q.Add(ctx, "welcome", map[string]string{"to": "ada@example.com"},
		queue.WithAttempts(3),
		queue.WithBackoff(queue.Backoff{Type: "exponential", Delay: 1000}),
		queue.WithRemoveOnComplete(queue.Removal{Count: 1000}))
	if err != nil {
		panic(err)
	}
	fmt.Println("job", added.ID)
	// Output: job 1
}

func ExampleNewWorker() {
	rdb := redistest.ExampleClient() // a cluster client works the same
	defer rdb.Close()
	opts := queue.Options{Prefix: "{bull}"} // one slot per queue on a cluster
	q, err := queue.New(rdb, "emails-worker", opts)
	if err != nil {
		panic(err)
	}
	_ = q.Obliterate(context.Background(), true)
	if _, err := q.Add(context.Background(), "welcome", map[string]string{"to": "ada@example.com"}); err != nil {
		panic(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	w, err := queue.NewWorker(rdb, "emails-worker", func(ctx context.Context, j *queue.Job) (any, error) {
		var msg struct{ To string }
		if err := j.Decode(&msg); err != nil {
			return nil, fmt.Errorf("%w: %w", queue.ErrUnrecoverable, err)
		}
		_ = j.UpdateProgress(ctx, 50)
		fmt.Println("sending to", msg.To)
		cancel() // the example stops after one job
		return map[string]string{"sent": msg.To}, nil
	}, queue.WorkerOptions{
		Options:     opts,
		Concurrency: 50,
		Limiter:     queue.Limiter{Max: 100, Duration: time.Second},
	})
	if err != nil {
		panic(err)
	}
	err = w.Run(ctx) // returns after in-flight jobs finished
	fmt.Println(errors.Is(err, context.Canceled))
	state, err := q.State(context.Background(), "1")
	fmt.Println(state, err)
	// Output:
	// sending to ada@example.com
	// true
	// completed <nil>
}

func ExampleNewEvents() {
	rdb := redistest.ExampleClient()
	defer rdb.Close()
	q, err := queue.New(rdb, "emails-events", queue.Options{})
	if err != nil {
		panic(err)
	}
	_ = q.Obliterate(context.Background(), true)
	if _, err := q.Add(context.Background(), "welcome", map[string]string{"to": "ada@example.com"}); err != nil {
		panic(err)
	}
	// LastID "0" reads the retained history; the default "$" only what
	// happens from now on.
	ev, err := queue.NewEvents(rdb, "emails-events", queue.EventsOptions{LastID: "0"})
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_ = ev.Run(ctx, func(e queue.Event) error {
		fmt.Println(e.Name, e.JobID)
		if e.Name == "waiting" {
			cancel() // the example stops here; a service runs until shutdown
		}
		return nil
	})
	// Output:
	// added 1
	// waiting 1
}

func ExampleQueue_Counts() {
	ctx := context.Background()
	rdb := redistest.ExampleClient()
	defer rdb.Close()
	q, err := queue.New(rdb, "emails-counts", queue.Options{})
	if err != nil {
		panic(err)
	}
	_ = q.Obliterate(ctx, true)
	_, _ = q.Add(ctx, "welcome", nil)
	_, _ = q.Add(ctx, "reminder", nil, queue.WithDelay(time.Hour))
	c, err := q.Counts(ctx)
	if err != nil {
		panic(err)
	}
	fmt.Printf("%d waiting, %d delayed, %d active, %d failed\n", c.Waiting, c.Delayed, c.Active, c.Failed)
	// Output: 1 waiting, 1 delayed, 0 active, 0 failed
}
