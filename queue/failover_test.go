package queue

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rediskit/rediskit/internal/redisproc"
	"github.com/rediskit/rediskit/internal/redistest"
)

// TestFailover: a master failover (manual, then a SIGKILLed master) in the middle of a 10,000-job run; the
// workers carry on by themselves, nothing is lost, and jobs run twice at
// most as many as were in flight.
func TestFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a private cluster")
	}
	cl := redistest.NewCluster(t, redisproc.ClusterOptions{})
	t.Run("manual", func(t *testing.T) { testManualFailover(t, cl) })
	t.Run("master-killed", func(t *testing.T) { testMasterKilled(t, cl) })
}

func testManualFailover(t *testing.T, cl *redisproc.Cluster) {
	const total = 10000
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: cl.Addrs(), MaxRetries: 10, MinRetryBackoff: 50 * time.Millisecond, MaxRetryBackoff: 500 * time.Millisecond})
	t.Cleanup(func() { _ = rdb.Close() })
	e := &env{tg: redistest.Target{Name: "cluster", Addrs: cl.Addrs(), Cluster: true}, rdb: rdb, prefix: "{fo}", name: "q"}
	q, err := New(rdb, e.name, Options{Prefix: e.prefix})
	if err != nil {
		t.Fatal(err)
	}
	e.q = q
	ctx := context.Background()
	var bulk []BulkJob
	for k := range total {
		bulk = append(bulk, BulkJob{Name: "j", Data: map[string]int{"k": k}})
	}
	if _, err := q.AddBulk(ctx, bulk); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	runs := map[string]int{}
	h := func(ctx context.Context, j *Job) (any, error) {
		mu.Lock()
		runs[j.ID]++
		mu.Unlock()
		time.Sleep(30 * time.Millisecond) // some work, so the failover lands mid-run
		return nil, nil
	}
	w1 := e.run(t, h, WorkerOptions{Concurrency: 50, LockDuration: 5 * time.Second, StalledInterval: time.Second})
	w2 := e.run(t, h, WorkerOptions{Concurrency: 50, LockDuration: 5 * time.Second, StalledInterval: time.Second})
	redistest.Eventually(t, 60*time.Second, "1,000 jobs done", func() bool {
		return w1.Stats().Completed+w2.Stats().Completed >= 1000
	})
	master, err := cl.MasterForKey(ctx, q.k.wait)
	if err != nil {
		t.Fatal(err)
	}
	reps, err := cl.ReplicaOf(ctx, master)
	if err != nil || len(reps) == 0 {
		t.Fatalf("replicas of %s: %v %v", master.Addr(), reps, err)
	}
	if err := cl.Failover(ctx, reps[0]); err != nil {
		t.Fatal(err)
	}
	t.Logf("failed over %s -> %s at %d completed", master.Addr(), reps[0].Addr(), w1.Stats().Completed+w2.Stats().Completed)
	redistest.Eventually(t, 90*time.Second, "all 10,000 completed", func() bool {
		n, _ := rdb.ZCard(ctx, q.k.completed).Result()
		return n == total
	})
	mu.Lock()
	defer mu.Unlock()
	dups := 0
	for _, n := range runs {
		dups += n - 1
	}
	if len(runs) != total {
		t.Errorf("%d distinct jobs ran, want %d", len(runs), total)
	}
	if dups > 100 {
		t.Errorf("%d duplicate runs, more than the 100 jobs in flight", dups)
	}
	t.Logf("duplicates: %d; worker errors: %d + %d", dups, w1.Stats().Errors, w2.Stats().Errors)
	if !w1.Healthy(10*time.Second) || !w2.Healthy(10*time.Second) {
		t.Errorf("workers not healthy after failover: %+v %+v", w1.Stats(), w2.Stats())
	}
}

// testMasterKilled: the queue's master is SIGKILLed mid-run and a replica
// takes over; workers on a redisconn client (whose hook reloads the slot
// map; the queue never does) carry on by themselves. Replication is asynchronous, so writes acknowledged just
// before the kill may be lost: the test reports them and bounds them by
// the jobs in flight, and requires the workers to finish the rest.
func testMasterKilled(t *testing.T, cl *redisproc.Cluster) {
	e := clusterEnv(t, cl, "{kill}")
	q := e.q
	ctx := context.Background()
	const total = 5000
	var bulk []BulkJob
	for k := range total {
		bulk = append(bulk, BulkJob{Name: "j", Data: map[string]int{"k": k}})
	}
	if _, err := q.AddBulk(ctx, bulk); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	runs := map[string]int{}
	w := e.run(t, func(ctx context.Context, j *Job) (any, error) {
		mu.Lock()
		runs[j.ID]++
		mu.Unlock()
		time.Sleep(20 * time.Millisecond)
		return nil, nil
	}, WorkerOptions{Concurrency: 50, LockDuration: 4 * time.Second, StalledInterval: time.Second})
	redistest.Eventually(t, 60*time.Second, "500 jobs done", func() bool { return w.Stats().Completed >= 500 })
	master, err := cl.MasterForKey(ctx, q.k.wait)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.KillMaster(ctx, master); err != nil {
		t.Fatal(err)
	}
	before := w.Stats().Completed
	redistest.Eventually(t, 60*time.Second, "workers go on after the failover", func() bool { return w.Stats().Completed >= before+1000 })
	redistest.Eventually(t, 90*time.Second, "queue empty", func() bool {
		c, err := q.Counts(ctx)
		return err == nil && c.Waiting+c.Active+c.Prioritized == 0
	})
	mu.Lock()
	ran := len(runs)
	mu.Unlock()
	if lost := total - ran; lost > 50 {
		t.Errorf("%d jobs never ran, more than the 50 in flight", lost)
	} else {
		t.Logf("jobs never run (lost with unreplicated writes): %d; worker errors %d", lost, w.Stats().Errors)
	}
}
