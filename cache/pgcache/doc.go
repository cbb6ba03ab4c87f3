// Package pgcache invalidates cache entries from PostgreSQL: every
// committed change to a watched table, by any service or by raw SQL,
// deletes the affected cache keys and tags in Redis, which in turn drops
// them from every process's near cache (see package cache). It is the
// only part of the cache that imports a PostgreSQL driver (pgx).
//
// The path is a transactional outbox, chosen over LISTEN/NOTIFY (lost
// while nobody listens) and logical replication (needs wal_level=logical
// and a slot that can hold WAL):
//
//	Install(ctx, db)                       // the outbox table
//	WatchTable(ctx, db, Watch{             // a trigger per table
//		Table: "products", Namespace: "products",
//		Key:  "id::text",                  // SQL over the row
//		Tags: []string{"'category:' || category_id"},
//	})
//	relay := NewRelay(db, redisClient, RelayOptions{})
//	go relay.Run(ctx)                      // as many relays as you like
//
// The trigger writes the old and new row's keys and tags to the outbox in
// the writer's transaction, so a change and its invalidation commit
// together. Relays take rows with FOR UPDATE SKIP LOCKED (several run at
// once without relaying a row twice), delete the keys in Redis, then
// delete the rows; a relay that was down catches up from the outbox. A
// pg_notify in the trigger wakes relays at once; they also poll every
// PollInterval. Relay.Stats reports the invalidation lag (outbox insert to
// Redis delete) overall and per namespace; Backlog counts waiting rows.
//
// A namespace shared with a NestJS service (cache.FormatKeyv) is named in
// RelayOptions.Formats, and its Watch's Key gives the Keyv key, e.g.
// Key: "'product:' || id": the relay then deletes the Keyv entries, which
// Go's near caches and Nest's Keyv both miss afterwards.
//
// Relay is safe for concurrent use.
package pgcache
