package pgcache_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/rediskit/rediskit/cache"
	"github.com/rediskit/rediskit/cache/pgcache"
	"github.com/rediskit/rediskit/internal/pgtest"
	"github.com/rediskit/rediskit/internal/redistest"
)

type Product struct {
	ID   int    `json:"id"`
	Name string `json:"name"`
}

// Wire a table to its cache namespace and run a relay: a committed UPDATE
// from any writer, no cache call involved, reaches the cache.
func Example() {
	ctx := context.Background()
	dsn, drop := pgtest.ExampleDatabase() // in a service: DATABASE_URL
	defer drop()
	db, err := pgxpool.New(ctx, dsn)
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	rdb := redistest.ExampleClient() // in a service: conn.Client from redisconn.Connect
	defer rdb.Close()
	if _, err := db.Exec(ctx, `CREATE TABLE products (id int PRIMARY KEY, name text NOT NULL, category_id int NOT NULL);
		INSERT INTO products VALUES (1, 'chair', 7)`); err != nil {
		log.Fatal(err)
	}

	if err := pgcache.Install(ctx, db); err != nil { // the outbox, once per database
		log.Fatal(err)
	}
	if err := pgcache.WatchTable(ctx, db, pgcache.Watch{
		Table:     "products",
		Namespace: "products",
		Key:       "id::text",
		Tags:      []string{"'category:' || category_id"},
	}); err != nil {
		log.Fatal(err)
	}
	relay := pgcache.NewRelay(db, rdb, pgcache.RelayOptions{})
	relayCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- relay.Run(relayCtx) }() // until its ctx is done
	defer func() { stop(); <-done }()

	products, err := cache.New[Product](rdb, cache.Options{Namespace: "products", TTL: time.Hour})
	if err != nil {
		log.Fatal(err)
	}
	defer products.Close()
	_ = products.Invalidate(ctx, "1") // the example starts from an empty cache
	load := func(ctx context.Context) (Product, error) {
		var p Product
		err := db.QueryRow(ctx, "SELECT id, name FROM products WHERE id = 1").Scan(&p.ID, &p.Name)
		return p, err
	}
	p, err := products.Get(ctx, "1", load)
	fmt.Println(p.Name, err)

	if _, err := db.Exec(ctx, "UPDATE products SET name = 'armchair' WHERE id = 1"); err != nil {
		log.Fatal(err)
	}
	// The relay deletes the cached copy moments after the commit.
	for deadline := time.Now().Add(10 * time.Second); p.Name != "armchair" && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		p, err = products.Get(ctx, "1", load)
	}
	fmt.Println(p.Name, err)
	// Output:
	// chair <nil>
	// armchair <nil>
}
