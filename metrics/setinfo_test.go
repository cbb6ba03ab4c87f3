package metrics_test

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/rediskit/rediskit/internal/redistest"
	"github.com/rediskit/rediskit/metrics"
)

// TestHandshakeErrorsNotCounted: go-redis's connection handshake sends
// CLIENT SETINFO, which Redis before 7.2 rejects. That is go-redis's
// probe, not a caller's command: new connections must not raise the
// error counter an alert watches.
func TestHandshakeErrorsNotCounted(t *testing.T) {
	ctx := context.Background()
	for _, tg := range redistest.Targets(t) {
		t.Run(tg.Name, func(t *testing.T) {
			var c redis.UniversalClient
			if len(tg.Addrs) > 1 {
				c = redis.NewClusterClient(&redis.ClusterOptions{Addrs: tg.Addrs})
			} else {
				c = redis.NewClient(&redis.Options{Addr: tg.Addrs[0]})
			}
			defer c.Close()
			reg := prometheus.NewRegistry()
			if _, err := metrics.InstrumentClient(c, reg, metrics.ClientOptions{}); err != nil {
				t.Fatal(err)
			}
			k := redistest.Unique(t)
			for i := range 20 {
				if err := c.Get(ctx, k+string(rune('a'+i))).Err(); err != nil && err != redis.Nil {
					t.Fatal(err)
				}
			}
			mfs, err := reg.Gather()
			if err != nil {
				t.Fatal(err)
			}
			for _, mf := range mfs {
				if mf.GetName() == "rediskit_client_command_errors_total" && len(mf.GetMetric()) > 0 {
					t.Errorf("the handshake was counted as command errors: %v", mf.GetMetric())
				}
			}
		})
	}
}
