package lock_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rediskit/rediskit/lock"
)

func ExampleLocker_Do() {
	var client redis.UniversalClient // a single node, sentinel or cluster client
	l := lock.New(client, lock.Options{MaxWait: 10 * time.Second})
	defer l.Close()
	err := l.Do(context.Background(), "payment:42", 30*time.Second, func(ctx context.Context, le *lock.Lease) error {
		// ctx ends the moment the lock is lost; pass le.Token() to the
		// resource (see lock/pgfence).
		return nil
	})
	var taken *lock.TakenError
	switch {
	case errors.As(err, &taken):
		fmt.Println("busy, held by", taken.Holder)
	case errors.Is(err, lock.ErrLost):
		fmt.Println("lost the lock while working")
	}
}

func ExampleLocker_TryAcquire() {
	var client redis.UniversalClient
	l := lock.New(client, lock.Options{})
	defer l.Close()
	ctx := context.Background()
	le, err := l.TryAcquire(ctx, "report:daily", time.Minute)
	if errors.Is(err, lock.ErrTaken) {
		return // someone else is on it
	}
	if err != nil {
		return
	}
	defer le.Release(ctx)
	select {
	case <-le.Lost():
		// expired or taken over: stop writing
	default:
		_ = le.Extend(ctx, time.Minute)
	}
}

func ExampleNewRedlock() {
	// Three independent deployments (not the shards of one cluster).
	var a, b, c redis.UniversalClient
	l := lock.NewRedlock([]redis.UniversalClient{a, b, c}, lock.Options{})
	defer l.Close()
	_ = l.Do(context.Background(), "invoice:9", 20*time.Second, func(ctx context.Context, le *lock.Lease) error {
		return nil
	})
}

// The suite's own servers run this one.
func ExampleLocker_Acquire() {
	c := exampleClient()
	defer c.Close()
	l := lock.New(c, lock.Options{Prefix: "example:"})
	defer l.Close()
	ctx := context.Background()
	first, _ := l.Acquire(ctx, "job", 10*time.Second)
	_, err := l.TryAcquire(ctx, "job", 10*time.Second)
	fmt.Println(errors.Is(err, lock.ErrTaken))
	_ = first.Release(ctx)
	second, _ := l.Acquire(ctx, "job", 10*time.Second)
	fmt.Println(second.Token() > first.Token())
	_ = second.Release(ctx)
	// Output:
	// true
	// true
}
