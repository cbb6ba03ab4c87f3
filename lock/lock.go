package lock

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rediskit/rediskit/internal/retry"
)

// Options configure a Locker. The zero value is ready to use.
type Options struct {
	// Prefix starts every key (with KeyLayout PlainKeys: every key but
	// the lock key itself). Empty means DefaultPrefix ("rediskit:lock:").
	Prefix string
	// KeyLayout picks the lock key of a name. Zero (TaggedKeys) means
	// "<Prefix>{<name>}"; PlainKeys locks the name itself, the resource
	// key node-redlock locks (see KeyLayout and the package doc). Every
	// Locker of a name must agree on it.
	KeyLayout KeyLayout
	// ForeignPoll caps the pause between the attempts of a waiter while
	// the lock carries a value rediskit did not write (a node-redlock
	// holder: its release is a plain DEL that wakes nobody). The waiter
	// polls after ForeignPoll/5, then 2/5 and so on up to ForeignPoll,
	// ±20 %, and never later than the holder's ttl runs out. Locks held
	// by rediskit keep waking their waiters by message, without polling.
	// Zero means 50 ms.
	ForeignPoll time.Duration
	// Holder describes this process in TakenError.Holder for others.
	// Empty means "<hostname>:<pid>".
	Holder string
	// MaxWait bounds how long Acquire and Do wait for a held lock before
	// returning a *TakenError. Zero means wait until ctx ends.
	MaxWait time.Duration
	// ExtendEvery is how often Do extends its lease while fn runs. Zero
	// means ttl/4, so a deleted or taken-over lock is noticed (and fn's
	// context cancelled) within about ttl/4.
	ExtendEvery time.Duration
	// MaxHold bounds how long Do keeps a lock: past it fn's context is
	// cancelled with ErrHoldExceeded and the lease is no longer extended.
	// Zero means 10 × ttl; negative means no bound.
	MaxHold time.Duration
	// PollEvery is the fallback wake-up of a waiter that heard no release
	// (each wait is jittered ±20 % and never longer than the holder's
	// remaining ttl). Zero means 1 s.
	PollEvery time.Duration
	// DriftFactor is the clock drift allowed, as a fraction of ttl: a
	// lease is valid for ttl - elapsed - (ttl × DriftFactor + 2 ms). Zero
	// means 0.01.
	DriftFactor float64
	// Replicas, when positive, makes every acquire and extend WAIT until
	// that many replicas acknowledged the write; an acquire they do not
	// acknowledge within ReplicaTimeout fails with *NotReplicatedError and
	// is undone. Zero means no WAIT. Needs a *redis.Client (single,
	// sentinel) or *redis.ClusterClient.
	Replicas int
	// ReplicaTimeout is the WAIT timeout. Zero means 1 s.
	ReplicaTimeout time.Duration
	// Fair grants the lock in FIFO order of the waiters' first attempt,
	// across processes: Acquire joins a queue kept next to the lock, a
	// release wakes exactly the waiter at its head, and TryAcquire does
	// not jump the queue. A queue entry not renewed for 3 × PollEvery (a
	// waiter that died) is dropped. Every Locker of a name must agree on
	// Fair. NewRedlock ignores it: queues on independent nodes can order
	// waiters differently, and no waiter would head a majority of them.
	// Zero (false) means first come at the moment of release wins.
	Fair bool
	// StatsNames bounds the names Stats reports one by one. Zero means 100.
	StatsNames int
	// Pipelining chooses whether lock commands go through the client's
	// shared auto-pipeliner (see Pipelining). Zero (PipeliningAuto) means
	// the package's default: on.
	Pipelining Pipelining
	// DisableAutoPipeline sends each lock command on its own round trip.
	//
	// Deprecated: use Pipelining: PipeliningOff. It is honoured while
	// Pipelining is PipeliningAuto, and removed in the next release.
	DisableAutoPipeline bool
	// Clock drives validity, extension, hold and fallback timers. Nil means
	// the wall clock.
	Clock Clock
	// Logger receives warnings (extend failures). Nil means slog.Default().
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	if o.Holder == "" {
		h, _ := os.Hostname()
		o.Holder = h + ":" + strconv.Itoa(os.Getpid())
	}
	if o.PollEvery == 0 {
		o.PollEvery = time.Second
	}
	if o.ForeignPoll <= 0 {
		o.ForeignPoll = 50 * time.Millisecond
	}
	if o.DriftFactor == 0 {
		o.DriftFactor = 0.01
	}
	if o.ReplicaTimeout == 0 {
		o.ReplicaTimeout = time.Second
	}
	if o.StatsNames == 0 {
		o.StatsNames = 100
	}
	if o.Clock == nil {
		o.Clock = wallClock{}
	}
	if o.Pipelining == PipeliningAuto && o.DisableAutoPipeline {
		o.Pipelining = PipeliningOff
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// Locker hands out leases on named locks. Safe for concurrent use.
type Locker struct {
	nodes  []*node
	quorum int
	opts   Options
	clock  Clock
	stats  *statsTable
	wg     sync.WaitGroup // receive goroutines of the notifiers

	closed atomic.Bool
}

// New returns a Locker over one deployment: a single node, a sentinel
// failover client or a cluster client. The lock lives on the master that
// owns its slot; a failover that loses the last writes can lose the lock
// (see the package doc and Options.Replicas).
func New(client redis.UniversalClient, opts Options) *Locker {
	return newLocker([]redis.UniversalClient{client}, opts)
}

// NewRedlock returns a Locker that holds a lock only with a majority of
// clients, each an independent deployment (its own nodes, its own
// failure). A quorum over the shards of one cluster, or over a master and
// its replicas, adds no safety: they fail together and a failover forgets
// writes on each independently of the quorum.
func NewRedlock(clients []redis.UniversalClient, opts Options) *Locker {
	return newLocker(clients, opts)
}

func newLocker(clients []redis.UniversalClient, opts Options) *Locker {
	opts = opts.withDefaults()
	if len(clients) > 1 {
		opts.Fair = false
	}
	l := &Locker{opts: opts, clock: opts.Clock, quorum: len(clients)/2 + 1, stats: newStatsTable(opts.StatsNames)}
	for _, c := range clients {
		l.nodes = append(l.nodes, newNode(c, &l.opts, l))
	}
	return l
}

// Close stops the release subscriptions and waits for their goroutines.
// Held leases stay held until released or expired. Acquire after Close
// returns ErrClosed.
func (l *Locker) Close() error {
	l.closed.Store(true)
	for _, n := range l.nodes {
		n.notifier.close()
	}
	l.wg.Wait()
	return nil
}

// Stats returns a snapshot of the counters.
func (l *Locker) Stats() Stats {
	s := l.stats.snapshot()
	for _, n := range l.nodes {
		s.NotifyErrors += n.notifier.errors()
	}
	return s
}

func (l *Locker) drift(ttl time.Duration) time.Duration {
	return time.Duration(float64(ttl)*l.opts.DriftFactor) + 2*time.Millisecond
}

// TryAcquire makes one attempt to take the lock. It returns a *TakenError
// when another owner holds it, *QuorumError or *NotReplicatedError when
// the nodes did not all answer as needed.
func (l *Locker) TryAcquire(ctx context.Context, name string, ttl time.Duration) (*Lease, error) {
	k, err := l.check(name, ttl)
	if err != nil {
		return nil, err
	}
	le, err := l.attempt(ctx, name, k, ttl, rand.Text(), false, false)
	if err != nil {
		l.countFailure(name, err)
		if ctx.Err() != nil {
			return nil, fmt.Errorf("lock: acquire %q: %w", name, ctx.Err())
		}
		return nil, err
	}
	l.stats.add(name, func(c *counters) { c.acquired.Add(1) })
	return le, nil
}

// Acquire takes the lock, waiting while another owner holds it: it is
// woken when the holder releases (or its ttl runs out), without polling.
// It gives up with the last *TakenError (or quorum error) after
// Options.MaxWait, and with the ctx error, wrapped, when ctx ends.
//
// The lease is not extended automatically: call Extend, or use Do. Lost
// is closed when the lease's validity passes without an Extend.
func (l *Locker) Acquire(ctx context.Context, name string, ttl time.Duration) (*Lease, error) {
	return l.acquire(ctx, name, ttl)
}

func (l *Locker) check(name string, ttl time.Duration) (keys, error) {
	if l.closed.Load() {
		return keys{}, ErrClosed
	}
	if ttl <= 0 {
		return keys{}, fmt.Errorf("lock: %q: ttl %v must be positive", name, ttl)
	}
	return keysFor(l.opts.Prefix, name, l.opts.KeyLayout)
}

func (l *Locker) countFailure(name string, err error) {
	l.stats.add(name, func(c *counters) {
		if errors.Is(err, ErrTaken) {
			c.contended.Add(1)
		} else {
			c.errors.Add(1)
		}
	})
}

func (l *Locker) acquire(ctx context.Context, name string, ttl time.Duration) (*Lease, error) {
	k, err := l.check(name, ttl)
	if err != nil {
		return nil, err
	}
	// One owner id for the whole call: a retried attempt whose earlier
	// reply was lost finds the lock already its own, and a fair waiter
	// keeps its place in the queue.
	owner := rand.Text()
	le, err := l.attempt(ctx, name, k, ttl, owner, false, true)
	if err == nil {
		l.stats.add(name, func(c *counters) { c.acquired.Add(1) })
		return le, nil
	}
	if ctx.Err() != nil {
		return nil, fmt.Errorf("lock: acquire %q: %w", name, ctx.Err())
	}
	if !isTransient(err) {
		return nil, err
	}
	l.countFailure(name, err)

	// Wait: subscribe to the release channel on every node, try again
	// (a release may have come before the subscription), then sleep until
	// woken, the holder's ttl runs out, or the jittered fallback fires.
	start := l.clock.Now()
	wake := make(chan struct{}, 1)
	var waiters []*waiter
	acquired := false
	defer func() {
		for _, w := range waiters {
			w.done(acquired)
		}
		if !acquired && l.opts.Fair {
			// Leave the queue, so the waiters behind need not wait for
			// this entry to expire.
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
			for _, n := range l.nodes {
				_ = n.dequeue(dctx, k, owner)
			}
			cancel()
		}
	}()
	for _, n := range l.nodes {
		w, active := n.notifier.watch(k.channel, wake, owner)
		waiters = append(waiters, w)
		t := time.NewTimer(250 * time.Millisecond)
		select {
		case <-active:
		case <-ctx.Done():
		case <-t.C:
			// The fallback timer covers a slow subscription.
		}
		t.Stop()
	}
	var maxWait <-chan time.Time
	if l.opts.MaxWait > 0 {
		t := l.clock.NewTimer(l.opts.MaxWait - l.clock.Now().Sub(start))
		defer t.Stop()
		maxWait = t.C()
	}
	// While a foreign holder (node-redlock) has the lock, its release
	// publishes nothing: poll, ramping up to Options.ForeignPoll.
	foreignPoll := retry.Policy{Min: max(l.opts.ForeignPoll/5, time.Millisecond), Max: l.opts.ForeignPoll}
	foreign := 0
	fail := func(err error) (*Lease, error) {
		l.stats.add(name, func(c *counters) { c.timeouts.Add(1) })
		return nil, err
	}
	for {
		le, err = l.attempt(ctx, name, k, ttl, owner, true, true)
		if err == nil {
			acquired = true
			waited := l.clock.Now().Sub(start)
			l.stats.add(name, func(c *counters) {
				c.acquired.Add(1)
				c.waits.Add(1)
				c.waitTime.Add(uint64(waited))
			})
			return le, nil
		}
		if ctx.Err() != nil {
			return fail(fmt.Errorf("lock: acquire %q: %w", name, ctx.Err()))
		}
		if !isTransient(err) {
			return fail(err)
		}
		l.countFailure(name, err)
		d := jitter(l.opts.PollEvery)
		var te *TakenError
		if errors.As(err, &te) && te.Foreign {
			foreign++
			d = min(d, foreignPoll.Backoff(foreign))
		} else {
			foreign = 0
		}
		if te != nil && te.TTL > 0 && te.TTL < d {
			// Wake right when the holder's lease runs out, if nobody
			// releases it before (a crashed holder); spread by a few ms
			// only, so that the takeover is not delayed.
			d = te.TTL + time.Millisecond + mrand.N(5*time.Millisecond)
		}
		t := l.clock.NewTimer(d)
		select {
		case <-wake:
		case <-t.C():
		case <-maxWait:
			t.Stop()
			return fail(err)
		case <-ctx.Done():
			t.Stop()
			return fail(fmt.Errorf("lock: acquire %q: %w", name, ctx.Err()))
		}
		t.Stop()
	}
}

// jitter spreads d by ±20 %.
func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return d
	}
	return d - d/5 + mrand.N(2*d/5+1)
}

// attempt tries once on every node concurrently. enqueue says the caller
// waits when it does not get the lock: the lock is marked as waited for
// (and with Fair, owner joins the queue).
func (l *Locker) attempt(ctx context.Context, name string, k keys, ttl time.Duration, owner string, direct, enqueue bool) (*Lease, error) {
	start := l.clock.Now()
	req := acquireReq{
		owner: owner, holder: l.opts.Holder, ttl: ttl,
		replicas: l.opts.Replicas, replicaTimeout: l.opts.ReplicaTimeout, direct: direct,
		fair: l.opts.Fair, enqueue: enqueue, now: start.UnixMilli(), waiterTTL: 3 * l.opts.PollEvery,
	}
	res := make([]acquireResult, len(l.nodes))
	if len(l.nodes) == 1 {
		res[0] = l.nodes[0].acquire(ctx, k, req)
	} else {
		var wg sync.WaitGroup
		for i, n := range l.nodes {
			wg.Go(func() { res[i] = n.acquire(ctx, k, req) })
		}
		wg.Wait()
	}
	validity := ttl - l.clock.Now().Sub(start) - l.drift(ttl)
	got := 0
	var token int64
	for _, r := range res {
		if r.ok {
			got++
			token = max(token, r.token)
		}
	}
	le := &Lease{l: l, name: name, k: k, token: token, owner: owner, held: make([]bool, len(l.nodes))}
	for i, r := range res {
		le.held[i] = r.ok
	}
	if got >= l.quorum && validity > 0 && len(l.nodes) > 1 {
		got = l.raiseFences(ctx, le, res)
	}
	if got >= l.quorum && validity > 0 {
		le.ttl = ttl
		le.acquiredAt = start
		le.validUntil = start.Add(validity)
		le.done = make(chan struct{})
		return le, nil
	}

	// Failed: undo everywhere the lock may have been set, including nodes
	// whose answer was lost (release matches the owner id only).
	uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ttl)
	defer cancel()
	var wg sync.WaitGroup
	for i, r := range res {
		if r.ok || r.err != nil {
			wg.Go(func() { _, _ = l.nodes[i].release(uctx, k, owner) })
		}
	}
	wg.Wait()
	var taken *TakenError
	var errs []error
	var nr *NotReplicatedError
	for _, r := range res {
		switch {
		case r.err != nil:
			errs = append(errs, r.err)
			if e := (*NotReplicatedError)(nil); errors.As(r.err, &e) && nr == nil {
				nr = e
				nr.Name = name
			}
		case !r.ok && taken == nil:
			taken = &TakenError{Name: name, Holder: r.holder, Token: r.htoken, TTL: r.pttl, Foreign: r.foreign}
		}
	}
	if nr != nil && taken == nil {
		return nil, nr
	}
	if taken != nil {
		return nil, taken
	}
	if got >= l.quorum {
		errs = append(errs, fmt.Errorf("lock: validity used up while acquiring (ttl %v too short)", ttl))
	}
	return nil, &QuorumError{Name: name, Got: got, Need: l.quorum, NodeErrors: errs}
}

// raiseFences makes every node of the quorum carry the chosen token (the
// largest drawn), so that any later quorum, which shares a node with this
// one, draws a larger token: tokens stay strictly increasing across
// Redlock acquisitions. A node that cannot be raised is released and no
// longer counts. It returns how many nodes still hold the lock.
func (l *Locker) raiseFences(ctx context.Context, le *Lease, res []acquireResult) int {
	var wg sync.WaitGroup
	for i, r := range res {
		if r.ok && r.token < le.token {
			wg.Go(func() {
				if err := l.nodes[i].raiseFence(ctx, le.k, le.token); err != nil {
					_, _ = l.nodes[i].release(context.WithoutCancel(ctx), le.k, le.owner)
					le.held[i] = false
				}
			})
		}
	}
	wg.Wait()
	got := 0
	for _, h := range le.held {
		if h {
			got++
		}
	}
	return got
}
