package metrics_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/redis/go-redis/v9"
	"github.com/rediskit/rediskit/internal/redisproc"
	"github.com/rediskit/rediskit/internal/redistest"
	"github.com/rediskit/rediskit/metrics"
)

func TestServerCollectorCoversEveryNode(t *testing.T) {
	redistest.ForEach(t, func(t *testing.T, tg redistest.Target) {
		ctx := context.Background()
		c := tg.Client(t)
		u := redistest.Unique(t)
		key := "{" + u + "}:k"
		if err := c.Set(ctx, key, "v", time.Minute).Err(); err != nil {
			t.Fatal(err)
		}
		for range 3 {
			c.Get(ctx, key)
			c.Get(ctx, key+":missing")
		}
		// A KEYS on one node, so the dangerous counter has something.
		// rediskit:allow-keys tests the dangerous-command counter on a unique key space
		if err := c.Do(ctx, "KEYS", "{"+u+"}:*").Err(); err != nil {
			t.Fatal(err)
		}

		e, err := metrics.ExporterHandler(c, metrics.ExporterOptions{Server: metrics.ServerOptions{LatencyHistograms: []string{"get", "set"}}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = e.Close() })
		body := scrape(t, e)
		mfs := parse(t, body)

		wantNodes := 1
		if tg.Cluster {
			wantNodes = 6
		}
		ups := series(mfs, "rediskit_redis_up", nil)
		if len(ups) != wantNodes {
			t.Fatalf("rediskit_redis_up: %d series, want %d\n%s", len(ups), wantNodes, grep(body, "rediskit_redis_up"))
		}
		roles := map[string]int{}
		for _, m := range ups {
			if value(m) != 1 {
				t.Errorf("node %s: up = %v, want 1", label(m, "addr"), value(m))
			}
			roles[label(m, "role")]++
		}
		if tg.Cluster && (roles["master"] != 3 || roles["replica"] != 3) {
			t.Errorf("roles = %v, want 3 masters and 3 replicas", roles)
		}
		if !tg.Cluster && roles["master"] != 1 {
			t.Errorf("roles = %v, want one master", roles)
		}
		sum := func(name string, lbl map[string]string) float64 {
			var s float64
			for _, m := range series(mfs, name, lbl) {
				s += value(m)
			}
			return s
		}
		if sum("rediskit_redis_keyspace_hits_total", nil) < 3 || sum("rediskit_redis_keyspace_misses_total", nil) < 3 {
			t.Errorf("keyspace hits/misses not counted:\n%s", grep(body, "rediskit_redis_keyspace_"))
		}
		if len(series(mfs, "rediskit_redis_keyspace_hit_ratio", nil)) == 0 {
			t.Errorf("no keyspace_hit_ratio")
		}
		if sum("rediskit_redis_dangerous_command_calls_total", map[string]string{"cmd": "keys"}) < 1 {
			t.Errorf("KEYS not counted as dangerous:\n%s", grep(body, "dangerous"))
		}
		for _, n := range []string{"rediskit_redis_memory_used_bytes", "rediskit_redis_memory_fragmentation_ratio",
			"rediskit_redis_memory_max_bytes", "rediskit_redis_connected_clients",
			"rediskit_redis_slowlog_length", "rediskit_redis_instantaneous_ops_per_second"} {
			if got := len(series(mfs, n, nil)); got != wantNodes {
				t.Errorf("%s: %d series, want %d", n, got, wantNodes)
			}
		}
		// INFO latencystats (Redis 7) gives quantiles for GET.
		gets := series(mfs, "rediskit_redis_command_duration_seconds", map[string]string{"cmd": "get"})
		if len(gets) == 0 {
			t.Fatalf("no command_duration_seconds for get:\n%s", grep(body, "command_duration"))
		}
		quantiles := 0
		for _, m := range gets {
			quantiles += len(m.GetSummary().GetQuantile())
		}
		if quantiles == 0 {
			t.Errorf("no latencystats quantiles for get")
		}
		if tg.Cluster {
			for _, m := range series(mfs, "rediskit_redis_cluster_state", nil) {
				if value(m) != 1 {
					t.Errorf("cluster_state on %s = %v", label(m, "addr"), value(m))
				}
			}
			if got := len(series(mfs, "rediskit_redis_cluster_state", nil)); got != 6 {
				t.Errorf("cluster_state: %d series, want 6", got)
			}
			if got := series(mfs, "rediskit_redis_cluster_slots", map[string]string{"state": "ok"}); len(got) == 0 || value(got[0]) != 16384 {
				t.Errorf("cluster_slots{state=ok}: %v", got)
			}
			if got := len(series(mfs, "rediskit_redis_replication_lag_bytes", map[string]string{"role": "master"})); got != 3 {
				t.Errorf("replication_lag_bytes: %d series, want 3 (one per replica)", got)
			}
		}
		if got := series(mfs, "rediskit_redis_command_latency_seconds", map[string]string{"cmd": "get"}); len(got) == 0 {
			t.Errorf("no LATENCY HISTOGRAM for get")
		}
		runPromtool(t, strings.NewReader(body), "check", "metrics")
	})
}

func TestServerCollectorSlowlog(t *testing.T) {
	srv := redistest.NewSingle(t, redisproc.ServerOptions{Args: []string{"slowlog-log-slower-than 0"}})
	c := srv.Client()
	t.Cleanup(func() { _ = c.Close() })
	ctx := context.Background()
	for range 5 {
		c.SMembers(ctx, "s")
	}
	collect := func(entries int) map[string]*dto.MetricFamily {
		sc, err := metrics.NewServerCollector(c, metrics.ServerOptions{SlowlogEntries: entries, LatencyHistograms: []string{"smembers", "hgetall"}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = sc.Close() })
		reg := prometheus.NewPedanticRegistry()
		reg.MustRegister(sc)
		return gather(t, reg)
	}
	mfs := collect(0)
	if got := series(mfs, "rediskit_redis_slowlog_length", nil); len(got) != 1 || value(got[0]) < 5 {
		t.Fatalf("slowlog_length = %v, want >= 5", got)
	}
	recent := series(mfs, "rediskit_redis_slowlog_recent_commands", map[string]string{"cmd": "smembers"})
	if len(recent) != 1 || value(recent[0]) != 5 {
		t.Fatalf("slowlog_recent_commands{cmd=smembers} = %v, want 5", recent)
	}
	if got := series(mfs, "rediskit_redis_slowlog_recent_max_duration_seconds", map[string]string{"cmd": "smembers"}); len(got) != 1 || value(got[0]) <= 0 {
		t.Errorf("slowlog_recent_max_duration_seconds{cmd=smembers} = %v, want > 0", got)
	}
	// LATENCY HISTOGRAM: 5 SMEMBERS calls, cumulative buckets; HGETALL
	// never ran, so it has no series.
	hist := series(mfs, "rediskit_redis_command_latency_seconds", map[string]string{"cmd": "smembers"})
	if len(hist) != 1 || hist[0].GetHistogram().GetSampleCount() != 5 {
		t.Fatalf("command_latency_seconds{cmd=smembers} = %v, want 5 samples", hist)
	}
	var prev uint64
	for _, b := range hist[0].GetHistogram().GetBucket() {
		if b.GetCumulativeCount() < prev || b.GetCumulativeCount() > 5 {
			t.Errorf("bucket le=%v count %d after %d", b.GetUpperBound(), b.GetCumulativeCount(), prev)
		}
		prev = b.GetCumulativeCount()
	}
	if prev != 5 {
		t.Errorf("last bucket (le=8.4s) = %d, want all 5 calls", prev)
	}
	if got := series(mfs, "rediskit_redis_command_latency_seconds", map[string]string{"cmd": "hgetall"}); len(got) != 0 {
		t.Errorf("histogram for a command never called: %v", got)
	}
	// Only the SlowlogEntries most recent entries are summarized.
	var total float64
	for _, m := range series(collect(3), "rediskit_redis_slowlog_recent_commands", nil) {
		total += value(m)
	}
	if total != 3 {
		t.Errorf("recent slow commands summarized = %v, want the 3 most recent", total)
	}
	if got := series(mfs, "rediskit_redis_dangerous_command_calls_total", map[string]string{"cmd": "smembers"}); len(got) != 1 || value(got[0]) != 5 {
		t.Errorf("dangerous smembers = %v, want 5", got)
	}
}

// A paused (SIGSTOP) node must show up=0 within the node timeout and
// never hang the scrape; a killed node must show up=0 at once.
func TestServerCollectorDeadNodeNeverHangs(t *testing.T) {
	srv := redistest.NewSingle(t, redisproc.ServerOptions{})
	c := redis.NewClient(&redis.Options{Addr: srv.Addr(), MaxRetries: -1})
	t.Cleanup(func() { _ = c.Close() })
	sc, err := metrics.NewServerCollector(c, metrics.ServerOptions{NodeTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sc.Close() })
	reg := prometheus.NewRegistry()
	reg.MustRegister(sc)
	up := func() (float64, time.Duration) {
		t.Helper()
		start := time.Now()
		got := series(gather(t, reg), "rediskit_redis_up", map[string]string{"addr": srv.Addr()})
		if len(got) != 1 {
			t.Fatalf("up series for %s: %v", srv.Addr(), got)
		}
		return value(got[0]), time.Since(start)
	}
	if v, _ := up(); v != 1 {
		t.Fatalf("up = %v before the pause", v)
	}
	if err := srv.Pause(); err != nil {
		t.Fatal(err)
	}
	v, took := up()
	if err := srv.Resume(); err != nil {
		t.Fatal(err)
	}
	if v != 0 {
		t.Errorf("paused node: up = %v, want 0", v)
	}
	// Bounded by NodeTimeout (300 ms); 2 s is generous on a loaded
	// machine but fails if the scrape waited for a default timeout.
	if took > 2*time.Second {
		t.Errorf("scrape of a paused node took %v, want about the 300 ms node timeout", took)
	}
	redistest.Eventually(t, 5*time.Second, "node up again after resume", func() bool { v, _ := up(); return v == 1 })
	if err := srv.Kill(); err != nil {
		t.Fatal(err)
	}
	if v, took := up(); v != 0 || took > 2*time.Second {
		t.Errorf("killed node: up = %v after %v, want 0 quickly", v, took)
	}
}

func TestServerCollectorSentinel(t *testing.T) {
	st := redistest.NewSentinel(t, redisproc.SentinelOptions{})
	c := redis.NewFailoverClient(&redis.FailoverOptions{MasterName: st.MasterName, SentinelAddrs: st.SentinelAddrs()})
	t.Cleanup(func() { _ = c.Close() })
	sc, err := metrics.NewServerCollector(c, metrics.ServerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sc.Close() })
	reg := prometheus.NewRegistry()
	reg.MustRegister(sc)
	mfs := gather(t, reg)
	want := map[string]string{st.Data[0].Addr(): "master", st.Data[1].Addr(): "replica"}
	got := map[string]string{}
	for _, m := range series(mfs, "rediskit_redis_up", nil) {
		if value(m) != 1 {
			t.Errorf("%s up = %v", label(m, "addr"), value(m))
		}
		got[label(m, "addr")] = label(m, "role")
	}
	if len(got) != len(want) || got[st.Data[0].Addr()] != "master" || got[st.Data[1].Addr()] != "replica" {
		t.Fatalf("nodes = %v, want %v", got, want)
	}
	if lag := series(mfs, "rediskit_redis_master_link_up", map[string]string{"addr": st.Data[1].Addr()}); len(lag) != 1 || value(lag[0]) != 1 {
		t.Errorf("replica master_link_up = %v", lag)
	}

	// The failover cluster client (reads from replicas) is discovered
	// through its slot map.
	fc := redis.NewFailoverClusterClient(&redis.FailoverOptions{MasterName: st.MasterName, SentinelAddrs: st.SentinelAddrs(), RouteRandomly: true})
	t.Cleanup(func() { _ = fc.Close() })
	fsc, err := metrics.NewServerCollector(fc, metrics.ServerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = fsc.Close() })
	freg := prometheus.NewRegistry()
	freg.MustRegister(fsc)
	fgot := map[string]string{}
	for _, m := range series(gather(t, freg), "rediskit_redis_up", nil) {
		if value(m) == 1 {
			fgot[label(m, "addr")] = label(m, "role")
		}
	}
	if len(fgot) != 2 || fgot[st.Data[0].Addr()] != "master" || fgot[st.Data[1].Addr()] != "replica" {
		t.Errorf("failover cluster client: nodes up = %v, want %v", fgot, want)
	}

	// After a sentinel failover the promoted replica is the master and
	// the old master is still reported, as down.
	promoted, err := st.KillMaster(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	old := st.Data[0].Addr()
	redistest.Eventually(t, 20*time.Second, "promoted master up and old master down", func() bool {
		mfs := gather(t, reg)
		now := series(mfs, "rediskit_redis_up", map[string]string{"addr": promoted.Addr(), "role": "master"})
		gone := series(mfs, "rediskit_redis_up", map[string]string{"addr": old})
		return len(now) == 1 && value(now[0]) == 1 && len(gone) == 1 && value(gone[0]) == 0
	})
}

func TestNewServerCollectorRejectsRing(t *testing.T) {
	r := redis.NewRing(&redis.RingOptions{Addrs: map[string]string{"a": "127.0.0.1:1"}})
	defer r.Close()
	if _, err := metrics.NewServerCollector(r, metrics.ServerOptions{}); !errors.Is(err, metrics.ErrUnsupportedClient) {
		t.Fatalf("err = %v, want ErrUnsupportedClient", err)
	}
}

func grep(body, substr string) string {
	var out []string
	for l := range strings.SplitSeq(body, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// Concurrent scrapes of one collector each see the whole cluster.
func TestServerCollectorConcurrentScrapes(t *testing.T) {
	c := redistest.ClusterTarget(t).Client(t)
	sc, err := metrics.NewServerCollector(c, metrics.ServerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sc.Close() })
	reg := prometheus.NewRegistry()
	reg.MustRegister(sc)
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			mfs, err := reg.Gather()
			if err == nil {
				for _, mf := range mfs {
					if mf.GetName() == "rediskit_redis_up" && len(mf.GetMetric()) != 6 {
						err = fmt.Errorf("%d up series, want 6", len(mf.GetMetric()))
					}
				}
			}
			errs <- err
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

// Seeds given by another name than the one the cluster announces
// ("localhost:port" for "127.0.0.1:port") are reported once, under the
// announced address.
func TestServerCollectorSeedAliases(t *testing.T) {
	tg := redistest.ClusterTarget(t)
	var seeds []string
	for _, a := range tg.Addrs {
		seeds = append(seeds, strings.Replace(a, "127.0.0.1", "localhost", 1))
	}
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: seeds})
	t.Cleanup(func() { _ = c.Close() })
	sc, err := metrics.NewServerCollector(c, metrics.ServerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sc.Close() })
	reg := prometheus.NewRegistry()
	reg.MustRegister(sc)
	for range 2 { // the second scrape runs with the nodes the first found
		ups := series(gather(t, reg), "rediskit_redis_up", nil)
		var addrs []string
		for _, m := range ups {
			addrs = append(addrs, label(m, "addr"))
		}
		if len(ups) != 6 || strings.Contains(strings.Join(addrs, ","), "localhost") {
			t.Fatalf("up series for %v, want the 6 announced addresses", addrs)
		}
	}
}
