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
// Sharing a cache with a NestJS service (Options.Format = FormatKeyv):
// @nestjs/cache-manager 12 stores through cache-manager 7 into Keyv 5 over
// @keyv/redis 5. With new Keyv({store: new KeyvRedis(client), namespace:
// 'products'}) both Keyv and KeyvRedis prefix the key, so Nest's
// cache.set('product:42', v, 60000) is
//
//	SET products::products:product:42 '{"value":<v>,"expires":<ms>}' PX 60000
//
// and a Go Cache with Namespace "products" and FormatKeyv reads and writes
// exactly that (cache-manager 7 adds nothing to the entry; its
// refreshThreshold works from "expires" inside the Node process):
//
//   - Get hits Nest's entries; Write, fills and Invalidate are what Nest
//     reads next. The Redis TTL is the entry's TTL, "expires" the same
//     instant; an entry past its "expires" is a miss on both sides even if
//     Redis still holds it (Keyv deletes it, Go stores the reload over it).
//   - Keyv's serializer escapes strings that start with ':' and stores a
//     Node Buffer as ":base64:<data>"; Go undoes the escaping and refuses
//     Buffers. An entry Go cannot read (Buffer, unknown envelope field,
//     compressed or another serializer's bytes, a value that is not a T)
//     is reported by Peek as ErrUnreadable naming the cause; Get and
//     GetMany log it and return the loader's value without overwriting
//     the entry (Write and Invalidate do replace it).
//   - The near cache tracks the prefix <ns>::<ns>:, so a Nest cache.set or
//     del drops the Go copies at once (about a millisecond; the tests
//     report the p99 over 200 writes).
//   - Keyv keys have no hash tag. The lease and write-marker keys of an
//     entry (rk:ck:<ns>:{t}:<key>:l, ...) get a tag t that hashes to the
//     Keyv key's slot, so the stampede and stale-set protection between Go
//     processes works on a cluster unchanged. Nest takes no lease: a Nest
//     fill racing a Go fill is last-writer-wins, as between two Nest
//     instances.
//   - What a Keyv entry cannot carry is off: no negative caching, no
//     XFetch early refresh (no load time), no StaleWhileRevalidate. Keys
//     starting with "<ns>:" are refused (Keyv maps "<ns>:x" to the entry
//     of "x").
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
// cached bytes are a miss and are reloaded (with FormatKeyv: served from
// the loader and left in place, see above). Write: see Cache.Write.
//
// Everything in this package is safe for concurrent use. Only cache/pgcache
// imports a PostgreSQL driver.
package cache
