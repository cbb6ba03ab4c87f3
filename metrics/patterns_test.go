package metrics_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	"github.com/redis/go-redis/v9"
	"github.com/rediskit/rediskit/cache"
	"github.com/rediskit/rediskit/internal/redisproc"
	"github.com/rediskit/rediskit/internal/redistest"
	"github.com/rediskit/rediskit/lock"
	"github.com/rediskit/rediskit/metrics"
	"github.com/rediskit/rediskit/queue"
	"github.com/rediskit/rediskit/redisconn"
	"github.com/rediskit/rediskit/session"
)

// Real cache, lock, queue and session objects on the shared servers feed
// the pattern collector; the series carry their counts.
func TestPatternCollector(t *testing.T) {
	redistest.ForEach(t, func(t *testing.T, tg redistest.Target) {
		ctx := context.Background()
		c := tg.Client(t)
		u := strings.ReplaceAll(redistest.Unique(t), "-", "")
		pc := metrics.NewPatternCollector(metrics.PatternOptions{})
		reg := prometheus.NewPedanticRegistry()
		reg.MustRegister(pc)

		// cache: one miss + load, then two Redis hits.
		ca, err := cache.New[string](c, cache.Options{Namespace: "ns" + u})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = ca.Close() })
		pc.AddCache(ca)
		pc.AddInvalidationLag("ns"+u, func() (time.Duration, time.Duration, time.Duration) {
			return time.Millisecond, 5 * time.Millisecond, 9 * time.Millisecond
		})
		for range 3 {
			if _, err := ca.Get(ctx, "k", func(context.Context) (string, error) { return "v", nil }); err != nil {
				t.Fatal(err)
			}
		}

		// lock: one acquire and release, one contended try.
		lk := lock.New(c, lock.Options{})
		t.Cleanup(func() { _ = lk.Close() })
		pc.AddLocker(lk)
		name := "job" + u
		lease, err := lk.TryAcquire(ctx, name, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := lk.TryAcquire(ctx, name, 5*time.Second); err == nil {
			t.Fatal("second TryAcquire of a held lock succeeded")
		}
		if err := lease.Release(ctx); err != nil {
			t.Fatal(err)
		}

		// queue: three waiting jobs.
		q, err := queue.New(c, "{q"+u+"}", queue.Options{})
		if err != nil {
			t.Fatal(err)
		}
		pc.AddQueue(q)
		for range 3 {
			if _, err := q.Add(ctx, "job", map[string]int{"n": 1}); err != nil {
				t.Fatal(err)
			}
		}

		// worker: completes the three jobs.
		wk, err := queue.NewWorker(c, "{q"+u+"}", func(context.Context, *queue.Job) (any, error) { return "ok", nil }, queue.WorkerOptions{})
		if err != nil {
			t.Fatal(err)
		}
		pc.AddWorker("{q"+u+"}", wk)
		wctx, stopWorker := context.WithCancel(ctx)
		werr := make(chan error, 1)
		go func() { werr <- wk.Run(wctx) }()
		redistest.Eventually(t, 10*time.Second, "worker completed 3 jobs", func() bool { return wk.Stats().Completed == 3 })
		stopWorker()
		if err := <-werr; err != nil && !errors.Is(err, context.Canceled) {
			t.Fatalf("worker: %v", err)
		}

		// session: one request that creates a session.
		sm, err := session.New(c, session.Options{Prefix: "rk:s:" + u + ":"})
		if err != nil {
			t.Fatal(err)
		}
		pc.AddSessions("web", sm)
		h := sm.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if err := sm.From(r.Context()).Set(r.Context(), "user", []byte("ada")); err != nil {
				t.Error(err)
			}
		}))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))

		// redisconn: its retry counters.
		conn, err := redisconn.Connect(ctx, redisconn.Config{Nodes: tg.Addrs})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = conn.Close() })
		pc.AddConn("api", conn)

		mfs := gather(t, reg)
		check := func(metric string, lbl map[string]string, want float64) {
			t.Helper()
			got := series(mfs, metric, lbl)
			if len(got) != 1 || value(got[0]) != want {
				t.Errorf("%s%v = %v, want %v", metric, lbl, got, want)
			}
		}
		ns := map[string]string{"namespace": "ns" + u}
		check("rediskit_cache_misses_total", ns, 1)
		check("rediskit_cache_loads_total", ns, 1)
		check("rediskit_cache_hits_total", map[string]string{"namespace": "ns" + u, "tier": "redis"}, 2)
		check("rediskit_cache_invalidation_lag_seconds", map[string]string{"namespace": "ns" + u, "stat": "p99"}, 0.005)
		ln := map[string]string{"name": name}
		check("rediskit_lock_acquired_total", ln, 1)
		check("rediskit_lock_contended_total", ln, 1)
		check("rediskit_lock_released_total", ln, 1)
		check("rediskit_lock_lost_total", ln, 0)
		qn := map[string]string{"queue": "{q" + u + "}"}
		check("rediskit_queue_jobs", map[string]string{"queue": "{q" + u + "}", "state": "wait"}, 0)
		check("rediskit_queue_jobs", map[string]string{"queue": "{q" + u + "}", "state": "completed"}, 3)
		check("rediskit_queue_processed_total", qn, 3)
		check("rediskit_queue_completed_total", qn, 3)
		check("rediskit_queue_stalled_total", qn, 0)
		check("rediskit_queue_in_flight", qn, 0)
		if got := series(mfs, "rediskit_queue_last_ok_timestamp_seconds", qn); len(got) != 1 || value(got[0]) < float64(time.Now().Add(-time.Minute).Unix()) {
			t.Errorf("last_ok_timestamp_seconds = %v, want within the last minute", got)
		}
		check("rediskit_session_created_total", map[string]string{"name": "web"}, 1)
		if got := series(mfs, "rediskit_session_active", map[string]string{"name": "web"}); len(got) != 1 || value(got[0]) < 1 {
			t.Errorf("rediskit_session_active = %v, want >= 1", got)
		}
		check("rediskit_client_conn_retries_total", map[string]string{"client": "api"}, 0)
		check("rediskit_client_conn_topology_reloads_total", map[string]string{"client": "api"}, 0)
		var buf bytes.Buffer
		for _, mf := range mfs {
			if _, err := expfmt.MetricFamilyToText(&buf, mf); err != nil {
				t.Fatal(err)
			}
		}
		runPromtool(t, &buf, "check", "metrics")
	})
}

// A queue on a paused (SIGSTOP) node does not hold the collection past
// the collector's timeout.
func TestPatternCollectorBoundedByTimeout(t *testing.T) {
	srv := redistest.NewSingle(t, redisproc.ServerOptions{})
	c := redis.NewClient(&redis.Options{Addr: srv.Addr(), ReadTimeout: 20 * time.Second, ContextTimeoutEnabled: true, MaxRetries: -1})
	t.Cleanup(func() { _ = c.Close() })
	q, err := queue.New(c, "stuck", queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	pc := metrics.NewPatternCollector(metrics.PatternOptions{Timeout: 200 * time.Millisecond})
	pc.AddQueue(q)
	reg := prometheus.NewRegistry()
	reg.MustRegister(pc)
	if got := series(gather(t, reg), "rediskit_queue_jobs", map[string]string{"queue": "stuck"}); len(got) != 6 {
		t.Fatalf("queue_jobs before the pause: %v", got)
	}
	if err := srv.Pause(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Resume() })
	start := time.Now()
	mfs := gather(t, reg)
	if took := time.Since(start); took > 3*time.Second {
		t.Fatalf("collection took %v with a 200 ms timeout", took)
	}
	if got := series(mfs, "rediskit_queue_jobs", nil); len(got) != 0 {
		t.Errorf("series from a queue that never answered: %v", got)
	}
}
