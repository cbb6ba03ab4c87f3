package cache

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"
)

// Errors.
var (
	// ErrNotFound is returned by Get when the loader reported that the key
	// does not exist (the loader returns ErrNotFound, possibly wrapped);
	// that answer is cached for Options.NegativeTTL.
	ErrNotFound = errors.New("cache: not found")
	// ErrNotInvalidated is returned (wrapped, with the Redis error) by
	// Write when the database write succeeded but the cache could not be
	// made consistent afterwards: readers may see the old value until it
	// expires or until Invalidate succeeds.
	ErrNotInvalidated = errors.New("cache: database written but cache not invalidated")
	// ErrClosed is returned by calls on a closed Cache.
	ErrClosed = errors.New("cache: closed")
	// ErrEmptyKey is returned for the key "" (it has no hash tag).
	ErrEmptyKey = errors.New("cache: empty key")
	// ErrUnreadable is wrapped by the error of an entry this package
	// cannot read: a Keyv entry with a Node Buffer, an unknown field or
	// another serializer's bytes, or a value that does not decode into T.
	// Peek returns it; Get and GetMany log it, call the loader and return
	// its value without storing it (with FormatKeyv the entry is another
	// program's, so it is not overwritten; only Write and Invalidate
	// replace it).
	ErrUnreadable = errors.New("cache: cached entry cannot be read")
)

// Format is the layout of a Cache's keys and values in Redis.
type Format int

const (
	// FormatRediskit is this package's own layout (the default): keys
	// rk:c:<ns>:{<key>}, a binary envelope with the load time for early
	// refresh and negative entries.
	FormatRediskit Format = iota
	// FormatKeyv reads and writes the entries of Keyv 5 over @keyv/redis 5
	// (what @nestjs/cache-manager 12 with cache-manager 7 stores), so a
	// Node service and Go share one cache: keys <ns>::<ns>:<key> where
	// Options.Namespace is the Keyv namespace (new Keyv({store: new
	// KeyvRedis(client), namespace})), values {"value":...,"expires":ms}
	// with Keyv's string escaping, Redis TTL = the entry's TTL. Keyv
	// entries carry no load time and no "not found": with FormatKeyv
	// there is no XFetch early refresh, no negative caching (NegativeTTL
	// must be 0) and no StaleWhileRevalidate (Keyv deletes an expired
	// entry when it reads it), and Codec must write JSON. Keys that start
	// with "<ns>:" are refused (Keyv maps "<ns>:x" and "x" to one entry).
	// The load leases and write markers live under rk:ck:<ns>:, in the
	// slot of the Keyv key (Keyv keys have no hash tag), so Lua scripts
	// still run on a cluster.
	FormatKeyv
)

// String returns "rediskit" or "keyv".
func (f Format) String() string {
	switch f {
	case FormatRediskit:
		return "rediskit"
	case FormatKeyv:
		return "keyv"
	}
	return "Format(" + strconv.Itoa(int(f)) + ")"
}

// KeyError is the error of one key of GetMany: GetMany returns the values
// of the other keys and errors.Join of one *KeyError per failed key (use
// errors.As for the first, or the Unwrap() []error method of the joined
// error for all of them). A failed key is absent from the map.
type KeyError struct {
	Key string
	Err error
}

func (e *KeyError) Error() string { return fmt.Sprintf("cache: key %q: %v", e.Key, e.Err) }

// Unwrap returns the key's error.
func (e *KeyError) Unwrap() error { return e.Err }

// Codec turns values into bytes and back. Implementations must be safe
// for concurrent use.
type Codec interface {
	Marshal(v any) ([]byte, error)
	Unmarshal(data []byte, v any) error
}

// JSON is the default codec (encoding/json).
type JSON struct{}

// Marshal implements Codec.
func (JSON) Marshal(v any) ([]byte, error) { return json.Marshal(v) }

// Unmarshal implements Codec.
func (JSON) Unmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

// Raw is a codec for Cache[[]byte] and Cache[string]: the bytes are stored
// as they are, with no encoding cost.
type Raw struct{}

// Marshal implements Codec.
func (Raw) Marshal(v any) ([]byte, error) {
	switch x := v.(type) {
	case []byte:
		return x, nil
	case string:
		return []byte(x), nil
	}
	return nil, fmt.Errorf("cache: Raw codec cannot encode %T", v)
}

// Unmarshal implements Codec.
func (Raw) Unmarshal(b []byte, v any) error {
	switch x := v.(type) {
	case *[]byte:
		*x = append([]byte(nil), b...)
	case *string:
		*x = string(b)
	default:
		return fmt.Errorf("cache: Raw codec cannot decode into %T", v)
	}
	return nil
}

// Pipelining chooses how concurrent Gets share connections. The same
// type and constants exist in lock and session.
type Pipelining int

const (
	// PipeliningAuto is the package's measured default: PipeliningOn.
	PipeliningAuto Pipelining = iota
	// PipeliningOn batches the GETs of concurrent Gets on one pipelined
	// connection per master (full duplex: the next batch is written while
	// the previous one's replies are read).
	PipeliningOn
	// PipeliningOff sends each GET through the client's own go-redis
	// auto-pipeliner (Client.AutoPipeline, with the client's
	// AutoPipelineOptions).
	PipeliningOff
)

// String returns "auto", "on" or "off".
func (p Pipelining) String() string {
	switch p {
	case PipeliningAuto:
		return "auto"
	case PipeliningOn:
		return "on"
	case PipeliningOff:
		return "off"
	}
	return "Pipelining(" + strconv.Itoa(int(p)) + ")"
}

// Options configure a Cache. The zero value of every field means its
// default.
type Options struct {
	// Namespace names the cache; every Redis key starts with
	// "rk:c:<Namespace>:" (with FormatKeyv: "<Namespace>::<Namespace>:",
	// Namespace being the Keyv namespace). Required; must not contain
	// '{', '}' or ':'.
	Namespace string
	// Format is the layout of keys and values in Redis. Default
	// FormatRediskit; FormatKeyv shares entries with a Node service's
	// Keyv (see there).
	Format Format
	// TTL is how long a loaded value is fresh. Default 5 minutes.
	TTL time.Duration
	// Jitter spreads expiries: each TTL is multiplied by a random factor in
	// [1-Jitter, 1+Jitter]. Default 0.1; negative disables jitter.
	Jitter float64
	// StaleWhileRevalidate keeps a value this long after it expired; a
	// reader then gets the stale value at once while one process reloads
	// it in the background. Default 0: no stale values are served.
	StaleWhileRevalidate time.Duration
	// NegativeTTL is how long "not found" (the loader returned
	// ErrNotFound) is cached. Default 30 s; negative disables negative
	// caching.
	NegativeTTL time.Duration
	// Beta weighs XFetch early refresh (Vattani et al.): a reader refreshes
	// early with a probability that grows as expiry nears, from the
	// measured load time. Default 1; negative disables early refresh.
	Beta float64
	// LeaseTTL bounds how long one loader holds the load lease of a key
	// (the other processes wait for it). Default 10 s.
	LeaseTTL time.Duration
	// LeaseWait bounds how long a reader waits for another process's load;
	// after it, the reader calls its loader itself and does not store the
	// result. Default LeaseTTL.
	LeaseWait time.Duration
	// WriteTimeout bounds a Write's database function for the overlap
	// markers; a writer slower than this may be treated as finished.
	// Default 1 minute.
	WriteTimeout time.Duration
	// NearEntries bounds the near (in-process) cache by entries. Default 0:
	// no near cache.
	NearEntries int
	// NearBytes bounds the near cache by the encoded size of its values.
	// Default 64 MiB (used only when NearEntries > 0).
	NearBytes int64
	// TrackInterval is how often the tracking connections ping their
	// master and the masters are re-read from go-redis's slot map (a local
	// read; a failover is seen at once through the dropped connection).
	// Default 1 s. Caches of one client
	// share their connections; the first one's interval applies.
	TrackInterval time.Duration
	// Pipelining chooses how a Get's GET reaches Redis. Default
	// PipeliningAuto (see there).
	Pipelining Pipelining
	// NoPipelining is PipeliningOff.
	//
	// Deprecated: use Pipelining: PipeliningOff. NoPipelining is kept for
	// one release; when set it overrides Pipelining.
	NoPipelining bool
	// Codec encodes values. Default JSON{}.
	Codec Codec
	// Logger receives debug and warning logs. Default slog.Default().
	Logger *slog.Logger
}

// checkFormat refuses options the Format cannot honour.
func (o Options) checkFormat() error {
	switch o.Format {
	case FormatRediskit:
		return nil
	case FormatKeyv:
	default:
		return fmt.Errorf("cache: unknown Options.Format %d", int(o.Format))
	}
	if o.NegativeTTL > 0 {
		return errors.New("cache: FormatKeyv does not cache \"not found\" (a Keyv entry has no such state): leave NegativeTTL 0")
	}
	if o.StaleWhileRevalidate > 0 {
		return errors.New("cache: FormatKeyv cannot serve stale values (Keyv deletes an expired entry when it reads it): leave StaleWhileRevalidate 0")
	}
	return nil
}

func (o Options) withDefaults() Options {
	if o.Format == FormatKeyv {
		o.NegativeTTL = -1 // no negative entries
		o.Beta = -1        // no load time to refresh early by
	}
	if o.NoPipelining {
		o.Pipelining = PipeliningOff
	}
	if o.Pipelining == PipeliningAuto {
		o.Pipelining = PipeliningOn
	}
	if o.TTL <= 0 {
		o.TTL = 5 * time.Minute
	}
	if o.Jitter == 0 {
		o.Jitter = 0.1
	}
	if o.Jitter < 0 {
		o.Jitter = 0
	}
	if o.NegativeTTL == 0 {
		o.NegativeTTL = 30 * time.Second
	}
	if o.Beta == 0 {
		o.Beta = 1
	}
	if o.LeaseTTL <= 0 {
		o.LeaseTTL = 10 * time.Second
	}
	if o.LeaseWait <= 0 {
		o.LeaseWait = o.LeaseTTL
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = time.Minute
	}
	if o.NearBytes <= 0 {
		o.NearBytes = 64 << 20
	}
	if o.TrackInterval <= 0 {
		o.TrackInterval = time.Second
	}
	if o.Codec == nil {
		o.Codec = JSON{}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// Stats are the counters of one Cache (one namespace in one process)
// since it was created.
type Stats struct {
	Namespace string
	// NearHits and RedisHits count reads answered by the near cache and
	// by Redis.
	NearHits, RedisHits int64
	// Misses counts reads that found nothing usable (including corrupt
	// values) and went on to the lease and the loader.
	Misses int64
	// Loads and LoadErrors count loader calls made by this process.
	Loads, LoadErrors int64
	// StaleServed counts values served after their expiry
	// (StaleWhileRevalidate).
	StaleServed int64
	// EarlyRefreshes counts background reloads (XFetch or stale).
	EarlyRefreshes int64
	// Corrupt counts cached values that could not be decoded (reloaded;
	// with FormatKeyv also entries Go cannot read, served from the loader
	// and left in place).
	Corrupt int64
	// StaleSetsRejected counts loads not stored because a write or an
	// invalidation took the lease meanwhile.
	StaleSetsRejected int64
	// LeaseWaits counts reads that waited for another loader;
	// LeaseTimeouts those that gave up and loaded themselves.
	LeaseWaits, LeaseTimeouts int64
	// Evictions counts near-cache entries dropped to stay in bounds.
	Evictions int64
	// InvalidationsReceived counts keys named by tracking pushes.
	InvalidationsReceived int64
	// NearFlushes counts whole near-cache flushes (tracking connection
	// lost, topology change, FLUSHALL).
	NearFlushes int64
	// NearEntries and NearBytes are the near cache's current size.
	NearEntries int
	NearBytes   int64
	// TrackingUp reports whether every master is tracked now (the near
	// cache is in use only then).
	TrackingUp bool
	// TrackingDrops counts lost tracking connections.
	TrackingDrops int64
}
