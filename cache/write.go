package cache

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// write runs fn (the database write) and then makes the cache consistent:
// see Cache.Write for the semantics.
func (c *core) write(ctx context.Context, key string, fn loadFunc) (any, error) {
	if err := c.check(key); err != nil {
		return nil, err
	}
	vk, lk := c.ks.value(key), c.ks.lease(key)
	pk, dk := c.ks.markers(key)
	markTTL := strconv.FormatInt(c.o.WriteTimeout.Milliseconds(), 10)
	registered := wbeginScript.Run(ctx, c.client, []string{pk, dk}, markTTL).Err() == nil
	if c.near != nil {
		c.near.invalidate(key)
	}
	start := time.Now()
	v, ferr := fn(ctx)

	// After the database write the cache step must run even if the
	// caller's context is done: the commit may have happened.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	defer func() {
		if c.near != nil {
			c.near.invalidate(key)
		}
	}()
	payload := ""
	var px time.Duration
	if ferr == nil && registered {
		ttl := c.jitter(c.o.TTL)
		b, err := c.enc(v)
		if err == nil {
			px = ttl + c.o.StaleWhileRevalidate
			if c.addTags(cctx, key, v, px, start) == nil {
				if raw, err := c.encodeEnv(envelope{expiryMS: time.Now().Add(ttl).UnixMilli(), payload: b}); err == nil {
					payload = string(raw)
				}
			}
		}
	}
	var cerr error
	if registered {
		cerr = wendScript.Run(cctx, c.client, []string{vk, lk, pk, dk}, payload, max(1, px.Milliseconds()), markTTL).Err()
	} else {
		// We could not register before the write: no overlap detection,
		// so only invalidate.
		cerr = c.client.Del(cctx, vk, lk).Err()
	}
	if ferr != nil {
		if cerr != nil {
			c.o.Logger.Warn("cache: invalidate after failed write", "namespace", c.ns, "key", key, "err", cerr)
		}
		return nil, ferr
	}
	if cerr != nil {
		return v, fmt.Errorf("%w: %q: %w", ErrNotInvalidated, key, cerr)
	}
	return v, nil
}

// invalidate deletes keys (values and leases) in Redis, which also
// notifies every near cache through tracking.
func (c *core) invalidate(ctx context.Context, keys []string) error {
	if c.near != nil {
		for _, k := range keys {
			c.near.invalidate(k)
		}
	}
	return invalidateKeys(ctx, c.client, c.ks, keys)
}

func invalidateKeys(ctx context.Context, client redis.UniversalClient, ks keyspace, keys []string) error {
	if len(keys) == 0 {
		return nil
	}
	for _, k := range keys {
		if err := ks.checkKey(k); err != nil {
			return err
		}
	}
	// DEL of the value and its lease: one slot in both formats.
	_, err := client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, k := range keys {
			p.Del(ctx, ks.value(k), ks.lease(k))
		}
		return nil
	})
	if err != nil {
		return ctxErr(ctx, fmt.Errorf("cache: invalidate: %w", err))
	}
	return nil
}

func invalidateTags(ctx context.Context, client redis.UniversalClient, ks keyspace, tags []string) (int, error) {
	var keys []string
	for _, t := range tags {
		set, stamp := ks.tag(t)
		m, err := tagtakeScript.Run(ctx, client, []string{set, stamp}, time.Now().UnixMilli(), tagStampTTL.Milliseconds()).StringSlice()
		if err != nil && !errors.Is(err, redis.Nil) {
			return 0, ctxErr(ctx, fmt.Errorf("cache: invalidate tag %q: %w", t, err))
		}
		keys = append(keys, m...)
	}
	return len(keys), invalidateKeys(ctx, client, ks, keys)
}

// Invalidate deletes keys of namespace ns from Redis, for processes that
// hold no Cache of that namespace (a relay, an admin tool). Every near
// cache of the namespace drops them through tracking, and in-flight loads
// of them are not stored.
func Invalidate(ctx context.Context, client redis.UniversalClient, ns string, keys ...string) error {
	return InvalidateFormat(ctx, client, FormatRediskit, ns, keys...)
}

// InvalidateTags invalidates every key recorded under tags in namespace
// ns and returns how many keys that was. Tag sets are read and deleted
// atomically, without SCAN.
func InvalidateTags(ctx context.Context, client redis.UniversalClient, ns string, tags ...string) (int, error) {
	return InvalidateTagsFormat(ctx, client, FormatRediskit, ns, tags...)
}

// InvalidateFormat is Invalidate for the Caches of namespace ns that use
// format f (with FormatKeyv it deletes the Keyv entries, which Node's Keyv
// then misses too).
func InvalidateFormat(ctx context.Context, client redis.UniversalClient, f Format, ns string, keys ...string) error {
	ks, err := newKeyspace(f, ns)
	if err != nil {
		return err
	}
	return invalidateKeys(ctx, client, ks, keys)
}

// InvalidateTagsFormat is InvalidateTags for the Caches of namespace ns
// that use format f.
func InvalidateTagsFormat(ctx context.Context, client redis.UniversalClient, f Format, ns string, tags ...string) (int, error) {
	ks, err := newKeyspace(f, ns)
	if err != nil {
		return 0, err
	}
	return invalidateTags(ctx, client, ks, tags)
}
