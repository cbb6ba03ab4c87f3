package metrics_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	"github.com/redis/go-redis/v9"
	"github.com/rediskit/rediskit/internal/redisproc"
	"github.com/rediskit/rediskit/internal/redistest"
	"github.com/rediskit/rediskit/metrics"
)

func TestInstrumentClient(t *testing.T) {
	redistest.ForEach(t, func(t *testing.T, tg redistest.Target) {
		ctx := context.Background()
		c := tg.Client(t)
		reg := prometheus.NewPedanticRegistry()
		if _, err := metrics.InstrumentClient(c, reg, metrics.ClientOptions{Name: "api"}); err != nil {
			t.Fatal(err)
		}
		u := redistest.Unique(t)
		k := "{" + u + "}:k"
		if err := c.Set(ctx, k, "v", time.Minute).Err(); err != nil {
			t.Fatal(err)
		}
		for range 4 {
			if err := c.Get(ctx, k).Err(); err != nil {
				t.Fatal(err)
			}
		}
		if err := c.Get(ctx, k+":missing").Err(); !errors.Is(err, redis.Nil) {
			t.Fatalf("GET missing: %v", err)
		}
		if err := c.LPush(ctx, k, "x").Err(); err == nil {
			t.Fatal("LPUSH on a string did not fail")
		}
		if err := c.Do(ctx, "NOSUCHCOMMAND-"+u, k).Err(); err == nil {
			t.Fatal("unknown command did not fail")
		}
		_, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
			for range 10 {
				p.Get(ctx, k)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		mfs := gather(t, reg)
		check := func(name string, lbl map[string]string, want float64) {
			t.Helper()
			got := series(mfs, name, lbl)
			if len(got) != 1 || value(got[0]) != want {
				t.Errorf("%s%v = %v, want %v", name, lbl, got, want)
			}
		}
		check("rediskit_client_command_duration_seconds", map[string]string{"command": "get", "client": "api"}, 5)
		check("rediskit_client_command_duration_seconds", map[string]string{"command": "set"}, 1)
		// The unknown name is folded into "other": the label stays bounded.
		check("rediskit_client_command_duration_seconds", map[string]string{"command": "other"}, 1)
		check("rediskit_client_command_errors_total", map[string]string{"command": "lpush", "kind": "wrongtype"}, 1)
		check("rediskit_client_command_errors_total", map[string]string{"command": "other", "kind": "err"}, 1)
		if got := series(mfs, "rediskit_client_command_errors_total", map[string]string{"command": "get"}); len(got) != 0 {
			t.Errorf("a nil reply was counted as an error: %v", got)
		}
		check("rediskit_client_pipeline_commands", nil, 1)
		if h := series(mfs, "rediskit_client_pipeline_commands", nil)[0].GetHistogram(); h.GetSampleSum() != 10 {
			t.Errorf("pipeline size sum = %v, want 10", h.GetSampleSum())
		}
		if got := series(mfs, "rediskit_client_pool_connections", nil); len(got) != 1 || value(got[0]) < 1 {
			t.Errorf("pool connections = %v", got)
		}
		if got := series(mfs, "rediskit_client_dials_total", map[string]string{"result": "ok"}); len(got) != 1 || value(got[0]) < 1 {
			t.Errorf("dials ok = %v", got)
		}
		var buf bytes.Buffer
		for _, mf := range mfs {
			if _, err := expfmt.MetricFamilyToText(&buf, mf); err != nil {
				t.Fatal(err)
			}
		}
		runPromtool(t, &buf, "check", "metrics")
	})
}

func TestInstrumentClientTwiceNeedsNames(t *testing.T) {
	c := redistest.SingleTarget(t).Client(t)
	reg := prometheus.NewRegistry()
	if _, err := metrics.InstrumentClient(c, reg, metrics.ClientOptions{}); err != nil {
		t.Fatal(err)
	}
	c2 := redistest.SingleTarget(t).Client(t)
	if _, err := metrics.InstrumentClient(c2, reg, metrics.ClientOptions{}); err == nil {
		t.Fatal("second client with the same name registered without error")
	}
	if _, err := metrics.InstrumentClient(c2, reg, metrics.ClientOptions{Name: "second"}); err != nil {
		t.Fatalf("second client with its own name: %v", err)
	}
}

// A slot migration on a private cluster makes the nodes answer ASK and
// then MOVED; the node hooks count both.
func TestInstrumentClientCountsRedirects(t *testing.T) {
	cl := redistest.NewCluster(t, redisproc.ClusterOptions{Replicas: -1})
	ctx := context.Background()
	c := cl.Client()
	t.Cleanup(func() { _ = c.Close() })
	reg := prometheus.NewRegistry()
	if _, err := metrics.InstrumentClient(c, reg, metrics.ClientOptions{}); err != nil {
		t.Fatal(err)
	}
	key := "{" + redistest.Unique(t) + "}:k"
	if err := c.Get(ctx, key).Err(); !errors.Is(err, redis.Nil) {
		t.Fatalf("warm-up GET: %v", err)
	}
	src, err := cl.MasterForKey(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	masters, err := cl.Masters(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var dst *redisproc.Server
	for _, m := range masters {
		if m != src {
			dst = m
			break
		}
	}
	id := func(s *redisproc.Server) string {
		cc := s.Client()
		defer cc.Close()
		v, err := cc.Do(ctx, "CLUSTER", "MYID").Text()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	do := func(s *redisproc.Server, args ...any) {
		cc := s.Client()
		defer cc.Close()
		if err := cc.Do(ctx, args...).Err(); err != nil {
			t.Fatalf("%v on %s: %v", args, s.Addr(), err)
		}
	}
	slot := redisproc.Slot(key)
	srcID, dstID := id(src), id(dst)
	do(dst, "CLUSTER", "SETSLOT", slot, "IMPORTING", srcID)
	do(src, "CLUSTER", "SETSLOT", slot, "MIGRATING", dstID)
	if err := c.Get(ctx, key).Err(); !errors.Is(err, redis.Nil) {
		t.Fatalf("GET during migration: %v", err)
	}
	redirects := func(kind string) float64 {
		got := series(gather(t, reg), "rediskit_client_redirects_total", map[string]string{"type": kind})
		if len(got) != 1 {
			t.Fatalf("redirects{type=%s}: %v", kind, got)
		}
		return value(got[0])
	}
	if n := redirects("ask"); n != 1 {
		t.Errorf("ask redirects = %v, want 1", n)
	}
	for _, m := range masters {
		do(m, "CLUSTER", "SETSLOT", slot, "NODE", dstID)
	}
	if err := c.Get(ctx, key).Err(); !errors.Is(err, redis.Nil) {
		t.Fatalf("GET after migration: %v", err)
	}
	if n := redirects("moved"); n < 1 {
		t.Errorf("moved redirects = %v, want >= 1", n)
	}
	if got := series(gather(t, reg), "rediskit_client_retries_total", map[string]string{"kind": "moved"}); len(got) != 1 || value(got[0]) < 1 {
		t.Errorf("retries{kind=moved} = %v", got)
	}
	if got := series(gather(t, reg), "rediskit_client_command_errors_total", nil); len(got) != 0 {
		t.Errorf("redirects surfaced as command errors: %v", got)
	}
}

func TestErrorKind(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{nil, ""},
		{redis.Nil, ""},
		{fmt.Errorf("wrapped: %w", redis.Nil), ""},
		{context.Canceled, "canceled"},
		{fmt.Errorf("x: %w", context.DeadlineExceeded), "deadline"},
		{redis.ErrPoolTimeout, "pool_timeout"},
		{redis.ErrClosed, "closed"},
		{redis.TxFailedErr, "tx_failed"},
		{io.EOF, "network"},
		{&net.OpError{Op: "dial", Err: os.ErrDeadlineExceeded}, "timeout"},
		{&net.OpError{Op: "dial", Err: errors.New("connection refused")}, "network"},
		{errors.New("boom"), "other"},
	}
	for _, tt := range tests {
		if got := metrics.ErrorKind(tt.err); got != tt.want {
			t.Errorf("ErrorKind(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
}

// Reply errors are classified by their prefix, from a real server.
func TestErrorKindReplies(t *testing.T) {
	ctx := context.Background()
	c := redistest.SingleTarget(t).Client(t)
	k := redistest.Unique(t)
	if err := c.Set(ctx, k, "v", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args []any
		want string
	}{
		{[]any{"LPUSH", k, "x"}, "wrongtype"},
		{[]any{"EVALSHA", "0000000000000000000000000000000000000000", 0}, "noscript"},
		{[]any{"EVAL", "return redis.error_reply('ERR-CODE:7 nope')", 0}, "reply_other"},
		{[]any{"INCR", k}, "err"},
	}
	for _, tt := range tests {
		err := c.Do(ctx, tt.args...).Err()
		if got := metrics.ErrorKind(err); got != tt.want {
			t.Errorf("%v: ErrorKind(%v) = %q, want %q", tt.args, err, got, tt.want)
		}
	}
}

// BenchmarkGet compares an instrumented and a plain client on the shared
// single node (the bench program does the 100-goroutine cluster run).
func BenchmarkGet(b *testing.B) {
	ctx := context.Background()
	tg := redistest.SingleTarget(b)
	for _, instrumented := range []bool{false, true} {
		b.Run(fmt.Sprintf("instrumented=%v", instrumented), func(b *testing.B) {
			c := tg.Client(b)
			if instrumented {
				if _, err := metrics.InstrumentClient(c, prometheus.NewRegistry(), metrics.ClientOptions{}); err != nil {
					b.Fatal(err)
				}
			}
			k := redistest.Unique(b)
			c.Set(ctx, k, "v", time.Minute)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := c.Get(ctx, k).Err(); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
