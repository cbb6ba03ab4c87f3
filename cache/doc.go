// Package cache is a typed read-through cache over Redis (single node or
// Cluster) with a cluster-wide near cache, stampede protection across
// processes and database-driven invalidation (see cache/pgcache).
//
// A tour:
//
//	users, err := cache.New[User](client, cache.Options{
//		Namespace:   "users",
//		TTL:         10 * time.Minute,
//		NearEntries: 100_000, // in-process L1, invalidated by Redis
//	})
//	defer users.Close()
//
//	// Cache-aside: near cache, else Redis, else one load across all
//	// processes (the others wait for it), then stored.
//	u, err := users.Get(ctx, "42", func(ctx context.Context) (User, error) {
//		return db.LoadUser(ctx, 42) // return cache.ErrNotFound for "no such user"
//	})
//
//	// Write-through: the database write first, then invalidate-and-fill.
//	u, err = users.Write(ctx, "42", func(ctx context.Context) (User, error) {
//		return db.RenameUser(ctx, 42, "Ada") // commits before it returns
//	})
//
// How it works:
//
//   - Values are stored as an envelope (logical expiry, measured load
//     time, negative flag) plus the codec's bytes (JSON by default, Raw for
//     []byte and string) under rk:c:<ns>:{<key>}; the load lease, the
//     writer counter and the overlap marker share the key's hash tag, so
//     the Lua scripts work on a cluster while a namespace spreads over all
//     slots.
//   - Stampedes: one process per key takes a lease (SET NX PX in
//     lease-2.lua, atomically with the value check); the others wait for
//     the tracking push that the fill causes (bounded by LeaseWait, then
//     they load without storing). Within a process, one goroutine per key
//     asks Redis.
//   - Stale sets: a fill (fill-2.lua) is stored only if its lease is
//     still there; every write and invalidation deletes the lease, so a
//     loader that read the database before a write cannot store the old
//     row. Overlapping Writes leave the entry empty instead of guessing
//     which commit was last (wbegin-2.lua, wend-4.lua).
//   - Early refresh: XFetch (beta = Options.Beta, delta = measured load
//     time) reloads in the background before expiry;
//     StaleWhileRevalidate serves an expired value while one process
//     reloads it; negative answers are cached for NegativeTTL; every TTL
//     gets Jitter.
//   - Tags: Tagged names a value's tags; InvalidateTags reads and deletes
//     the tag sets atomically (no SCAN) and deletes their keys.
//   - Near cache: decoded values in a sharded map bounded by entries and
//     bytes with CLOCK eviction (recently read keys survive). One RESP3
//     connection per master runs CLIENT TRACKING on BCAST PREFIX
//     rk:c:<ns>:, so a change by anyone (even redis-cli SET) invalidates
//     every process's copy. The masters come from go-redis's own slot map
//     (internal/nodeconn, read every TrackInterval, no CLUSTER SLOTS of
//     ours) and are re-read at once when a tracking connection drops or a
//     read sees MOVED; while any master is untracked the near cache is
//     bypassed, and a drop flushes it. A reply that raced with an
//     invalidation is never stored (per-shard epochs).
//   - Redis reads: with Pipelining on (the default), concurrent Gets share
//     one pipelined connection per master with one batch in flight,
//     dialled with the client's options (TLS, ACL user, DB), and every
//     GET still runs the client's hooks; on MOVED, errors or timeouts the
//     read goes through the go-redis client. GetMany pipelines per node
//     and reports per-key errors (*KeyError).
//
// Costs: the Caches of one client share, per master, one tracking
// connection (one PREFIX per namespace, a PING every TrackInterval) and
// one pipelined read connection (Pipelining: PipeliningOff makes a Cache
// read through the client's auto-pipeliner instead). Hooks added to the
// client after its first Cache was created do not see the pipelined GETs:
// instrument the client first. A Cache without a near cache runs no
// goroutine of its own. Tag sets are stamped with their last invalidation
// time, and a load that read its data before a stamp of one of its tags
// (minus one second of tolerated clock skew) is served but not stored.
//
// Limits: a master that stops answering without closing its connections
// (paused, partitioned) is noticed after 3 x TrackInterval of silence or
// when go-redis's slot map shows the failover, whichever comes first; the near
// cache may serve what it holds until then. Invalidation lag from
// PostgreSQL is reported by pgcache.Relay.Stats.
//
// Failure semantics: Get returns Redis errors (it does not silently
// bypass the cache); a load error is returned and not cached; corrupt
// cached bytes are a miss and are reloaded. Write: see Cache.Write.
//
// Everything in this package is safe for concurrent use. Only cache/pgcache
// imports a PostgreSQL driver.
package cache
