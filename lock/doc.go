// Package lock gives named distributed locks on Redis with fencing tokens,
// loss detection, waiting without polling storms, and an optional Redlock
// quorum across independent deployments.
//
// # Tour
//
//	l := lock.New(client, lock.Options{MaxWait: 10 * time.Second})
//	defer l.Close()
//	err := l.Do(ctx, "payment:42", 30*time.Second, func(ctx context.Context, le *lock.Lease) error {
//		// ctx is cancelled the moment the lock is lost; le.Token() goes
//		// with every write to the guarded resource (see package pgfence).
//		return charge(ctx, le.Token())
//	})
//
// Do acquires (waiting up to Options.MaxWait or until ctx ends), extends
// the lease every ttl/4 on its own timer while fn runs, cancels fn's ctx
// when the lease is lost or fn runs past Options.MaxHold, and releases
// when fn returns or panics. Lower level: Acquire (waits), TryAcquire (one
// attempt), and on the *Lease: Token, Extend, Release, Lost, Err.
//
// # Fencing tokens
//
// Every acquisition draws a token with INCR on a counter in the lock's
// hash slot, in the same script that sets the lock, so tokens of one name
// strictly increase. No lease survives every pause: a process stopped
// (GC, SIGSTOP, a slow disk) past its ttl resumes believing it holds the
// lock. Only the resource can tell, by refusing a token older than the
// newest it has seen: pgfence does that in PostgreSQL
// (UPDATE ... WHERE fence < $token).
//
// # What a lock on one deployment guarantees
//
// New takes one single node, sentinel or cluster client. The lock lives on
// the master of its slot. Replication is asynchronous: if that master
// fails before its replica received the lock, the promoted replica does
// not have it, another owner can take it while the first still believes it
// holds it, and the fence counter's last increment is lost too (the next
// token repeats; a fenced resource then rejects one of the two writers,
// "fence < token" being strict). The first owner learns of the loss at its
// next extend (ErrLost, Lost closed, Do's ctx cancelled). Options.Replicas
// narrows the window Redisson-style: acquire and extend WAIT until that
// many replicas acknowledged, and an acquire they do not acknowledge fails
// with ErrNotReplicated and is undone. WAIT does not make Redis strongly
// consistent (a failover may still pick a replica that missed the write),
// but a lock that a replica acknowledged survives the usual failover.
//
// # What Redlock guarantees
//
// NewRedlock takes clients of independent deployments (separate single
// nodes, not the shards of one cluster, not a master and its replicas).
// A lock is held when a majority of them set it within its validity,
// ttl - elapsed - (ttl × DriftFactor + 2 ms); the attempt runs on all
// nodes concurrently and is undone everywhere when it fails. It stays safe
// while a majority keeps its state: one node that crashes and comes back
// empty is outvoted. It is unsafe when a majority forgets (restart them
// after at least the ttl, or persist with fsync on every write), and like
// every lease it assumes bounded clock drift and pauses: keep fencing.
// Tokens are the largest drawn on the quorum and are written back to it,
// so any later quorum, which shares a node with this one, draws a larger
// token.
//
// A quorum over the shards of one Redis Cluster adds no safety: the
// shards do not hold independent copies of a key, and each one fails over
// with the same asynchronous replication as above. Use New with the
// cluster client (and Options.Replicas) instead.
//
// # Waiting
//
// The release script publishes on the lock's channel with SPUBLISH (Redis
// 7 sharded pub/sub: the message stays on the lock's shard; on a single
// node it is plain pub/sub). A waiting Locker subscribes once per slot
// with waiters, queues its waiters of one name in FIFO order and wakes one
// per release, so a release causes one attempt per waiting process, not
// one per goroutine. Missed messages are covered by a fallback timer: the
// holder's remaining ttl (a holder that crashed) or Options.PollEvery,
// jittered by ±20 %. Requires Redis 7 or later.
//
// The subscriptions are go-redis sharded pub/sub, one per slot with
// waiters, each owned by one goroutine that subscribes again after an
// error (logged at most every 10 s to Options.Logger, with the standard
// backoff of internal/retry) and wakes every waiter of the slot, since a
// release may have been missed. A subscription that hangs (its master
// paused or failing over) delays only the waiters of its own slot.
//
// With Options.Fair the lock goes in FIFO order across processes: waiters
// join a queue (a sorted set in the lock's slot), the release names the
// waiter at the head in its message so exactly that one is woken, and a
// queue entry that is not renewed (its waiter died) expires after
// 3 × PollEvery.
//
// # Sharing locks with Node (node-redlock)
//
// With Options.KeyLayout PlainKeys the Go side locks the resource key a
// Node service locks with redlock 4 (redlock.lock(resource, ttl), using)
// or @sesamecare-oss/redlock 1 (redlock.acquire([resource], ttl), using):
// the lock name is the key, with no prefix and no braces. Both sides set
// the key only when it does not exist, with PX ttl, so a Node holder and a
// Go holder exclude each other in both directions.
//
// Neither side can end the other's lock. redlock writes 16 random bytes in
// hex and its release and extend scripts act only on a key equal to that
// value; Go writes "<owner>:<token>:<holder>" with a random owner id and
// its scripts act only on a key starting with "<owner>:". A Node release
// of a Go-held lock deletes nothing, a Go Extend of a Node-held lock says
// ErrLost and changes nothing.
//
// A value Go did not write (a Node holder's, or anything else, or a key
// of another type) is a foreign holder: TryAcquire and Acquire return a
// *TakenError with Foreign set and Holder describing it (never the value
// itself: a redlock value is what releases that lock), Inspect reports
// Foreign, and Go treats the key as held until it expires or is deleted.
// A foreign key without expiry holds the lock until someone deletes it
// (MaxWait and ctx bound the wait).
//
// redlock's release publishes nothing. While the holder a waiter saw is
// foreign, the waiter polls: after Options.ForeignPoll/5, 2/5... up to
// ForeignPoll (50 ms by default), ±20 %, never later than the holder's
// ttl runs out. Measured on a loaded 2-core machine (TestNodeReleaseWakeLatency,
// 24 to 40 releases per run, single node and cluster, several runs), a Go
// waiter had the lock p50 26-35 ms, p99 56-120 ms after the Node side's
// release reply. Keyspace notifications of the DEL did better
// (TestKeyspaceWakeLatency: p50 under 1 ms, p99 7-19 ms), but the package
// does not use them: they need
// notify-keyspace-events on the server (off by default, a cost on every
// write of every client, often not settable on managed Redis), are
// published only on the node that owns the key (one subscription per
// master, routed by the key's slot, not the channel's), and are fire and
// forget, so polling would still be needed. Locks held by Go keep waking
// their waiters by message. Node waiters poll at redlock's retryDelay
// (200 ms ± 100 ms by default). Options.Fair orders the Go waiters only:
// redlock does not see the queue.
//
// Fencing stays on the Go side: Go draws its token in the script that sets
// the lock from the counter Locker.FenceKey names ("<Prefix>{<resource>}:fence",
// or "<Prefix><resource>:fence" for a resource with a hash tag). A Node
// service draws its token from the same counter: INCR it right after
// redlock acquired the lock, then GET the resource and keep the token
// only if the key still carries its lock value (else treat the lock as
// lost). Each token is then drawn while its holder held the lock, so the
// tokens of both sides increase in the order the lock was held, and a
// resource that accepts a write only with a token above the last one it
// saw (pgfence: UPDATE ... WHERE fence < $token) rejects a stale holder of
// either side.
//
// # Errors
//
// errors.Is tells apart ErrTaken (a *TakenError with the holder, its token
// and ttl), ErrNoQuorum (*QuorumError with the node errors), ErrLost,
// ErrNotReplicated (*NotReplicatedError), ErrNotHeld and ErrHoldExceeded;
// when the caller's ctx ends, the functions return ctx's error wrapped, so
// errors.Is(err, context.Canceled) works.
//
// # Keys
//
// For lock "name" under the default prefix: "rediskit:lock:{name}" holds
// "<owner>:<token>:<holder>" with the ttl, "rediskit:lock:{name}:fence" is
// the token counter (never expires: one small key per name),
// "rediskit:lock:{name}:released" is the release channel, and with
// Options.Fair "...:queue" and "...:waiters" hold the FIFO queue. Names may not be
// empty or contain braces. With PlainKeys the lock key is the name itself
// and the others hash like it (see KeyLayout).
//
// # Metrics
//
// Stats returns counters (acquisitions, contention, waits and wait time,
// timeouts, extensions and their failures, losses, releases and hold
// time), in total and per name for the first Options.StatsNames names.
//
// Commands go through the client's shared AutoPipeliner unless
// Options.Pipelining is PipeliningOff: concurrent lock calls share round
// trips.
package lock
