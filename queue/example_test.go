package queue_test

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rediskit/rediskit/queue"
)

func ExampleQueue_Add() {
	rdb := redis.NewClient(&redis.Options{Addr: "localhost:6379"})
	q, err := queue.New(rdb, "emails", queue.Options{})
	if err != nil {
		panic(err)
	}
	added, err := q.Add(context.Background(), "welcome", map[string]string{"to": "ada@example.com"},
		queue.WithAttempts(3),
		queue.WithBackoff(queue.Backoff{Type: "exponential", Delay: 1000}),
		queue.WithRemoveOnComplete(queue.Removal{Count: 1000}))
	if err != nil {
		panic(err)
	}
	fmt.Println("job", added.ID)
}

func ExampleNewWorker() {
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{"localhost:7000"}})
	w, err := queue.NewWorker(rdb, "emails", func(ctx context.Context, j *queue.Job) (any, error) {
		var msg struct{ To string }
		if err := j.Decode(&msg); err != nil {
			return nil, fmt.Errorf("%w: %w", queue.ErrUnrecoverable, err)
		}
		_ = j.UpdateProgress(ctx, 50)
		return map[string]string{"sent": msg.To}, nil
	}, queue.WorkerOptions{
		Options:     queue.Options{Prefix: "{bull}"}, // one slot per queue on a cluster
		Concurrency: 50,
		Limiter:     queue.Limiter{Max: 100, Duration: time.Second},
	})
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_ = w.Run(ctx) // returns after in-flight jobs finished
}

func ExampleNewEvents() {
	rdb := redis.NewClient(&redis.Options{Addr: "localhost:6379"})
	ev, err := queue.NewEvents(rdb, "emails", queue.EventsOptions{})
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_ = ev.Run(ctx, func(e queue.Event) error {
		if e.Name == "completed" {
			fmt.Println(e.JobID, string(e.ReturnValue))
		}
		return nil
	})
}

func ExampleQueue_Counts() {
	rdb := redis.NewClient(&redis.Options{Addr: "localhost:6379"})
	q, _ := queue.New(rdb, "emails", queue.Options{})
	c, err := q.Counts(context.Background())
	if err != nil {
		panic(err)
	}
	fmt.Printf("%d waiting, %d active, %d failed\n", c.Waiting, c.Active, c.Failed)
}
