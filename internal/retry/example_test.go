package retry_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rediskit/rediskit/internal/retry"
)

// A multi-step operation that the client's hook cannot see as one
// command is retried as a whole, only while its errors prove nothing was
// applied.
func ExampleDo() {
	tries := 0
	err := retry.Do(context.Background(), retry.Policy{Min: time.Millisecond}, false, func(context.Context) error {
		tries++
		if tries < 3 {
			return redisError("TRYAGAIN Multiple keys request during rehashing of slot")
		}
		return nil
	})
	fmt.Println(tries, err)
	// Output: 3 <nil>
}

// A long-running reader rides through errors: each is counted and logged
// (rate-limited), and the loop ends when its context does or a step
// returns Stop.
func ExampleLoop() {
	l := &retry.Loop{Name: "events", Policy: retry.Policy{Min: time.Millisecond}}
	step := 0
	err := l.Run(context.Background(), func(context.Context) error {
		step++
		switch {
		case step == 1:
			return errors.New("connection reset by peer")
		case step < 4:
			return nil // one read done
		default:
			return retry.Stop(errors.New("stream deleted"))
		}
	})
	fmt.Println(err, l.Errors())
	// Output: stream deleted 1
}
