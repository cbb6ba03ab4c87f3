package cache

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rediskit/rediskit/internal/redisproc"
	"github.com/rediskit/rediskit/internal/redistest"
)

// setRaw writes a valid cached value with a plain SET, as another service
// (or redis-cli) would.
func setRaw(t *testing.T, client redis.UniversalClient, ns, key string, v int) {
	t.Helper()
	b := encodeEnvelope(envelope{expiryMS: time.Now().Add(time.Hour).UnixMilli(), payload: []byte(`{"ver":` + itoa(v) + `}`)})
	if err := client.Set(context.Background(), valueKey(ns, key), b, time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
}

func itoa(v int) string { return strconv.Itoa(v) }

func noLoad(t *testing.T) func(context.Context) (item, error) {
	return func(context.Context) (item, error) {
		t.Error("loader called: the value should be cached")
		return item{}, nil
	}
}

// readNear reads key until c answers it from its near cache.
func readNear(t *testing.T, c *Cache[item], key string, want int) {
	t.Helper()
	redistest.Eventually(t, 3*time.Second, "value served from the near cache", func() bool {
		before := c.Stats().NearHits
		got, err := c.Get(context.Background(), key, noLoad(t))
		if err != nil || got.Ver != want {
			t.Fatalf("get = %+v, %v; want ver %d", got, err, want)
		}
		return c.Stats().NearHits > before
	})
}

func TestNearInvalidatedByThirdClient(t *testing.T) {
	redistest.ForEach(t, func(t *testing.T, tg redistest.Target) {
		ns := redistest.Unique(t)
		a := newCache(t, tg.Client(t), Options{Namespace: ns, NearEntries: 100})
		b := newCache(t, tg.Client(t), Options{Namespace: ns, NearEntries: 100})
		third := tg.Client(t)
		for i := range 5 {
			key := "k" + itoa(i)
			setRaw(t, third, ns, key, 1)
			readNear(t, a, key, 1)
			readNear(t, b, key, 1)
			setRaw(t, third, ns, key, 2)
			for _, c := range []*Cache[item]{a, b} {
				redistest.Eventually(t, time.Second, "near caches see the plain SET", func() bool {
					got, err := c.Get(context.Background(), key, noLoad(t))
					return err == nil && got.Ver == 2
				})
			}
		}
		if a.Stats().InvalidationsReceived == 0 || b.Stats().InvalidationsReceived == 0 {
			t.Fatal("no invalidations counted")
		}
	})
}

// Killing a tracking connection loses the invalidations sent while it is
// gone: the near cache must drop what it holds, not serve it.
func TestTrackingConnectionKilled(t *testing.T) {
	ctx := context.Background()
	redistest.ForEach(t, func(t *testing.T, tg redistest.Target) {
		ns := redistest.Unique(t)
		c := newCache(t, tg.Client(t), Options{Namespace: ns, NearEntries: 100, TrackInterval: 200 * time.Millisecond})
		writer := tg.Client(t)
		setRaw(t, writer, ns, "k", 1)
		readNear(t, c, "k", 1)
		// Kill every tracking connection of c, then write at once: the
		// invalidation for this write goes nowhere.
		killed := 0
		c.c.trk.connIDs.Range(func(addr, id any) bool {
			n := redis.NewClient(&redis.Options{Addr: addr.(string)})
			defer n.Close()
			if err := n.ClientKillByFilter(ctx, "ID", itoa(int(id.(int64)))).Err(); err != nil {
				t.Fatalf("CLIENT KILL on %s: %v", addr, err)
			}
			killed++
			return true
		})
		if killed == 0 {
			t.Fatal("no tracking connection known")
		}
		setRaw(t, writer, ns, "k", 2)
		redistest.Eventually(t, 2*time.Second, "the new value after the tracking connection died", func() bool {
			got, err := c.Get(ctx, "k", noLoad(t))
			return err == nil && got.Ver == 2
		})
		redistest.Eventually(t, 5*time.Second, "tracking re-registered", func() bool {
			return c.Stats().TrackingUp && c.Stats().TrackingDrops > 0
		})
		readNear(t, c, "k", 2)
		// Tracking works again after the reconnect.
		setRaw(t, writer, ns, "k", 3)
		redistest.Eventually(t, time.Second, "invalidation after reconnect", func() bool {
			got, err := c.Get(ctx, "k", noLoad(t))
			return err == nil && got.Ver == 3
		})
	})
}

// A master fails over while readers read: once the cluster has recovered
// and the key was written on the new master, nobody serves the old value.
func TestFailoverNoStaleRead(t *testing.T) {
	if testing.Short() {
		t.Skip("private cluster")
	}
	ctx := context.Background()
	cl := redistest.NewCluster(t, redisproc.ClusterOptions{})
	mk := func() *redis.ClusterClient {
		c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: cl.Addrs(), ClusterStateReloadInterval: 200 * time.Millisecond, MaxRetries: 10})
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	ns := redistest.Unique(t)
	c := newCache(t, mk(), Options{Namespace: ns, NearEntries: 1000, TrackInterval: 200 * time.Millisecond})
	writer := mk()
	keys := []string{"a", "b", "c", "d", "e", "f"}
	for _, k := range keys {
		setRaw(t, writer, ns, k, 1)
		readNear(t, c, k, 1)
	}
	victim, err := cl.MasterForKey(ctx, valueKey(ns, "a"))
	if err != nil {
		t.Fatal(err)
	}
	// Readers keep reading through the failover (errors allowed while the
	// slot has no master).
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			for _, k := range keys {
				rctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
				_, _ = c.Get(rctx, k, func(context.Context) (item, error) { return item{Ver: 1}, nil })
				cancel()
			}
		}
	}()
	if _, err := cl.KillMaster(ctx, victim); err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		redistest.Eventually(t, 10*time.Second, "write after failover", func() bool {
			b := encodeEnvelope(envelope{expiryMS: time.Now().Add(time.Hour).UnixMilli(), payload: []byte(`{"ver":2}`)})
			return writer.Set(ctx, valueKey(ns, k), b, time.Hour).Err() == nil
		})
	}
	close(stop)
	<-done
	for _, k := range keys {
		redistest.Eventually(t, 5*time.Second, "new value after failover", func() bool {
			got, err := c.Get(ctx, k, func(context.Context) (item, error) { return item{Ver: 2}, nil })
			return err == nil && got.Ver == 2
		})
	}
	redistest.Eventually(t, 10*time.Second, "tracking up on the new master", func() bool { return c.Stats().TrackingUp })
	// From now on the old value never comes back, and the near cache is
	// used again.
	for range 50 {
		for _, k := range keys {
			got, err := c.Get(ctx, k, noLoad(t))
			if err != nil || got.Ver != 2 {
				t.Fatalf("%s after recovery = %+v, %v", k, got, err)
			}
		}
	}
	if c.Stats().NearHits == 0 {
		t.Fatal("near cache unused after recovery")
	}
}

// The same on a Sentinel deployment: tracking and the pipelined reads
// follow the failover client's dialer to the new master.
func TestSentinelFailoverNoStaleRead(t *testing.T) {
	if testing.Short() {
		t.Skip("private sentinel")
	}
	ctx := context.Background()
	st := redistest.NewSentinel(t, redisproc.SentinelOptions{})
	mk := func() *redis.Client {
		c := redis.NewFailoverClient(&redis.FailoverOptions{MasterName: st.MasterName, SentinelAddrs: st.SentinelAddrs(), MaxRetries: 10})
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	ns := redistest.Unique(t)
	c := newCache(t, mk(), Options{Namespace: ns, NearEntries: 100, TrackInterval: 200 * time.Millisecond})
	writer := mk()
	setRaw(t, writer, ns, "k", 1)
	readNear(t, c, "k", 1)
	if _, err := st.KillMaster(ctx); err != nil {
		t.Fatal(err)
	}
	redistest.Eventually(t, 15*time.Second, "write on the new master", func() bool {
		b := encodeEnvelope(envelope{expiryMS: time.Now().Add(time.Hour).UnixMilli(), payload: []byte(`{"ver":2}`)})
		return writer.Set(ctx, valueKey(ns, "k"), b, time.Hour).Err() == nil
	})
	redistest.Eventually(t, 10*time.Second, "new value after failover", func() bool {
		got, err := c.Get(ctx, "k", func(context.Context) (item, error) { return item{Ver: 2}, nil })
		return err == nil && got.Ver == 2
	})
	redistest.Eventually(t, 10*time.Second, "tracking up again", func() bool { return c.Stats().TrackingUp })
	readNear(t, c, "k", 2)
	setRaw(t, writer, ns, "k", 3)
	redistest.Eventually(t, 2*time.Second, "invalidation from the new master", func() bool {
		got, err := c.Get(ctx, "k", noLoad(t))
		return err == nil && got.Ver == 3
	})
}

// Caches of one client share one tracking connection per master (one
// PREFIX per namespace) and each still gets only its own invalidations.
func TestCachesShareTracking(t *testing.T) {
	ctx := context.Background()
	redistest.ForEach(t, func(t *testing.T, tg redistest.Target) {
		client := tg.Client(t)
		nsA, nsB := redistest.Unique(t), redistest.Unique(t)
		a := newCache(t, client, Options{Namespace: nsA, NearEntries: 100})
		b := newCache(t, client, Options{Namespace: nsB, NearEntries: 100})
		if a.c.trk != b.c.trk {
			t.Fatal("caches of one client do not share tracking")
		}
		writer := tg.Client(t)
		setRaw(t, writer, nsA, "k", 1)
		setRaw(t, writer, nsB, "k", 1)
		readNear(t, a, "k", 1)
		readNear(t, b, "k", 1)
		bInvals := b.Stats().InvalidationsReceived
		setRaw(t, writer, nsA, "k", 2)
		redistest.Eventually(t, time.Second, "a sees its namespace's write", func() bool {
			got, err := a.Get(ctx, "k", noLoad(t))
			return err == nil && got.Ver == 2
		})
		if got := b.Stats().InvalidationsReceived; got != bInvals {
			t.Fatalf("b received %d invalidations for a's namespace", got-bInvals)
		}
		readNear(t, b, "k", 1)
		// Closing one keeps the other tracked.
		if err := a.Close(); err != nil {
			t.Fatal(err)
		}
		setRaw(t, writer, nsB, "k", 3)
		redistest.Eventually(t, time.Second, "b still invalidated after a closed", func() bool {
			got, err := b.Get(ctx, "k", noLoad(t))
			return err == nil && got.Ver == 3
		})
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
		hubs.Lock()
		_, left := hubs.m[client]
		hubs.Unlock()
		if left {
			t.Fatal("hub still registered after its last cache closed")
		}
	})
}

// A stale slot map (as during a resharding or right after a failover)
// sends GETs to the wrong master: the MOVED reply makes the read go
// through go-redis instead, and the map is refreshed.
func TestPipelinedGetFollowsMoved(t *testing.T) {
	ctx := context.Background()
	tg := redistest.ClusterTarget(t)
	client := tg.Client(t)
	c := newCache(t, client, Options{Namespace: redistest.Unique(t)})
	writer := tg.Client(t)
	keys := []string{"a", "b", "c", "d", "e", "f", "g", "h"}
	for _, k := range keys {
		setRaw(t, writer, c.c.ns, k, 1)
	}
	redistest.Eventually(t, 5*time.Second, "slot map loaded", func() bool { return c.c.gets.route.Load() != nil })
	// Point every slot at one master.
	good := c.c.gets.route.Load()
	wrong := &route{top: good.top, pipes: make([]*pipe, len(good.pipes))}
	for i := range wrong.pipes {
		wrong.pipes[i] = good.pipes[0]
	}
	c.c.gets.route.Store(wrong)
	for _, k := range keys {
		got, err := c.Get(ctx, k, noLoad(t))
		if err != nil || got.Ver != 1 {
			t.Fatalf("%s = %+v, %v", k, got, err)
		}
	}
	redistest.Eventually(t, 5*time.Second, "slot map refreshed", func() bool {
		r := c.c.gets.route.Load()
		return r != nil && r != wrong
	})
}
