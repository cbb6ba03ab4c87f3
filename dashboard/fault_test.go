package dashboard

import (
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rediskit/rediskit/internal/redisproc"
	"github.com/rediskit/rediskit/internal/redistest"
)

// TestDeadNodes pauses a master and kills a replica of a private cluster:
// both are shown down by the very next refresh, which still answers
// within a few node timeouts.
func TestDeadNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("private cluster")
	}
	cl := redistest.NewCluster(t, redisproc.ClusterOptions{Args: []string{"maxmemory-policy noeviction"}})
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: cl.Addrs()})
	t.Cleanup(func() { _ = rdb.Close() })
	const nodeTimeout = 300 * time.Millisecond
	e := newEnv(t, rdb, Options{ReadOnly: true, NodeTimeout: nodeTimeout})
	ctx := ctxT(t)
	view := func() map[string]NodeView {
		t.Helper()
		start := time.Now()
		var c ClusterView
		e.get("api/cluster", &c)
		if took := time.Since(start); took > 6*nodeTimeout+time.Second {
			t.Errorf("cluster page took %v with a node down", took)
		}
		out := map[string]NodeView{}
		for _, n := range c.Nodes {
			out[n.Addr] = n
		}
		return out
	}
	if v := view(); len(v) != 6 {
		t.Fatalf("%d nodes", len(v))
	}
	masters, err := cl.Masters(ctx)
	if err != nil {
		t.Fatal(err)
	}
	reps, err := cl.ReplicaOf(ctx, masters[1])
	if err != nil || len(reps) == 0 {
		t.Fatalf("replicas of %s: %v %v", masters[1].Addr(), reps, err)
	}
	paused, killed := masters[0], reps[0]
	if err := paused.Pause(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = paused.Resume() })
	if err := killed.Kill(); err != nil {
		t.Fatal(err)
	}
	v := view()
	for _, s := range []*redisproc.Server{paused, killed} {
		n, ok := v[s.Addr()]
		if !ok || n.Up || n.Err == "" {
			t.Errorf("%s after pause/kill: %+v (listed %v)", s.Addr(), n, ok)
		}
	}
	if n := v[paused.Addr()]; n.Role != "master" || n.Slots == 0 {
		t.Errorf("paused master keeps its role and slots from the others: %+v", n)
	}
	if err := paused.Resume(); err != nil {
		t.Fatal(err)
	}
	redistest.Eventually(t, 10*time.Second, "resumed master shown up", func() bool {
		return view()[paused.Addr()].Up
	})
}
