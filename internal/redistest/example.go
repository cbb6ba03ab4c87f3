package redistest

import (
	"context"
	"os"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rediskit/rediskit/internal/redisproc"
)

// ExampleAddr returns the address of the shared single node, starting it
// if needed. It is for Example functions, which get no testing.TB: it
// panics when the node cannot start. Main stops the node.
func ExampleAddr() string {
	if a := os.Getenv("REDISKIT_TEST_SINGLE"); a != "" {
		return a
	}
	mu.Lock()
	defer mu.Unlock()
	if single == nil {
		if err := startErr["single"]; err != nil {
			panic("redistest: single node failed to start earlier: " + err.Error())
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		s, err := redisproc.StartServer(ctx, redisproc.ServerOptions{Args: []string{"maxmemory-policy noeviction", "notify-keyspace-events KEA"}})
		if err != nil {
			startErr["single"] = err
			panic("redistest: start single node: " + err.Error())
		}
		single = s
		closers = append(closers, s.Close)
	}
	return single.Addr()
}

// ExampleClient returns a new client of the shared single node for an
// Example function (see ExampleAddr); the caller closes it. Examples
// write it as
//
//	client := redistest.ExampleClient() // in a service: conn.Client from redisconn.Connect
func ExampleClient() redis.UniversalClient {
	return redis.NewClient(&redis.Options{Addr: ExampleAddr()})
}
