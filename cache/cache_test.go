package cache

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rediskit/rediskit/internal/redisproc"
	"github.com/rediskit/rediskit/internal/redistest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	exampleMu.Lock()
	if exampleServer != nil {
		_ = exampleServer.Close()
	}
	exampleMu.Unlock()
	redistest.Shutdown()
	os.Exit(code)
}

var (
	exampleMu     sync.Mutex
	exampleServer *redisproc.Server
)

// TestingClient returns a client of a private Redis node for the
// Examples (which have no *testing.T); the node stops after the tests.
func TestingClient() redis.UniversalClient {
	exampleMu.Lock()
	defer exampleMu.Unlock()
	if exampleServer == nil {
		s, err := redisproc.StartServer(context.Background(), redisproc.ServerOptions{})
		if err != nil {
			panic(err)
		}
		exampleServer = s
	}
	return redis.NewClient(&redis.Options{Addr: exampleServer.Addr()})
}

type item struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Ver  int    `json:"ver"`
}

func newCache(t *testing.T, client redis.UniversalClient, o Options) *Cache[item] {
	t.Helper()
	c, err := New[item](client, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	return c
}

// db is a tiny "database": a versioned row per key, with a load counter.
type db struct {
	mu    sync.Mutex
	rows  map[string]item
	loads atomic.Int64
}

func newDB() *db { return &db{rows: map[string]item{}} }

func (d *db) load(key string) func(context.Context) (item, error) {
	return func(context.Context) (item, error) {
		d.loads.Add(1)
		d.mu.Lock()
		defer d.mu.Unlock()
		r, ok := d.rows[key]
		if !ok {
			return item{}, ErrNotFound
		}
		return r, nil
	}
}

func (d *db) set(key string, r item) {
	d.mu.Lock()
	d.rows[key] = r
	d.mu.Unlock()
}

func TestCacheAside(t *testing.T) {
	ctx := context.Background()
	redistest.ForEach(t, func(t *testing.T, tg redistest.Target) {
		for _, nearOn := range []bool{false, true} {
			t.Run(fmt.Sprint("near=", nearOn), func(t *testing.T) {
				o := Options{Namespace: redistest.Unique(t), TTL: time.Minute}
				if nearOn {
					o.NearEntries = 1000
				}
				c := newCache(t, tg.Client(t), o)
				d := newDB()
				d.set("a", item{ID: "a", Name: "alpha", Ver: 1})
				for i := range 5 {
					got, err := c.Get(ctx, "a", d.load("a"))
					if err != nil || got.Name != "alpha" {
						t.Fatalf("get %d = %+v, %v", i, got, err)
					}
				}
				if n := d.loads.Load(); n != 1 {
					t.Fatalf("loads = %d, want 1", n)
				}
				// Not found is cached too.
				for range 3 {
					if _, err := c.Get(ctx, "missing", d.load("missing")); !errors.Is(err, ErrNotFound) {
						t.Fatalf("missing: err = %v, want ErrNotFound", err)
					}
				}
				if n := d.loads.Load(); n != 2 {
					t.Fatalf("loads = %d after negative gets, want 2", n)
				}
				// A load error is returned and not cached.
				boom := errors.New("db down")
				calls := 0
				fail := func(context.Context) (item, error) { calls++; return item{}, boom }
				for range 2 {
					if _, err := c.Get(ctx, "err", fail); !errors.Is(err, boom) {
						t.Fatalf("err = %v, want %v", err, boom)
					}
				}
				if calls != 2 {
					t.Fatalf("failing loader called %d times, want 2", calls)
				}
				st := c.Stats()
				if st.Loads != 4 || st.LoadErrors != 2 || st.RedisHits+st.NearHits < 4 {
					t.Fatalf("stats = %+v", st)
				}
				if nearOn {
					redistest.Eventually(t, 2*time.Second, "a near hit", func() bool {
						_, _ = c.Get(ctx, "a", d.load("a"))
						return c.Stats().NearHits > 0
					})
				}
				// Invalidate drops the value everywhere.
				d.set("a", item{ID: "a", Name: "alpha2", Ver: 2})
				if err := c.Invalidate(ctx, "a"); err != nil {
					t.Fatal(err)
				}
				if got, err := c.Get(ctx, "a", d.load("a")); err != nil || got.Ver != 2 {
					t.Fatalf("after invalidate = %+v, %v", got, err)
				}
			})
		}
	})
}

func TestWriteThrough(t *testing.T) {
	ctx := context.Background()
	redistest.ForEach(t, func(t *testing.T, tg redistest.Target) {
		client := tg.Client(t)
		c := newCache(t, client, Options{Namespace: redistest.Unique(t), NearEntries: 100})
		d := newDB()
		d.set("k", item{ID: "k", Ver: 1})
		if _, err := c.Get(ctx, "k", d.load("k")); err != nil {
			t.Fatal(err)
		}
		// A successful write fills the cache with the committed value.
		got, err := c.Write(ctx, "k", func(context.Context) (item, error) {
			r := item{ID: "k", Ver: 2}
			d.set("k", r)
			return r, nil
		})
		if err != nil || got.Ver != 2 {
			t.Fatalf("write = %+v, %v", got, err)
		}
		noLoad := func(context.Context) (item, error) { return item{}, errors.New("must not load") }
		if got, err := c.Get(ctx, "k", noLoad); err != nil || got.Ver != 2 {
			t.Fatalf("after write = %+v, %v", got, err)
		}
		// A failed write invalidates and returns the write's error.
		boom := errors.New("constraint violated")
		if _, err := c.Write(ctx, "k", func(context.Context) (item, error) { return item{}, boom }); !errors.Is(err, boom) {
			t.Fatalf("failed write err = %v", err)
		}
		if n, _ := client.Exists(ctx, valueKey(c.c.ns, "k")).Result(); n != 0 {
			t.Fatal("failed write left the value cached")
		}
		// Overlapping writes leave the entry empty (their commit order is
		// unknown), and the next read loads the database's value.
		inA, releaseA := make(chan struct{}), make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			_, _ = c.Write(ctx, "k", func(context.Context) (item, error) {
				close(inA)
				<-releaseA
				d.set("k", item{ID: "k", Ver: 3})
				return item{ID: "k", Ver: 3}, nil
			})
		})
		<-inA
		if _, err := c.Write(ctx, "k", func(context.Context) (item, error) {
			d.set("k", item{ID: "k", Ver: 4})
			return item{ID: "k", Ver: 4}, nil
		}); err != nil {
			t.Fatal(err)
		}
		close(releaseA) // A commits last: the database holds 3
		wg.Wait()
		if got, err := c.Get(ctx, "k", d.load("k")); err != nil || got.Ver != 3 {
			t.Fatalf("after overlapping writes = %+v, %v; want ver 3 (the last commit)", got, err)
		}
	})
}

// A loader that read the database before a write must not store its old
// value after the write's invalidation.
func TestStaleSetRace(t *testing.T) {
	ctx := context.Background()
	redistest.ForEach(t, func(t *testing.T, tg redistest.Target) {
		c := newCache(t, tg.Client(t), Options{Namespace: redistest.Unique(t), NearEntries: 100})
		d := newDB()
		d.set("k", item{ID: "k", Ver: 1})
		readDone, release := make(chan struct{}), make(chan struct{})
		slow := func(ctx context.Context) (item, error) {
			r, err := d.load("k")(ctx) // reads version 1
			close(readDone)
			<-release // ... and is slow to come back
			return r, err
		}
		var wg sync.WaitGroup
		var slowGot item
		wg.Go(func() { slowGot, _ = c.Get(ctx, "k", slow) })
		<-readDone
		if _, err := c.Write(ctx, "k", func(context.Context) (item, error) {
			d.set("k", item{ID: "k", Ver: 2})
			return item{ID: "k", Ver: 2}, nil
		}); err != nil {
			t.Fatal(err)
		}
		close(release)
		wg.Wait()
		if slowGot.Ver != 1 {
			t.Fatalf("slow reader got %+v", slowGot)
		}
		for range 3 {
			if got, err := c.Get(ctx, "k", d.load("k")); err != nil || got.Ver != 2 {
				t.Fatalf("after race = %+v, %v; the old value survived", got, err)
			}
		}
		if n := c.Stats().StaleSetsRejected; n != 1 {
			t.Fatalf("StaleSetsRejected = %d, want 1", n)
		}
		// Same with a plain invalidation instead of a Write.
		readDone, release = make(chan struct{}), make(chan struct{})
		wg.Go(func() { _, _ = c.Get(ctx, "j", slow2(d, "j", readDone, release)) })
		d.set("j", item{ID: "j", Ver: 1})
		<-readDone
		d.set("j", item{ID: "j", Ver: 2})
		if err := Invalidate(ctx, c.c.client, c.c.ns, "j"); err != nil {
			t.Fatal(err)
		}
		close(release)
		wg.Wait()
		if got, err := c.Get(ctx, "j", d.load("j")); err != nil || got.Ver != 2 {
			t.Fatalf("after invalidation race = %+v, %v", got, err)
		}
	})
}

func slow2(d *db, key string, readDone, release chan struct{}) func(context.Context) (item, error) {
	return func(ctx context.Context) (item, error) {
		<-time.After(0)
		d.set(key, item{ID: key, Ver: 1})
		r, err := d.load(key)(ctx)
		close(readDone)
		<-release
		return r, err
	}
}

func TestStampedeAcrossInstances(t *testing.T) {
	ctx := context.Background()
	redistest.ForEach(t, func(t *testing.T, tg redistest.Target) {
		ns := redistest.Unique(t)
		var loads atomic.Int64
		load := func(context.Context) (item, error) {
			loads.Add(1)
			time.Sleep(50 * time.Millisecond) // a slow query
			return item{ID: "hot", Ver: 1}, nil
		}
		var caches []*Cache[item]
		for range 4 {
			caches = append(caches, newCache(t, tg.Client(t), Options{Namespace: ns, NearEntries: 100}))
		}
		var wg sync.WaitGroup
		var errs atomic.Int64
		start := time.Now()
		for i := range 200 {
			wg.Go(func() {
				if got, err := caches[i%4].Get(ctx, "hot", load); err != nil || got.Ver != 1 {
					errs.Add(1)
				}
			})
		}
		wg.Wait()
		if errs.Load() != 0 || loads.Load() != 1 {
			t.Fatalf("errors = %d, loads = %d; want 0 and 1", errs.Load(), loads.Load())
		}
		// Waiters are woken by the fill's tracking push, not by their
		// fallback poll (LeaseTTL/4 = 2.5 s here).
		if el := time.Since(start); el > 2*time.Second {
			t.Fatalf("stampede took %v: waiters were not woken by the fill", el)
		}
	})
}

func TestCorruptValueReloads(t *testing.T) {
	ctx := context.Background()
	redistest.ForEach(t, func(t *testing.T, tg redistest.Target) {
		client := tg.Client(t)
		c := newCache(t, client, Options{Namespace: redistest.Unique(t)})
		d := newDB()
		d.set("k", item{ID: "k", Ver: 7})
		bad := [][]byte{
			[]byte("not an envelope"),
			encodeEnvelope(envelope{expiryMS: time.Now().Add(time.Hour).UnixMilli(), payload: []byte("{broken json")}),
			{1},
		}
		for i, b := range bad {
			if err := client.Set(ctx, valueKey(c.c.ns, "k"), b, time.Minute).Err(); err != nil {
				t.Fatal(err)
			}
			got, err := c.Get(ctx, "k", d.load("k"))
			if err != nil || got.Ver != 7 {
				t.Fatalf("corrupt %d: got %+v, %v", i, got, err)
			}
			if n := d.loads.Load(); n != int64(i+1) {
				t.Fatalf("corrupt %d: loads = %d", i, n)
			}
		}
		if st := c.Stats(); st.Corrupt != 3 {
			t.Fatalf("Corrupt = %d, want 3", st.Corrupt)
		}
	})
}

func TestGetMany(t *testing.T) {
	ctx := context.Background()
	redistest.ForEach(t, func(t *testing.T, tg redistest.Target) {
		c := newCache(t, tg.Client(t), Options{Namespace: redistest.Unique(t), NearEntries: 100})
		d := newDB()
		var keys []string
		for i := range 20 {
			k := fmt.Sprint("k", i)
			keys = append(keys, k)
			if i%5 != 0 {
				d.set(k, item{ID: k, Ver: i})
			}
		}
		var calls atomic.Int64
		load := func(_ context.Context, missing []string) (map[string]item, error) {
			calls.Add(1)
			out := map[string]item{}
			d.mu.Lock()
			defer d.mu.Unlock()
			for _, k := range missing {
				if r, ok := d.rows[k]; ok {
					out[k] = r
				}
			}
			return out, nil
		}
		// Warm a few through Get first.
		if _, err := c.Get(ctx, "k1", d.load("k1")); err != nil {
			t.Fatal(err)
		}
		got, err := c.GetMany(ctx, keys, load)
		if err != nil || len(got) != 16 || calls.Load() != 1 {
			t.Fatalf("GetMany = %d values, %v, %d load calls; want 16, nil, 1", len(got), err, calls.Load())
		}
		for k, v := range got {
			if v.ID != k {
				t.Fatalf("%s = %+v", k, v)
			}
		}
		got, err = c.GetMany(ctx, keys, load)
		if err != nil || len(got) != 16 || calls.Load() != 1 {
			t.Fatalf("second GetMany = %d, %v, %d calls", len(got), err, calls.Load())
		}
	})
}

func TestTags(t *testing.T) {
	ctx := context.Background()
	redistest.ForEach(t, func(t *testing.T, tg redistest.Target) {
		c := newCache(t, tg.Client(t), Options{Namespace: redistest.Unique(t), NearEntries: 100})
		c.Tagged(func(_ string, v item) []string { return []string{"name:" + v.Name} })
		d := newDB()
		for i := range 6 {
			k := fmt.Sprint("p", i)
			name := "even"
			if i%2 == 1 {
				name = "odd"
			}
			d.set(k, item{ID: k, Name: name, Ver: 1})
			if _, err := c.Get(ctx, k, d.load(k)); err != nil {
				t.Fatal(err)
			}
		}
		n, err := c.InvalidateTags(ctx, "name:odd")
		if err != nil || n != 3 {
			t.Fatalf("InvalidateTags = %d, %v; want 3", n, err)
		}
		before := d.loads.Load()
		for i := range 6 {
			k := fmt.Sprint("p", i)
			if _, err := c.Get(ctx, k, d.load(k)); err != nil {
				t.Fatal(err)
			}
		}
		if got := d.loads.Load() - before; got != 3 {
			t.Fatalf("reloads after tag invalidation = %d, want 3", got)
		}
	})
}

// A loader that read a row before its tag was invalidated must not store
// it under the tag (the invalidation could not see the key yet).
func TestTagInvalidationDuringLoad(t *testing.T) {
	ctx := context.Background()
	redistest.ForEach(t, func(t *testing.T, tg redistest.Target) {
		c := newCache(t, tg.Client(t), Options{Namespace: redistest.Unique(t), NearEntries: 100})
		c.Tagged(func(_ string, v item) []string { return []string{"name:" + v.Name} })
		d := newDB()
		d.set("p", item{ID: "p", Name: "odd", Ver: 1})
		readDone, release := make(chan struct{}), make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			_, _ = c.Get(ctx, "p", func(ctx context.Context) (item, error) {
				r, err := d.load("p")(ctx)
				close(readDone)
				<-release
				return r, err
			})
		})
		<-readDone
		d.set("p", item{ID: "p", Name: "odd", Ver: 2})
		if _, err := c.InvalidateTags(ctx, "name:odd"); err != nil {
			t.Fatal(err)
		}
		close(release)
		wg.Wait()
		if got, err := c.Get(ctx, "p", d.load("p")); err != nil || got.Ver != 2 {
			t.Fatalf("after tag invalidation during load = %+v, %v; the old value survived", got, err)
		}
	})
}

func TestJitter(t *testing.T) {
	c := &core{o: Options{Jitter: 0.1}}
	for range 1000 {
		d := c.jitter(time.Minute)
		if d < 54*time.Second || d > 66*time.Second {
			t.Fatalf("jitter(1m) = %v, outside ±10%%", d)
		}
	}
	c.o.Jitter = 0
	if d := c.jitter(time.Minute); d != time.Minute {
		t.Fatalf("no jitter: %v", d)
	}
}

func TestNearHitDoesNotAllocate(t *testing.T) {
	ctx := context.Background()
	c := newCache(t, redistest.SingleTarget(t).Client(t), Options{Namespace: redistest.Unique(t), NearEntries: 100, TTL: time.Hour, Beta: -1})
	load := func(context.Context) (item, error) { return item{ID: "k"}, nil }
	redistest.Eventually(t, 3*time.Second, "near hit", func() bool {
		_, _ = c.Get(ctx, "k", load)
		return c.Stats().NearHits > 0
	})
	if n := testing.AllocsPerRun(1000, func() { _, _ = c.Get(ctx, "k", load) }); n != 0 {
		t.Fatalf("near hit allocates %v times", n)
	}
}

func TestStaleWhileRevalidate(t *testing.T) {
	ctx := context.Background()
	redistest.ForEach(t, func(t *testing.T, tg redistest.Target) {
		c := newCache(t, tg.Client(t), Options{Namespace: redistest.Unique(t), TTL: 150 * time.Millisecond, Jitter: -1, StaleWhileRevalidate: time.Minute, Beta: -1})
		var ver atomic.Int64
		load := func(context.Context) (item, error) { return item{Ver: int(ver.Add(1))}, nil }
		if got, _ := c.Get(ctx, "k", load); got.Ver != 1 {
			t.Fatalf("first = %+v", got)
		}
		start := time.Now()
		// After expiry a reader gets the stale value at once while a
		// background reload runs; later readers get the new one.
		redistest.Eventually(t, 5*time.Second, "a reload after expiry", func() bool {
			got, err := c.Get(ctx, "k", load)
			if err != nil {
				t.Fatal(err)
			}
			if got.Ver == 1 && time.Since(start) > 2*time.Second {
				t.Fatal("still version 1 long after expiry")
			}
			return got.Ver == 2
		})
		if st := c.Stats(); st.StaleServed == 0 || st.EarlyRefreshes == 0 {
			t.Fatalf("stats = %+v; want stale served and a refresh", st)
		}
	})
}

func TestXFetchRefreshesEarly(t *testing.T) {
	ctx := context.Background()
	tg := redistest.SingleTarget(t)
	c := newCache(t, tg.Client(t), Options{Namespace: redistest.Unique(t), TTL: 400 * time.Millisecond, Jitter: -1})
	var ver atomic.Int64
	load := func(context.Context) (item, error) {
		time.Sleep(100 * time.Millisecond) // delta = 100 ms: refreshes start well before expiry
		return item{Ver: int(ver.Add(1))}, nil
	}
	if _, err := c.Get(ctx, "k", load); err != nil {
		t.Fatal(err)
	}
	// Readers keep reading; the value never disappears, because XFetch
	// reloads it before it expires.
	deadline := time.Now().Add(1500 * time.Millisecond)
	for time.Now().Before(deadline) {
		if _, err := c.Get(ctx, "k", load); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond) // reader pacing, not a wait for state
	}
	// Without early refresh every load would follow a miss.
	if st := c.Stats(); st.Loads-st.Misses < 2 {
		t.Fatalf("stats = %+v; want at least 2 loads that no miss caused", st)
	}
}

// The database write succeeded but Redis went away: Write returns the
// value with ErrNotInvalidated, so the caller knows the cache may be stale.
func TestWriteCacheStepFails(t *testing.T) {
	ctx := context.Background()
	s := redistest.NewSingle(t, redisproc.ServerOptions{})
	client := redis.NewClient(&redis.Options{Addr: s.Addr(), MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	t.Cleanup(func() { _ = client.Close() })
	c := newCache(t, client, Options{Namespace: "w"})
	committed := false
	got, err := c.Write(ctx, "k", func(context.Context) (item, error) {
		committed = true
		if err := s.Kill(); err != nil {
			t.Fatal(err)
		}
		return item{Ver: 9}, nil
	})
	if !committed || got.Ver != 9 || !errors.Is(err, ErrNotInvalidated) {
		t.Fatalf("Write = %+v, %v; want the value and ErrNotInvalidated", got, err)
	}
	// And a cancelled context is reported as such.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := c.Get(cctx, "k", func(context.Context) (item, error) { return item{}, nil }); !errors.Is(err, context.Canceled) {
		t.Fatalf("Get with cancelled ctx = %v, want context.Canceled", err)
	}
}

// A loader that died holding the lease: readers wait at most LeaseWait,
// then load themselves without storing.
func TestLeaseWaitBounded(t *testing.T) {
	ctx := context.Background()
	redistest.ForEach(t, func(t *testing.T, tg redistest.Target) {
		client := tg.Client(t)
		c := newCache(t, client, Options{Namespace: redistest.Unique(t), LeaseWait: 300 * time.Millisecond})
		if err := client.Set(ctx, leaseKey(c.c.ns, "k"), "crashed-loader", 10*time.Second).Err(); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		got, err := c.Get(ctx, "k", func(context.Context) (item, error) { return item{Ver: 5}, nil })
		el := time.Since(start)
		if err != nil || got.Ver != 5 {
			t.Fatalf("get = %+v, %v", got, err)
		}
		if el < 300*time.Millisecond || el > 3*time.Second {
			t.Fatalf("waited %v, want about LeaseWait (300ms)", el)
		}
		if st := c.Stats(); st.LeaseTimeouts != 1 || st.LeaseWaits == 0 {
			t.Fatalf("stats = %+v", st)
		}
		if n, _ := client.Exists(ctx, valueKey(c.c.ns, "k")).Result(); n != 0 {
			t.Fatal("value stored without the lease")
		}
	})
}

// GetMany waits for keys another process is loading, woken by its fill.
func TestGetManyWaitsForOtherLoader(t *testing.T) {
	ctx := context.Background()
	redistest.ForEach(t, func(t *testing.T, tg redistest.Target) {
		client := tg.Client(t)
		c := newCache(t, client, Options{Namespace: redistest.Unique(t)})
		other := newCache(t, tg.Client(t), Options{Namespace: c.c.ns})
		// "other" holds the lease of k2 while it loads.
		inLoad, release := make(chan struct{}), make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			_, _ = other.Get(ctx, "k2", func(context.Context) (item, error) {
				close(inLoad)
				<-release
				return item{ID: "k2", Ver: 2}, nil
			})
		})
		<-inLoad
		var batchKeys []string
		done := make(chan map[string]item)
		go func() {
			got, err := c.GetMany(ctx, []string{"k1", "k2"}, func(_ context.Context, missing []string) (map[string]item, error) {
				batchKeys = append(batchKeys, missing...)
				out := map[string]item{}
				for _, k := range missing {
					out[k] = item{ID: k, Ver: 1}
				}
				return out, nil
			})
			if err != nil {
				t.Error(err)
			}
			done <- got
		}()
		select {
		case got := <-done:
			t.Fatalf("GetMany returned %v while k2 was being loaded elsewhere", got)
		case <-time.After(200 * time.Millisecond): // it must still be waiting
		}
		close(release)
		wg.Wait()
		got := <-done
		if got["k1"].Ver != 1 || got["k2"].Ver != 2 || len(batchKeys) != 1 || batchKeys[0] != "k1" {
			t.Fatalf("GetMany = %+v, batch loaded %v; want k1 loaded here, k2 from the other loader", got, batchKeys)
		}
	})
}
