package queue_test

import (
	"context"
	"fmt"
	"time"

	"github.com/rediskit/rediskit/queue"
)

func ExampleQueue_UpsertScheduler() {
	rdb, stop := queue.NewExampleRedis() // in a service: a client from redisconn
	defer stop()
	q, err := queue.New(rdb, "reports", queue.Options{})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	// every weekday at 07:30 in Berlin, whoever runs it (Go or Node workers)
	_, err = q.UpsertScheduler(ctx, "daily-report", queue.Repeat{Pattern: "0 30 7 * * 1-5", TZ: "Europe/Berlin"},
		queue.JobTemplate{Name: "report", Data: map[string]string{"kind": "sales"}, Opts: queue.JobOptions{Attempts: 3}})
	if err != nil {
		panic(err)
	}
	// and a heartbeat every 10 minutes, at most 6 times
	_, err = q.UpsertScheduler(ctx, "heartbeat", queue.Repeat{Every: 10 * time.Minute, Limit: 6}, queue.JobTemplate{})
	if err != nil {
		panic(err)
	}
	ss, err := q.Schedulers(ctx)
	if err != nil {
		panic(err)
	}
	for _, s := range ss {
		fmt.Println(s.ID, s.Name, s.Pattern, s.TZ, s.Every, s.Limit, s.Iterations)
	}
	// Unordered output:
	// heartbeat heartbeat   10m0s 6 1
	// daily-report report 0 30 7 * * 1-5 Europe/Berlin 0s 0 1
}
