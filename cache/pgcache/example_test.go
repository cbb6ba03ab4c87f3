package pgcache_test

import (
	"context"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
	"github.com/rediskit/rediskit/cache/pgcache"
)

// Wire a table to its cache namespace and run a relay (this example needs
// a database and Redis, so it has no output to check).
func Example() {
	ctx := context.Background()
	db, err := pgxpool.New(ctx, "postgres://app@127.0.0.1:5432/app")
	if err != nil {
		return
	}
	defer db.Close()
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{"127.0.0.1:7000"}})
	defer rdb.Close()
	if err := pgcache.WatchTable(ctx, db, pgcache.Watch{
		Table:     "products",
		Namespace: "products",
		Key:       "id::text",
		Tags:      []string{"'category:' || category_id"},
	}); err != nil {
		return
	}
	relay := pgcache.NewRelay(db, rdb, pgcache.RelayOptions{})
	_ = relay.Run(ctx) // until ctx is done
}
