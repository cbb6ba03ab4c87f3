// Package redistest gives tests real Redis servers: a shared single node
// and a shared 3+3 cluster per test binary (started lazily, stopped by
// Main), private topologies for destructive fault tests, and ForEach to
// run one suite against both the single node and the cluster.
//
// Environment:
//
//	REDISKIT_TEST_SINGLE=host:port         use a running node instead of starting one
//	REDISKIT_TEST_CLUSTER=host:port,...    use a running cluster instead of starting one
//	REDISKIT_TEST_TOPOLOGY=single|cluster|all   which targets ForEach runs (default all)
//
// Shared servers are shared: tests must use keys under Unique(t) so they
// never collide, and must not flush them. Fault tests start private
// servers with NewCluster, NewSingle or NewSentinel.
package redistest

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rediskit/rediskit/internal/redisproc"
)

var (
	mu       sync.Mutex
	single   *redisproc.Server
	cluster  *redisproc.Cluster
	closers  []func() error
	startErr = map[string]error{}
	counter  atomic.Int64
)

// Main runs the tests and then stops every shared server. Use it as
//
//	func TestMain(m *testing.M) { redistest.Main(m) }
func Main(m *testing.M) {
	code := m.Run()
	Shutdown()
	os.Exit(code)
}

// Shutdown stops every shared server started so far.
func Shutdown() {
	mu.Lock()
	defer mu.Unlock()
	for i := len(closers) - 1; i >= 0; i-- {
		_ = closers[i]()
	}
	closers, single, cluster = nil, nil, nil
}

// Target is one Redis deployment a suite runs against.
type Target struct {
	// Name is "single" or "cluster".
	Name string
	// Addrs are the node addresses (one for single).
	Addrs []string
	// Cluster reports whether Addrs form a Redis Cluster.
	Cluster bool
}

// Client returns a new go-redis client for the target, closed when tb
// ends.
func (tg Target) Client(tb testing.TB) redis.UniversalClient {
	tb.Helper()
	var c redis.UniversalClient
	if tg.Cluster {
		c = redis.NewClusterClient(&redis.ClusterOptions{Addrs: tg.Addrs})
	} else {
		c = redis.NewClient(&redis.Options{Addr: tg.Addrs[0]})
	}
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

// SingleTarget returns the shared single node.
func SingleTarget(tb testing.TB) Target {
	tb.Helper()
	if a := os.Getenv("REDISKIT_TEST_SINGLE"); a != "" {
		return Target{Name: "single", Addrs: []string{a}}
	}
	mu.Lock()
	defer mu.Unlock()
	if single == nil {
		if err := startErr["single"]; err != nil {
			tb.Fatalf("redistest: single node failed to start earlier: %v", err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		s, err := redisproc.StartServer(ctx, redisproc.ServerOptions{Args: []string{"maxmemory-policy noeviction", "notify-keyspace-events KEA"}})
		if err != nil {
			startErr["single"] = err
			tb.Fatalf("redistest: start single node: %v", err)
		}
		single = s
		closers = append(closers, s.Close)
	}
	return Target{Name: "single", Addrs: []string{single.Addr()}}
}

// ClusterTarget returns the shared 3-master, 3-replica cluster.
func ClusterTarget(tb testing.TB) Target {
	tb.Helper()
	if a := os.Getenv("REDISKIT_TEST_CLUSTER"); a != "" {
		return Target{Name: "cluster", Addrs: strings.Split(a, ","), Cluster: true}
	}
	mu.Lock()
	defer mu.Unlock()
	if cluster == nil {
		if err := startErr["cluster"]; err != nil {
			tb.Fatalf("redistest: cluster failed to start earlier: %v", err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		c, err := redisproc.StartCluster(ctx, redisproc.ClusterOptions{Args: []string{"maxmemory-policy noeviction", "notify-keyspace-events KEA"}})
		if err != nil {
			startErr["cluster"] = err
			tb.Fatalf("redistest: start cluster: %v", err)
		}
		cluster = c
		closers = append(closers, c.Close)
	}
	return Target{Name: "cluster", Addrs: cluster.Addrs(), Cluster: true}
}

// Targets returns the targets selected by REDISKIT_TEST_TOPOLOGY.
func Targets(tb testing.TB) []Target {
	tb.Helper()
	switch v := os.Getenv("REDISKIT_TEST_TOPOLOGY"); v {
	case "single":
		return []Target{SingleTarget(tb)}
	case "cluster":
		return []Target{ClusterTarget(tb)}
	case "", "all", "both":
		return []Target{SingleTarget(tb), ClusterTarget(tb)}
	default:
		tb.Fatalf("redistest: REDISKIT_TEST_TOPOLOGY=%q: want single, cluster or all", v)
		return nil
	}
}

// ForEach runs fn as a subtest per selected target ("single", "cluster").
// This is the one switch that runs a feature suite on both topologies.
func ForEach(t *testing.T, fn func(t *testing.T, tg Target)) {
	t.Helper()
	for _, tg := range Targets(t) {
		t.Run(tg.Name, func(t *testing.T) { fn(t, tg) })
	}
}

// Unique returns a string unique within this test binary run and across
// concurrent runs, usable as a key prefix or hash tag ("t42x3f9a").
func Unique(tb testing.TB) string {
	tb.Helper()
	return fmt.Sprintf("t%d-%d-%x", os.Getpid(), counter.Add(1), time.Now().UnixNano()&0xffffff)
}

// NewSingle starts a private node, killed when tb ends. Extra args are
// directives like "maxmemory-policy allkeys-lru".
func NewSingle(tb testing.TB, opts redisproc.ServerOptions) *redisproc.Server {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := redisproc.StartServer(ctx, opts)
	if err != nil {
		tb.Fatalf("redistest: start node: %v", err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	return s
}

// NewCluster starts a private cluster, killed when tb ends. Use it for
// tests that kill, pause or fail over nodes.
func NewCluster(tb testing.TB, opts redisproc.ClusterOptions) *redisproc.Cluster {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := redisproc.StartCluster(ctx, opts)
	if err != nil {
		tb.Fatalf("redistest: start cluster: %v", err)
	}
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

// NewSentinel starts a private sentinel deployment, killed when tb ends.
func NewSentinel(tb testing.TB, opts redisproc.SentinelOptions) *redisproc.Sentinel {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s, err := redisproc.StartSentinel(ctx, opts)
	if err != nil {
		tb.Fatalf("redistest: start sentinel: %v", err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	return s
}

// Eventually polls cond every 5 ms until it returns true or limit passes,
// then fails tb with msg. It is the way to wait for state: never sleep.
func Eventually(tb testing.TB, limit time.Duration, msg string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("redistest: not true after %v: %s", limit, msg)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
