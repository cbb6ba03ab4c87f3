// Package session keeps net/http sessions in Redis (single node,
// Sentinel or Cluster), so a user logged in through one instance of a
// service is logged in on all of them, and parallel requests of one user
// never lose each other's changes.
//
// # Tour
//
//	m, err := session.New(client, session.Options{IdleTimeout: 30 * time.Minute})
//	http.ListenAndServe(addr, m.Middleware(mux))
//
//	// in a handler
//	s := m.From(r.Context())
//	n, _, err := session.Get[int](r.Context(), s, "visits")
//	err = session.Set(r.Context(), s, "visits", n+1)
//
//	// login: new token for the same data (defeats fixation), then index it by user
//	err = s.Renew(ctx); err = s.SetUser(ctx, userID)
//	// logout here, everywhere, or one device
//	s.Destroy(ctx); m.DestroyAllForUser(ctx, userID); m.DestroyByID(ctx, info.ID)
//	infos, err := m.ListForUser(ctx, userID, "user_agent")
//
// # How it is stored
//
// One Redis hash per session, one field per key, under its own hash tag
// ("<prefix>{<id>}"), where id is the SHA-256 of the 256-bit random
// token: the token itself is never stored. Metadata fields start with
// '$' ($created, $abs, $exp, $user). A request loads its session on first
// use (one HGETALL; a request that never touches it costs nothing) and,
// just before the response starts, writes only the fields it set or
// deleted (one script that refuses to write to a session that was
// destroyed, renewed or expired meanwhile: ErrGone). Incr and
// CompareAndSwap are atomic in Redis.
//
// # Expiry
//
// Lifetime is absolute from creation (kept by Renew). IdleTimeout slides:
// a request refreshes the idle deadline (and the key's TTL) only when
// TouchInterval (IdleTimeout/10 by default) has passed since the last
// refresh, so reads do not write. Deadlines are checked with the injected
// clock; the Redis TTL only collects garbage.
//
// # Strict tokens
//
// A token that is malformed is ignored without a Redis call; one that is
// unknown or expired starts a new, empty session whose token is made by
// the server. A client-chosen token is never adopted.
//
// # Users and devices
//
// SetUser adds the session to "<prefix>user:{<userID>}", a sorted set in
// the user's own slot, before it writes the user into the session, so the
// index is always a superset. ListForUser checks every entry against its
// session and prunes dead ones; DestroyAllForUser deletes every indexed
// session. Both are a few pipelined commands, never a SCAN.
//
// # Speed
//
// A round trip (load, change a field, save) is two Redis calls. By default
// (PipeliningAuto) a lone request sends each on its own round trip, and
// while three or more of a Manager's loads and saves are in flight they go
// through the client's async auto-pipeliner, sharing network writes and
// reads: several times the throughput under many concurrent requests
// with a lone request's latency unchanged, and every call still returns
// when its ctx ends (see bench/session.go and pipelining.go).
// PipeliningOff keeps every call on its own round trip; PipeliningOn
// sends every call through the blocking auto-pipeliner.
//
// # Sharing sessions with Node: FormatConnectRedis
//
// Options.Format = FormatConnectRedis reads and writes what
// express-session 1.19 stores through connect-redis 10 (the NestJS docs'
// setup), so a login on either side is a login on the other and a logout
// on either ends both:
//
//	m, err := session.New(client, session.Options{
//		Format:      session.FormatConnectRedis,
//		Secrets:     []string{newSecret, oldSecret}, // express-session's secret, same order
//		IdleTimeout: 30 * time.Minute,                // express-session's cookie.maxAge
//	})
//	uid, ok, err := session.Get[int](ctx, s, "userId") // what req.session.userId = 5 wrote
//
// Shared, exactly as Node does it: the key "<prefix><sid>" (Prefix
// "sess:" by default) holding the session object as JSON, a "cookie"
// object (originalMaxAge, expires, httpOnly, path, secure, sameSite, ...)
// beside the application's top-level keys, each a session key in Go
// (values are JSON; Set refuses anything else with ErrNotJSON); the TTL
// connect-redis sets (SET EX ceil((cookie.expires-now)/1s), or
// Options.StoreTTL, connect-redis's ttl, for a cookie without expiry);
// the cookie "connect.sid" = "s:<sid>.<base64 HMAC-SHA256 of sid, no
// padding>" URL-encoded, signed with Secrets[0] and verified against every
// secret (rotation); sids of 24 random bytes in base64url, as uid-safe
// makes them. An unsigned, tampered or unknown-secret cookie, and a sid
// with no session, start a new session with a new sid (never the one
// sent). Destroy is DEL (connect-redis's destroy). Renew is regenerate:
// a new sid, the old key deleted, but the data kept (regenerate empties
// it; copy what you need on the Node side).
//
// Touch: a request that reads a session whose TTL was last refreshed
// TouchInterval or more ago sets the TTL back to cookie.originalMaxAge
// (the session's own, whoever created it) and moves cookie.expires, and
// re-sends the cookie, as express-session with rolling: true does. Node
// with resave: false refreshes only the TTL (store.touch: EXPIRE) on an
// unmodified session. Set TouchInterval to a nanosecond to refresh on
// every request as Node does.
//
// Writes: Go never writes the whole object. A save sends only the keys
// the request set or deleted to one Lua script that applies them to the
// object as stored now, editing its text: every other key keeps its exact
// bytes (a cjson round trip would turn [] into {} and round numbers), and
// the TTL is kept (or set, on a touch). Parallel Go requests writing
// different keys all keep their changes, and Go never overwrites what a
// Node save wrote. Incr (integers up to 15 digits) and CompareAndSwap
// (raw JSON bytes compared) run in Lua on a top-level key.
//
// Races that remain, all on the Node side, because an express-session
// save is connect-redis's SET of the whole object the request loaded
// when it started:
//   - a Node request that modifies the session (or any request, with
//     resave: true) overwrites keys Go wrote or deleted between that
//     request's load and its save. With Node saving one session in a
//     tight loop, 15 to 45 of 50 parallel Go writes were lost in our runs
//     (TestConnectRedis/*/ParallelWithNode). Use resave: false, and keep
//     keys both sides write at the same moment to a minimum (one side
//     owns a key);
//   - a Node request in flight with a sid that Go destroys or renews
//     meanwhile writes the old session back when it saves (connect-redis
//     does not check that the key still exists): a logout on Go can be
//     undone by a concurrent modifying Node request of the same browser.
//     A Go save never brings a session back: it fails with ErrGone;
//   - Renew copies the object, then deletes the old key: a write to the
//     old sid in between is lost.
//
// Not carried by the format, refused with ErrUnsupported naming the
// feature: Lifetime (express-session has no absolute deadline; New
// refuses it), SetUser, UserID, ListForUser and DestroyAllForUser (no
// per-user index: keep the user in an ordinary key, as Node does), Active
// (connect-redis's all() and length() SCAN "<prefix>*", so nothing else
// may live there) and a Codec other than JSON. Reserved names (refused
// with ErrReservedKey): "cookie" and express-session's Session properties
// and methods (id, req, touch, resetMaxAge, save, reload, destroy,
// regenerate), which Node drops. The sid is the key, in plain: Redis
// readers see it, but a cookie needs the secret. A stored value Go cannot
// read (not JSON, not an object, no cookie object) is left untouched; the
// request gets a new session and a warning is logged.
//
// # Metrics
//
// Stats returns counters (created, renewed, destroyed, expired, store
// calls, errors and time); Active estimates live sessions with one
// PFCOUNT. The metrics package turns them into Prometheus collectors.
package session
