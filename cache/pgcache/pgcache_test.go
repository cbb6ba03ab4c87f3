package pgcache

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rediskit/rediskit/internal/testlog"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
	"github.com/rediskit/rediskit/cache"
	"github.com/rediskit/rediskit/internal/pgtest"
	"github.com/rediskit/rediskit/internal/redistest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	redistest.Shutdown()
	pgtest.Shutdown()
	os.Exit(code)
}

type product struct {
	ID       int    `json:"id"`
	Name     string `json:"name"`
	Category int    `json:"category"`
}

func setup(t *testing.T) *pgxpool.Pool {
	t.Helper()
	ctx := context.Background()
	db, err := pgxpool.New(ctx, pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	if _, err := db.Exec(ctx, `CREATE TABLE products (id int PRIMARY KEY, name text NOT NULL, category int NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	if err := Install(ctx, db); err != nil {
		t.Fatal(err)
	}
	return db
}

func loader(db *pgxpool.Pool, id int) func(context.Context) (product, error) {
	return func(ctx context.Context) (product, error) {
		var p product
		err := db.QueryRow(ctx, "SELECT id, name, category FROM products WHERE id = $1", id).Scan(&p.ID, &p.Name, &p.Category)
		if errors.Is(err, pgx.ErrNoRows) {
			return p, cache.ErrNotFound
		}
		return p, err
	}
}

func newCache(t *testing.T, client redis.UniversalClient, ns string) *cache.Cache[product] {
	t.Helper()
	c, err := cache.New[product](client, cache.Options{Namespace: ns, NearEntries: 1000, TTL: time.Hour})
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

func runRelay(t *testing.T, r *Relay) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	return func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("relay Run = %v, want context.Canceled", err)
		}
	}
}

func eventuallyName(t *testing.T, c *cache.Cache[product], db *pgxpool.Pool, id int, want string) {
	t.Helper()
	redistest.Eventually(t, 5*time.Second, fmt.Sprintf("product %d named %q", id, want), func() bool {
		p, err := c.Get(context.Background(), fmt.Sprint(id), loader(db, id))
		return err == nil && p.Name == want
	})
}

// A committed UPDATE (raw SQL, no cache involved) reaches the near caches
// of two processes through the outbox, the relay and tracking.
func TestRelayInvalidatesNearCaches(t *testing.T) {
	ctx := context.Background()
	redistest.ForEach(t, func(t *testing.T, tg redistest.Target) {
		db := setup(t)
		ns := redistest.Unique(t)
		if err := WatchTable(ctx, db, Watch{Table: "products", Namespace: ns, Key: "id", Tags: []string{"'category:' || category"}}); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(ctx, "INSERT INTO products VALUES (1, 'chair', 7), (2, 'table', 7), (3, 'lamp', 8)"); err != nil {
			t.Fatal(err)
		}
		a, b := newCache(t, tg.Client(t), ns), newCache(t, tg.Client(t), ns)
		r := NewRelay(db, tg.Client(t), RelayOptions{})
		defer runRelay(t, r)()
		for _, c := range []*cache.Cache[product]{a, b} {
			eventuallyName(t, c, db, 1, "chair")
		}
		if _, err := db.Exec(ctx, "UPDATE products SET name = 'armchair' WHERE id = 1"); err != nil {
			t.Fatal(err)
		}
		for _, c := range []*cache.Cache[product]{a, b} {
			eventuallyName(t, c, db, 1, "armchair")
		}
		// DELETE invalidates too (and the loader then reports not found).
		if _, err := db.Exec(ctx, "DELETE FROM products WHERE id = 3"); err != nil {
			t.Fatal(err)
		}
		redistest.Eventually(t, 5*time.Second, "deleted product gone", func() bool {
			_, err := a.Get(ctx, "3", loader(db, 3))
			return errors.Is(err, cache.ErrNotFound)
		})
		// 3 inserts, an update (old and new row), a delete.
		redistest.Eventually(t, 5*time.Second, "relay stats count every row", func() bool {
			st := r.Stats()
			return st.Relayed == 6 && st.MaxLag > 0 && st.Namespaces[ns].Relayed == 6
		})
	})
}

// Rows changed while no relay runs are relayed when one starts; two
// relays at once share the work without relaying a row twice.
func TestRelayCatchesUpAfterDowntime(t *testing.T) {
	ctx := context.Background()
	redistest.ForEach(t, func(t *testing.T, tg redistest.Target) {
		db := setup(t)
		ns := redistest.Unique(t)
		if err := WatchTable(ctx, db, Watch{Table: "products", Namespace: ns, Key: "id::text"}); err != nil {
			t.Fatal(err)
		}
		const n = 50
		if _, err := db.Exec(ctx, "INSERT INTO products SELECT g, 'v1', 1 FROM generate_series(1, $1) g", n); err != nil {
			t.Fatal(err)
		}
		// First relay run: drain the inserts, warm the cache.
		r0 := NewRelay(db, tg.Client(t), RelayOptions{})
		if _, err := r0.Drain(ctx); err != nil {
			t.Fatal(err)
		}
		c := newCache(t, tg.Client(t), ns)
		for id := 1; id <= n; id++ {
			eventuallyName(t, c, db, id, "v1")
		}
		// The relay is down while rows change, one transaction each.
		for id := 1; id <= n; id++ {
			if _, err := db.Exec(ctx, "UPDATE products SET name = 'v2' WHERE id = $1", id); err != nil {
				t.Fatal(err)
			}
		}
		if got, err := Backlog(ctx, db); err != nil || got != n*2 {
			t.Fatalf("backlog = %d, %v; want %d", got, err, n*2)
		}
		p, _ := c.Get(ctx, "1", loader(db, 1))
		if p.Name != "v1" {
			t.Fatalf("cache changed without a relay: %+v", p)
		}
		r1 := NewRelay(db, tg.Client(t), RelayOptions{Batch: 7})
		r2 := NewRelay(db, tg.Client(t), RelayOptions{Batch: 7})
		var wg sync.WaitGroup
		for _, r := range []*Relay{r1, r2} {
			wg.Go(func() {
				if _, err := r.Drain(ctx); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if got := r1.Stats().Relayed + r2.Stats().Relayed; got != n*2 {
			t.Fatalf("relayed %d rows in total, want %d", got, n*2)
		}
		if got, _ := Backlog(ctx, db); got != 0 {
			t.Fatalf("backlog after catch-up = %d", got)
		}
		for id := 1; id <= n; id++ {
			eventuallyName(t, c, db, id, "v2")
		}
	})
}

// Redis down during a pass: rows stay in the outbox and are relayed later.
func TestRelayKeepsRowsWhenRedisFails(t *testing.T) {
	ctx := context.Background()
	db := setup(t)
	if err := WatchTable(ctx, db, Watch{Table: "products", Namespace: "p", Key: "id::text"}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(ctx, "INSERT INTO products VALUES (1, 'x', 1)"); err != nil {
		t.Fatal(err)
	}
	dead := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1})
	defer dead.Close()
	if _, err := NewRelay(db, dead, RelayOptions{}).Drain(ctx); err == nil {
		t.Fatal("drain with Redis down succeeded")
	}
	if got, _ := Backlog(ctx, db); got != 1 {
		t.Fatalf("backlog = %d, want 1 (row kept)", got)
	}
	live := redistest.SingleTarget(t).Client(t)
	if n, err := NewRelay(db, live, RelayOptions{}).Drain(ctx); err != nil || n != 1 {
		t.Fatalf("drain = %d, %v", n, err)
	}
}

// A LISTEN that fails is not silent: it is logged and counted, and the
// relay keeps relaying by polling.
func TestRelayListenFailureSurfaces(t *testing.T) {
	ctx := context.Background()
	db := setup(t)
	if err := WatchTable(ctx, db, Watch{Table: "products", Namespace: "p", Key: "id::text"}); err != nil {
		t.Fatal(err)
	}
	var logs testlog.Buffer
	r := NewRelay(db, redistest.SingleTarget(t).Client(t), RelayOptions{
		PollInterval: 50 * time.Millisecond,
		Logger:       slog.New(slog.NewTextHandler(&logs, nil)),
	})
	r.channel = `""` // a zero-length identifier: LISTEN fails with a syntax error
	defer runRelay(t, r)()
	redistest.Eventually(t, 5*time.Second, "the failed LISTEN logged", func() bool {
		return strings.Contains(logs.String(), "LISTEN")
	})
	if st := r.Stats(); st.ListenErrors == 0 || st.Listening {
		t.Fatalf("stats = %+v; want ListenErrors > 0 and not Listening", st)
	}
	if _, err := db.Exec(ctx, "INSERT INTO products VALUES (1, 'x', 1)"); err != nil {
		t.Fatal(err)
	}
	redistest.Eventually(t, 5*time.Second, "row relayed by polling", func() bool { return r.Stats().Relayed == 1 })
}

// A namespace shared with a NestJS service (cache.FormatKeyv): the relay
// deletes the Keyv entries the watch names, so Go's near cache and Nest's
// Keyv both miss after a raw UPDATE.
func TestRelayKeyvNamespace(t *testing.T) {
	ctx := context.Background()
	redistest.ForEach(t, func(t *testing.T, tg redistest.Target) {
		db := setup(t)
		ns := redistest.Unique(t)
		if err := WatchTable(ctx, db, Watch{Table: "products", Namespace: ns, Key: "'product:' || id"}); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(ctx, "INSERT INTO products VALUES (1, 'chair', 7)"); err != nil {
			t.Fatal(err)
		}
		client := tg.Client(t)
		c, err := cache.New[product](client, cache.Options{Namespace: ns, Format: cache.FormatKeyv, NearEntries: 100, TTL: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		r := NewRelay(db, tg.Client(t), RelayOptions{Formats: map[string]cache.Format{ns: cache.FormatKeyv}})
		defer runRelay(t, r)()
		get := func() (product, error) { return c.Get(ctx, "product:1", loader(db, 1)) }
		redistest.Eventually(t, 5*time.Second, "chair cached in the Keyv entry", func() bool {
			p, err := get()
			n, _ := client.Exists(ctx, ns+"::"+ns+":product:1").Result()
			return err == nil && p.Name == "chair" && n == 1
		})
		if _, err := db.Exec(ctx, "UPDATE products SET name = 'armchair' WHERE id = 1"); err != nil {
			t.Fatal(err)
		}
		redistest.Eventually(t, 5*time.Second, "armchair after the relay", func() bool {
			p, err := get()
			return err == nil && p.Name == "armchair"
		})
	})
}
