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
	client := exampleClient() // a single node, sentinel or cluster client
	defer client.Close()
	l := lock.New(client, lock.Options{MaxWait: 10 * time.Second})
	defer l.Close()
	err := l.Do(context.Background(), "payment:42", 30*time.Second, func(ctx context.Context, le *lock.Lease) error {
		// ctx ends the moment the lock is lost; pass le.Token() to the
		// resource (see lock/pgfence).
		fmt.Println("charging payment 42 with a fencing token:", le.Token() > 0)
		return nil
	})
	var taken *lock.TakenError
	switch {
	case errors.As(err, &taken):
		fmt.Println("busy, held by", taken.Holder)
	case errors.Is(err, lock.ErrLost):
		fmt.Println("lost the lock while working")
	case err != nil:
		fmt.Println(err)
	default:
		fmt.Println("done")
	}
	// Output:
	// charging payment 42 with a fencing token: true
	// done
}

func ExampleLocker_TryAcquire() {
	client := exampleClient()
	defer client.Close()
	l := lock.New(client, lock.Options{})
	defer l.Close()
	ctx := context.Background()
	le, err := l.TryAcquire(ctx, "report:daily", time.Minute)
	if errors.Is(err, lock.ErrTaken) {
		return // someone else is on it
	}
	if err != nil {
		fmt.Println(err)
		return
	}
	defer le.Release(ctx)
	_, err = l.TryAcquire(ctx, "report:daily", time.Minute)
	fmt.Println("a second try:", errors.Is(err, lock.ErrTaken))
	select {
	case <-le.Lost():
		fmt.Println("lost: stop writing") // expired or taken over
	default:
		fmt.Println("extended:", le.Extend(ctx, time.Minute) == nil)
	}
	// Output:
	// a second try: true
	// extended: true
}

func ExampleNewRedlock() {
	// Three independent deployments (not the shards of one cluster); here
	// three databases of the example server stand in for them.
	example := exampleClient()
	defer example.Close()
	addr := example.Options().Addr
	var clients []redis.UniversalClient
	for db := 1; db <= 3; db++ {
		c := redis.NewClient(&redis.Options{Addr: addr, DB: db})
		defer c.Close()
		clients = append(clients, c)
	}
	l := lock.NewRedlock(clients, lock.Options{})
	defer l.Close()
	err := l.Do(context.Background(), "invoice:9", 20*time.Second, func(ctx context.Context, le *lock.Lease) error {
		fmt.Println("held on a majority:", le.ValidUntil().After(time.Now()))
		return nil
	})
	fmt.Println(err)
	// Output:
	// held on a majority: true
	// <nil>
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

// A Go service and a Node service locking one payment: the Node side
// calls redlock.lock("payment:42", ttl) (redlock 4) or
// redlock.acquire(["payment:42"], ttl) (@sesamecare-oss/redlock), so the
// Go side locks that plain key too.
func ExampleKeyLayout() {
	client := exampleClient()
	defer client.Close()
	l := lock.New(client, lock.Options{KeyLayout: lock.PlainKeys, Holder: "payments-go"})
	defer l.Close()
	ctx := context.Background()

	le, err := l.TryAcquire(ctx, "payment:42", 10*time.Second)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("the Go holder locked the key:", client.Exists(ctx, "payment:42").Val() == 1)
	fence, _ := l.FenceKey("payment:42")
	fmt.Println("tokens of both sides come from:", fence)
	_ = le.Release(ctx)

	// A Node holder: redlock sets the key to 16 random bytes in hex.
	client.SetNX(ctx, "payment:42", "5be1c0ffee5be1c0ffee5be1c0ffee00", 10*time.Second)
	_, err = l.TryAcquire(ctx, "payment:42", 10*time.Second)
	var taken *lock.TakenError
	fmt.Println("taken by a foreign holder:", errors.As(err, &taken) && taken.Foreign)
	h, _ := l.Inspect(ctx, "payment:42")
	fmt.Println("inspect:", h.Held, h.Foreign, h.Token)
	client.Del(ctx, "payment:42") // here, in place of the Node release
	// Output:
	// the Go holder locked the key: true
	// tokens of both sides come from: rediskit:lock:{payment:42}:fence
	// taken by a foreign holder: true
	// inspect: true true 0
}
