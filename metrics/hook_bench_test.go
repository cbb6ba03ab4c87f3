package metrics

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
)

// BenchmarkHookOverhead measures what the client hook adds to one
// command, without the network: the next hook returns at once.
func BenchmarkHookOverhead(b *testing.B) {
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer c.Close()
	m, err := InstrumentClient(c, prometheus.NewRegistry(), ClientOptions{})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	h := (&clientHook{m: m}).ProcessHook(func(context.Context, redis.Cmder) error { return nil })
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		cmd := redis.NewStringCmd(ctx, "get", "k")
		for pb.Next() {
			_ = h(ctx, cmd)
		}
	})
}
