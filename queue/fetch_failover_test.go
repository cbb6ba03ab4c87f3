package queue

import (
	"context"
	"testing"
	"time"

	"github.com/rediskit/rediskit/internal/redisproc"
	"github.com/rediskit/rediskit/internal/redistest"
	"github.com/rediskit/rediskit/redisconn"
)

// TestBlockingFetchFindsNewMaster: an idle worker blocked in BZPOPMIN on
// its own connection when the queue's master is SIGKILLed finds the
// promoted replica within a couple of seconds (its blocking client
// reloads its slot map on the topology hint), not at the client's
// periodic reload (10 s on a redisconn client): its fetch errors stop
// soon after the promotion and a job added then wakes it at once.
func TestBlockingFetchFindsNewMaster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a private cluster")
	}
	cl := redistest.NewCluster(t, redisproc.ClusterOptions{})
	e := clusterEnv(t, cl, "{bfetch}")
	ctx := context.Background()
	started := make(chan time.Time, 10)
	w := e.run(t, func(ctx context.Context, j *Job) (any, error) {
		started <- time.Now()
		return nil, nil
	}, WorkerOptions{Concurrency: 1})
	// The worker is up and idle (blocked on the marker): one job proves it.
	e.add(t, "warm", nil)
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("warm-up job not run")
	}
	redistest.Eventually(t, 5*time.Second, "worker idle", func() bool { return w.Stats().Completed == 1 })

	master, err := cl.MasterForKey(ctx, e.q.k.marker)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.KillMaster(ctx, master); err != nil {
		t.Fatal(err)
	}
	promoted := time.Now()
	// Recovered = no new fetch error for quiet; the recovery time is that
	// of the last error seen.
	const quiet = 2 * time.Second
	errs, lastErr := w.Stats().Errors, promoted
	redistest.Eventually(t, 20*time.Second, "fetch errors stop", func() bool {
		if n := w.Stats().Errors; n != errs {
			errs, lastErr = n, time.Now()
		}
		return time.Since(lastErr) >= quiet
	})
	recovery := lastErr.Sub(promoted)
	added := time.Now()
	e.add(t, "after", nil)
	var latency time.Duration
	select {
	case at := <-started:
		latency = at.Sub(added)
	case <-time.After(15 * time.Second):
		t.Fatal("job added after the failover not run")
	}
	t.Logf("fetch errors stopped %v after the promotion (%d errors); a new job ran %v after its add", recovery.Round(time.Millisecond), errs, latency.Round(time.Millisecond))
	if recovery > 3*time.Second {
		t.Errorf("blocking fetch recovered %v after the promotion, want < 3s", recovery)
	}
	if latency > time.Second {
		t.Errorf("job added after recovery ran %v later, want < 1s (BZPOPMIN wakes the worker)", latency)
	}
}

// clusterEnv is an env for queue "q" under prefix on a private cluster,
// through a redisconn client (whose hook retries and reloads the slot map
// on a topology hint, as services are told to connect).
func clusterEnv(t *testing.T, cl *redisproc.Cluster, prefix string) *env {
	t.Helper()
	conn, err := redisconn.NewClient(redisconn.Config{Nodes: cl.Addrs()}, redisconn.ModeCluster)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	e := &env{tg: redistest.Target{Name: "cluster", Addrs: cl.Addrs(), Cluster: true}, rdb: conn.Client, prefix: prefix, name: "q"}
	if e.q, err = New(e.rdb, e.name, Options{Prefix: prefix}); err != nil {
		t.Fatal(err)
	}
	return e
}
