package cache

import (
	"context"
	"errors"
	"math"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rediskit/rediskit/internal/redisproc"
	"github.com/rediskit/rediskit/internal/redistest"
)

// With Options.DB != 0 the pipelined fast path must read that database:
// a read of DB 0 finds nothing, reports a false miss and pays a second
// round trip through the lease script.
func TestPipelinedGetSelectsDB(t *testing.T) {
	ctx := context.Background()
	tg := redistest.SingleTarget(t)
	client := redis.NewClient(&redis.Options{Addr: tg.Addrs[0], DB: 3})
	t.Cleanup(func() { _ = client.Close() })
	ns := redistest.Unique(t)
	c := newCache(t, client, Options{Namespace: ns, Pipelining: PipeliningOn})
	for i := range 5 {
		setRaw(t, client, ns, "k"+strconv.Itoa(i), i)
	}
	for i := range 5 {
		got, err := c.Get(ctx, "k"+strconv.Itoa(i), noLoad(t))
		if err != nil || got.Ver != i {
			t.Fatalf("k%d = %+v, %v", i, got, err)
		}
	}
	st := c.Stats()
	if st.Misses != 0 || st.RedisHits != 5 {
		t.Fatalf("DB 3: misses %d, redis hits %d; want 0, 5 (the fast path read another database)", st.Misses, st.RedisHits)
	}
}

// GetMany reports the keys it could not serve, one error per key, and
// still returns every other key.
func TestGetManyReportsKeyErrors(t *testing.T) {
	ctx := context.Background()
	redistest.ForEach(t, func(t *testing.T, tg redistest.Target) {
		client := tg.Client(t)
		ns := redistest.Unique(t)
		c, err := New[float64](client, Options{Namespace: ns})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		// "w" holds a hash: its GET fails with WRONGTYPE.
		if err := client.HSet(ctx, valueKey(ns, "w"), "f", "v").Err(); err != nil {
			t.Fatal(err)
		}
		load := func(_ context.Context, missing []string) (map[string]float64, error) {
			out := map[string]float64{}
			for _, k := range missing {
				switch k {
				case "nan":
					out[k] = math.NaN() // JSON cannot encode it
				case "gone":
				default:
					out[k] = 1
				}
			}
			return out, nil
		}
		got, err := c.GetMany(ctx, []string{"a", "nan", "b", "w", "gone"}, load)
		if got["a"] != 1 || got["b"] != 1 || len(got) != 2 {
			t.Fatalf("GetMany values = %v; want a and b", got)
		}
		var ke *KeyError
		if !errors.As(err, &ke) {
			t.Fatalf("GetMany err = %v; want *KeyError", err)
		}
		bad := map[string]bool{}
		for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
			if errors.As(e, &ke) {
				bad[ke.Key] = true
			}
		}
		if !bad["nan"] || !bad["w"] || len(bad) != 2 {
			t.Fatalf("GetMany key errors for %v (%v); want nan and w", bad, err)
		}
		if !strings.Contains(err.Error(), "WRONGTYPE") {
			t.Fatalf("GetMany err %q does not name WRONGTYPE", err)
		}
	})
}

// A Cache without a near cache runs no goroutine of its own (it used to
// run a 1 ms ticker each).
func TestNoTickerWithoutNearCache(t *testing.T) {
	tg := redistest.SingleTarget(t)
	client := tg.Client(t)
	first := newCache(t, client, Options{Namespace: redistest.Unique(t)})
	_ = first
	before := runtime.NumGoroutine()
	for range 20 {
		newCache(t, client, Options{Namespace: redistest.Unique(t)})
	}
	if d := runtime.NumGoroutine() - before; d > 5 {
		t.Fatalf("20 more caches without a near cache started %d goroutines", d)
	}
}

// clusterSlotsCalls sums CLUSTER SLOTS calls over every node.
func clusterSlotsCalls(t *testing.T, addrs []string) int64 {
	t.Helper()
	var total int64
	for _, a := range addrs {
		n := redis.NewClient(&redis.Options{Addr: a})
		s, err := n.Info(context.Background(), "commandstats").Result()
		_ = n.Close()
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(s, "\n") {
			if !strings.HasPrefix(line, "cmdstat_cluster|slots:calls=") {
				continue
			}
			v := strings.TrimPrefix(line, "cmdstat_cluster|slots:calls=")
			v, _, _ = strings.Cut(v, ",")
			x, _ := strconv.ParseInt(v, 10, 64)
			total += x
		}
	}
	return total
}

// An idle cache (near cache and pipelining on) must not poll CLUSTER
// SLOTS: it reads go-redis's own slot map.
func TestIdleNoClusterSlotsPolling(t *testing.T) {
	tg := redistest.ClusterTarget(t)
	client := tg.Client(t)
	ns := redistest.Unique(t)
	c := newCache(t, client, Options{Namespace: ns, NearEntries: 100, TrackInterval: 200 * time.Millisecond})
	setRaw(t, client, ns, "k", 1)
	readNear(t, c, "k", 1)
	before := clusterSlotsCalls(t, tg.Addrs)
	idle := time.NewTimer(2 * time.Second)
	<-idle.C // the idle period being measured, not a wait for state
	if d := clusterSlotsCalls(t, tg.Addrs) - before; d > 1 {
		t.Fatalf("%d CLUSTER SLOTS calls in 2 s of idle; want at most 1", d)
	}
}

// Over TLS with an ACL user, tracking registers and the fast path reads
// with the client's credentials (no false misses, near hits).
func TestTLSAndACLUser(t *testing.T) {
	ctx := context.Background()
	files, err := redisproc.GenerateTLS(t.TempDir(), "redis.test")
	if err != nil {
		t.Fatal(err)
	}
	s := redistest.NewSingle(t, redisproc.ServerOptions{TLS: files})
	admin := s.Client()
	defer admin.Close()
	if err := admin.Do(ctx, "ACL", "SETUSER", "app", "on", ">app-pw", "~*", "&*", "+@all").Err(); err != nil {
		t.Fatal(err)
	}
	if err := admin.Do(ctx, "ACL", "SETUSER", "default", "off").Err(); err != nil {
		t.Fatal(err)
	}
	tc, err := files.ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	tc.ServerName = "redis.test"
	client := redis.NewClient(&redis.Options{Addr: s.Addr(), Username: "app", Password: "app-pw", TLSConfig: tc})
	t.Cleanup(func() { _ = client.Close() })
	ns := redistest.Unique(t)
	c := newCache(t, client, Options{Namespace: ns, NearEntries: 10})
	setRaw(t, client, ns, "k", 1)
	readNear(t, c, "k", 1)
	if st := c.Stats(); st.Misses != 0 || st.RedisHits == 0 || !st.TrackingUp {
		t.Fatalf("stats %+v: want no misses, a Redis hit, tracking up", st)
	}
	setRaw(t, client, ns, "k", 2)
	redistest.Eventually(t, 2*time.Second, "invalidated over TLS", func() bool {
		got, err := c.Get(ctx, "k", noLoad(t))
		return err == nil && got.Ver == 2
	})
}

// A near cache needs tracking connections: a client that cannot have them
// is refused at New, not silently left without a near cache.
func TestNearCacheNeedsSupportedClient(t *testing.T) {
	ring := redis.NewRing(&redis.RingOptions{Addrs: map[string]string{"a": redistest.SingleTarget(t).Addrs[0]}})
	t.Cleanup(func() { _ = ring.Close() })
	if _, err := New[item](ring, Options{Namespace: redistest.Unique(t), NearEntries: 10}); err == nil || !strings.Contains(err.Error(), "*redis.Ring") {
		t.Fatalf("New with a Ring and a near cache = %v; want an error naming *redis.Ring", err)
	}
	c, err := New[item](ring, Options{Namespace: redistest.Unique(t), Pipelining: Pipelining(9)})
	if err == nil || !strings.Contains(err.Error(), "Pipelining") {
		t.Fatalf("New with Pipelining 9 = %v; want an error", err)
	}
	_ = c
}
