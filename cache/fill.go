package cache

// The load path of a miss: one flight per key per process (fetch), a
// lease in Redis so one caller loads while the others wait for its fill
// (leaseLoop), the fill and its tags (loadAndFill, addTags), the lease's
// release, and early refreshes (refreshAsync).

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// fetch runs the lease protocol, once per key per process at a time.
func (c *core) fetch(ctx context.Context, key string, load loadFunc, force bool, ep uint64, epOK bool) (any, error) {
	c.flightMu.Lock()
	if f := c.flights[key]; f != nil {
		c.flightMu.Unlock()
		select {
		case <-f.done:
			return f.v, f.err
		case <-ctx.Done():
			return nil, fmt.Errorf("cache: get %q: %w", key, ctx.Err())
		}
	}
	f := &flight{done: make(chan struct{})}
	c.flights[key] = f
	c.flightMu.Unlock()
	defer func() {
		c.flightMu.Lock()
		delete(c.flights, key)
		c.flightMu.Unlock()
		close(f.done)
	}()
	f.v, f.err = c.leaseLoop(ctx, key, load, force, ep, epOK)
	return f.v, f.err
}

func newToken() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func (c *core) leaseLoop(ctx context.Context, key string, load loadFunc, force bool, ep uint64, epOK bool) (any, error) {
	deadline := time.Now().Add(c.o.LeaseWait)
	token := newToken()
	keys := []string{c.ks.value(key), c.ks.lease(key)}
	poll := 5 * time.Millisecond
	for {
		wake := c.addWaiter(key)
		f := "0"
		if force {
			f = "1"
		}
		res, err := leaseScript.Run(ctx, c.client, keys, token, c.o.LeaseTTL.Milliseconds(), f).Slice()
		if err != nil {
			c.dropWaiter(key, wake)
			return nil, ctxErr(ctx, fmt.Errorf("cache: lease %q: %w", key, leaseScript.Err(err)))
		}
		code, _ := res[0].(int64)
		if code != 2 {
			c.dropWaiter(key, wake)
		}
		switch code {
		case 0:
			s, _ := res[1].(string)
			v, env, err := c.parse([]byte(s))
			if err == nil {
				c.afterRedisHit(key, v, env, len(s), ep, epOK, load)
				return result(v, env)
			}
			c.badValue(key, err)
			if c.foreign(err) {
				return c.loadUnstored(ctx, load)
			}
			force = true
			continue
		case 1:
			return c.loadAndFill(ctx, key, token, load, ep, epOK)
		}
		// Another process is loading: wait for its fill (a tracking push
		// for the key) or poll when tracking is down.
		c.st.leaseWaits.Add(1)
		force = false
		left := time.Until(deadline)
		if left <= 0 {
			c.dropWaiter(key, wake)
			c.st.leaseTimeouts.Add(1)
			c.o.Logger.Warn("cache: lease wait timed out, loading without storing", "namespace", c.ns, "key", key)
			c.st.loads.Add(1)
			v, err := load(ctx)
			if err != nil && !errors.Is(err, ErrNotFound) {
				c.st.loadErrors.Add(1)
			}
			if errors.Is(err, ErrNotFound) {
				return nil, ErrNotFound
			}
			return v, err
		}
		var wait time.Duration
		if wake == nil {
			wait = min(left, poll)
			poll = min(poll*2, 100*time.Millisecond)
		} else {
			// A missed push (lease expiry is only noticed lazily by
			// Redis) must not cost the whole wait.
			wait = min(left, c.o.LeaseTTL/4+time.Millisecond)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			c.dropWaiter(key, wake)
			return nil, fmt.Errorf("cache: get %q: %w", key, ctx.Err())
		case <-wake:
		case <-t.C:
			c.dropWaiter(key, wake)
		}
		t.Stop()
	}
}

// loadAndFill calls the loader while holding the lease and stores the
// result if the lease is still ours.
func (c *core) loadAndFill(ctx context.Context, key, token string, load loadFunc, ep uint64, epOK bool) (any, error) {
	return c.loadAndFillFrom(ctx, key, token, load, ep, epOK, time.Time{})
}

// loadAndFillFrom is loadAndFill for data read since readStart (zero:
// load reads it now).
func (c *core) loadAndFillFrom(ctx context.Context, key, token string, load loadFunc, ep uint64, epOK bool, readStart time.Time) (any, error) {
	keys := []string{c.ks.value(key), c.ks.lease(key)}
	start := time.Now()
	if readStart.IsZero() {
		readStart = start
	}
	c.st.loads.Add(1)
	v, err := load(ctx)
	delta := time.Since(start)
	env := envelope{deltaMS: uint32(min(delta.Milliseconds()+1, math.MaxUint32))}
	var px time.Duration
	switch {
	case errors.Is(err, ErrNotFound):
		if c.o.NegativeTTL < 0 {
			c.release(key, token)
			return nil, ErrNotFound
		}
		px = c.jitter(c.o.NegativeTTL)
		env.neg = true
		env.expiryMS = time.Now().Add(px).UnixMilli()
	case err != nil:
		c.st.loadErrors.Add(1)
		c.release(key, token)
		return nil, err
	default:
		ttl := c.jitter(c.o.TTL)
		env.expiryMS = time.Now().Add(ttl).UnixMilli()
		env.payload, err = c.enc(v)
		if err != nil {
			c.release(key, token)
			return nil, fmt.Errorf("cache: encode %q: %w", key, err)
		}
		px = ttl + c.o.StaleWhileRevalidate
		if err := c.addTags(ctx, key, v, px, readStart); err != nil {
			if errors.Is(err, errTagRace) {
				c.st.staleSets.Add(1)
			}
			c.release(key, token)
			return v, nil // serve what we loaded; do not cache it
		}
	}
	// The fill must happen even if the caller gave up meanwhile.
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	raw, err := c.encodeEnv(env)
	if err != nil {
		c.release(key, token)
		c.o.Logger.Warn("cache: cannot encode the value: not stored", "namespace", c.ns, "key", key, "err", err)
		return result(v, env)
	}
	n, ferr := fillScript.Run(fctx, c.client, keys, token, raw, strconv.FormatInt(max(1, px.Milliseconds()), 10)).Int()
	if ferr != nil {
		c.o.Logger.Warn("cache: fill failed", "namespace", c.ns, "key", key, "err", ferr)
	} else if n == 0 {
		c.st.staleSets.Add(1)
	} else {
		c.storeNear(key, ep, epOK, v, env, len(raw))
	}
	if env.neg {
		return nil, ErrNotFound
	}
	return v, nil
}

func (c *core) release(key, token string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = fillScript.Run(ctx, c.client, []string{c.ks.value(key), c.ks.lease(key)}, token, "", "0").Err()
}

// tagStampTTL is how long a tag remembers its last invalidation; loads
// and writes longer than this may miss one (LeaseTTL is far shorter).
const tagStampTTL = 10 * time.Minute

// tagSkew is the clock difference tolerated between the process that
// invalidates a tag and the one that loads.
const tagSkew = time.Second

// errTagRace means a tag of the value was invalidated after the data was
// read: the value must not be stored.
var errTagRace = errors.New("cache: tag invalidated during load")

// addTags records key in the tag sets of v before the value is stored, so
// a tag invalidation after the fill always finds it. A tag invalidated
// since readStart (the moment before the data was read, minus tagSkew)
// makes it return errTagRace: the invalidation may not have seen the key.
func (c *core) addTags(ctx context.Context, key string, v any, px time.Duration, readStart time.Time) error {
	if c.tags == nil {
		return nil
	}
	tags := c.tags(key, v)
	if len(tags) == 0 {
		return nil
	}
	if err := tagaddScript.Load(ctx, c.client); err != nil {
		return err
	}
	cmds := make([]*redis.Cmd, len(tags))
	_, err := c.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, t := range tags {
			set, stamp := c.ks.tag(t)
			cmds[i] = tagaddScript.Queue(ctx, p, []string{set, stamp}, key, (px + time.Minute).Milliseconds())
		}
		return nil
	})
	if err != nil {
		return err
	}
	limit := readStart.Add(-tagSkew).UnixMilli()
	for _, cmd := range cmds {
		if at, _ := cmd.Int64(); at >= limit {
			return errTagRace
		}
	}
	return nil
}

// refreshAsync reloads key in the background (XFetch or stale), at most
// once at a time per key and process, and across processes by the lease.
func (c *core) refreshAsync(key string, load loadFunc) {
	if _, busy := c.refreshing.LoadOrStore(key, struct{}{}); busy {
		return
	}
	c.closeMu.RLock()
	defer c.closeMu.RUnlock()
	if c.closed.Load() {
		c.refreshing.Delete(key)
		return
	}
	c.st.early.Add(1)
	c.bg.Go(func() {
		defer c.refreshing.Delete(key)
		ctx, cancel := c.bgCtx()
		defer cancel()
		token := newToken()
		keys := []string{c.ks.value(key), c.ks.lease(key)}
		ep, epOK := c.snapshot(key)
		res, err := leaseScript.Run(ctx, c.client, keys, token, c.o.LeaseTTL.Milliseconds(), "1").Slice()
		if err != nil {
			return
		}
		if code, _ := res[0].(int64); code == 1 {
			_, _ = c.loadAndFill(ctx, key, token, load, ep, epOK)
		}
	})
}
