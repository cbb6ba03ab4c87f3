package cache

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Cache is a typed cache of one namespace: a thin edge over a []byte core
// that encodes values with Options.Codec. It is safe for concurrent use.
// Close it to stop its tracking connections and background refreshes.
type Cache[T any] struct {
	c *core
}

// New returns a cache over client (a *redis.Client or *redis.ClusterClient
// for the near cache, the pipelined reads and push wake-ups; other
// UniversalClients work without them, waiters then poll, and NearEntries
// > 0 is refused with an error wrapping nodeconn's unsupported-client
// error). It starts one tracking connection per master; Close stops them.
func New[T any](client redis.UniversalClient, o Options) (*Cache[T], error) {
	c, err := newCore(client, o)
	if err != nil {
		return nil, err
	}
	codec := c.o.Codec
	c.enc = codec.Marshal
	c.dec = func(b []byte) (any, error) {
		var v T
		if err := codec.Unmarshal(b, &v); err != nil {
			return nil, err
		}
		return v, nil
	}
	return &Cache[T]{c: c}, nil
}

// Tagged sets the function that names the tags of a value when it is
// stored (by a load or a Write); InvalidateTags then drops every key
// stored under a tag. Call it before the first Get.
func (c *Cache[T]) Tagged(tags func(key string, v T) []string) *Cache[T] {
	c.c.tags = func(key string, v any) []string {
		t, _ := v.(T)
		return tags(key, t)
	}
	return c
}

// Close stops the tracking connections and waits for background
// refreshes. It does not close the Redis client.
func (c *Cache[T]) Close() error {
	c.c.close()
	return nil
}

// WaitReady blocks until every master is tracked (the near cache is in
// use and waiters are woken by pushes) or ctx is done.
func (c *Cache[T]) WaitReady(ctx context.Context) error { return c.c.waitTracking(ctx) }

func typed[T any](v any, err error) (T, error) {
	t, _ := v.(T)
	return t, err
}

// Get returns the value of key: from the near cache, else from Redis,
// else by calling load, once across all processes sharing the Redis
// deployment (the others wait for its result, at most LeaseWait), and
// storing the result. load returns ErrNotFound (possibly wrapped) when
// the key does not exist; Get then returns ErrNotFound and caches that
// answer for NegativeTTL. A load error is returned as is and not cached.
// A cached value that cannot be decoded is treated as a miss.
//
// Near to expiry, a reader may start a background reload (XFetch); with
// StaleWhileRevalidate an expired value is returned while one process
// reloads it.
func (c *Cache[T]) Get(ctx context.Context, key string, load func(ctx context.Context) (T, error)) (T, error) {
	var zero T
	if c.c.near != nil {
		if e, refresh, ok := c.c.nearGet(key); ok {
			if refresh {
				c.c.refreshAsync(key, wrapLoad(load))
			}
			if e.neg {
				return zero, ErrNotFound
			}
			v, _ := e.val.(T)
			return v, nil
		}
	}
	h, found, err := c.c.lookup(ctx, key)
	if err != nil {
		return zero, err
	}
	if c.c.foreign(h.bad) {
		return typed[T](c.c.loadUnstored(ctx, wrapLoad(load)))
	}
	if found {
		if h.env.neg {
			if _, keep := c.c.redisHit(h.env); keep {
				c.c.storeNear(key, h.ep, h.epOK, nil, h.env, h.size)
			}
			return zero, ErrNotFound
		}
		var v T
		err := c.c.o.Codec.Unmarshal(h.env.payload, &v)
		if err == nil {
			refresh, keep := c.c.redisHit(h.env)
			if refresh {
				c.c.refreshAsync(key, wrapLoad(load))
			}
			if keep && h.epOK {
				c.c.storeNear(key, h.ep, true, v, h.env, h.size)
			}
			return v, nil
		}
		err = c.c.codecErr(err)
		c.c.badValue(key, err)
		if c.c.foreign(err) {
			return typed[T](c.c.loadUnstored(ctx, wrapLoad(load)))
		}
		h.force = true
	}
	return typed[T](c.c.fetch(ctx, key, wrapLoad(load), h.force, h.ep, h.epOK))
}

func wrapLoad[T any](load func(ctx context.Context) (T, error)) loadFunc {
	return func(ctx context.Context) (any, error) {
		v, err := load(ctx)
		if err != nil {
			return nil, err
		}
		return v, nil
	}
}

// Peek returns the cached value of key without loading it: from the near
// cache, else from Redis. It returns ErrNotFound when nothing usable is
// cached (no entry, an expired one, a cached "not found"), and an error
// wrapping ErrUnreadable that says why when the entry cannot be read (a
// corrupt value; with FormatKeyv a Node Buffer, an unknown envelope
// field, another serializer's bytes). It does not fill the near cache.
func (c *Cache[T]) Peek(ctx context.Context, key string) (T, error) {
	var zero T
	if err := c.c.check(key); err != nil {
		return zero, err
	}
	if e, _, ok := c.c.nearGet(key); ok {
		if e.neg {
			return zero, ErrNotFound
		}
		v, _ := e.val.(T)
		return v, nil
	}
	s, err := c.c.redisGet(ctx, c.c.ks.value(key))
	switch {
	case errors.Is(err, redis.Nil):
		return zero, ErrNotFound
	case err != nil:
		return zero, ctxErr(ctx, fmt.Errorf("cache: peek %q: %w", key, err))
	}
	env, err := c.c.decodeEnv([]byte(s))
	switch {
	case errors.Is(err, errKeyvMiss):
		return zero, ErrNotFound
	case err != nil:
		return zero, fmt.Errorf("cache: %q: %w", key, err)
	case env.neg || time.Now().UnixMilli() >= env.expiryMS:
		return zero, ErrNotFound
	}
	var v T
	if err := c.c.o.Codec.Unmarshal(env.payload, &v); err != nil {
		return zero, fmt.Errorf("cache: %q: %w", key, c.c.codecErr(err))
	}
	return v, nil
}

// GetMany returns the values of keys (keys that do not exist are absent
// from the map). Values missing from the near cache are read from Redis
// in one pipeline (grouped per node on a cluster); the keys still missing
// are leased in one pipeline and loaded with one call of load, which
// returns the values it found (absent keys count as not found and are
// cached negatively). Keys another process is loading are waited for.
//
// A key that fails on its own (a Redis error for that key such as
// WRONGTYPE or a node that did not answer, a value the codec cannot
// encode) is absent from the map and reported in the error: errors.Join
// of one *KeyError per failed key, while every other key is served. An
// error of load itself or of ctx is returned joined with them; the map
// then holds what was found before it.
func (c *Cache[T]) GetMany(ctx context.Context, keys []string, load func(ctx context.Context, missing []string) (map[string]T, error)) (map[string]T, error) {
	batch := func(ctx context.Context, missing []string) (map[string]any, error) {
		m, err := load(ctx, missing)
		if err != nil {
			return nil, err
		}
		out := make(map[string]any, len(m))
		for k, v := range m {
			out[k] = v
		}
		return out, nil
	}
	vals, err := c.c.getMany(ctx, keys, batch)
	out := make(map[string]T, len(vals))
	for k, v := range vals {
		t, _ := v.(T)
		out[k] = t
	}
	return out, err
}

// Write runs write (the database write, committed when it returns) and
// then makes the cache consistent, never inside the transaction:
//
//   - Before write runs, the writer registers in Redis (a counter next to
//     the key) and drops its own near copy.
//   - After it returns, the entry is invalidated (value and load lease
//     deleted, so a reader that loaded the old row cannot store it), and
//     then filled with the returned value only if no other Write of the key
//     overlapped this one; otherwise it stays empty for the next reader.
//   - If write fails, the entry is invalidated anyway (a failed commit may
//     still have committed) and write's error is returned.
//   - If the cache step fails after a successful write, the value is
//     returned with an error wrapping ErrNotInvalidated: the database has
//     the new value, readers may see the old one until TTL; retry with
//     Invalidate.
//
// The cache step runs even if ctx is cancelled while write runs.
func (c *Cache[T]) Write(ctx context.Context, key string, write func(ctx context.Context) (T, error)) (T, error) {
	return typed[T](c.c.write(ctx, key, wrapLoad(write)))
}

// Invalidate deletes keys from Redis and from every near cache (this
// process's at once, the others through tracking). A load of one of them
// that is in flight is not stored.
func (c *Cache[T]) Invalidate(ctx context.Context, keys ...string) error {
	return c.c.invalidate(ctx, keys)
}

// InvalidateTags invalidates every key stored under one of tags (see
// Tagged) and returns how many keys that was.
func (c *Cache[T]) InvalidateTags(ctx context.Context, tags ...string) (int, error) {
	n, err := invalidateTags(ctx, c.c.client, c.c.ks, tags)
	return n, err
}

// Stats returns the cache's counters.
func (c *Cache[T]) Stats() Stats {
	s := Stats{
		Namespace:             c.c.ns,
		RedisHits:             c.c.st.redisHits.Load(),
		Misses:                c.c.st.misses.Load(),
		Loads:                 c.c.st.loads.Load(),
		LoadErrors:            c.c.st.loadErrors.Load(),
		StaleServed:           c.c.st.stale.Load(),
		EarlyRefreshes:        c.c.st.early.Load(),
		Corrupt:               c.c.st.corrupt.Load(),
		StaleSetsRejected:     c.c.st.staleSets.Load(),
		LeaseWaits:            c.c.st.leaseWaits.Load(),
		LeaseTimeouts:         c.c.st.leaseTimeouts.Load(),
		InvalidationsReceived: c.c.st.invals.Load(),
		NearFlushes:           c.c.st.flushes.Load(),
		TrackingUp:            c.c.trk.up.Load(),
		TrackingDrops:         c.c.trk.drops.Load(),
	}
	if n := c.c.near; n != nil {
		for i := range n.shards {
			s.NearHits += n.shards[i].hits.Load()
		}
		s.Evictions = n.evictions.Load()
		s.NearEntries, s.NearBytes = n.size()
	}
	return s
}

// getMany is GetMany's core.
func (c *core) getMany(ctx context.Context, keys []string, load func(context.Context, []string) (map[string]any, error)) (map[string]any, error) {
	if c.closed.Load() {
		return nil, ErrClosed
	}
	for _, k := range keys {
		if err := c.ks.checkKey(k); err != nil {
			return nil, err
		}
	}
	out := make(map[string]any, len(keys))
	var rest []string
	seen := make(map[string]bool, len(keys))
	for _, k := range keys {
		if seen[k] {
			continue
		}
		seen[k] = true
		if e, refresh, ok := c.nearGet(k); ok {
			if refresh {
				c.refreshAsync(k, single(load, k))
			}
			if !e.neg {
				out[k] = e.val
			}
			continue
		}
		rest = append(rest, k)
	}
	if len(rest) == 0 {
		return out, nil
	}
	type snap struct {
		ep uint64
		ok bool
	}
	snaps := make([]snap, len(rest))
	cmds := make([]*redis.StringCmd, len(rest))
	for i, k := range rest {
		snaps[i].ep, snaps[i].ok = c.snapshot(k)
	}
	// Per-command errors are looked at one by one below (one node of a
	// cluster may fail while the others answer).
	_, _ = c.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range rest {
			cmds[i] = p.Get(ctx, c.ks.value(k))
		}
		return nil
	})
	if ctx.Err() != nil {
		return out, fmt.Errorf("cache: get many: %w", ctx.Err())
	}
	var missing []int
	var keyErrs []error
	for i, k := range rest {
		b, err := cmds[i].Bytes()
		switch {
		case err == nil:
			v, env, perr := c.parse(b)
			if perr == nil {
				c.afterRedisHit(k, v, env, len(b), snaps[i].ep, snaps[i].ok, single(load, k))
				if !env.neg {
					out[k] = v
				}
				continue
			}
			c.badValue(k, perr)
			if c.foreign(perr) {
				// Another program's entry: served from the loader, not
				// stored over.
				v, lerr := c.loadUnstored(ctx, single(load, k))
				switch {
				case lerr == nil:
					out[k] = v
				case !errors.Is(lerr, ErrNotFound):
					keyErrs = append(keyErrs, &KeyError{Key: k, Err: lerr})
				}
				continue
			}
		case errors.Is(err, redis.Nil):
			c.st.misses.Add(1)
		default:
			keyErrs = append(keyErrs, &KeyError{Key: k, Err: err})
			continue
		}
		missing = append(missing, i)
	}
	if len(missing) == 0 {
		return out, errors.Join(keyErrs...)
	}
	// Lease every missing key in one pipeline (forced: the GET above saw
	// nothing usable).
	token := newToken()
	if err := leaseScript.Load(ctx, c.client); err != nil {
		return out, errors.Join(append(keyErrs, ctxErr(ctx, fmt.Errorf("cache: get many: %w", err)))...)
	}
	lcmds := make([]*redis.Cmd, len(missing))
	_, err := c.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for j, i := range missing {
			lcmds[j] = leaseScript.Queue(ctx, p, []string{c.ks.value(rest[i]), c.ks.lease(rest[i])}, token, c.o.LeaseTTL.Milliseconds(), "1")
		}
		return nil
	})
	if ctx.Err() != nil {
		return out, ctxErr(ctx, fmt.Errorf("cache: get many: lease: %w", err))
	}
	var leased, others []int
	for j, i := range missing {
		res, err := lcmds[j].Slice()
		switch {
		case err != nil:
			keyErrs = append(keyErrs, &KeyError{Key: rest[i], Err: fmt.Errorf("lease: %w", leaseScript.Err(err))})
		case len(res) > 0 && res[0] == int64(1):
			leased = append(leased, i)
		default:
			others = append(others, i)
		}
	}
	if len(leased) > 0 {
		ks := make([]string, len(leased))
		for j, i := range leased {
			ks[j] = rest[i]
		}
		c.st.loads.Add(1)
		readStart := time.Now()
		found, lerr := load(ctx, ks)
		if lerr != nil {
			c.st.loadErrors.Add(1)
			for _, k := range ks {
				c.release(k, token)
			}
			return out, errors.Join(append(keyErrs, lerr)...)
		}
		for _, i := range leased {
			k := rest[i]
			v, ok := found[k]
			got, err := c.loadAndFillFrom(ctx, k, token, func(context.Context) (any, error) {
				if !ok {
					return nil, ErrNotFound
				}
				return v, nil
			}, snaps[i].ep, snaps[i].ok, readStart)
			c.st.loads.Add(-1) // counted once for the batch above
			switch {
			case err == nil:
				out[k] = got
			case !errors.Is(err, ErrNotFound):
				keyErrs = append(keyErrs, &KeyError{Key: k, Err: err})
			}
		}
	}
	for _, i := range others {
		k := rest[i]
		v, err := c.fetch(ctx, k, single(load, k), false, snaps[i].ep, snaps[i].ok)
		switch {
		case errors.Is(err, ErrNotFound):
		case err != nil:
			if ctx.Err() != nil {
				return out, errors.Join(append(keyErrs, err)...)
			}
			keyErrs = append(keyErrs, &KeyError{Key: k, Err: err})
		default:
			out[k] = v
		}
	}
	return out, errors.Join(keyErrs...)
}

// single adapts a batch loader to one key.
func single(load func(context.Context, []string) (map[string]any, error), key string) loadFunc {
	return func(ctx context.Context) (any, error) {
		m, err := load(ctx, []string{key})
		if err != nil {
			return nil, err
		}
		v, ok := m[key]
		if !ok {
			return nil, ErrNotFound
		}
		return v, nil
	}
}
