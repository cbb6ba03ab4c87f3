package redistest_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/rediskit/rediskit/internal/redisproc"
	"github.com/rediskit/rediskit/internal/redistest"
	"github.com/rediskit/rediskit/internal/slot"
)

func TestMain(m *testing.M) { redistest.Main(m) }

func TestForEachTopology(t *testing.T) {
	ctx := context.Background()
	redistest.ForEach(t, func(t *testing.T, tg redistest.Target) {
		c := tg.Client(t)
		k := "{" + redistest.Unique(t) + "}:k"
		if err := c.Set(ctx, k, "v", time.Minute).Err(); err != nil {
			t.Fatal(err)
		}
		if got, err := c.Get(ctx, k).Result(); err != nil || got != "v" {
			t.Fatalf("GET = %q, %v", got, err)
		}
	})
}

func TestSlotMatchesServer(t *testing.T) {
	c := redistest.ClusterTarget(t).Client(t)
	for _, k := range []string{"foo", "bar", "123456789", "{user1000}.following", "foo{}{bar}", "foo{{bar}}zap", "bull:{payments}:wait", "ünïcode"} {
		want, err := c.ClusterKeySlot(context.Background(), k).Result()
		if err != nil {
			t.Fatal(err)
		}
		if got := slot.Of(k); int64(got) != want {
			t.Errorf("slot.Of(%q) = %d, server says %d", k, got, want)
		}
	}
}

func TestClusterKillMasterAndRestart(t *testing.T) {
	ctx := context.Background()
	start := time.Now()
	cl := redistest.NewCluster(t, redisproc.ClusterOptions{})
	t.Logf("cluster up in %v", time.Since(start))
	ms, err := cl.Masters(ctx)
	if err != nil || len(ms) != 3 {
		t.Fatalf("masters = %d, %v", len(ms), err)
	}
	old, err := cl.MasterForKey(ctx, "somekey")
	if err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	promoted, err := cl.KillMaster(ctx, old)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("failover took %v", time.Since(start))
	if now, err := cl.MasterForKey(ctx, "somekey"); err != nil || now != promoted {
		t.Fatalf("slot owner = %v, want promoted %s (%v)", now, promoted.Addr(), err)
	}
	if err := cl.RestartNode(ctx, old); err != nil {
		t.Fatal(err)
	}
	if r, err := redisproc.Role(ctx, old); err != nil || r != "slave" {
		t.Fatalf("restarted old master role = %q, %v; want slave", r, err)
	}
	// Manual failover back.
	if err := cl.Failover(ctx, old); err != nil {
		t.Fatal(err)
	}
	c := cl.Client()
	defer c.Close()
	if err := c.Set(ctx, "somekey", "x", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if n, _ := c.Exists(ctx, "somekey").Result(); n != 0 {
		t.Fatal("flush left the key")
	}
}

func TestPauseResume(t *testing.T) {
	ctx := context.Background()
	s := redistest.NewSingle(t, redisproc.ServerOptions{})
	c := s.Client()
	defer c.Close()
	if err := s.Pause(); err != nil {
		t.Fatal(err)
	}
	tctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	err := c.Ping(tctx).Err()
	cancel()
	if err == nil {
		t.Fatal("paused server answered")
	}
	if err := s.Resume(); err != nil {
		t.Fatal(err)
	}
	redistest.Eventually(t, 5*time.Second, "resumed server answers", func() bool { return c.Ping(ctx).Err() == nil })
}

func TestSentinelFailover(t *testing.T) {
	ctx := context.Background()
	st := redistest.NewSentinel(t, redisproc.SentinelOptions{})
	before, err := st.MasterAddr(ctx)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	m, err := st.KillMaster(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("sentinel failover took %v", time.Since(start))
	if m.Addr() == before || !strings.HasPrefix(m.Addr(), "127.0.0.1:") {
		t.Fatalf("new master %s, old %s", m.Addr(), before)
	}
}
