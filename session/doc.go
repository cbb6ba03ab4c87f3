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
// A round trip (load, change a field, save) is two Redis calls. Under many
// concurrent requests set Options.Pipelining to PipeliningOn (or pass an
// auto-pipelined client): calls of concurrent requests then share network
// writes and reads, several times the throughput on a loaded machine (see
// bench/session.go).
//
// # Metrics
//
// Stats returns counters (created, renewed, destroyed, expired, store
// calls, errors and time); Active estimates live sessions with one
// PFCOUNT. The metrics package turns them into Prometheus collectors.
package session
