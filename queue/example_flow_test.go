package queue_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/rediskit/rediskit/internal/redistest"
	"github.com/rediskit/rediskit/queue"
)

// A handler that adds children while it runs and waits for them: the job
// moves to waiting-children, and runs again once they are done.
func ExampleJob_MoveToWaitingChildren() {
	rdb := redistest.ExampleClient()
	defer rdb.Close()
	opts := queue.Options{Prefix: "{example-spawn}"}
	q, err := queue.New(rdb, "reports", opts)
	if err != nil {
		panic(err)
	}
	_ = q.Obliterate(context.Background(), true)
	if _, err := q.Add(context.Background(), "report", map[string]int{"parts": 2}, queue.WithJobID("r1")); err != nil {
		panic(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	w, err := queue.NewWorker(rdb, "reports", func(ctx context.Context, j *queue.Job) (any, error) {
		if j.Name == "part" {
			return "part done", nil
		}
		values, err := j.ChildrenValues(ctx)
		if err != nil {
			return nil, err
		}
		if len(values) == 0 {
			for i := range 2 {
				if _, err := q.Add(ctx, "part", i, queue.WithParent(j.Ref())); err != nil {
					return nil, err
				}
			}
			moved, err := j.MoveToWaitingChildren(ctx, nil)
			if err != nil {
				return nil, err
			}
			if moved {
				fmt.Println("waiting for 2 parts")
				return nil, queue.ErrWaitingChildren
			}
		}
		var got []string
		for _, v := range values {
			got = append(got, string(v))
		}
		sort.Strings(got)
		fmt.Println("report from", got)
		cancel()
		return len(values), nil
	}, queue.WorkerOptions{Options: opts}) // one slot: the parts cannot finish before the parent waits
	if err != nil {
		panic(err)
	}
	if err := w.Run(ctx); !errors.Is(err, context.Canceled) {
		panic(err)
	}
	// Output:
	// waiting for 2 parts
	// report from ["part done" "part done"]
}
