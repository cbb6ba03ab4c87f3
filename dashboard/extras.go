package dashboard

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rediskit/rediskit/cache"
	"github.com/rediskit/rediskit/internal/scan"
	"github.com/rediskit/rediskit/lock"
	"github.com/rediskit/rediskit/memory"
	"github.com/rediskit/rediskit/session"
)

// SessionStore is what the sessions page needs of a *session.Manager.
type SessionStore interface {
	Active(ctx context.Context) (int64, error)
	ListForUser(ctx context.Context, userID string, fields ...string) ([]session.Info, error)
	DestroyAllForUser(ctx context.Context, userID string) (int, error)
	Stats() session.Stats
}

// CacheStatser is what the caches page needs of a *cache.Cache.
type CacheStatser interface{ Stats() cache.Stats }

// LockStatser is what the locks page needs of a *lock.Locker.
type LockStatser interface{ Stats() lock.Stats }

var (
	_ SessionStore = (*session.Manager)(nil)
	_ LockStatser  = (*lock.Locker)(nil)
)

// Services are a service's own objects, given when the dashboard is
// mounted inside it; they add process-side figures. The zero value
// shows Redis-derived figures only.
type Services struct {
	// Sessions by name. Empty means one store named "default" over
	// session's default prefix.
	Sessions map[string]SessionStore
	// Caches add near-cache and hit figures per namespace.
	Caches []CacheStatser
	// InvalidationLag, by cache namespace, reports the last, p99 and
	// highest invalidation lag (e.g. a pgcache.Relay's Stats).
	InvalidationLag map[string]func() (last, p99, highest time.Duration)
	// Lockers add acquire/contention counters.
	Lockers []LockStatser
	// LockPrefixes are the key prefixes whose held locks are listed.
	// Empty means lock.DefaultPrefix.
	LockPrefixes []string
}

// errRateLimited is returned when a memory analysis is asked for too soon.
var errRateLimited = errors.New("dashboard: rate limited")

// maxLocks bounds the locks listed.
const maxLocks = 500

func (d *Dashboard) extraRoutes() {
	if len(d.o.Services.Sessions) == 0 {
		m, err := session.New(d.rdb, session.Options{})
		if err == nil {
			d.o.Services.Sessions = map[string]SessionStore{"default": m}
		}
	}
	if len(d.o.Services.LockPrefixes) == 0 {
		d.o.Services.LockPrefixes = []string{lock.DefaultPrefix}
	}
	d.get("/api/locks", d.apiLocks)
	d.get("/api/sessions", d.apiSessions)
	d.get("/api/sessions/user", d.apiSessionsUser)
	d.get("/api/caches", d.apiCaches)
	d.get("/api/memory", func(context.Context, *http.Request) (any, error) { return d.memoryState(), nil })
	d.action("revoke-user", true, d.actRevokeUser)
	d.actionReadOnly("analyze", d.actAnalyze)
}

// HeldLock is one held lock.
type HeldLock struct {
	Prefix string `json:"prefix"`
	Name   string `json:"name"`
	// Owner, Token and Holder split the lock's value "<owner>:<token>:<holder>".
	Owner   string `json:"owner"`
	Token   string `json:"token"`
	Holder  string `json:"holder"`
	TTLMS   int64  `json:"ttlMs"`
	Fence   string `json:"fence,omitempty"`
	Waiters int64  `json:"waiters"`
}

// LocksView is GET /api/locks.
type LocksView struct {
	Locks     []HeldLock    `json:"locks"`
	Truncated bool          `json:"truncated"`
	Process   []lock.Stats  `json:"process,omitempty"`
	Prefixes  []string      `json:"prefixes"`
	Took      time.Duration `json:"tookNs"`
}

func (d *Dashboard) apiLocks(ctx context.Context, _ *http.Request) (any, error) {
	start := time.Now()
	v := LocksView{Locks: []HeldLock{}, Prefixes: d.o.Services.LockPrefixes}
	for _, prefix := range d.o.Services.LockPrefixes {
		// "<prefix>{name}": the lock itself; its other keys have a suffix
		// after the brace.
		keys, trunc, err := scan.Collect(ctx, d.rdb, escapeGlob(prefix)+"{*}", scan.Options{Type: "string"}, maxLocks-len(v.Locks))
		if err != nil {
			return nil, fmt.Errorf("dashboard: locks: %w", err)
		}
		v.Truncated = v.Truncated || trunc
		if len(keys) == 0 {
			continue
		}
		p := d.rdb.Pipeline()
		type pend struct {
			val, fence     *redis.StringCmd
			ttl            *redis.DurationCmd
			queue, waiters *redis.IntCmd
		}
		ps := make([]pend, len(keys))
		for i, k := range keys {
			ps[i] = pend{val: p.Get(ctx, k), ttl: p.PTTL(ctx, k), fence: p.Get(ctx, k+":fence"),
				queue: p.ZCard(ctx, k+":queue"), waiters: p.HLen(ctx, k+":waiters")}
		}
		if _, err := p.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
			return nil, fmt.Errorf("dashboard: locks: %w", err)
		}
		for i, k := range keys {
			val := ps[i].val.Val()
			if val == "" {
				continue // released meanwhile
			}
			name := strings.TrimSuffix(strings.TrimPrefix(k, prefix+"{"), "}")
			parts := strings.SplitN(val, ":", 3)
			for len(parts) < 3 {
				parts = append(parts, "")
			}
			w := ps[i].waiters.Val()
			if w > 0 {
				w-- // the "#seq" field
			}
			v.Locks = append(v.Locks, HeldLock{Prefix: prefix, Name: name, Owner: parts[0], Token: parts[1], Holder: parts[2],
				TTLMS: max(0, ps[i].ttl.Val().Milliseconds()), Fence: ps[i].fence.Val(), Waiters: max(w, ps[i].queue.Val())})
		}
	}
	slices.SortFunc(v.Locks, func(a, b HeldLock) int { return strings.Compare(a.Name, b.Name) })
	for _, l := range d.o.Services.Lockers {
		v.Process = append(v.Process, l.Stats())
	}
	v.Took = time.Since(start)
	return v, nil
}

// escapeGlob escapes SCAN MATCH metacharacters of a literal prefix.
func escapeGlob(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `*`, `\*`, `?`, `\?`, `[`, `\[`, `]`, `\]`)
	return r.Replace(s)
}

// SessionsView is GET /api/sessions: per store, the live sessions (an
// estimate) and, for the service's own stores, its counters.
type SessionsView struct {
	Stores []SessionStoreView `json:"stores"`
}

// SessionStoreView is one session store.
type SessionStoreView struct {
	Name   string        `json:"name"`
	Active int64         `json:"active"`
	Err    string        `json:"err,omitempty"`
	Stats  session.Stats `json:"stats"`
}

func (d *Dashboard) apiSessions(ctx context.Context, _ *http.Request) (any, error) {
	v := SessionsView{Stores: []SessionStoreView{}}
	for _, name := range slices.Sorted(func(yield func(string) bool) {
		for k := range d.o.Services.Sessions {
			if !yield(k) {
				return
			}
		}
	}) {
		s := d.o.Services.Sessions[name]
		sv := SessionStoreView{Name: name, Stats: s.Stats()}
		n, err := s.Active(ctx)
		if err != nil {
			sv.Err = err.Error()
		}
		sv.Active = n
		v.Stores = append(v.Stores, sv)
	}
	return v, nil
}

// UserSession is one session of a user (its storage id, never a token).
type UserSession struct {
	ID          string    `json:"id"`
	Created     time.Time `json:"created"`
	IdleExpires time.Time `json:"idleExpires"`
	Expires     time.Time `json:"expires"`
}

func (d *Dashboard) store(name string) (SessionStore, error) {
	s, ok := d.o.Services.Sessions[name]
	if !ok {
		return nil, fmt.Errorf("%w: session store %q", ErrNotFound, name)
	}
	return s, nil
}

func (d *Dashboard) apiSessionsUser(ctx context.Context, r *http.Request) (any, error) {
	s, err := d.store(r.URL.Query().Get("store"))
	if err != nil {
		return nil, err
	}
	user := r.URL.Query().Get("user")
	if user == "" {
		return nil, fmt.Errorf("%w: user missing", ErrBadRequest)
	}
	infos, err := s.ListForUser(ctx, user)
	if err != nil {
		return nil, err
	}
	out := []UserSession{}
	for _, i := range infos {
		out = append(out, UserSession{ID: i.ID, Created: i.Created, IdleExpires: i.IdleExpires, Expires: i.Expires})
	}
	return out, nil
}

func (d *Dashboard) actRevokeUser(ctx context.Context, _ *http.Request, b actionBody) (any, error) {
	s, err := d.store(b.Name)
	if err != nil {
		return nil, err
	}
	if b.User == "" {
		return nil, fmt.Errorf("%w: user missing", ErrBadRequest)
	}
	n, err := s.DestroyAllForUser(ctx, b.User)
	if err != nil {
		return nil, err
	}
	return ActionResult{OK: true, Count: n}, nil
}

// CacheView is one cache namespace with the service's counters.
type CacheView struct {
	cache.Stats
	HitRate float64 `json:"hitRate"`
	// Lag is the invalidation lag (last, p99, highest) when known.
	LagLast, LagP99, LagMax time.Duration
	HasLag                  bool
}

// CachesView is GET /api/caches.
type CachesView struct {
	Caches []CacheView `json:"caches"`
	// RedisHitRate is keyspace hits/(hits+misses) over all masters since
	// they started: the Redis-derived figure (-1 without lookups).
	RedisHitRate float64 `json:"redisHitRate"`
}

func (d *Dashboard) apiCaches(ctx context.Context, _ *http.Request) (any, error) {
	v := CachesView{Caches: []CacheView{}, RedisHitRate: -1}
	for _, c := range d.o.Services.Caches {
		s := c.Stats()
		cv := CacheView{Stats: s, HitRate: -1}
		if t := s.NearHits + s.RedisHits + s.Misses; t > 0 {
			cv.HitRate = float64(s.NearHits+s.RedisHits) / float64(t)
		}
		if f, ok := d.o.Services.InvalidationLag[s.Namespace]; ok {
			cv.LagLast, cv.LagP99, cv.LagMax = f()
			cv.HasLag = true
		}
		v.Caches = append(v.Caches, cv)
	}
	cl, err := d.Cluster(ctx)
	if err != nil {
		return nil, err
	}
	var hits, total float64
	for _, n := range cl.Nodes {
		if n.Up && n.Role == "master" && n.HitRate >= 0 {
			// weight by commands: a node's rate alone says nothing of its volume
			hits += n.HitRate * float64(n.Commands)
			total += float64(n.Commands)
		}
	}
	if total > 0 {
		v.RedisHitRate = hits / total
	}
	return v, nil
}

// analysisRun is the memory analysis: at most one at a time, at most one
// start per analyzeInterval. Its goroutine is owned by the Dashboard
// (Close cancels it and waits).
type analysisRun struct {
	mu       sync.Mutex
	running  bool
	started  time.Time
	progress memory.Progress
	report   *memory.Report
	err      string
	cancel   context.CancelFunc
	done     chan struct{}
}

// analyzeInterval is the least time between two analysis starts.
const analyzeInterval = time.Minute

// MemoryView is GET /api/memory.
type MemoryView struct {
	Running  bool            `json:"running"`
	Started  time.Time       `json:"started"`
	Progress memory.Progress `json:"progress"`
	Report   *memory.Report  `json:"report,omitempty"`
	Err      string          `json:"err,omitempty"`
	// NextStart is when a new analysis may start.
	NextStart time.Time `json:"nextStart"`
}

func (d *Dashboard) memoryState() MemoryView {
	a := &d.analysis
	a.mu.Lock()
	defer a.mu.Unlock()
	v := MemoryView{Running: a.running, Started: a.started, Progress: a.progress, Report: a.report, Err: a.err}
	if !a.started.IsZero() {
		v.NextStart = a.started.Add(analyzeInterval)
	}
	return v
}

// actAnalyze starts memory.Analyze (SCAN, rate-limited to its default
// 100,000 keys/s) in the background; GET api/memory shows its progress.
func (d *Dashboard) actAnalyze(_ context.Context, _ *http.Request, _ actionBody) (any, error) {
	a := &d.analysis
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.running {
		return nil, fmt.Errorf("%w: an analysis is running", errRateLimited)
	}
	if !a.started.IsZero() && time.Since(a.started) < analyzeInterval {
		return nil, fmt.Errorf("%w: next analysis at %s", errRateLimited, a.started.Add(analyzeInterval).Format(time.TimeOnly))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	a.running, a.started, a.err, a.report, a.progress = true, time.Now(), "", nil, memory.Progress{}
	a.cancel, a.done = cancel, make(chan struct{})
	done := a.done
	go func() {
		defer close(done)
		defer cancel()
		rep, err := memory.Analyze(ctx, d.rdb, memory.AnalyzeOptions{Progress: func(p memory.Progress) {
			a.mu.Lock()
			a.progress = p
			a.mu.Unlock()
		}})
		a.mu.Lock()
		a.running, a.report = false, rep
		if err != nil {
			a.err = err.Error()
		}
		a.mu.Unlock()
	}()
	return ActionResult{OK: true}, nil
}

// stopAnalysis cancels a running analysis and waits for it.
func (d *Dashboard) stopAnalysis() {
	a := &d.analysis
	a.mu.Lock()
	cancel, done := a.cancel, a.done
	a.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
}
