package lock

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Holding is what Inspect found in Redis for one lock.
type Holding struct {
	Name string
	// Key is the lock key and FenceKey its fencing counter (see
	// KeyLayout).
	Key, FenceKey string
	// Held says the lock key exists.
	Held bool
	// Foreign says it holds something rediskit did not write (see
	// TakenError.Foreign); Holder then describes it and Token is 0.
	Foreign bool
	// Holder is the holder's Options.Holder, or a foreign holder's
	// description.
	Holder string
	// Token is a rediskit holder's fencing token.
	Token int64
	// TTL is the holder's time left; negative when the key has no expiry.
	TTL time.Duration
	// Fence is the counter's value: the last token drawn (0 before any).
	Fence int64
}

// FenceKey returns the key of name's fencing counter, the INCR counter
// that gives the Go side its tokens. A Node service that locks the same
// resource (KeyLayout PlainKeys) draws its tokens from it too: INCR right
// after acquiring, then check that the lock still carries its value
// (see the package doc).
func (l *Locker) FenceKey(name string) (string, error) {
	k, err := keysFor(l.opts.Prefix, name, l.opts.KeyLayout)
	if err != nil {
		return "", err
	}
	return k.fence, nil
}

// Inspect reads who holds lock name, without taking it: a rediskit
// holder with its token, a foreign one (a node-redlock value, any other
// value or key type), or nobody. With NewRedlock it reports the first
// node that has the lock, else the first that answered.
func (l *Locker) Inspect(ctx context.Context, name string) (Holding, error) {
	k, err := keysFor(l.opts.Prefix, name, l.opts.KeyLayout)
	if err != nil {
		return Holding{}, err
	}
	var first *Holding
	var errs []error
	for _, n := range l.nodes {
		h, err := inspectNode(ctx, n.client, name, k)
		switch {
		case err != nil:
			errs = append(errs, err)
		case h.Held:
			return h, nil
		case first == nil:
			first = &h
		}
	}
	if first != nil {
		return *first, nil
	}
	return Holding{}, fmt.Errorf("lock: inspect %q: %w", name, errors.Join(errs...))
}

func inspectNode(ctx context.Context, c redis.UniversalClient, name string, k keys) (Holding, error) {
	h := Holding{Name: name, Key: k.lock, FenceKey: k.fence}
	var typ *redis.StatusCmd
	var val, fence *redis.StringCmd
	var pttl *redis.DurationCmd
	// One MULTI in the lock's slot: a consistent snapshot. GET fails
	// inside it (WRONGTYPE) when the key is not a string; TYPE says what
	// it is then.
	_, err := c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		typ = p.Type(ctx, k.lock)
		val = p.Get(ctx, k.lock)
		pttl = p.PTTL(ctx, k.lock)
		fence = p.Get(ctx, k.fence)
		return nil
	})
	if err != nil && typ.Err() != nil {
		return h, err
	}
	if f, err := fence.Int64(); err == nil {
		h.Fence = f
	}
	switch t := typ.Val(); t {
	case "none":
		return h, nil
	case "string":
		h.Held = true
		var ours bool
		h.Holder, h.Token, ours = parseValue(val.Val())
		h.Foreign = !ours
	default:
		h.Held, h.Foreign = true, true
		h.Holder = fmt.Sprintf(foreignType, t)
	}
	h.TTL = pttl.Val()
	if h.TTL < 0 {
		h.TTL = -1
	}
	return h, nil
}
