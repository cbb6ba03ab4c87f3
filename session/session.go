package session

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rediskit/rediskit/internal/script"
)

// Session is one request's view of a session: it is loaded from Redis on
// first use (a request that never touches it costs no Redis call) and
// only the fields it changed are written back, so parallel requests that
// change different fields all keep their changes. Get it from
// Manager.From inside the Middleware. Safe for concurrent use by the
// goroutines of one request; do not keep it after the request.
//
// Methods on a nil *Session return ErrNoSession.
type Session struct {
	m  *Manager
	mu sync.Mutex

	token     string // token in force; "" until a new session needs one
	id        string // storageID(token); "" with token
	sentToken bool   // the request carried a token (even a malformed one)

	loaded  bool
	stored  bool              // the hash exists in Redis, as far as this request knows
	vals    map[string]string // user fields (loaded, then changed locally)
	size    int
	created time.Time
	abs     time.Time
	exp     time.Time
	user    string

	sets  map[string]string // pending HSETs (user fields and metadata)
	dels  map[string]struct{}
	touch bool // the idle deadline is due to move at the next save

	issue bool // send the token to the client
	clear bool // tell the client to drop its token

	cookie map[string]json.RawMessage // FormatConnectRedis: express-session's cookie object
}

// reserved reports whether Go may not set key: '$' starts the native
// format's metadata; see crReserved for FormatConnectRedis.
func (m *Manager) reserved(key string) bool {
	if m.cr {
		return slices.Contains(crReserved, key)
	}
	return strings.HasPrefix(key, "$")
}

// fresh makes s a new, empty, unsaved session. Its token is made when it
// is first saved: a client-chosen token is never adopted.
func (s *Session) fresh() {
	s.token, s.id = "", ""
	s.loaded, s.stored = true, false
	s.vals = map[string]string{}
	s.size = 0
	s.created, s.abs, s.exp = time.Time{}, time.Time{}, time.Time{}
	s.user = ""
	s.sets, s.dels, s.touch = nil, nil, false
	s.cookie = nil
}

// load reads the session on first use. Caller holds s.mu.
func (s *Session) load(ctx context.Context) error {
	if s.loaded {
		return nil
	}
	if s.token == "" {
		s.fresh()
		return nil
	}
	m := s.m
	if m.cr {
		return s.crLoad(ctx)
	}
	if s.id == "" {
		s.id = storageID(s.token)
	}
	if err := ctx.Err(); err != nil {
		return storeErr("load", err)
	}
	start := time.Now()
	cmd := redis.NewMapStringStringCmd(ctx, "hgetall", m.keys.session(s.id))
	err := m.call(ctx, cmd)
	m.observe(start, err)
	if err != nil {
		return storeErr("load", err)
	}
	res := cmd.Val()
	m.loads.Add(1)
	created, ok1 := fromMs(res[fCreated])
	abs, ok2 := fromMs(res[fAbs])
	exp, ok3 := fromMs(res[fExp])
	if !ok1 || !ok2 || !ok3 {
		s.fresh() // unknown token (or not one of ours): new session
		return nil
	}
	now := m.now()
	if !now.Before(abs) || !now.Before(exp) {
		m.expired.Add(1)
		// Redis drops the key at its TTL; delete now in case our clock runs
		// ahead of it. Best effort.
		start := time.Now()
		err := m.client.Del(ctx, m.keys.session(s.id)).Err()
		m.observe(start, err)
		s.fresh()
		return nil
	}
	s.created, s.abs, s.exp, s.user = created, abs, exp, res[fUser]
	// Keep go-redis's map: drop the metadata, count the rest.
	s.size = 0
	for k, v := range res {
		if strings.HasPrefix(k, "$") {
			delete(res, k)
			continue
		}
		s.size += len(k) + len(v)
	}
	s.vals = res
	s.loaded, s.stored = true, true
	lastTouch := exp.Add(-m.opts.IdleTimeout)
	s.touch = exp.Before(abs) && now.Sub(lastTouch) >= m.opts.TouchInterval
	return nil
}

// begin locks s and loads it. On success the caller must unlock.
func (s *Session) begin(ctx context.Context) error {
	if s == nil {
		return ErrNoSession
	}
	s.mu.Lock()
	if err := s.load(ctx); err != nil {
		s.mu.Unlock()
		return err
	}
	return nil
}

// Get returns the value of key and whether it is set.
func (s *Session) Get(ctx context.Context, key string) ([]byte, bool, error) {
	if err := s.begin(ctx); err != nil {
		return nil, false, err
	}
	defer s.mu.Unlock()
	v, ok := s.vals[key]
	if !ok {
		return nil, false, nil
	}
	return []byte(v), true, nil
}

// Keys returns the keys that are set, sorted.
func (s *Session) Keys(ctx context.Context) ([]string, error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	return slices.Sorted(maps.Keys(s.vals)), nil
}

// Set sets key to value; it is written when the response starts (or at
// Save). It fails with *TooLargeError when the session, as this request
// sees it, would exceed Options.MaxSize, and with ErrReservedKey for keys
// starting with '$'.
func (s *Session) Set(ctx context.Context, key string, value []byte) error {
	if err := s.checkKey(key, value, true); err != nil {
		return err
	}
	if err := s.begin(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	if err := s.fits(key, value); err != nil {
		return err
	}
	v := string(value)
	s.setLocal(key, v)
	if s.sets == nil {
		s.sets = map[string]string{}
	}
	s.sets[key] = v
	delete(s.dels, key)
	return nil
}

// fits checks the size limit for setting key to value.
func (s *Session) fits(key string, value []byte) error {
	size := s.size + len(key) + len(value)
	if old, ok := s.vals[key]; ok {
		size -= len(key) + len(old)
	}
	if size > s.m.opts.MaxSize {
		return &TooLargeError{Key: key, Size: size, Limit: s.m.opts.MaxSize}
	}
	return nil
}

// setLocal updates the local view and its size.
func (s *Session) setLocal(key, value string) {
	if old, ok := s.vals[key]; ok {
		s.size -= len(key) + len(old)
	}
	s.vals[key] = value
	s.size += len(key) + len(value)
}

func (s *Session) deleteLocal(key string) {
	if old, ok := s.vals[key]; ok {
		s.size -= len(key) + len(old)
		delete(s.vals, key)
	}
}

// Delete removes key; written like Set.
func (s *Session) Delete(ctx context.Context, key string) error {
	if err := s.checkKey(key, nil, false); err != nil {
		return err
	}
	if err := s.begin(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	s.deleteLocal(key)
	delete(s.sets, key)
	if s.dels == nil {
		s.dels = map[string]struct{}{}
	}
	s.dels[key] = struct{}{}
	return nil
}

// UserID returns the user set by SetUser, or "". FormatConnectRedis:
// ErrUnsupported.
func (s *Session) UserID(ctx context.Context) (string, error) {
	if s != nil && s.m.cr {
		return "", unsupported("UserID (SetUser's user)")
	}
	if err := s.begin(ctx); err != nil {
		return "", err
	}
	defer s.mu.Unlock()
	return s.user, nil
}

// ID returns the session's storage id (the Info.ID of ListForUser), or ""
// for a session not saved yet.
func (s *Session) ID(ctx context.Context) (string, error) {
	if err := s.begin(ctx); err != nil {
		return "", err
	}
	defer s.mu.Unlock()
	if !s.stored {
		return "", nil
	}
	return s.id, nil
}

// Save writes pending changes now instead of when the response starts,
// so the handler can act on an error (ErrGone when another request ended
// the session meanwhile; the changes are then dropped and the session
// starts over empty).
func (s *Session) Save(ctx context.Context) error {
	if err := s.begin(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	return s.flush(ctx, false)
}

func (s *Session) pending() bool { return len(s.sets) > 0 || len(s.dels) > 0 }

// flush writes pending changes (and a due touch). A new session is
// created if it has changes or force is set. Caller holds s.mu.
func (s *Session) flush(ctx context.Context, force bool) error {
	if !s.loaded {
		return nil
	}
	m := s.m
	if m.cr {
		return s.crFlush(ctx, force)
	}
	now := m.now()
	if !s.stored {
		if !s.pending() && !force {
			return nil
		}
		return s.create(ctx, now)
	}
	if !s.pending() && !s.touch {
		return nil
	}
	ttl := int64(0)
	touched := s.touch
	if touched {
		exp := minTime(now.Add(m.opts.IdleTimeout), s.abs)
		if s.sets == nil {
			s.sets = map[string]string{}
		}
		s.sets[fExp] = formatMs(exp)
		ttl = max(ms(exp)-ms(now), 1)
	}
	args := make([]any, 0, 4+2*len(s.sets)+len(s.dels))
	args = append(args, "u", ms(now), ttl, len(s.sets))
	for k, v := range s.sets {
		args = append(args, k, v)
	}
	for k := range s.dels {
		args = append(args, k)
	}
	if err := ctx.Err(); err != nil {
		delete(s.sets, fExp)
		return storeErr("save", err)
	}
	start := time.Now()
	err := saveScript.Err(saveScript.Run(ctx, scripter{m}, []string{m.keys.session(s.id)}, args...).Err())
	m.observe(start, err)
	if isGone(err) {
		m.gone.Add(1)
		s.fresh()
		return ErrGone
	}
	if err != nil {
		delete(s.sets, fExp)
		return storeErr("save", err)
	}
	m.saves.Add(1)
	if touched {
		if v, ok := fromMs(s.sets[fExp]); ok {
			s.exp = v
		}
		s.touch = false
		m.touches.Add(1)
		m.markActive(ctx, s.id, now)
	}
	s.sets, s.dels = nil, nil
	return nil
}

func formatInt(n int64) string { return strconv.FormatInt(n, 10) }

func isGone(err error) bool {
	var ce *script.CodeError
	return errors.As(err, &ce) && ce.Code == "GONE"
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// create writes s as a new session under a new token. Caller holds s.mu.
func (s *Session) create(ctx context.Context, now time.Time) error {
	m := s.m
	if s.token == "" {
		s.token = newToken()
		s.id = storageID(s.token)
	}
	s.created = now
	s.abs = now.Add(m.opts.Lifetime)
	s.exp = minTime(now.Add(m.opts.IdleTimeout), s.abs)
	fields := map[string]string{
		fCreated: formatMs(s.created),
		fAbs:     formatMs(s.abs),
		fExp:     formatMs(s.exp),
	}
	if s.user != "" {
		fields[fUser] = s.user
	}
	maps.Copy(fields, s.vals)
	if err := m.write(ctx, s.id, fields, now, s.exp); err != nil {
		return err
	}
	s.stored, s.issue, s.clear = true, true, false
	s.sets, s.dels, s.touch = nil, nil, false
	m.created.Add(1)
	m.markActive(ctx, s.id, now)
	return nil
}

// write creates the hash of id with fields (metadata included), expiring
// at exp.
func (m *Manager) write(ctx context.Context, id string, fields map[string]string, now, exp time.Time) error {
	args := make([]any, 0, 4+2*len(fields))
	args = append(args, "c", ms(now), max(ms(exp)-ms(now), 1), len(fields))
	for k, v := range fields {
		args = append(args, k, v)
	}
	if err := ctx.Err(); err != nil {
		return storeErr("create", err)
	}
	start := time.Now()
	err := saveScript.Err(saveScript.Run(ctx, scripter{m}, []string{m.keys.session(id)}, args...).Err())
	m.observe(start, err)
	if err != nil {
		return storeErr("create", err)
	}
	m.saves.Add(1)
	return nil
}

// Incr adds delta to the integer in key atomically in Redis (concurrent
// requests never lose an increment) and returns the new value. Pending
// changes are saved first; a new session is created.
func (s *Session) Incr(ctx context.Context, key string, delta int64) (int64, error) {
	if err := s.checkKey(key, nil, false); err != nil {
		return 0, err
	}
	if err := s.begin(ctx); err != nil {
		return 0, err
	}
	defer s.mu.Unlock()
	if err := s.flush(ctx, true); err != nil {
		return 0, err
	}
	m := s.m
	if err := ctx.Err(); err != nil {
		return 0, storeErr("incr", err)
	}
	if m.cr {
		return s.crIncr(ctx, key, delta)
	}
	start := time.Now()
	n, err := incrScript.Run(ctx, m.client, []string{m.keys.session(s.id)}, ms(m.now()), key, delta).Int64()
	err = incrScript.Err(err)
	m.observe(start, err)
	switch {
	case isGone(err):
		m.gone.Add(1)
		s.fresh()
		return 0, ErrGone
	case err != nil && strings.Contains(err.Error(), "not an integer"):
		return 0, &StoreError{Op: "incr", Err: errors.Join(ErrNotInteger, err)}
	case err != nil:
		return 0, storeErr("incr", err)
	}
	s.setLocal(key, strconv.FormatInt(n, 10))
	return n, nil
}

// CompareAndSet is CompareAndSwap.
//
// Deprecated: use CompareAndSwap (the name of the typed function and of
// sync/atomic); CompareAndSet is removed in the next release.
func (s *Session) CompareAndSet(ctx context.Context, key string, old, next []byte) (bool, error) {
	return s.CompareAndSwap(ctx, key, old, next)
}

// CompareAndSwap sets key to next only if it currently holds old, checked
// atomically in Redis. A nil old means "key must be absent"; a nil next
// deletes the key. It reports whether the swap happened; when it did not,
// the local view is updated with the current value. Pending changes are
// saved first; a new session is created.
func (s *Session) CompareAndSwap(ctx context.Context, key string, old, next []byte) (bool, error) {
	if err := s.checkKey(key, next, next != nil); err != nil {
		return false, err
	}
	if err := s.begin(ctx); err != nil {
		return false, err
	}
	defer s.mu.Unlock()
	if next != nil {
		if err := s.fits(key, next); err != nil {
			return false, err
		}
	}
	if err := s.flush(ctx, true); err != nil {
		return false, err
	}
	m := s.m
	hasOld, hasNext := "0", "0"
	if old != nil {
		hasOld = "1"
	}
	if next != nil {
		hasNext = "1"
	}
	if err := ctx.Err(); err != nil {
		return false, storeErr("compare-and-swap", err)
	}
	if m.cr {
		return s.crCAS(ctx, key, old, next)
	}
	start := time.Now()
	res, err := casScript.Run(ctx, m.client, []string{m.keys.session(s.id)}, ms(m.now()), key, hasOld, old, hasNext, next).Slice()
	err = casScript.Err(err)
	m.observe(start, err)
	if isGone(err) {
		m.gone.Add(1)
		s.fresh()
		return false, ErrGone
	}
	if err != nil {
		return false, storeErr("compare-and-swap", err)
	}
	return s.swapped(res, key, next), nil
}

// swapped reads a compare-and-swap script's reply {1} or {0, current}
// and updates the local view.
func (s *Session) swapped(res []any, key string, next []byte) bool {
	if len(res) > 0 && res[0] == int64(1) {
		if next == nil {
			s.deleteLocal(key)
		} else {
			s.setLocal(key, string(next))
		}
		return true
	}
	if len(res) > 1 {
		if cur, ok := res[1].(string); ok {
			s.setLocal(key, cur)
			return false
		}
	}
	s.deleteLocal(key)
	return false
}

// checkKey refuses a key Go may not write and, in FormatConnectRedis, a
// value (when check is set) that is not one JSON value.
func (s *Session) checkKey(key string, value []byte, check bool) error {
	if s == nil {
		return ErrNoSession
	}
	if s.m.reserved(key) {
		return fmt.Errorf("%w: %q", ErrReservedKey, key)
	}
	if check && s.m.cr && !json.Valid(value) {
		return fmt.Errorf("%w: key %q", ErrNotJSON, key)
	}
	return nil
}
