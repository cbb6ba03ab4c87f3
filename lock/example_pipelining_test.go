package lock_test

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rediskit/rediskit/lock"
)

// A process that locks rarely turns the auto-pipeliner off: one round
// trip per call, each call's ctx honoured to the end.
func ExamplePipelining() {
	client := redis.NewClient(&redis.Options{Addr: exampleAddr})
	defer client.Close()
	l := lock.New(client, lock.Options{Prefix: "example:pipelining:", Pipelining: lock.PipeliningOff})
	defer l.Close()
	ctx := context.Background()
	le, err := l.TryAcquire(ctx, "nightly-report", 10*time.Second)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("token issued:", le.Token() > 0)
	fmt.Println("released:", le.Release(ctx) == nil)
	// Output:
	// token issued: true
	// released: true
}
