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
// empty or contain braces.
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
