package cache

import (
	"context"
	"errors"
	"fmt"
	"math"
	mrand "math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/redis/go-redis/v9"
	"github.com/rediskit/rediskit/internal/nodeconn"
)

// loadFunc is the untyped loader: it returns the value (as any) or an
// error; ErrNotFound means "does not exist".
type loadFunc func(ctx context.Context) (any, error)

// core is the []byte cache behind the typed Cache[T]: Redis access,
// leases, fills, writes, tracking, near cache. enc/dec convert between
// values and payload bytes.
type core struct {
	client redis.UniversalClient
	rd     redis.Cmdable // GETs: the client's auto-pipeliner when it has one
	o      Options
	ns     string
	ks     keyspace
	enc    func(any) ([]byte, error)
	dec    func([]byte) (any, error)
	tags   func(key string, v any) []string

	near *near
	hub  *hub
	trk  *tracking    // the hub's
	gets *getter      // the hub's; nil: GETs go through rd
	now  atomic.Int64 // coarse clock for near hits, unix nanos, ticks every millisecond (near cache on only)

	waitMu  sync.Mutex
	waiters map[string]chan struct{}

	flightMu sync.Mutex
	flights  map[string]*flight

	refreshing sync.Map // key -> struct{}

	stop    context.CancelFunc
	done    chan struct{}
	closed  atomic.Bool
	bg      sync.WaitGroup
	bgCtx   func() (context.Context, context.CancelFunc)
	closeMu sync.RWMutex

	st struct {
		nearHits, redisHits, misses, loads, loadErrors, stale, early,
		corrupt, staleSets, leaseWaits, leaseTimeouts, invals, flushes atomic.Int64
	}
}

type flight struct {
	done chan struct{}
	v    any
	err  error
}

func newCore(client redis.UniversalClient, o Options) (*core, error) {
	if client == nil {
		return nil, errors.New("cache: nil client")
	}
	if err := checkNamespace(o.Namespace); err != nil {
		return nil, err
	}
	switch client.(type) {
	case *redis.Client, *redis.ClusterClient:
	default:
		if o.NearEntries > 0 {
			return nil, fmt.Errorf("cache: NearEntries needs tracking connections: %w, got %T", nodeconn.ErrUnsupportedClient, client)
		}
	}
	if o.Pipelining < PipeliningAuto || o.Pipelining > PipeliningOff {
		return nil, fmt.Errorf("cache: unknown Options.Pipelining %d", int(o.Pipelining))
	}
	if err := o.checkFormat(); err != nil {
		return nil, err
	}
	o = o.withDefaults()
	c := &core{
		client: client, rd: client, o: o, ns: o.Namespace, ks: keyspace{ns: o.Namespace, keyv: o.Format == FormatKeyv},
		waiters: map[string]chan struct{}{}, flights: map[string]*flight{},
		done: make(chan struct{}),
	}
	if ap, err := client.AutoPipeline(); err == nil && ap != nil {
		c.rd = ap
	}
	if o.NearEntries > 0 {
		c.near = newNear(o.NearEntries, o.NearBytes)
	}
	c.now.Store(time.Now().UnixNano())
	ctx, cancel := context.WithCancel(context.Background())
	c.stop = cancel
	c.bgCtx = func() (context.Context, context.CancelFunc) { return context.WithTimeout(ctx, o.LeaseTTL) }
	c.hub = joinHub(client, c, o.TrackInterval, o.Logger)
	c.trk = c.hub.trk
	if o.Pipelining != PipeliningOff {
		c.gets = c.hub.gets
	}
	if c.near == nil {
		return c, nil // the coarse clock serves near hits only
	}
	c.bg.Go(func() {
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-t.C:
				c.now.Store(now.UnixNano())
			}
		}
	})
	return c, nil
}

func (c *core) close() {
	if c.closed.Swap(true) {
		return
	}
	c.stop()
	// A barrier, not a critical section: once the lock has been held here,
	// no background refresh can start (they check closed under closeMu).
	c.closeMu.Lock()
	c.closeMu.Unlock() //nolint:staticcheck // SA2001: intentional barrier

	c.bg.Wait()
	c.hub.leave(c)
}

func (c *core) check(key string) error {
	if c.closed.Load() {
		return ErrClosed
	}
	return c.ks.checkKey(key)
}

// waitTracking blocks until every master is tracked or ctx is done.
func (c *core) waitTracking(ctx context.Context) error {
	for !c.trk.up.Load() {
		select {
		case <-ctx.Done():
			return fmt.Errorf("cache: waiting for tracking: %w", ctx.Err())
		case <-time.After(5 * time.Millisecond):
		}
	}
	return nil
}

// onKey handles one key of a tracking push.
func (c *core) onKey(rk string) {
	c.st.invals.Add(1)
	k, ok := c.ks.userKey(rk)
	if !ok {
		return
	}
	if c.near != nil {
		c.near.invalidate(k)
	}
	c.wakeKey(k)
}

func (c *core) onFlush() {
	c.st.flushes.Add(1)
	if c.near != nil {
		c.near.flush()
	}
	c.waitMu.Lock()
	for k, ch := range c.waiters {
		close(ch)
		delete(c.waiters, k)
	}
	c.waitMu.Unlock()
}

// addWaiter returns a channel closed when key changes in Redis, or nil
// when changes cannot be observed (tracking down).
func (c *core) addWaiter(key string) chan struct{} {
	if !c.trk.up.Load() {
		return nil
	}
	c.waitMu.Lock()
	defer c.waitMu.Unlock()
	ch := c.waiters[key]
	if ch == nil {
		ch = make(chan struct{})
		c.waiters[key] = ch
	}
	return ch
}

// dropWaiter forgets ch if it is still key's waiter channel.
func (c *core) dropWaiter(key string, ch chan struct{}) {
	if ch == nil {
		return
	}
	c.waitMu.Lock()
	if c.waiters[key] == ch {
		delete(c.waiters, key)
	}
	c.waitMu.Unlock()
}

func (c *core) wakeKey(key string) {
	c.waitMu.Lock()
	if ch := c.waiters[key]; ch != nil {
		close(ch)
		delete(c.waiters, key)
	}
	c.waitMu.Unlock()
}

// snapshot returns the near-cache epoch to store under, and whether a
// store is allowed at all (near cache on and every master tracked).
func (c *core) snapshot(key string) (uint64, bool) {
	if c.near == nil || !c.trk.up.Load() {
		return 0, false
	}
	return c.near.epoch(key), true
}

// nearGet returns a usable near entry, and whether the caller should
// start a background refresh (XFetch sample reached, or stale). It does
// not allocate.
func (c *core) nearGet(key string) (e *nearEntry, refresh, ok bool) {
	if c.near == nil || !c.trk.up.Load() {
		return nil, false, false
	}
	e = c.near.get(key)
	if e == nil {
		return nil, false, false
	}
	now := c.now.Load()
	switch {
	case now < e.expiry:
		refresh = now >= e.refreshAt
	case now < e.staleTill:
		c.st.stale.Add(1)
		refresh = true
	default:
		c.near.remove(e)
		return nil, false, false
	}
	c.near.shard(key).hits.Add(1)
	return e, refresh, true
}

func (c *core) jitter(d time.Duration) time.Duration {
	if c.o.Jitter <= 0 {
		return d
	}
	f := 1 + c.o.Jitter*(2*mrand.Float64()-1)
	return time.Duration(float64(d) * f)
}

// xfetch reports whether a reader should refresh early (Vattani et al.):
// now - delta*beta*ln(rand) >= expiry.
func (c *core) xfetch(nowMS int64, env envelope) bool {
	if c.o.Beta < 0 || env.neg {
		return false
	}
	gap := float64(env.deltaMS) * c.o.Beta * -math.Log(1-mrand.Float64())
	return float64(nowMS)+gap >= float64(env.expiryMS)
}

// storeNear keeps a decoded value in the near cache if allowed.
func (c *core) storeNear(key string, ep uint64, ok bool, v any, env envelope, size int) {
	if !ok {
		return
	}
	exp := env.expiryMS * int64(time.Millisecond)
	e := &nearEntry{key: key, val: v, neg: env.neg, expiry: exp, size: int64(size + len(key) + 64)}
	e.staleTill = exp
	if !env.neg {
		e.staleTill = exp + int64(c.o.StaleWhileRevalidate)
	}
	e.refreshAt = exp
	if c.o.Beta >= 0 && !env.neg {
		// One XFetch sample per entry and process, drawn when stored, so
		// that a near hit costs no random number and no logarithm.
		e.refreshAt = exp - int64(float64(env.deltaMS)*float64(time.Millisecond)*c.o.Beta*-math.Log(1-mrand.Float64()))
	}
	c.near.put(e, ep)
}

// decodeEnv parses a cached value in the Cache's format.
func (c *core) decodeEnv(b []byte) (envelope, error) {
	if c.ks.keyv {
		return decodeKeyv(b, time.Now().UnixMilli())
	}
	return decodeEnvelope(b)
}

// encodeEnv returns the bytes to store for e in the Cache's format.
func (c *core) encodeEnv(e envelope) ([]byte, error) {
	if c.ks.keyv {
		return encodeKeyv(e)
	}
	return encodeEnvelope(e), nil
}

// parse decodes a cached value. Its error is errKeyvMiss (nothing
// usable: load and store), another program's entry this package cannot
// read (foreign: load, do not store), or errCorrupt or a codec error
// (ours, broken: load and store over it).
func (c *core) parse(b []byte) (any, envelope, error) {
	env, err := c.decodeEnv(b)
	if err != nil {
		return nil, env, err
	}
	if env.neg {
		return nil, env, nil
	}
	v, err := c.dec(env.payload)
	if err != nil {
		return nil, env, c.codecErr(err)
	}
	return v, env, nil
}

// codecErr wraps a codec error: with FormatKeyv the entry is another
// program's and is not overwritten.
func (c *core) codecErr(err error) error {
	if c.ks.keyv {
		return fmt.Errorf("%w: the Keyv value does not decode into the cache's type: %w", ErrUnreadable, err)
	}
	return fmt.Errorf("%w: %w", errCorrupt, err)
}

// foreign reports whether err is an entry that must not be overwritten by
// a load: one written by another program that this package cannot read.
func (c *core) foreign(err error) bool {
	return c.ks.keyv && errors.Is(err, ErrUnreadable)
}

// badValue counts and logs an unusable cached value before it is reloaded
// (and stored over, unless it is foreign).
func (c *core) badValue(key string, err error) {
	c.st.misses.Add(1)
	if errors.Is(err, errKeyvMiss) {
		return
	}
	c.st.corrupt.Add(1)
	if c.foreign(err) {
		c.o.Logger.Warn("cache: cannot read the cached entry; loading without storing over it", "namespace", c.ns, "key", key, "format", c.o.Format.String(), "err", err)
		return
	}
	c.o.Logger.Warn("cache: corrupt cached value, reloading", "namespace", c.ns, "key", key, "err", err)
}

// loadUnstored serves a key whose entry cannot be read: the loader's
// answer, not stored.
func (c *core) loadUnstored(ctx context.Context, load loadFunc) (any, error) {
	c.st.loads.Add(1)
	v, err := load(ctx)
	if err != nil && !errors.Is(err, ErrNotFound) {
		c.st.loadErrors.Add(1)
	}
	return v, err
}

func result(v any, env envelope) (any, error) {
	if env.neg {
		return nil, ErrNotFound
	}
	return v, nil
}

func ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
		return fmt.Errorf("%w (%w)", ctx.Err(), err)
	}
	return err
}

// hit is what lookup found in Redis.
type hit struct {
	env   envelope
	size  int
	ep    uint64 // near-cache epoch snapshot taken before the read
	epOK  bool
	force bool  // an unusable value is there: lease past it
	bad   error // why the value there is unusable (nil: none, or a miss)
}

// lookup reads key's value from Redis (through the auto-pipeliner) after
// a near-cache miss. found is false on a miss or a corrupt envelope.
// env.payload aliases a string and must not be modified.
func (c *core) lookup(ctx context.Context, key string) (h hit, found bool, err error) {
	if err := c.check(key); err != nil {
		return h, false, err
	}
	h.ep, h.epOK = c.snapshot(key)
	s, err := c.redisGet(ctx, c.ks.value(key))
	switch {
	case errors.Is(err, redis.Nil):
		c.st.misses.Add(1)
		return h, false, nil
	case err != nil:
		return h, false, ctxErr(ctx, fmt.Errorf("cache: get %q: %w", key, err))
	}
	h.size = len(s)
	h.env, err = c.decodeEnv(unsafe.Slice(unsafe.StringData(s), len(s)))
	if err != nil {
		c.badValue(key, err)
		h.force = true
		if !errors.Is(err, errKeyvMiss) {
			h.bad = err
		}
		return h, false, nil
	}
	return h, true, nil
}

// redisGet reads one value through the pipelined fast path (which falls
// back to the go-redis client on any error of its own), or through the
// client's auto-pipeliner with PipeliningOff.
func (c *core) redisGet(ctx context.Context, rk string) (string, error) {
	if c.gets == nil {
		return c.rd.Get(ctx, rk).Result()
	}
	// Through the client's hook chain: pipeHook serves it from the
	// pipelined connections (or hands it on to go-redis on their errors).
	cmd := redis.NewStringCmd(ctx, "get", rk)
	_ = c.client.Process(context.WithValue(ctx, fastGetKey{}, c.gets), cmd)
	return cmd.Result()
}

// redisHit records a usable Redis hit and reports whether to refresh in
// the background and whether the value may go to the near cache.
func (c *core) redisHit(env envelope) (refresh, keep bool) {
	c.st.redisHits.Add(1)
	nowMS := time.Now().UnixMilli()
	if nowMS >= env.expiryMS {
		// Only reachable with StaleWhileRevalidate: Redis keeps the value
		// past its logical expiry for that window.
		c.st.stale.Add(1)
		return true, false
	}
	return c.xfetch(nowMS, env), true
}

func (c *core) afterRedisHit(key string, v any, env envelope, size int, ep uint64, epOK bool, load loadFunc) {
	refresh, keep := c.redisHit(env)
	if refresh {
		c.refreshAsync(key, load)
	}
	if keep {
		c.storeNear(key, ep, epOK, v, env, size)
	}
}
