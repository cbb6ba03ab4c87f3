package session

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rediskit/rediskit/internal/script"
)

var (
	//go:embed save-1.lua
	saveSrc    string
	saveScript = script.New("save-1.lua", saveSrc)
	//go:embed incr-1.lua
	incrSrc    string
	incrScript = script.New("incr-1.lua", incrSrc)
	//go:embed cas-1.lua
	casSrc    string
	casScript = script.New("cas-1.lua", casSrc)
	//go:embed index-1.lua
	indexSrc    string
	indexScript = script.New("index-1.lua", indexSrc)
)

// Metadata fields of the session hash. User keys may not start with '$'.
const (
	fCreated = "$created" // unix ms of creation
	fAbs     = "$abs"     // absolute deadline, unix ms
	fExp     = "$exp"     // idle deadline, unix ms (moved by touches)
	fUser    = "$user"    // user id set by SetUser
)

// indexGrace is how long a user-index entry whose session is missing is
// kept: SetUser adds the entry before it writes the session, so a
// missing session younger than this may still be on its way.
const indexGrace = time.Minute

// Manager stores sessions in Redis and hands them to handlers through its
// Middleware. Safe for concurrent use; create one per application and
// share it.
type Manager struct {
	client redis.UniversalClient
	opts   Options
	keys   keys
	cr     bool // opts.Format == FormatConnectRedis
	// auto gives the client's async auto-pipeliner under PipeliningAuto
	// (nil otherwise); async is it, got on first need; inflight counts
	// the calls of call in flight.
	auto      asyncPipeliner
	asyncOnce sync.Once
	async     *redis.AutoPipeliner
	inflight  atomic.Int64

	created, renewed, destroyed, expired, rejected atomic.Uint64
	loads, saves, gone, touches                    atomic.Uint64
	storeCalls, storeErrors, storeNanos            atomic.Uint64
}

// New returns a Manager over client (a single node, Sentinel or Cluster
// client). It fails on invalid options, or when Options.Pipelining is on
// and the client is closed.
func New(client redis.UniversalClient, opts Options) (*Manager, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	var auto asyncPipeliner
	_, given := client.(*redis.AutoPipeliner) // the caller chose its pipeliner
	if ap, ok := client.(asyncPipeliner); ok && !given && o.Pipelining == PipeliningAuto {
		auto = ap
	}
	if ap, ok := client.(interface {
		AutoPipeline() (*redis.AutoPipeliner, error)
	}); ok && o.Pipelining == PipeliningOn {
		c, err := ap.AutoPipeline()
		if err != nil {
			return nil, fmt.Errorf("session: auto-pipeline: %w", err)
		}
		client = c
	}
	return &Manager{client: client, opts: o, keys: keys{prefix: o.Prefix}, cr: o.Format == FormatConnectRedis, auto: auto}, nil
}

// Stats are cumulative counters since New. Take differences between two
// calls for rates. A plain value.
type Stats struct {
	Created   uint64 // sessions written for the first time
	Renewed   uint64 // Renew calls that moved a stored session to a new token
	Destroyed uint64 // sessions deleted by Destroy, DestroyByID, DestroyAllForUser
	Expired   uint64 // tokens whose session was past a deadline at load
	Rejected  uint64 // malformed tokens ignored without a Redis call
	Loads     uint64 // sessions read from Redis (one per request that touches its session)
	Saves     uint64 // writes of changes (creates included)
	Touches   uint64 // saves that moved the idle deadline
	// Gone counts writes (Save, Incr, CompareAndSwap, Renew) dropped
	// because another request ended the session (ErrGone): a logout or
	// renew race, normal traffic. They are not StoreErrors.
	Gone uint64

	StoreCalls uint64 // Redis round trips
	// StoreErrors counts round trips that failed: Redis or the network
	// did not answer as it should. redis.Nil and a session found gone
	// (see Gone) are answers, not failures; alert on this one.
	StoreErrors uint64
	StoreTime   time.Duration // total time spent in Redis round trips; StoreTime/StoreCalls is the mean latency
}

// Stats returns the counters. It does no I/O; see Active for the number
// of live sessions.
func (m *Manager) Stats() Stats {
	return Stats{
		Created: m.created.Load(), Renewed: m.renewed.Load(), Destroyed: m.destroyed.Load(),
		Expired: m.expired.Load(), Rejected: m.rejected.Load(), Loads: m.loads.Load(),
		Saves: m.saves.Load(), Touches: m.touches.Load(), Gone: m.gone.Load(),
		StoreCalls: m.storeCalls.Load(), StoreErrors: m.storeErrors.Load(),
		StoreTime: time.Duration(m.storeNanos.Load()),
	}
}

// observe records one round trip that started at start.
func (m *Manager) observe(start time.Time, err error) {
	m.storeCalls.Add(1)
	m.storeNanos.Add(uint64(time.Since(start)))
	// redis.Nil is an answer, and a GONE reply is a normal logout race
	// (counted in Gone by the caller): neither is a Redis failure.
	if err != nil && !errors.Is(err, redis.Nil) && !isGone(err) {
		m.storeErrors.Add(1)
	}
}

// storeErr wraps a Redis error; context errors stay matchable with
// errors.Is through the wrapping.
func storeErr(op string, err error) error {
	if err == nil {
		return nil
	}
	return &StoreError{Op: op, Err: err}
}

func (m *Manager) now() time.Time { return m.opts.Clock.Now() }

func ms(t time.Time) int64 { return t.UnixMilli() }

func fromMs(s string) (time.Time, bool) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	return time.UnixMilli(n), true
}

// bucket is the Active time bucket of t: one per IdleTimeout.
func (m *Manager) bucket(t time.Time) int64 { return t.UnixMilli() / m.opts.IdleTimeout.Milliseconds() }

// markActive records id in the current Active bucket (best effort).
func (m *Manager) markActive(ctx context.Context, id string, now time.Time) {
	if m.cr {
		return // no keys of ours under connect-redis's prefix
	}
	k := m.keys.active(m.bucket(now))
	start := time.Now()
	_, err := m.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.PFAdd(ctx, k, id)
		p.PExpire(ctx, k, 2*m.opts.IdleTimeout+time.Minute)
		return nil
	})
	m.observe(start, err)
	if err != nil {
		m.opts.Logger.DebugContext(ctx, "session: active count update failed", "err", err)
	}
}

// Active estimates the live sessions: those created or refreshed in the
// current and the previous idle window (HyperLogLog, ~1% error). It never
// undercounts a live session; sessions destroyed within the last two
// windows still count. One Redis call. FormatConnectRedis: ErrUnsupported.
func (m *Manager) Active(ctx context.Context) (int64, error) {
	if m.cr {
		return 0, unsupported("Active (its counter would be a key under connect-redis's prefix)")
	}
	b := m.bucket(m.now())
	start := time.Now()
	n, err := m.client.PFCount(ctx, m.keys.active(b), m.keys.active(b-1)).Result()
	m.observe(start, err)
	return n, storeErr("active", err)
}

// Info describes one session of a user, for a "devices" page. A plain
// value.
type Info struct {
	// ID identifies the session for DestroyByID. It is the hash of the
	// token, not the token: it cannot be used to log in.
	ID          string
	Created     time.Time
	IdleExpires time.Time // the idle deadline as of the last refresh
	Expires     time.Time // the absolute deadline
	// Values holds the fields asked for in ListForUser that are set.
	Values map[string][]byte
}

// ListForUser returns the live sessions of userID, oldest first, with the
// given fields (for example a user agent stored at login). It reads the
// user's index, then each session (pipelined), and prunes index entries
// whose session ended. No SCAN. FormatConnectRedis: ErrUnsupported.
func (m *Manager) ListForUser(ctx context.Context, userID string, fields ...string) ([]Info, error) {
	if m.cr {
		return nil, unsupported("ListForUser (the per-user index)")
	}
	if userID == "" {
		return nil, ErrEmptyUser
	}
	ik := m.keys.user(userID)
	start := time.Now()
	members, err := m.client.ZRangeWithScores(ctx, ik, 0, -1).Result()
	m.observe(start, err)
	if err != nil {
		return nil, storeErr("list", err)
	}
	if len(members) == 0 {
		return nil, nil
	}
	ask := append([]string{fUser, fCreated, fExp, fAbs}, fields...)
	cmds := make([]*redis.SliceCmd, len(members))
	start = time.Now()
	_, err = m.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, z := range members {
			cmds[i] = p.HMGet(ctx, m.keys.session(z.Member.(string)), ask...)
		}
		return nil
	})
	m.observe(start, err)
	if err != nil {
		return nil, storeErr("list", err)
	}
	now := m.now()
	var out []Info
	var prune []any
	for i, z := range members {
		id := z.Member.(string)
		vals := cmds[i].Val()
		user, _ := vals[0].(string)
		cs, _ := vals[1].(string)
		es, _ := vals[2].(string)
		as, _ := vals[3].(string)
		created, ok1 := fromMs(cs)
		exp, ok2 := fromMs(es)
		abs, ok3 := fromMs(as)
		if user == "" {
			added := time.UnixMilli(int64(z.Score))
			if now.Sub(added) > indexGrace {
				prune = append(prune, id)
			}
			continue
		}
		if user != userID || !ok1 || !ok2 || !ok3 || !now.Before(exp) || !now.Before(abs) {
			prune = append(prune, id)
			continue
		}
		info := Info{ID: id, Created: created, IdleExpires: exp, Expires: abs}
		for j, f := range fields {
			if s, ok := vals[4+j].(string); ok {
				if info.Values == nil {
					info.Values = map[string][]byte{}
				}
				info.Values[f] = []byte(s)
			}
		}
		out = append(out, info)
	}
	if len(prune) > 0 {
		start = time.Now()
		err := m.client.ZRem(ctx, ik, prune...).Err()
		m.observe(start, err)
		if err != nil {
			m.opts.Logger.DebugContext(ctx, "session: index prune failed", "err", err)
		}
	}
	return out, nil
}

// DestroyAllForUser ends every session of userID ("log out everywhere")
// and returns how many it deleted. Sessions being created for the user at
// the same moment are either deleted or remain in the index for the next
// call: SetUser indexes a session before writing it, and this call never
// removes index entries (ListForUser prunes them). On a partial failure it
// returns the count so far and the error; calling it again is safe.
// FormatConnectRedis: ErrUnsupported.
func (m *Manager) DestroyAllForUser(ctx context.Context, userID string) (int, error) {
	if m.cr {
		return 0, unsupported("DestroyAllForUser (the per-user index)")
	}
	if userID == "" {
		return 0, ErrEmptyUser
	}
	start := time.Now()
	ids, err := m.client.ZRange(ctx, m.keys.user(userID), 0, -1).Result()
	m.observe(start, err)
	if err != nil {
		return 0, storeErr("destroy all", err)
	}
	if len(ids) == 0 {
		return 0, nil
	}
	cmds := make([]*redis.IntCmd, len(ids))
	start = time.Now()
	_, err = m.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = p.Del(ctx, m.keys.session(id))
		}
		return nil
	})
	m.observe(start, err)
	n := 0
	for _, c := range cmds {
		n += int(c.Val())
	}
	m.destroyed.Add(uint64(n))
	return n, storeErr("destroy all", err)
}

// DestroyByID ends the session with storage id id (an Info.ID, e.g. to
// sign out one device). It reports whether a session was deleted. In
// FormatConnectRedis id is the sid and the key is deleted as
// connect-redis's destroy does.
func (m *Manager) DestroyByID(ctx context.Context, id string) (bool, error) {
	if m.cr {
		return m.crDestroy(ctx, id)
	}
	if !wellFormed(id) { // ids have the shape of tokens
		return false, nil
	}
	k := m.keys.session(id)
	start := time.Now()
	var user *redis.StringCmd
	var del *redis.IntCmd
	_, err := m.client.TxPipelined(ctx, func(p redis.Pipeliner) error {
		user = p.HGet(ctx, k, fUser)
		del = p.Del(ctx, k)
		return nil
	})
	m.observe(start, err)
	if err != nil && !errors.Is(err, redis.Nil) {
		return false, storeErr("destroy", err)
	}
	if del.Val() == 0 {
		return false, nil
	}
	m.destroyed.Add(1)
	if u := user.Val(); u != "" {
		m.unindex(ctx, u, id)
	}
	return true, nil
}

// unindex removes id from userID's index, best effort: a stale entry is
// pruned later by ListForUser.
func (m *Manager) unindex(ctx context.Context, userID, id string) {
	start := time.Now()
	err := m.client.ZRem(ctx, m.keys.user(userID), id).Err()
	m.observe(start, err)
	if err != nil {
		m.opts.Logger.DebugContext(ctx, "session: index removal failed", "user", userID, "err", err)
	}
}

// index adds id to userID's index. It runs before the session is written
// with the user, so the index is always a superset of the user's sessions.
func (m *Manager) index(ctx context.Context, userID, id string, now time.Time) error {
	start := time.Now()
	err := indexScript.Err(indexScript.Run(ctx, m.client, []string{m.keys.user(userID)},
		ms(now), id, m.opts.Lifetime.Milliseconds()).Err())
	m.observe(start, err)
	return storeErr("index", err)
}
