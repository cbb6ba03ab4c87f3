package cache

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rediskit/rediskit/internal/nodetest"
	"github.com/rediskit/rediskit/internal/redistest"
)

// The tests in this file run the cache of a NestJS service for real:
// testdata/node/keyv.js builds it as @nestjs/cache-manager 12 does
// (cache-manager 7 over Keyv 5 over @keyv/redis 5, with a Keyv namespace)
// on the same Redis, single node and cluster.

// nest is one running Node cache peer.
type nest struct {
	p  *nodetest.Proc
	id atomic.Int64
}

func startNest(t *testing.T, tg redistest.Target, ns string) *nest {
	t.Helper()
	env := []string{"NAMESPACE=" + ns}
	if tg.Cluster {
		env = append(env, "REDIS_NODES="+strings.Join(tg.Addrs, ","))
	} else {
		env = append(env, "REDIS_URL=redis://"+tg.Addrs[0])
	}
	return &nest{p: nodetest.Start(t, "testdata/node/keyv.js", env)}
}

// call sends one command and returns its answer.
func (n *nest) call(t *testing.T, cmd map[string]any) map[string]any {
	t.Helper()
	id := n.id.Add(1)
	cmd["id"] = id
	if err := n.p.Send(cmd); err != nil {
		t.Fatalf("send %v: %v", cmd, err)
	}
	m := n.p.WaitFor(t, 10*time.Second, "answer to "+cmd["op"].(string), func(m map[string]any) bool { return m["id"] == float64(id) })
	if e, ok := m["error"]; ok {
		t.Fatalf("node %v: %v", cmd, e)
	}
	return m
}

func (n *nest) set(t *testing.T, key string, v any, ttl time.Duration) map[string]any {
	t.Helper()
	return n.call(t, map[string]any{"op": "set", "key": key, "value": v, "ttl": ttl.Milliseconds()})
}

// get returns Nest's cache.get(key) as an item, and whether it was found.
func (n *nest) get(t *testing.T, key string) (item, bool) {
	t.Helper()
	m := n.call(t, map[string]any{"op": "get", "key": key})
	if m["found"] != true {
		return item{}, false
	}
	v, _ := m["value"].(map[string]any)
	id, _ := v["id"].(string)
	name, _ := v["name"].(string)
	ver, _ := v["ver"].(float64)
	return item{ID: id, Name: name, Ver: int(ver)}, true
}

func newKeyvCache(t *testing.T, tg redistest.Target, o Options) *Cache[item] {
	t.Helper()
	o.Format = FormatKeyv
	if o.Namespace == "" {
		o.Namespace = redistest.Unique(t)
	}
	return newCache(t, tg.Client(t), o)
}

func loadItem(loads *atomic.Int64, it item) func(context.Context) (item, error) {
	return func(context.Context) (item, error) {
		loads.Add(1)
		return it, nil
	}
}

// Every write by Nest drops the Go near copy, through CLIENT TRACKING on
// the Keyv prefix; the lag from cache.set to the invalidation is measured.
func TestKeyvNestWriteInvalidatesNear(t *testing.T) {
	ctx := context.Background()
	redistest.ForEach(t, func(t *testing.T, tg redistest.Target) {
		c := newKeyvCache(t, tg, Options{NearEntries: 100, TTL: time.Minute})
		n := startNest(t, tg, c.c.ns)
		const key, writes = "product:1", 200
		n.set(t, key, item{ID: "1", Ver: 0}, time.Minute)
		lags := make([]time.Duration, 0, writes)
		for i := range writes {
			readNear(t, c, key, i)
			wake := c.c.addWaiter(key)
			if wake == nil {
				t.Fatal("tracking is down")
			}
			m := n.set(t, key, item{ID: "1", Ver: i + 1}, time.Minute)
			select {
			case <-wake:
			case <-time.After(5 * time.Second):
				t.Fatalf("write %d: the Go near cache was not invalidated within 5s of Nest's cache.set", i)
			}
			at := float64(time.Now().UnixNano()) / 1e6
			lags = append(lags, time.Duration((at-m["t0"].(float64))*float64(time.Millisecond)))
			got, err := c.Get(ctx, key, noLoad(t))
			if err != nil || got.Ver != i+1 {
				t.Fatalf("after Nest's write %d: Go reads %+v, %v", i+1, got, err)
			}
		}
		slices.Sort(lags)
		p50, p99 := lags[len(lags)/2], lags[len(lags)*99/100]
		t.Logf("%s: Nest cache.set -> Go near cache invalidated, %d writes (loaded machine): p50 %v, p99 %v, max %v",
			tg.Name, writes, p50, p99, lags[len(lags)-1])
		if p99 > 500*time.Millisecond {
			t.Errorf("invalidation p99 %v, want under 500ms", p99)
		}
	})
}

// Go's Write, fill and Invalidate are what Nest reads next, at once; and
// Nest's entries are Go hits.
func TestKeyvGoWriteNestReads(t *testing.T) {
	ctx := context.Background()
	redistest.ForEach(t, func(t *testing.T, tg redistest.Target) {
		c := newKeyvCache(t, tg, Options{NearEntries: 100, TTL: time.Minute})
		n := startNest(t, tg, c.c.ns)
		var loads atomic.Int64
		for i := range 20 {
			key := "product:" + itoa(i)
			// Cache-aside fill by Go: a Nest hit.
			if _, err := c.Get(ctx, key, loadItem(&loads, item{ID: itoa(i), Name: ":colon", Ver: 1})); err != nil {
				t.Fatal(err)
			}
			if got, ok := n.get(t, key); !ok || got.Ver != 1 || got.Name != ":colon" {
				t.Fatalf("Nest reads Go's fill of %s as %+v, %v", key, got, ok)
			}
			// Write-through by Go: Nest reads the new value at once.
			if _, err := c.Write(ctx, key, func(context.Context) (item, error) { return item{ID: itoa(i), Ver: 2}, nil }); err != nil {
				t.Fatal(err)
			}
			if got, ok := n.get(t, key); !ok || got.Ver != 2 {
				t.Fatalf("Nest reads %s after Go's Write as %+v, %v; want ver 2", key, got, ok)
			}
			// Nest's write: a Go hit, no load.
			n.set(t, key, item{ID: itoa(i), Ver: 3}, time.Minute)
			if got, err := c.Get(ctx, key, noLoad(t)); err != nil || got.Ver != 3 {
				t.Fatalf("Go reads Nest's %s as %+v, %v; want ver 3", key, got, err)
			}
			// Go's Invalidate: Nest misses.
			if err := c.Invalidate(ctx, key); err != nil {
				t.Fatal(err)
			}
			if got, ok := n.get(t, key); ok {
				t.Fatalf("Nest still reads %s after Go's Invalidate: %+v", key, got)
			}
			// Nest's del: Go misses.
			n.set(t, key, item{ID: itoa(i), Ver: 4}, time.Minute)
			n.call(t, map[string]any{"op": "del", "key": key})
			if _, err := c.Peek(ctx, key); !errors.Is(err, ErrNotFound) {
				t.Fatalf("Go Peek(%s) after Nest's del = %v; want ErrNotFound", key, err)
			}
		}
		if loads.Load() != 20 {
			t.Errorf("%d loads, want 20", loads.Load())
		}
		// GetMany reads Nest's entries too.
		n.set(t, "a", item{ID: "a", Ver: 7}, time.Minute)
		n.set(t, "b", item{ID: "b", Ver: 8}, time.Minute)
		m, err := c.GetMany(ctx, []string{"a", "b"}, func(context.Context, []string) (map[string]item, error) {
			t.Error("GetMany loaded: Nest's entries should be hits")
			return nil, nil
		})
		if err != nil || m["a"].Ver != 7 || m["b"].Ver != 8 {
			t.Fatalf("GetMany = %+v, %v", m, err)
		}
	})
}

// pttl returns the Redis TTL of key in ms.
func pttl(t *testing.T, client redis.UniversalClient, key string) int64 {
	t.Helper()
	d, err := client.PTTL(context.Background(), key).Result()
	if err != nil {
		t.Fatal(err)
	}
	return d.Milliseconds()
}

// A TTL set on either side is the same expiry on both: the envelope's
// "expires" and the key's PTTL agree, and each side reads the other's
// "expires" exactly.
func TestKeyvExpiryAgrees(t *testing.T) {
	ctx := context.Background()
	const tol = 250 // ms: the two clocks are read a few ms apart, on a loaded machine
	redistest.ForEach(t, func(t *testing.T, tg redistest.Target) {
		c := newKeyvCache(t, tg, Options{TTL: 40 * time.Second, Jitter: -1})
		client := tg.Client(t)
		n := startNest(t, tg, c.c.ns)

		// Nest -> Go.
		n.set(t, "nest", item{Ver: 1}, 30*time.Second)
		h, found, err := c.c.lookup(ctx, "nest")
		if err != nil || !found {
			t.Fatalf("Go lookup of Nest's entry: %v, %v", found, err)
		}
		left := pttl(t, client, c.c.ks.value("nest"))
		now := time.Now().UnixMilli()
		if d := h.env.expiryMS - (now + left); math.Abs(float64(d)) > tol {
			t.Errorf("Nest's entry: expires %d, now+PTTL %d: %d ms apart", h.env.expiryMS, now+left, d)
		}
		if nestExp := n.call(t, map[string]any{"op": "ttl", "key": "nest"})["expires"].(float64); int64(nestExp) != h.env.expiryMS {
			t.Errorf("Nest's cache.ttl = %d, Go reads expires %d", int64(nestExp), h.env.expiryMS)
		}

		// Go -> Nest.
		before := time.Now().UnixMilli()
		if _, err := c.Write(ctx, "go", func(context.Context) (item, error) { return item{Ver: 2}, nil }); err != nil {
			t.Fatal(err)
		}
		exp := int64(n.call(t, map[string]any{"op": "ttl", "key": "go"})["expires"].(float64))
		left = pttl(t, client, c.c.ks.value("go"))
		now = time.Now().UnixMilli()
		if d := exp - (now + left); math.Abs(float64(d)) > tol {
			t.Errorf("Go's entry: Nest reads expires %d, now+PTTL %d: %d ms apart", exp, now+left, d)
		}
		if exp < before+40_000 || exp > now+40_000 {
			t.Errorf("Go's entry: expires %d, want now+40s (%d..%d)", exp, before+40_000, now+40_000)
		}

		// An entry Redis still holds past its "expires" is a miss for Go,
		// as it is for Keyv (Date.now() > expires), and Go stores over it.
		past := `{"value":{"id":"x","ver":9},"expires":` + itoa(int(time.Now().Add(-time.Second).UnixMilli())) + `}`
		if err := client.Set(ctx, c.c.ks.value("old"), past, time.Minute).Err(); err != nil {
			t.Fatal(err)
		}
		var loads atomic.Int64
		if got, err := c.Get(ctx, "old", loadItem(&loads, item{ID: "x", Ver: 10})); err != nil || got.Ver != 10 || loads.Load() != 1 {
			t.Fatalf("Get of an expired Keyv entry = %+v, %v (%d loads); want the loaded ver 10", got, err, loads.Load())
		}
		if got, ok := n.get(t, "old"); !ok || got.Ver != 10 {
			t.Fatalf("Nest reads %+v, %v; want Go's reload (ver 10)", got, ok)
		}
	})
}

// Entries Go cannot read are named in Peek's error; Get and GetMany serve
// the loader's value and leave the entry as it is.
func TestKeyvUnknownEnvelope(t *testing.T) {
	ctx := context.Background()
	redistest.ForEach(t, func(t *testing.T, tg redistest.Target) {
		// The warnings it logs are expected; keep the test output quiet.
		c := newKeyvCache(t, tg, Options{NearEntries: 100, Logger: slog.New(slog.DiscardHandler)})
		client := tg.Client(t)
		n := startNest(t, tg, c.c.ns)
		n.call(t, map[string]any{"op": "set", "key": "buf", "buffer": "AAEC", "ttl": 60000})
		n.set(t, "str", "a plain string, not an item", time.Minute)
		raws := map[string]string{
			"field": `{"value":{"id":"f"},"expires":99999999999999,"compression":"gzip"}`,
			"gzip":  "\x1f\x8b\x08\x00\x00\x00\x00\x00",
			"text":  "not json",
		}
		for k, v := range raws {
			if err := client.Set(ctx, c.c.ks.value(k), v, time.Minute).Err(); err != nil {
				t.Fatal(err)
			}
		}
		names := map[string]string{"buf": "Node Buffer", "str": "does not decode", "field": `"compression"`, "gzip": "not a JSON object", "text": "not a JSON object"}
		for key, name := range names {
			before, _ := client.Get(ctx, c.c.ks.value(key)).Result()
			_, err := c.Peek(ctx, key)
			if !errors.Is(err, ErrUnreadable) || !strings.Contains(err.Error(), name) {
				t.Errorf("Peek(%s) = %v; want ErrUnreadable naming %s", key, err, name)
			}
			var loads atomic.Int64
			got, err := c.Get(ctx, key, loadItem(&loads, item{ID: key, Ver: 1}))
			if err != nil || got.ID != key || loads.Load() != 1 {
				t.Errorf("Get(%s) = %+v, %v (%d loads); want the loader's value", key, got, err, loads.Load())
			}
			m, err := c.GetMany(ctx, []string{key}, func(_ context.Context, ks []string) (map[string]item, error) {
				return map[string]item{key: {ID: key, Ver: 2}}, nil
			})
			if err != nil || m[key].Ver != 2 {
				t.Errorf("GetMany(%s) = %+v, %v; want the loader's value", key, m, err)
			}
			if after, _ := client.Get(ctx, c.c.ks.value(key)).Result(); after != before {
				t.Errorf("%s: the entry Go could not read was overwritten: %q -> %q", key, before, after)
			}
		}
		if s := c.Stats(); s.Corrupt < int64(2*len(names)) {
			t.Errorf("Stats.Corrupt = %d, want >= %d", s.Corrupt, 2*len(names))
		}
		// Write replaces what Go could not read; Nest reads it.
		if _, err := c.Write(ctx, "buf", func(context.Context) (item, error) { return item{ID: "buf", Ver: 3}, nil }); err != nil {
			t.Fatal(err)
		}
		if got, ok := n.get(t, "buf"); !ok || got.Ver != 3 {
			t.Fatalf("Nest reads %+v, %v after Go's Write; want ver 3", got, ok)
		}
	})
}

func TestKeyvOptions(t *testing.T) {
	client := redistest.SingleTarget(t).Client(t)
	for _, o := range []Options{
		{Namespace: "p", Format: FormatKeyv, NegativeTTL: time.Second},
		{Namespace: "p", Format: FormatKeyv, StaleWhileRevalidate: time.Second},
		{Namespace: "p", Format: Format(7)},
	} {
		if c, err := New[item](client, o); err == nil {
			_ = c.Close()
			t.Errorf("New(%+v) accepted", o)
		}
	}
	c, err := New[item](client, Options{Namespace: "p", Format: FormatKeyv})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Get(context.Background(), "p:1", noLoad(t)); err == nil || !strings.Contains(err.Error(), "Keyv namespace") {
		t.Errorf("Get(p:1) = %v; want a refusal naming the Keyv namespace", err)
	}
}

// The leases of Keyv entries sit in the Keyv key's slot, so one load
// serves concurrent readers of two Go processes on a cluster too.
func TestKeyvStampedeOneLoad(t *testing.T) {
	ctx := context.Background()
	redistest.ForEach(t, func(t *testing.T, tg redistest.Target) {
		a := newKeyvCache(t, tg, Options{})
		b := newKeyvCache(t, tg, Options{Namespace: a.c.ns})
		var loads atomic.Int64
		release := make(chan struct{})
		load := func(context.Context) (item, error) {
			loads.Add(1)
			<-release
			return item{ID: "s", Ver: 1}, nil
		}
		errs := make(chan error, 20)
		for i := range 20 {
			c := a
			if i%2 == 1 {
				c = b
			}
			go func() {
				v, err := c.Get(ctx, "stampede", load)
				if err == nil && v.Ver != 1 {
					err = errors.New("wrong value " + itoa(v.Ver))
				}
				errs <- err
			}()
		}
		redistest.Eventually(t, 5*time.Second, "one loader running", func() bool { return loads.Load() == 1 })
		close(release)
		for range 20 {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
		if n := loads.Load(); n != 1 {
			t.Fatalf("%d loads for 20 concurrent readers in 2 processes, want 1", n)
		}
	})
}
