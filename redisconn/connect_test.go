package redisconn_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rediskit/rediskit/internal/redisproc"
	"github.com/rediskit/rediskit/internal/redistest"
	"github.com/rediskit/rediskit/redisconn"
)

func TestMain(m *testing.M) { redistest.Main(m) }

func connect(t *testing.T, cfg redisconn.Config) *redisconn.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := redisconn.Connect(ctx, cfg)
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestConnectEachTopology(t *testing.T) {
	ctx := context.Background()
	t.Run("single", func(t *testing.T) {
		c := connect(t, redisconn.Config{Nodes: redistest.SingleTarget(t).Addrs})
		if c.Mode != redisconn.ModeSingle || len(c.Topology.Masters()) != 1 {
			t.Fatalf("mode %s, topology %+v", c.Mode, c.Topology)
		}
		if err := c.Client.Set(ctx, redistest.Unique(t), "v", time.Minute).Err(); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("cluster", func(t *testing.T) {
		addrs := redistest.ClusterTarget(t).Addrs
		c := connect(t, redisconn.Config{Nodes: addrs[:1]}) // one seed is enough
		if c.Mode != redisconn.ModeCluster {
			t.Fatalf("mode %s", c.Mode)
		}
		topo := c.Topology
		if len(topo.Nodes) != 6 || len(topo.Masters()) != 3 || topo.ClusterState != "ok" || topo.SlotsOK != 16384 {
			t.Fatalf("topology %+v", topo)
		}
		slots := 0
		for _, m := range topo.Masters() {
			slots += m.Slots
		}
		if slots != 16384 {
			t.Fatalf("masters serve %d slots", slots)
		}
		if _, ok := c.Client.(*redis.ClusterClient); !ok {
			t.Fatalf("client %T", c.Client)
		}
	})
	t.Run("sentinel", func(t *testing.T) {
		st := redistest.NewSentinel(t, redisproc.SentinelOptions{})
		c := connect(t, redisconn.Config{SentinelAddrs: st.SentinelAddrs(), SentinelMaster: st.MasterName})
		if c.Mode != redisconn.ModeSentinel {
			t.Fatalf("mode %s", c.Mode)
		}
		if len(c.Topology.Nodes) != 2 || c.Topology.Nodes[1].Role != "replica" {
			t.Fatalf("topology %+v", c.Topology)
		}
		k := redistest.Unique(t)
		if err := c.Client.Set(ctx, k, "before", 0).Err(); err != nil {
			t.Fatal(err)
		}
		// The same client keeps working after a sentinel failover.
		if _, err := st.KillMaster(ctx); err != nil {
			t.Fatal(err)
		}
		redistest.Eventually(t, 15*time.Second, "writes succeed after sentinel failover", func() bool {
			return c.Client.Set(ctx, k, "after", 0).Err() == nil
		})
	})
}

func TestConnectTLS(t *testing.T) {
	files, err := redisproc.GenerateTLS(t.TempDir(), "redis.test")
	if err != nil {
		t.Fatal(err)
	}
	s := redistest.NewSingle(t, redisproc.ServerOptions{TLS: files})
	good := redisconn.Config{Nodes: []string{s.Addr()}, TLS: true, TLSCA: files.CA, TLSServerName: "redis.test"}
	c := connect(t, good)
	if err := c.Client.Ping(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	// Mutual TLS with the client certificate works too.
	mtls := good
	mtls.TLSCert, mtls.TLSKey = files.ClientCert, files.ClientKey
	connect(t, mtls)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for name, cfg := range map[string]redisconn.Config{
		"wrong server name": {Nodes: []string{s.Addr()}, TLS: true, TLSCA: files.CA, TLSServerName: "evil.test"},
		"untrusted CA":      {Nodes: []string{s.Addr()}, TLS: true, TLSServerName: "redis.test"},
		"plain to TLS port": {Nodes: []string{s.Addr()}, DialTimeout: time.Second, ReadTimeout: time.Second},
	} {
		cfg.MaxRetries = -1
		_, err := redisconn.Connect(ctx, cfg)
		if err == nil {
			t.Errorf("%s: connected", name)
			continue
		}
		if name != "plain to TLS port" && !strings.Contains(err.Error(), "certificate") {
			t.Errorf("%s: error %q does not mention the certificate", name, err)
		}
	}
}

func TestConnectACL(t *testing.T) {
	ctx := context.Background()
	s := redistest.NewSingle(t, redisproc.ServerOptions{})
	admin := s.Client()
	defer admin.Close()
	if err := admin.Do(ctx, "ACL", "SETUSER", "payments", "on", ">s3cret-pw", "~*", "&*", "+@all").Err(); err != nil {
		t.Fatal(err)
	}
	if err := admin.Do(ctx, "ACL", "SETUSER", "default", "off").Err(); err != nil {
		t.Fatal(err)
	}
	c := connect(t, redisconn.Config{Nodes: []string{s.Addr()}, Username: "payments", Password: "s3cret-pw"})
	if who, err := c.Client.Do(ctx, "ACL", "WHOAMI").Text(); err != nil || who != "payments" {
		t.Fatalf("whoami %q %v", who, err)
	}
	_, err := redisconn.Connect(ctx, redisconn.Config{Nodes: []string{s.Addr()}, Username: "payments", Password: "wrong-pw", MaxRetries: -1})
	if err == nil || !strings.Contains(err.Error(), "WRONGPASS") {
		t.Fatalf("wrong password: err = %v", err)
	}
	if strings.Contains(err.Error(), "wrong-pw") {
		t.Fatal("password in error")
	}
}

func TestConnectRejectsUnhealthyCluster(t *testing.T) {
	ctx := context.Background()
	cl := redistest.NewCluster(t, redisproc.ClusterOptions{Replicas: -1})
	if err := cl.Nodes[2].Kill(); err != nil {
		t.Fatal(err)
	}
	var err error
	redistest.Eventually(t, 20*time.Second, "Connect reports the dead master", func() bool {
		_, err = redisconn.Connect(ctx, redisconn.Config{Nodes: cl.Addrs()[:1], MaxRetries: -1, DialTimeout: 300 * time.Millisecond})
		return errors.Is(err, redisconn.ErrUnhealthy)
	})
	if !strings.Contains(err.Error(), cl.Nodes[2].Addr()) && !strings.Contains(err.Error(), "slots") && !strings.Contains(err.Error(), "cluster_state") {
		t.Fatalf("error does not say what is wrong: %v", err)
	}
}

func TestCheckPolicy(t *testing.T) {
	ctx := context.Background()
	lru := redistest.NewSingle(t, redisproc.ServerOptions{Args: []string{"maxmemory-policy allkeys-lru", "maxmemory 64mb"}})
	noev := redistest.NewSingle(t, redisproc.ServerOptions{Args: []string{"maxmemory-policy noeviction"}})
	lc := lru.Client()
	defer lc.Close()
	nc := noev.Client()
	defer nc.Close()

	if fs, err := redisconn.CheckPolicy(ctx, lc, redisconn.RoleCache); err != nil || len(fs) != 0 {
		t.Errorf("cache on allkeys-lru+maxmemory: %v %v", fs, err)
	}
	fs, err := redisconn.CheckPolicy(ctx, lc, redisconn.RoleQueue)
	if !errors.Is(err, redisconn.ErrPolicy) || len(fs) != 1 || !strings.Contains(err.Error(), lru.Addr()) || !strings.Contains(err.Error(), "noeviction") {
		t.Errorf("queue on allkeys-lru: %v %v", fs, err)
	}
	if fs, err := redisconn.CheckPolicy(ctx, nc, redisconn.RoleLock); err != nil || len(fs) != 0 {
		t.Errorf("lock on noeviction: %v %v", fs, err)
	}
	fs, err = redisconn.CheckPolicy(ctx, nc, redisconn.RoleCache)
	if !errors.Is(err, redisconn.ErrPolicy) || len(fs) != 2 { // noeviction (error) + no maxmemory (warning)
		t.Errorf("cache on noeviction: %v %v", fs, err)
	}
	// A cluster is checked on every master.
	cc := redistest.ClusterTarget(t).Client(t)
	fs, err = redisconn.CheckPolicy(ctx, cc, redisconn.RoleCache)
	if !errors.Is(err, redisconn.ErrPolicy) || len(fs) != 6 {
		t.Errorf("cache on the noeviction cluster: %d findings %v", len(fs), err)
	}
}

// TestFailoverUnderLoad kills the master that owns a busy key range while
// 8 workers read and write through one Connect'ed client, and measures the
// time from the kill until every operation succeeds again.
func TestFailoverUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("failover test")
	}
	ctx := context.Background()
	cl := redistest.NewCluster(t, redisproc.ClusterOptions{})
	c := connect(t, redisconn.Config{Nodes: cl.Addrs()})
	victim, err := cl.MasterForKey(ctx, "load:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		stop      atomic.Bool
		ops, errs atomic.Int64
		lastErrNs atomic.Int64
		maxOpNs   atomic.Int64
		wg        sync.WaitGroup
		firstErr  atomic.Value
	)
	for w := range 8 {
		wg.Go(func() {
			for i := 0; !stop.Load(); i++ {
				key := "load:" + string(rune('0'+(w+i)%10))
				opStart := time.Now()
				opCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
				err := c.Client.Set(opCtx, key, i, 0).Err()
				if err == nil {
					err = c.Client.Get(opCtx, key).Err()
				}
				cancel()
				for d := int64(time.Since(opStart)); ; {
					m := maxOpNs.Load()
					if d <= m || maxOpNs.CompareAndSwap(m, d) {
						break
					}
				}
				if err != nil {
					errs.Add(1)
					lastErrNs.Store(time.Now().UnixNano())
					firstErr.CompareAndSwap(nil, err.Error())
				} else {
					ops.Add(1)
				}
			}
		})
	}
	redistest.Eventually(t, 5*time.Second, "load running", func() bool { return ops.Load() > 100 })
	killed := time.Now()
	if _, err := cl.KillMaster(ctx, victim); err != nil {
		t.Fatal(err)
	}
	// Keep the load going until 2 s pass with no error after the cluster healed.
	healed := time.Now()
	redistest.Eventually(t, 30*time.Second, "operations succeed again", func() bool {
		last := time.Unix(0, lastErrNs.Load())
		return time.Since(last) > 2*time.Second && time.Since(healed) > 2*time.Second
	})
	stop.Store(true)
	wg.Wait()
	recovery := time.Duration(0)
	if l := lastErrNs.Load(); l > 0 {
		recovery = time.Unix(0, l).Sub(killed)
	}
	stall := max(recovery, time.Duration(maxOpNs.Load()))
	t.Logf("failover: harness saw the cluster healed %v after the kill; last failed op %v after the kill; longest single op (SET+GET) %v; %d failed ops (first: %v), %d ok ops; retries %d, reloads %d",
		healed.Sub(killed).Round(time.Millisecond), recovery.Round(time.Millisecond), time.Duration(maxOpNs.Load()).Round(time.Millisecond),
		errs.Load(), firstErr.Load(), ops.Load(), c.Stats().Retries, c.Stats().TopologyReloads)
	if stall > 5*time.Second {
		t.Fatalf("operations failed for %v after the kill, want < 5s", stall)
	}
}

// A TLS cluster: nodes announce IP addresses, so the certificate name is
// checked against REDIS_TLS_SERVER_NAME on every node the client reaches.
func TestConnectTLSCluster(t *testing.T) {
	files, err := redisproc.GenerateTLS(t.TempDir(), "redis.test")
	if err != nil {
		t.Fatal(err)
	}
	cl := redistest.NewCluster(t, redisproc.ClusterOptions{TLS: files})
	c := connect(t, redisconn.Config{Nodes: cl.Addrs()[:1], TLS: true, TLSCA: files.CA, TLSServerName: "redis.test"})
	if c.Mode != redisconn.ModeCluster || len(c.Topology.Nodes) != 6 {
		t.Fatalf("mode %s, %d nodes", c.Mode, len(c.Topology.Nodes))
	}
	ctx := context.Background()
	for i := range 50 { // keys on every master
		if err := c.Client.Set(ctx, "tls:"+string(rune('a'+i%26))+string(rune('a'+i/26)), i, time.Minute).Err(); err != nil {
			t.Fatal(err)
		}
	}
	_, err = redisconn.Connect(ctx, redisconn.Config{Nodes: cl.Addrs()[:1], TLS: true, TLSCA: files.CA, TLSServerName: "evil.test", MaxRetries: -1})
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("wrong server name: %v", err)
	}
}
