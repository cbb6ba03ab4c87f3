package metrics_test

// This test lives here, not in cache/, because only metrics (and its
// tests) may import Prometheus.

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rediskit/rediskit/cache"
	"github.com/rediskit/rediskit/internal/redistest"
	"github.com/rediskit/rediskit/metrics"
)

// fastGetCount returns the number of GETs the client metrics observed.
func fastGetCount(t *testing.T, reg *prometheus.Registry) uint64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var n uint64
	for _, mf := range mfs {
		if mf.GetName() != "rediskit_client_command_duration_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "command" && l.GetValue() == "get" {
					n += m.GetHistogram().GetSampleCount()
				}
			}
		}
	}
	return n
}

// The client's hooks see the GETs of the pipelined fast path: an
// instrumented client counts them.
func TestPipelinedGetsCountedByClientMetrics(t *testing.T) {
	ctx := context.Background()
	redistest.ForEach(t, func(t *testing.T, tg redistest.Target) {
		client := tg.Client(t)
		reg := prometheus.NewRegistry()
		if _, err := metrics.InstrumentClient(client, reg, metrics.ClientOptions{Name: "t"}); err != nil {
			t.Fatal(err)
		}
		c, err := cache.New[string](client, cache.Options{Namespace: redistest.Unique(t), Codec: cache.Raw{}, Pipelining: cache.PipeliningOn})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := c.WaitReady(wctx); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Get(ctx, "k", func(context.Context) (string, error) { return "v", nil }); err != nil {
			t.Fatal(err)
		}
		before := fastGetCount(t, reg)
		const n = 50
		for range n {
			if v, err := c.Get(ctx, "k", func(context.Context) (string, error) { t.Fatal("loaded"); return "", nil }); err != nil || v != "v" {
				t.Fatalf("Get = %q, %v", v, err)
			}
		}
		if st := c.Stats(); st.RedisHits < n {
			t.Fatalf("redis hits %d; want %d", st.RedisHits, n)
		}
		if got := fastGetCount(t, reg) - before; got < n {
			t.Fatalf("client metrics counted %d GETs of %d pipelined Gets", got, n)
		}
	})
}
