package session

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rediskit/rediskit/internal/script"
)

// FormatConnectRedis: the session object express-session hands to
// connect-redis, which stores it with JSON.stringify under
// "<prefix><sid>" (SET EX, the TTL in seconds rounded up from
// cookie.expires, or the store's ttl when the cookie has none), refreshes
// the TTL with EXPIRE on a touch, and deletes it with DEL.

var (
	//go:embed connect.lua
	connectLib string
	//go:embed connect-save-1.lua
	connectSaveSrc    string
	connectSaveScript = script.New("connect-save-1.lua", connectLib+"\n"+connectSaveSrc)
	//go:embed connect-incr-1.lua
	connectIncrSrc    string
	connectIncrScript = script.New("connect-incr-1.lua", connectLib+"\n"+connectIncrSrc)
	//go:embed connect-cas-1.lua
	connectCASSrc    string
	connectCASScript = script.New("connect-cas-1.lua", connectLib+"\n"+connectCASSrc)
)

// ARGV positions (1-based, as in Lua) of connect-save-1.lua.
const (
	argSaveTTL   = iota + 1 // TTL in seconds, 0 keeps the key's
	argSaveCount            // number of key/value pairs
	argSavePairs            // first pair; the keys to delete follow the pairs
)

// ARGV positions of connect-incr-1.lua.
const (
	argIncrKey = iota + 1
	argIncrDelta
	argIncrSize = argIncrDelta
)

// ARGV positions of connect-cas-1.lua.
const (
	argCASKey = iota + 1
	argCASHasOld
	argCASOld
	argCASHasNext
	argCASNext
	argCASSize = argCASNext
)

// fCookie is express-session's cookie object, a top-level key.
const fCookie = "cookie"

// crReserved are top-level names Go may not set in FormatConnectRedis:
// the cookie, and the names of express-session's Session (own
// properties and methods), which Node skips when it loads a session and
// drops at its next save.
var crReserved = []string{fCookie, "id", "req", "touch", "resetMaxAge", "save", "reload", "destroy", "regenerate"}

// defaultStoreTTL is connect-redis's default ttl option.
const defaultStoreTTL = 86400 * time.Second

func (o *Options) connectDefaults() error {
	if len(o.Secrets) == 0 {
		return errors.New("session: FormatConnectRedis needs Options.Secrets (express-session's secret list)")
	}
	for i, s := range o.Secrets {
		if s == "" {
			return fmt.Errorf("session: Options.Secrets[%d] is empty", i)
		}
	}
	if o.Lifetime != 0 {
		return unsupported("Options.Lifetime (an absolute deadline)")
	}
	if o.Codec != nil {
		if _, ok := o.Codec.(JSON); !ok {
			return unsupported("a Codec other than JSON (values live inside express-session's JSON object)")
		}
	}
	if o.StoreTTL < 0 {
		return errors.New("session: negative option")
	}
	if o.StoreTTL == 0 {
		o.StoreTTL = defaultStoreTTL
	}
	if o.Prefix == "" {
		o.Prefix = "sess:"
	}
	if o.Cookie.Name == "" {
		o.Cookie.Name = "connect.sid"
	}
	o.Lifetime = time.Duration(math.MaxInt64) // no absolute deadline: IdleTimeout is never clamped
	return nil
}

// blob is a parsed express-session object.
type blob struct {
	vals   map[string]string          // top-level keys but "cookie": raw JSON values
	cookie map[string]json.RawMessage // the cookie object
}

// parseBlob reads what connect-redis stored. It fails on anything that
// is not a JSON object with a "cookie" object.
func parseBlob(data []byte) (blob, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		return blob{}, fmt.Errorf("not a JSON object: %w", err)
	}
	if top == nil {
		return blob{}, errors.New("not a JSON object: null")
	}
	var cookie map[string]json.RawMessage
	if err := json.Unmarshal(top[fCookie], &cookie); err != nil || cookie == nil {
		return blob{}, errors.New(`no "cookie" object`)
	}
	b := blob{vals: make(map[string]string, len(top)), cookie: cookie}
	for k, v := range top {
		if k != fCookie {
			b.vals[k] = string(v)
		}
	}
	return b, nil
}

// encode writes b as an express-session object, the cookie first.
func (b blob) encode() ([]byte, error) {
	c, err := json.Marshal(b.cookie)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	buf.WriteString(`{"cookie":`)
	buf.Write(c)
	for _, k := range slices.Sorted(maps.Keys(b.vals)) {
		kb, _ := json.Marshal(k)
		buf.WriteByte(',')
		buf.Write(kb)
		buf.WriteByte(':')
		buf.WriteString(b.vals[k])
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

// maxAge is cookie.originalMaxAge, or false for a browser-session cookie
// (null).
func maxAge(cookie map[string]json.RawMessage) (time.Duration, bool) {
	var ms *float64
	if json.Unmarshal(cookie["originalMaxAge"], &ms) != nil || ms == nil {
		return 0, false
	}
	return time.Duration(*ms) * time.Millisecond, true
}

// jsDate formats t as JSON.stringify formats a Date.
func jsDate(t time.Time) json.RawMessage {
	return json.RawMessage(`"` + t.UTC().Format("2006-01-02T15:04:05.000Z") + `"`)
}

// expiresOf is cookie.expires, or the zero time.
func expiresOf(cookie map[string]json.RawMessage) time.Time {
	var s string
	if json.Unmarshal(cookie["expires"], &s) != nil {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}
	}
	return t
}

// newCookie is the cookie object of a session Go creates, as
// express-session writes it for the same cookie options.
func (m *Manager) newCookie(now time.Time) map[string]json.RawMessage {
	co := m.opts.Cookie
	c := map[string]json.RawMessage{
		"httpOnly": json.RawMessage(strconv.FormatBool(!co.ScriptReadable)),
		"path":     mustJSON(co.Path),
	}
	if co.BrowserSession {
		c["originalMaxAge"] = json.RawMessage("null")
		c["expires"] = json.RawMessage("null")
	} else {
		c["originalMaxAge"] = json.RawMessage(strconv.FormatInt(m.opts.IdleTimeout.Milliseconds(), 10))
		c["expires"] = jsDate(now.Add(m.opts.IdleTimeout))
	}
	c["secure"] = json.RawMessage(strconv.FormatBool(!co.Insecure))
	if co.Domain != "" {
		c["domain"] = mustJSON(co.Domain)
	}
	if co.Partitioned {
		c["partitioned"] = json.RawMessage("true")
	}
	if ss := sameSiteName(co.SameSite); ss != "" {
		c["sameSite"] = mustJSON(ss)
	}
	return c
}

// sameSiteName is the cookie object's sameSite for s ("" leaves it out).
func sameSiteName(s http.SameSite) string {
	switch s {
	case http.SameSiteLaxMode:
		return "lax"
	case http.SameSiteStrictMode:
		return "strict"
	case http.SameSiteNoneMode:
		return "none"
	}
	return ""
}

func mustJSON(s string) json.RawMessage {
	b, _ := json.Marshal(s)
	return b
}

// touched returns cookie with expires moved to now + its maxAge, as
// express-session's touch does, and the TTL connect-redis sets for it.
func (m *Manager) touched(cookie map[string]json.RawMessage, now time.Time) (map[string]json.RawMessage, int64) {
	age, ok := maxAge(cookie)
	if !ok {
		return cookie, ceilSeconds(m.opts.StoreTTL)
	}
	c := maps.Clone(cookie)
	c["expires"] = jsDate(now.Add(age))
	return c, ceilSeconds(age)
}

// ceilSeconds is connect-redis's Math.ceil(ms / 1000), at least 1 (it
// deletes a session whose TTL is not positive; we never write one).
func ceilSeconds(d time.Duration) int64 {
	return max((d.Milliseconds()+999)/1000, 1)
}

// crLoad reads the session in FormatConnectRedis: GET and PTTL in one
// round trip. A blob it cannot parse starts a new session and is left
// untouched. Caller holds s.mu.
func (s *Session) crLoad(ctx context.Context) error {
	m := s.m
	k := m.keys.sess(s.id)
	if err := ctx.Err(); err != nil {
		return storeErr("load", err)
	}
	get := redis.NewStringCmd(ctx, "get", k)
	pttl := redis.NewDurationCmd(ctx, time.Millisecond, "pttl", k)
	start := time.Now()
	err := m.call(ctx, get, pttl)
	m.observe(start, err)
	if err != nil && !errors.Is(err, redis.Nil) {
		return storeErr("load", err)
	}
	m.loads.Add(1)
	data, err := get.Bytes()
	if err != nil {
		s.fresh() // unknown, destroyed or expired sid: a new session
		return nil
	}
	b, err := parseBlob(data)
	if err != nil {
		m.opts.Logger.WarnContext(ctx, "session: stored session is not an express-session object; starting a new session, the stored value is left as it is",
			"prefix", m.opts.Prefix, "err", err)
		s.fresh()
		return nil
	}
	s.vals, s.cookie = b.vals, b.cookie
	s.size = 0
	for k, v := range s.vals {
		s.size += len(k) + len(v)
	}
	s.loaded, s.stored = true, true
	if ttl := pttl.Val(); ttl > 0 {
		full := m.opts.StoreTTL
		if age, ok := maxAge(s.cookie); ok {
			full = age
		}
		s.touch = full-ttl >= m.opts.TouchInterval
	}
	return nil
}

// crFlush writes pending changes (and a due touch) in FormatConnectRedis.
// Caller holds s.mu.
func (s *Session) crFlush(ctx context.Context, force bool) error {
	m := s.m
	now := m.now()
	if !s.stored {
		if !s.pending() && !force {
			return nil
		}
		return s.crCreate(ctx, now)
	}
	if !s.pending() && !s.touch {
		return nil
	}
	var ttl int64
	cookie := s.cookie
	sets := s.sets
	if s.touch {
		cookie, ttl = m.touched(s.cookie, now)
		cb, err := json.Marshal(cookie)
		if err != nil {
			return storeErr("save", err)
		}
		sets = make(map[string]string, len(s.sets)+1)
		maps.Copy(sets, s.sets)
		sets[fCookie] = string(cb)
	}
	args := make([]any, argSavePairs-1, argSavePairs-1+2*len(sets)+len(s.dels))
	args[argSaveTTL-1] = ttl
	args[argSaveCount-1] = len(sets)
	for k, v := range sets {
		args = append(args, k, v)
	}
	for k := range s.dels {
		args = append(args, k)
	}
	if err := ctx.Err(); err != nil {
		return storeErr("save", err)
	}
	start := time.Now()
	err := connectSaveScript.Err(connectSaveScript.Run(ctx, scripter{m}, []string{m.keys.sess(s.id)}, args...).Err())
	m.observe(start, err)
	if err := s.crGone(ctx, err); err != nil {
		return err
	}
	if err != nil {
		return storeErr("save", err)
	}
	m.saves.Add(1)
	if s.touch {
		s.cookie, s.touch, s.issue = cookie, false, true
		m.touches.Add(1)
	}
	s.sets, s.dels = nil, nil
	return nil
}

// crGone turns a GONE or BADBLOB reply into ErrGone: the session was
// ended (or replaced by something that is not a session) by another
// request or by Node. The Session starts over empty.
func (s *Session) crGone(ctx context.Context, err error) error {
	var ce *script.CodeError
	if !errors.As(err, &ce) || (ce.Code != "GONE" && ce.Code != "BADBLOB") {
		return nil
	}
	if ce.Code == "BADBLOB" {
		s.m.opts.Logger.WarnContext(ctx, "session: stored session is no longer an express-session object; changes dropped, it is left as it is",
			"prefix", s.m.opts.Prefix)
	}
	s.m.gone.Add(1)
	s.fresh()
	return ErrGone
}

// crCreate writes s as a new session under a new sid. Caller holds s.mu.
func (s *Session) crCreate(ctx context.Context, now time.Time) error {
	if s.token == "" {
		s.token = newSID()
		s.id = s.token
	}
	cookie := s.m.newCookie(now)
	if err := s.m.crWrite(ctx, "create", s.id, blob{vals: s.vals, cookie: cookie}, now); err != nil {
		return err
	}
	s.cookie = cookie
	s.stored, s.issue, s.clear = true, true, false
	s.sets, s.dels, s.touch = nil, nil, false
	s.m.created.Add(1)
	return nil
}

// crWrite stores b under a sid nobody else knows yet (SET NX), with the
// TTL connect-redis would give it.
func (m *Manager) crWrite(ctx context.Context, op, sid string, b blob, now time.Time) error {
	data, err := b.encode()
	if err != nil {
		return storeErr(op, err)
	}
	ttl := m.opts.StoreTTL
	if _, ok := maxAge(b.cookie); ok {
		ttl = expiresOf(b.cookie).Sub(now)
	}
	if err := ctx.Err(); err != nil {
		return storeErr(op, err)
	}
	start := time.Now()
	ok, err := m.client.SetNX(ctx, m.keys.sess(sid), data, time.Duration(ceilSeconds(ttl))*time.Second).Result()
	m.observe(start, err)
	if err != nil {
		return storeErr(op, err)
	}
	if !ok {
		return storeErr(op, errors.New("new session id already taken"))
	}
	m.saves.Add(1)
	return nil
}

// crRenew is Renew in FormatConnectRedis: the stored object (as it is
// now, with this request's changes) moves to a new sid and the old key is
// deleted, as express-session's regenerate does (which, unlike Renew,
// also empties the session). Caller holds s.mu.
func (s *Session) crRenew(ctx context.Context) error {
	if !s.stored {
		return nil // its sid, made at the first save, is already new
	}
	m := s.m
	old := m.keys.sess(s.id)
	if err := ctx.Err(); err != nil {
		return storeErr("renew", err)
	}
	start := time.Now()
	data, err := m.client.Get(ctx, old).Bytes()
	m.observe(start, err)
	if errors.Is(err, redis.Nil) {
		m.gone.Add(1)
		s.fresh()
		return ErrGone
	}
	if err != nil {
		return storeErr("renew", err)
	}
	b, err := parseBlob(data)
	if err != nil {
		return s.crGone(ctx, &script.CodeError{Code: "BADBLOB"})
	}
	for k, v := range s.sets {
		b.vals[k] = v
	}
	for k := range s.dels {
		delete(b.vals, k)
	}
	now := m.now()
	b.cookie, _ = m.touched(b.cookie, now)
	sid := newSID()
	if err := m.crWrite(ctx, "renew", sid, b, now); err != nil {
		return err
	}
	if err := m.retire(ctx, old, m.keys.sess(sid)); err != nil {
		return err
	}
	s.token, s.id = sid, sid
	s.vals, s.cookie = b.vals, b.cookie
	s.size = 0
	for k, v := range s.vals {
		s.size += len(k) + len(v)
	}
	s.sets, s.dels, s.touch = nil, nil, false
	s.issue, s.clear = true, false
	m.renewed.Add(1)
	return nil
}

// crIncr is Incr in FormatConnectRedis, on a top-level integer. Caller
// holds s.mu and has flushed.
func (s *Session) crIncr(ctx context.Context, key string, delta int64) (int64, error) {
	m := s.m
	args := make([]any, argIncrSize)
	args[argIncrKey-1] = key
	args[argIncrDelta-1] = delta
	start := time.Now()
	n, err := connectIncrScript.Run(ctx, m.client, []string{m.keys.sess(s.id)}, args...).Int64()
	err = connectIncrScript.Err(err)
	m.observe(start, err)
	if gerr := s.crGone(ctx, err); gerr != nil {
		return 0, gerr
	}
	var ce *script.CodeError
	if errors.As(err, &ce) && ce.Code == "NOTINT" {
		return 0, &StoreError{Op: "incr", Err: errors.Join(ErrNotInteger, err)}
	}
	if err != nil {
		return 0, storeErr("incr", err)
	}
	s.setLocal(key, strconv.FormatInt(n, 10))
	return n, nil
}

// crCAS is CompareAndSwap in FormatConnectRedis, comparing raw JSON.
// Caller holds s.mu and has flushed.
func (s *Session) crCAS(ctx context.Context, key string, old, next []byte) (bool, error) {
	m := s.m
	args := make([]any, argCASSize)
	args[argCASKey-1] = key
	args[argCASHasOld-1], args[argCASOld-1] = flag(old != nil), old
	args[argCASHasNext-1], args[argCASNext-1] = flag(next != nil), next
	start := time.Now()
	res, err := connectCASScript.Run(ctx, m.client, []string{m.keys.sess(s.id)}, args...).Slice()
	err = connectCASScript.Err(err)
	m.observe(start, err)
	if gerr := s.crGone(ctx, err); gerr != nil {
		return false, gerr
	}
	if err != nil {
		return false, storeErr("compare-and-swap", err)
	}
	return s.swapped(res, key, next), nil
}

func flag(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// crDestroy deletes session sid (DEL, as connect-redis's destroy).
func (m *Manager) crDestroy(ctx context.Context, sid string) (bool, error) {
	if sid == "" || len(sid) > maxSID {
		return false, nil
	}
	start := time.Now()
	n, err := m.client.Del(ctx, m.keys.sess(sid)).Result()
	m.observe(start, err)
	if err != nil {
		return false, storeErr("destroy", err)
	}
	m.destroyed.Add(uint64(n))
	return n > 0, nil
}
