package memory

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"
	"github.com/rediskit/rediskit/internal/script"
	"github.com/rediskit/rediskit/internal/slot"
)

//go:embed set-1.lua
var setSrc string

var setScript = script.New("set-1.lua", setSrc)

var (
	// ErrNotFound is returned by Get when the id has no value.
	ErrNotFound = errors.New("memory: not found")
	// ErrBucketFull is wrapped in a *FullError when a Set would take a
	// bucket past its field limit (the listpack entry limit). It means the
	// namespace holds more items than it was sized for: raise
	// BucketOptions.Items (with a new namespace) or delete items.
	ErrBucketFull = errors.New("memory: bucket full")
	// ErrTooLong is wrapped in a *TooLongError when an id or value is
	// longer than the listpack value limit.
	ErrTooLong = errors.New("memory: id or value too long for a bucket")
	// ErrLayout is returned by NewBuckets when the namespace already
	// exists with another bucket count.
	ErrLayout = errors.New("memory: namespace exists with another bucket count")
	// ErrNamespace is returned by NewBuckets for an empty namespace or
	// one containing '{' or '}'.
	ErrNamespace = errors.New("memory: bad namespace")
)

// FullError says which bucket refused a write. It unwraps to
// ErrBucketFull.
type FullError struct {
	Bucket string // the bucket key
	Fields int    // fields in the bucket now
	Limit  int    // the field limit
}

func (e *FullError) Error() string {
	return fmt.Sprintf("memory: bucket %s full (%d of %d fields)", e.Bucket, e.Fields, e.Limit)
}

// Unwrap returns ErrBucketFull.
func (e *FullError) Unwrap() error { return ErrBucketFull }

// TooLongError says which id or value was too long. It unwraps to
// ErrTooLong.
type TooLongError struct {
	ID    string // the id (truncated to 64 bytes)
	What  string // "id" or "value"
	Len   int    // its length in bytes
	Limit int    // the limit (hash-max-listpack-value)
}

func (e *TooLongError) Error() string {
	return fmt.Sprintf("memory: %s of %q is %d bytes, limit %d", e.What, e.ID, e.Len, e.Limit)
}

// Unwrap returns ErrTooLong.
func (e *TooLongError) Unwrap() error { return ErrTooLong }

// BucketOptions configure Buckets. The zero value sizes the namespace for
// one million items with the server's listpack limits.
type BucketOptions struct {
	// Items is the number of items the namespace is sized for. Zero
	// means 1,000,000. The bucket count is Items / (Fill * MaxFields),
	// rounded up, and is fixed for the life of the namespace.
	Items int
	// Buckets fixes the bucket count, overriding Items. Zero means
	// computed from Items.
	Buckets int
	// Fill is the average share of MaxFields a bucket holds when the
	// namespace is at Items. Zero means 0.75, which keeps the fullest
	// of a few thousand buckets under the limit (hashing spreads items
	// with a standard deviation of about sqrt(items per bucket)).
	Fill float64
	// MaxFields caps the fields per bucket. Zero means the smallest
	// hash-max-listpack-entries of the masters (CONFIG GET), or 128 when
	// CONFIG is not available. A larger value than the server's is
	// lowered to it.
	MaxFields int
	// MaxValue caps the length of ids and values. Zero means the
	// smallest hash-max-listpack-value of the masters, or 64.
	MaxValue int
}

// Buckets stores many small values as fields of a few hash buckets so
// each bucket stays in the compact listpack encoding. Safe for concurrent
// use.
//
// Trade-off: Redis 7.0 has no per-field TTL (HEXPIRE arrived in 7.4), so
// items cannot expire on their own; an expiry on a bucket would drop a
// few hundred unrelated items at once. With an eviction policy
// (allkeys-lru/lfu) Redis evicts whole buckets, and OBJECT FREQ/IDLETIME
// and keyspace notifications describe buckets, not items. Use Buckets for
// values that live until deleted (profiles, mappings, counters' last
// values), not for caches that rely on expiry.
type Buckets struct {
	c         redis.UniversalClient
	ns        string
	n         int
	maxFields int
	maxValue  int
}

// NewBuckets reads the listpack limits from the server, computes the
// bucket count and records it in the namespace's meta key (or checks it
// against the one recorded by an earlier process).
func NewBuckets(ctx context.Context, c redis.UniversalClient, ns string, opts BucketOptions) (*Buckets, error) {
	if ns == "" || strings.ContainsAny(ns, "{}") {
		return nil, fmt.Errorf("%w: %q", ErrNamespace, ns)
	}
	entries, value, err := listpackLimits(ctx, c)
	if err != nil {
		return nil, err
	}
	b := &Buckets{c: c, ns: ns, maxFields: entries, maxValue: value}
	if opts.MaxFields > 0 && opts.MaxFields < b.maxFields {
		b.maxFields = opts.MaxFields
	}
	if opts.MaxValue > 0 && opts.MaxValue < b.maxValue {
		b.maxValue = opts.MaxValue
	}
	b.n = opts.Buckets
	if b.n <= 0 {
		items, fill := opts.Items, opts.Fill
		if items <= 0 {
			items = 1_000_000
		}
		if fill <= 0 || fill > 1 {
			fill = 0.75
		}
		b.n = int(math.Ceil(float64(items) / (fill * float64(b.maxFields))))
	}
	set, err := c.SetNX(ctx, metaKey(ns), b.n, 0).Result()
	if err != nil {
		return nil, fmt.Errorf("memory: record layout: %w", err)
	}
	if !set {
		got, err := c.Get(ctx, metaKey(ns)).Int()
		if err != nil {
			return nil, fmt.Errorf("memory: read layout: %w", err)
		}
		if got != b.n {
			return nil, fmt.Errorf("%w: %q has %d buckets, options give %d", ErrLayout, ns, got, b.n)
		}
	}
	return b, nil
}

// listpackLimits returns the smallest hash-max-listpack-entries and
// -value of the masters, or 128 and 64 where CONFIG GET is refused.
func listpackLimits(ctx context.Context, c redis.UniversalClient) (entries, value int, err error) {
	entries, value = math.MaxInt, math.MaxInt
	read := func(ctx context.Context, n redis.Cmdable) error {
		m, err := n.ConfigGet(ctx, "hash-max-*-*").Result()
		if err != nil {
			if ctx.Err() != nil {
				return err
			}
			m = map[string]string{} // CONFIG disabled (managed services): defaults
		}
		e, v := 128, 64
		if s, ok := firstOf(m, "hash-max-listpack-entries", "hash-max-ziplist-entries"); ok {
			e, _ = strconv.Atoi(s)
		}
		if s, ok := firstOf(m, "hash-max-listpack-value", "hash-max-ziplist-value"); ok {
			v, _ = strconv.Atoi(s)
		}
		entries, value = min(entries, e), min(value, v)
		return nil
	}
	if cc, ok := c.(*redis.ClusterClient); ok {
		var mu sync.Mutex
		err = cc.ForEachMaster(ctx, func(ctx context.Context, n *redis.Client) error {
			mu.Lock()
			defer mu.Unlock()
			return read(ctx, n)
		})
	} else {
		err = read(ctx, c)
	}
	if err != nil {
		return 0, 0, fmt.Errorf("memory: read listpack limits: %w", err)
	}
	if entries < 1 {
		entries = 1
	}
	return entries, value, nil
}

func firstOf(m map[string]string, names ...string) (string, bool) {
	for _, n := range names {
		if v, ok := m[n]; ok {
			return v, true
		}
	}
	return "", false
}

// Namespace returns the namespace.
func (b *Buckets) Namespace() string { return b.ns }

// Count returns the number of buckets.
func (b *Buckets) Count() int { return b.n }

// Limits returns the field limit per bucket and the length limit of ids
// and values.
func (b *Buckets) Limits() (maxFields, maxValue int) { return b.maxFields, b.maxValue }

// Bucket returns the key of the bucket that holds id.
func (b *Buckets) Bucket(id string) string { return bucketKey(b.ns, b.index(id)) }

func (b *Buckets) index(id string) int {
	h := fnv.New64a()
	_, _ = h.Write([]byte(id))
	return int(h.Sum64() % uint64(b.n))
}

func (b *Buckets) check(id string, value []byte) error {
	if len(id) > b.maxValue {
		return &TooLongError{ID: short(id), What: "id", Len: len(id), Limit: b.maxValue}
	}
	if len(value) > b.maxValue {
		return &TooLongError{ID: short(id), What: "value", Len: len(value), Limit: b.maxValue}
	}
	return nil
}

func short(s string) string {
	if len(s) > 64 {
		return s[:64]
	}
	return s
}

// Get returns the value of id, or ErrNotFound.
func (b *Buckets) Get(ctx context.Context, id string) ([]byte, error) {
	v, err := b.c.HGet(ctx, b.Bucket(id), id).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("memory: get %q: %w", short(id), err)
	}
	return v, nil
}

// Set stores value under id. Ids and values longer than the listpack
// value limit (64 bytes by default) are refused with a *TooLongError:
// store those as plain keys, since one long field would convert its whole
// bucket to the hashtable encoding. A Set that would take the bucket past
// its field limit fails with a *FullError and writes nothing.
func (b *Buckets) Set(ctx context.Context, id string, value []byte) error {
	return b.SetMany(ctx, map[string][]byte{id: value})
}

// SetMany stores several values, one script call per bucket, pipelined.
// Each bucket is written all or nothing; on error some buckets may have
// been written and others not. The first error is returned.
func (b *Buckets) SetMany(ctx context.Context, items map[string][]byte) error {
	groups := map[int][]any{}
	for id, v := range items {
		if err := b.check(id, v); err != nil {
			return err
		}
		i := b.index(id)
		groups[i] = append(groups[i], id, v)
	}
	type call struct {
		key  string
		args []any
		cmd  *redis.Cmd
	}
	var calls []*call
	for i, pairs := range groups {
		for len(pairs) > 0 {
			n := min(len(pairs), 1000) // keep unpack() far below Lua's stack limit
			args := append([]any{b.maxFields}, pairs[:n]...)
			calls = append(calls, &call{key: bucketKey(b.ns, i), args: args})
			pairs = pairs[n:]
		}
	}
	sortBySlot(calls, func(c *call) string { return c.key })
	pipe := b.c.Pipeline()
	for _, c := range calls {
		c.cmd = setScript.Queue(ctx, pipe, []string{c.key}, c.args...)
	}
	if _, err := pipe.Exec(ctx); err != nil && ctx.Err() != nil {
		return fmt.Errorf("memory: set: %w", ctx.Err())
	}
	loaded := false
	for _, c := range calls {
		err := c.cmd.Err()
		if script.IsNoScript(err) {
			if !loaded { // first use on some node: load everywhere once
				loaded = true
				if lerr := setScript.Load(ctx, b.c); lerr != nil {
					return fmt.Errorf("memory: load script: %w", lerr)
				}
			}
			err = setScript.Run(ctx, b.c, []string{c.key}, c.args...).Err()
		}
		if err = setScript.Err(err); err != nil {
			var ce *script.CodeError
			if errors.As(err, &ce) && ce.Code == "FULL" {
				n, _, _ := strings.Cut(ce.Detail, " ")
				fields, _ := strconv.Atoi(n)
				return &FullError{Bucket: c.key, Fields: fields, Limit: b.maxFields}
			}
			return fmt.Errorf("memory: set in %s: %w", c.key, err)
		}
	}
	return nil
}

// Delete removes ids; missing ids are ignored. It returns how many
// existed.
func (b *Buckets) Delete(ctx context.Context, ids ...string) (int, error) {
	keys, groups := b.group(ids)
	pipe := b.c.Pipeline()
	cmds := make([]*redis.IntCmd, len(keys))
	for i, k := range keys {
		cmds[i] = pipe.HDel(ctx, k, groups[k]...)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return 0, fmt.Errorf("memory: delete: %w", err)
	}
	n := 0
	for _, c := range cmds {
		n += int(c.Val())
	}
	return n, nil
}

// group maps ids to their bucket keys, returned in slot order.
func (b *Buckets) group(ids []string) ([]string, map[string][]string) {
	groups := map[string][]string{}
	for _, id := range ids {
		k := b.Bucket(id)
		groups[k] = append(groups[k], id)
	}
	keys := make([]string, 0, len(groups))
	for k := range groups {
		keys = append(keys, k)
	}
	sortBySlot(keys, func(k string) string { return k })
	return keys, groups
}

// GetMany returns the values of ids that exist, one HMGET per bucket,
// pipelined and ordered by slot (a cluster client sends one batch per
// master).
func (b *Buckets) GetMany(ctx context.Context, ids ...string) (map[string][]byte, error) {
	keys, groups := b.group(ids)
	pipe := b.c.Pipeline()
	cmds := make([]*redis.SliceCmd, len(keys))
	for i, k := range keys {
		cmds[i] = pipe.HMGet(ctx, k, groups[k]...)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("memory: get many: %w", err)
	}
	out := make(map[string][]byte, len(ids))
	for i, k := range keys {
		for j, v := range cmds[i].Val() {
			if s, ok := v.(string); ok {
				out[groups[k][j]] = []byte(s)
			}
		}
	}
	return out, nil
}

// sortBySlot orders xs by the hash slot of their key, then by key.
func sortBySlot[T any](xs []T, key func(T) string) {
	slices.SortFunc(xs, func(a, b T) int {
		ka, kb := key(a), key(b)
		if d := slot.Of(ka) - slot.Of(kb); d != 0 {
			return d
		}
		return strings.Compare(ka, kb)
	})
}
