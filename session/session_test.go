package session

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rediskit/rediskit/internal/clock"
	"github.com/rediskit/rediskit/internal/redistest"
)

func TestSession(t *testing.T) {
	redistest.ForEach(t, func(t *testing.T, tg redistest.Target) {
		t.Run("Lazy", func(t *testing.T) { testLazy(t, tg) })
		t.Run("SetGet", func(t *testing.T) { testSetGet(t, tg) })
		t.Run("Fixation", func(t *testing.T) { testFixation(t, tg) })
		t.Run("Renew", func(t *testing.T) { testRenew(t, tg) })
		t.Run("RenewRace", func(t *testing.T) { testRenewRace(t, tg) })
		t.Run("ParallelFields", func(t *testing.T) { testParallelFields(t, tg) })
		t.Run("ParallelIncr", func(t *testing.T) { testParallelIncr(t, tg) })
		t.Run("CompareAndSwap", func(t *testing.T) { testCompareAndSwap(t, tg) })
		t.Run("IdleExpiry", func(t *testing.T) { testIdleExpiry(t, tg) })
		t.Run("AbsoluteExpiry", func(t *testing.T) { testAbsoluteExpiry(t, tg) })
		t.Run("LogoutEverywhere", func(t *testing.T) { testLogoutEverywhere(t, tg) })
		t.Run("Destroy", func(t *testing.T) { testDestroy(t, tg) })
		t.Run("Tampered", func(t *testing.T) { testTampered(t, tg) })
		t.Run("SizeLimit", func(t *testing.T) { testSizeLimit(t, tg) })
		t.Run("Gone", func(t *testing.T) { testGone(t, tg) })
		t.Run("HeaderMode", func(t *testing.T) { testHeaderMode(t, tg) })
		t.Run("Typed", func(t *testing.T) { testTyped(t, tg) })
		t.Run("Active", func(t *testing.T) { testActive(t, tg) })
	})
}

// TestAutoPipeline runs the concurrency-heavy cases over a go-redis
// AutoPipeline client (the fast way to run the Manager, see doc.go).
func TestAutoPipeline(t *testing.T) {
	redistest.ForEach(t, func(t *testing.T, tg redistest.Target) {
		tg2 := apTarget{tg}
		t.Run("SetGet", func(t *testing.T) { testSetGet(t, tg2) })
		t.Run("Renew", func(t *testing.T) { testRenew(t, tg2) })
		t.Run("ParallelFields", func(t *testing.T) { testParallelFields(t, tg2) })
		t.Run("ParallelIncr", func(t *testing.T) { testParallelIncr(t, tg2) })
		t.Run("LogoutEverywhere", func(t *testing.T) { testLogoutEverywhere(t, tg2) })
		t.Run("Gone", func(t *testing.T) { testGone(t, tg2) })
	})
}

func testLazy(t *testing.T, tg target) {
	a := newApp(t, tg.Client(t), Options{})
	var b browser
	mustCode(t, b.do(t, a, "/set", kv("x", "1")), 200)
	before := a.m.Stats().StoreCalls
	for range 5 {
		r := b.do(t, a, "/nothing", nil)
		mustCode(t, r, 200)
		if r.cookie != nil {
			t.Fatalf("untouched session sent a cookie: %v", r.cookie)
		}
	}
	if got := a.m.Stats().StoreCalls; got != before {
		t.Fatalf("requests that never touch the session made %d Redis calls, want 0", got-before)
	}
	// Reading costs one call and writes nothing.
	if r := b.do(t, a, "/get", kv("k", "x")); r.body != "1" || r.cookie != nil {
		t.Fatalf("get = %q cookie %v, want 1 and no cookie", r.body, r.cookie)
	}
	if got := a.m.Stats().StoreCalls - before; got != 1 {
		t.Fatalf("a read-only request made %d Redis calls, want 1", got)
	}
}

func testSetGet(t *testing.T, tg target) {
	rdb := tg.Client(t)
	a := newApp(t, rdb, Options{})
	var b browser
	r := b.do(t, a, "/set", kv("a", "1", "b", "2"))
	mustCode(t, r, 200)
	if r.cookie == nil || !r.cookie.HttpOnly || r.cookie.SameSite != http.SameSiteLaxMode || r.cookie.Path != "/" {
		t.Fatalf("cookie = %+v, want HttpOnly, SameSite=Lax, Path=/", r.cookie)
	}
	if r := b.do(t, a, "/keys", nil); r.body != "a,b" {
		t.Fatalf("keys = %q, want a,b", r.body)
	}
	// Only a hash of the token is stored.
	ctx := context.Background()
	if n, _ := rdb.Exists(ctx, a.m.keys.session(b.tok())).Result(); n != 0 {
		t.Fatal("the raw token is a Redis key")
	}
	h, err := rdb.HGetAll(ctx, a.m.keys.session(storageID(b.tok()))).Result()
	if err != nil || h["a"] != "1" || h["b"] != "2" || h[fAbs] == "" || h[fExp] == "" {
		t.Fatalf("stored hash = %v, %v", h, err)
	}
	for _, v := range h {
		if strings.Contains(v, b.tok()) {
			t.Fatal("the raw token is stored")
		}
	}
	if ttl, _ := rdb.PTTL(ctx, a.m.keys.session(storageID(b.tok()))).Result(); ttl <= 0 || ttl > 30*time.Minute {
		t.Fatalf("TTL = %v, want (0, 30m]", ttl)
	}
	if r := b.do(t, a, "/get", kv("k", "a")); r.body != "1" {
		t.Fatalf("get a = %q", r.body)
	}
}

func testFixation(t *testing.T, tg target) {
	rdb := tg.Client(t)
	a := newApp(t, rdb, Options{})
	chosen := newToken() // well formed, but never issued by the server
	b := browser{token: chosen}
	r := b.do(t, a, "/set", kv("secret", "s"))
	mustCode(t, r, 200)
	if r.cookie == nil || r.cookie.Value == chosen {
		t.Fatalf("the server adopted the client's token (cookie %v)", r.cookie)
	}
	ctx := context.Background()
	if n, _ := rdb.Exists(ctx, a.m.keys.session(storageID(chosen))).Result(); n != 0 {
		t.Fatal("a session exists under the client-chosen token")
	}
	// An attacker holding the chosen token sees nothing.
	attacker := browser{token: chosen}
	if r := attacker.do(t, a, "/get", kv("k", "secret")); r.code != http.StatusNotFound {
		t.Fatalf("attacker read %d %q", r.code, r.body)
	}
	// A login renews an existing session: the pre-login token dies.
	pre := b.tok()
	mustCode(t, b.do(t, a, "/login", kv("user", "u-fix")), 200)
	if b.tok() == pre {
		t.Fatal("login kept the token")
	}
	old := browser{token: pre}
	if r := old.do(t, a, "/user", nil); r.body != "" {
		t.Fatalf("pre-login token sees user %q", r.body)
	}
}

func testRenew(t *testing.T, tg target) {
	rdb := tg.Client(t)
	a := newApp(t, rdb, Options{})
	var b browser
	mustCode(t, b.do(t, a, "/set", kv("x", "1")), 200)
	old := b.tok()
	r := b.do(t, a, "/renew", nil)
	mustCode(t, r, 200)
	if r.cookie == nil || b.tok() == old {
		t.Fatalf("renew sent no new token (cookie %v)", r.cookie)
	}
	if r := b.do(t, a, "/get", kv("k", "x")); r.body != "1" {
		t.Fatalf("data after renew = %q, want 1", r.body)
	}
	if n, _ := rdb.Exists(context.Background(), a.m.keys.session(storageID(old))).Result(); n != 0 {
		t.Fatal("the old session still exists")
	}
	ob := browser{token: old}
	if r := ob.do(t, a, "/get", kv("k", "x")); r.code != http.StatusNotFound {
		t.Fatalf("old token still reads data: %d %q", r.code, r.body)
	}
	if a.m.Stats().Renewed != 1 {
		t.Fatalf("Renewed = %d", a.m.Stats().Renewed)
	}
}

func testParallelFields(t *testing.T, tg target) {
	a := newApp(t, tg.Client(t), Options{})
	var b browser
	mustCode(t, b.do(t, a, "/set", kv("start", "1")), 200)
	allOK(t, 50, func(i int) (resp, error) {
		return b.try(a, "/set", kv(fmt.Sprintf("f%02d", i), fmt.Sprint(i)))
	})
	r := b.do(t, a, "/keys", nil)
	keys := strings.Split(r.body, ",")
	if len(keys) != 51 {
		t.Fatalf("%d keys survived, want 51: %v", len(keys), keys)
	}
	for i := range 50 {
		if r := b.do(t, a, "/get", kv("k", fmt.Sprintf("f%02d", i))); r.body != fmt.Sprint(i) {
			t.Fatalf("f%02d = %q", i, r.body)
		}
	}
}

func testParallelIncr(t *testing.T, tg target) {
	a := newApp(t, tg.Client(t), Options{})
	var b browser
	if r := b.do(t, a, "/incr", kv("k", "n")); r.body != "1" {
		t.Fatalf("first incr = %q", r.body)
	}
	var wg sync.WaitGroup
	for range 49 {
		wg.Go(func() { _, _ = b.try(a, "/incr", kv("k", "n")) })
	}
	wg.Wait()
	if r := b.do(t, a, "/get", kv("k", "n")); r.body != "50" {
		t.Fatalf("n = %q after 50 parallel increments", r.body)
	}
	mustCode(t, b.do(t, a, "/set", kv("s", "x")), 200)
	if r := b.do(t, a, "/incr", kv("k", "s")); r.code != 500 || !strings.Contains(r.body, "not an integer") {
		t.Fatalf("incr of a string = %d %q", r.code, r.body)
	}
}

func testCompareAndSwap(t *testing.T, tg target) {
	a := newApp(t, tg.Client(t), Options{})
	ctx := context.Background()
	var b browser
	mustCode(t, b.do(t, a, "/set", kv("v", "1")), 200)
	s := a.m.load(t, b.tok())
	ok, err := s.CompareAndSwap(ctx, "v", []byte("2"), []byte("3"))
	if err != nil || ok {
		t.Fatalf("CAS with wrong old = %v, %v; want false", ok, err)
	}
	ok, err = s.CompareAndSwap(ctx, "v", []byte("1"), []byte("3"))
	if err != nil || !ok {
		t.Fatalf("CAS = %v, %v; want true", ok, err)
	}
	ok, err = s.CompareAndSwap(ctx, "new", nil, []byte("x"))
	if err != nil || !ok {
		t.Fatalf("CAS absent->x = %v, %v", ok, err)
	}
	ok, err = s.CompareAndSwap(ctx, "new", nil, []byte("y"))
	if err != nil || ok {
		t.Fatalf("CAS absent on a set key = %v, %v; want false", ok, err)
	}
	// A concurrent writer changed v: the loser sees the winner's value.
	other := a.m.load(t, b.tok())
	if ok, err := other.CompareAndSwap(ctx, "v", []byte("3"), []byte("4")); !ok || err != nil {
		t.Fatal(ok, err)
	}
	if ok, _ := s.CompareAndSwap(ctx, "v", []byte("3"), []byte("5")); ok {
		t.Fatal("stale CAS succeeded")
	}
	if v, _, _ := s.Get(ctx, "v"); string(v) != "4" {
		t.Fatalf("after a lost CAS, Get = %q, want 4", v)
	}
	if r := b.do(t, a, "/get", kv("k", "v")); r.body != "4" {
		t.Fatalf("v = %q", r.body)
	}
}

// load returns a Session for token outside HTTP (tests only).
func (m *Manager) load(t testing.TB, token string) *Session {
	t.Helper()
	s := &Session{m: m, token: token, sentToken: true}
	return s
}

func fakeApp(t *testing.T, tg target, opts Options) (*app, *clock.Fake) {
	fc := clock.NewFake(time.Now())
	opts.Clock = fc
	return newApp(t, tg.Client(t), opts), fc
}

func testIdleExpiry(t *testing.T, tg target) {
	a, fc := fakeApp(t, tg, Options{IdleTimeout: 10 * time.Minute, Lifetime: time.Hour})
	var b browser
	mustCode(t, b.do(t, a, "/set", kv("x", "1")), 200)
	tok := b.tok()
	// Requests within the touch interval (1 min) write nothing.
	saves := a.m.Stats().Saves
	for range 3 {
		fc.Advance(10 * time.Second)
		if r := b.do(t, a, "/get", kv("k", "x")); r.body != "1" {
			t.Fatalf("x = %q", r.body)
		}
	}
	if got := a.m.Stats().Saves - saves; got != 0 {
		t.Fatalf("%d saves for reads inside the touch interval, want 0", got)
	}
	// Sliding: activity every 9 minutes keeps it alive past 10 minutes.
	for range 4 {
		fc.Advance(9 * time.Minute)
		if r := b.do(t, a, "/get", kv("k", "x")); r.body != "1" {
			t.Fatalf("x = %q after activity every 9 min", r.body)
		}
	}
	if a.m.Stats().Touches != 4 {
		t.Fatalf("Touches = %d, want 4", a.m.Stats().Touches)
	}
	fc.Advance(10*time.Minute + time.Second)
	if r := b.do(t, a, "/get", kv("k", "x")); r.code != http.StatusNotFound {
		t.Fatalf("idle session still served: %d %q", r.code, r.body)
	}
	if b.tok() != tok {
		t.Fatal("a read of an expired session issued a token")
	}
	r := b.do(t, a, "/set", kv("y", "2"))
	if r.cookie == nil || r.cookie.Value == tok {
		t.Fatal("an expired token was reused")
	}
	if a.m.Stats().Expired != 1 {
		t.Fatalf("Expired = %d", a.m.Stats().Expired)
	}
}

func testAbsoluteExpiry(t *testing.T, tg target) {
	a, fc := fakeApp(t, tg, Options{IdleTimeout: 20 * time.Minute, Lifetime: 30 * time.Minute})
	var b browser
	mustCode(t, b.do(t, a, "/set", kv("x", "1")), 200)
	fc.Advance(10 * time.Minute)
	mustCode(t, b.do(t, a, "/renew", nil), 200) // renewal keeps the absolute deadline
	fc.Advance(10 * time.Minute)
	if r := b.do(t, a, "/get", kv("k", "x")); r.body != "1" {
		t.Fatalf("x = %q at 20 min", r.body)
	}
	fc.Advance(9*time.Minute + 59*time.Second)
	if r := b.do(t, a, "/get", kv("k", "x")); r.body != "1" {
		t.Fatalf("x = %q just before the absolute deadline", r.body)
	}
	fc.Advance(2 * time.Second)
	if r := b.do(t, a, "/get", kv("k", "x")); r.code != http.StatusNotFound {
		t.Fatalf("session served past its absolute deadline: %d %q", r.code, r.body)
	}
}

func testLogoutEverywhere(t *testing.T, tg target) {
	a := newApp(t, tg.Client(t), Options{})
	a2 := a.sameStore(t, tg.Client(t)) // another instance, own client
	ctx := context.Background()
	user := "u-" + redistest.Unique(t)
	devices := []*browser{{}, {}, {}}
	for i, d := range devices {
		srv := a
		if i == 2 {
			srv = a2
		}
		mustCode(t, d.do(t, srv, "/set", kv("device", fmt.Sprint(i))), 200)
		mustCode(t, d.do(t, srv, "/login", kv("user", user)), 200)
	}
	bystander := &browser{}
	mustCode(t, bystander.do(t, a, "/login", kv("user", user+"-other")), 200)
	// Logged in on one instance means logged in on all.
	for _, d := range devices {
		if r := d.do(t, a2, "/user", nil); r.body != user {
			t.Fatalf("user on the other instance = %q", r.body)
		}
	}
	list, err := a2.m.ListForUser(ctx, user, "device")
	if err != nil || len(list) != 3 {
		t.Fatalf("ListForUser = %d sessions, %v; want 3", len(list), err)
	}
	for _, in := range list {
		if len(in.Values["device"]) != 1 || in.Expires.IsZero() || in.Created.IsZero() {
			t.Fatalf("info = %+v", in)
		}
	}
	// One device signs out another by id.
	if ok, err := a.m.DestroyByID(ctx, list[0].ID); !ok || err != nil {
		t.Fatal(ok, err)
	}
	n, err := a2.m.DestroyAllForUser(ctx, user)
	if err != nil || n != 2 {
		t.Fatalf("DestroyAllForUser = %d, %v; want 2", n, err)
	}
	for _, d := range devices {
		for _, srv := range []*app{a, a2} {
			if r := d.do(t, srv, "/user", nil); r.body != "" {
				t.Fatalf("still logged in as %q after logout everywhere", r.body)
			}
		}
	}
	if r := bystander.do(t, a2, "/user", nil); r.body != user+"-other" {
		t.Fatal("another user's session was destroyed")
	}
	list, err = a.m.ListForUser(ctx, user)
	if err != nil || len(list) != 0 {
		t.Fatalf("ListForUser after logout everywhere = %v, %v", list, err)
	}
}

func testDestroy(t *testing.T, tg target) {
	rdb := tg.Client(t)
	a := newApp(t, rdb, Options{})
	var b browser
	mustCode(t, b.do(t, a, "/login", kv("user", "u-destroy-"+redistest.Unique(t))), 200)
	tok := b.tok()
	r := b.do(t, a, "/logout", nil)
	mustCode(t, r, 200)
	if r.cookie == nil || r.cookie.MaxAge >= 0 {
		t.Fatalf("logout did not clear the cookie: %v", r.cookie)
	}
	if n, _ := rdb.Exists(context.Background(), a.m.keys.session(storageID(tok))).Result(); n != 0 {
		t.Fatal("destroyed session still stored")
	}
	old := browser{token: tok}
	if r := old.do(t, a, "/user", nil); r.body != "" {
		t.Fatalf("destroyed token still logged in as %q", r.body)
	}
}

func testTampered(t *testing.T, tg target) {
	a := newApp(t, tg.Client(t), Options{})
	var good browser
	mustCode(t, good.do(t, a, "/set", kv("x", "1")), 200)
	tok := good.tok()
	flipped := []byte(tok)
	flipped[5] ^= 1
	last := []byte(tok)
	last[len(last)-1] = 'B' // non-canonical trailing bits (or a different token)
	cases := map[string]string{
		"empty":     "",
		"short":     tok[:20],
		"long":      tok + "A",
		"oversized": strings.Repeat("A", 8<<10),
		"bad chars": strings.Repeat("!", tokenLen),
		"flipped":   string(flipped),
		"padding":   tok[:tokenLen-1] + "=",
		"last":      string(last),
	}
	for name, v := range cases {
		b := browser{token: v}
		before := a.m.Stats()
		r := b.do(t, a, "/get", kv("k", "x"))
		if r.code != http.StatusNotFound {
			t.Fatalf("%s: tampered token read the session: %d %q", name, r.code, r.body)
		}
		r = b.do(t, a, "/set", kv("y", "2"))
		mustCode(t, r, 200)
		if r.cookie == nil || r.cookie.Value == v || r.cookie.Value == tok {
			t.Fatalf("%s: no fresh token issued (%v)", name, r.cookie)
		}
		after := a.m.Stats()
		if wellFormed(v) {
			if after.Loads == before.Loads {
				t.Fatalf("%s: well-formed token not looked up", name)
			}
		} else if after.Rejected-before.Rejected != 2 && v != "" { // the get and the set
			t.Fatalf("%s: Rejected went %d -> %d", name, before.Rejected, after.Rejected)
		}
	}
	if r := good.do(t, a, "/get", kv("k", "x")); r.body != "1" {
		t.Fatal("the real session was disturbed")
	}
}

func testSizeLimit(t *testing.T, tg target) {
	a := newApp(t, tg.Client(t), Options{MaxSize: 100})
	var b browser
	mustCode(t, b.do(t, a, "/set", kv("a", strings.Repeat("x", 50))), 200)
	r := b.do(t, a, "/set", kv("b", strings.Repeat("x", 50)))
	if r.code != http.StatusRequestEntityTooLarge || !strings.Contains(r.body, "over the 100-byte limit") {
		t.Fatalf("oversized set = %d %q", r.code, r.body)
	}
	// Replacing a value counts the new size only.
	mustCode(t, b.do(t, a, "/set", kv("a", strings.Repeat("y", 90))), 200)
	s := a.m.load(t, b.tok())
	err := s.Set(context.Background(), "c", make([]byte, 20))
	var tl *TooLargeError
	if !errors.As(err, &tl) || !errors.Is(err, ErrTooLarge) || tl.Size != 112 || tl.Limit != 100 {
		t.Fatalf("err = %v, want *TooLargeError{Size:112, Limit:100}", err)
	}
	if err := s.Set(context.Background(), "$abs", nil); !errors.Is(err, ErrReservedKey) {
		t.Fatalf("reserved key: %v", err)
	}
}

func testGone(t *testing.T, tg target) {
	rdb := tg.Client(t)
	a := newApp(t, rdb, Options{})
	ctx := context.Background()
	var b browser
	user := "u-gone-" + redistest.Unique(t)
	mustCode(t, b.do(t, a, "/login", kv("user", user)), 200)
	s := a.m.load(t, b.tok())
	if _, _, err := s.Get(ctx, "x"); err != nil { // loaded
		t.Fatal(err)
	}
	if n, err := a.m.DestroyAllForUser(ctx, user); n != 1 || err != nil {
		t.Fatal(n, err)
	}
	if err := s.Set(ctx, "x", []byte("1")); err != nil {
		t.Fatal(err)
	}
	before := a.m.Stats()
	if err := s.Save(ctx); !errors.Is(err, ErrGone) {
		t.Fatalf("save after logout everywhere = %v, want ErrGone", err)
	}
	// A logout race is not a Redis failure: it is counted as Gone, never
	// as a StoreError (an alert on StoreErrors must not fire on logouts).
	after := a.m.Stats()
	if got := after.Gone - before.Gone; got != 1 {
		t.Errorf("Gone grew by %d, want 1", got)
	}
	if got := after.StoreErrors - before.StoreErrors; got != 0 {
		t.Errorf("StoreErrors grew by %d on a gone save, want 0", got)
	}
	if got := after.StoreCalls - before.StoreCalls; got != 1 {
		t.Errorf("StoreCalls grew by %d, want 1", got)
	}
	if n, _ := rdb.Exists(ctx, a.m.keys.session(storageID(b.tok()))).Result(); n != 0 {
		t.Fatal("a save resurrected a destroyed session")
	}
	if _, err := s.Incr(ctx, "n", 1); err != nil {
		t.Fatal(err) // the Session started over: a new one is created
	}
	if id, _ := s.ID(ctx); id == storageID(b.tok()) || id == "" {
		t.Fatalf("new id %q", id)
	}
}

func testHeaderMode(t *testing.T, tg target) {
	a := newApp(t, tg.Client(t), Options{Header: "X-Session-Token"})
	c := a.srv.Client()
	req, _ := http.NewRequest("GET", a.srv.URL+"/set?x=1", nil)
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	tok := res.Header.Get("X-Session-Token")
	if !wellFormed(tok) || len(res.Cookies()) != 0 {
		t.Fatalf("token %q, cookies %v", tok, res.Cookies())
	}
	req, _ = http.NewRequest("GET", a.srv.URL+"/get?k=x", nil)
	req.Header.Set("X-Session-Token", "Bearer "+tok)
	res, err = c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 || res.Header.Get("X-Session-Token") != "" {
		t.Fatalf("status %d, token header %q", res.StatusCode, res.Header.Get("X-Session-Token"))
	}
}

func testTyped(t *testing.T, tg target) {
	a := newApp(t, tg.Client(t), Options{})
	ctx := context.Background()
	type cart struct {
		Items []string `json:"items"`
		Total int      `json:"total"`
	}
	s := a.m.load(t, "")
	if err := Set(ctx, s, "cart", cart{Items: []string{"a"}, Total: 3}); err != nil {
		t.Fatal(err)
	}
	if err := s.Save(ctx); err != nil {
		t.Fatal(err)
	}
	s2 := a.m.load(t, s.token)
	got, ok, err := Get[cart](ctx, s2, "cart")
	if err != nil || !ok || got.Total != 3 || len(got.Items) != 1 {
		t.Fatalf("Get = %+v %v %v", got, ok, err)
	}
	if _, ok, err := Get[int](ctx, s2, "missing"); ok || err != nil {
		t.Fatal(ok, err)
	}
	if _, _, err := Get[int](ctx, s2, "cart"); err == nil {
		t.Fatal("decoding a struct as int succeeded")
	}
	swapped, err := CompareAndSwap(ctx, s2, "cart", got, cart{Total: 4})
	if err != nil || !swapped {
		t.Fatal(swapped, err)
	}
	var nilSession *Session
	if _, _, err := Get[int](ctx, nilSession, "x"); !errors.Is(err, ErrNoSession) {
		t.Fatal(err)
	}
	// The deprecated names still work for one release.
	if err := Put(ctx, s2, "old", 7); err != nil {
		t.Fatal(err)
	}
	if ok, err := s2.CompareAndSet(ctx, "old", []byte("7"), []byte("8")); !ok || err != nil {
		t.Fatalf("CompareAndSet = %v, %v", ok, err)
	}
	if v, ok, err := Get[int](ctx, s2, "old"); v != 8 || !ok || err != nil {
		t.Fatalf("old = %v %v %v, want 8", v, ok, err)
	}
}

func testActive(t *testing.T, tg target) {
	a := newApp(t, tg.Client(t), Options{})
	for range 5 {
		var b browser
		mustCode(t, b.do(t, a, "/set", kv("x", "1")), 200)
	}
	n, err := a.m.Active(context.Background())
	if err != nil || n != 5 {
		t.Fatalf("Active = %d, %v; want 5", n, err)
	}
	st := a.m.Stats()
	if st.Created != 5 || st.StoreCalls == 0 || st.StoreTime <= 0 {
		t.Fatalf("stats = %+v", st)
	}
}

// target gives a suite its clients.
type target interface {
	Client(tb testing.TB) redis.UniversalClient
}

// apTarget hands out auto-pipelined clients.
type apTarget struct{ redistest.Target }

func (a apTarget) Client(tb testing.TB) redis.UniversalClient {
	tb.Helper()
	c, ok := a.Target.Client(tb).(interface {
		AutoPipeline() (*redis.AutoPipeliner, error)
	})
	if !ok {
		tb.Fatal("client has no AutoPipeline")
	}
	ap, err := c.AutoPipeline()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = ap.Close() })
	return ap
}

// The user index stays correct as sessions expire: expired sessions drop
// out of ListForUser and out of the index itself.
func TestIndexExpiry(t *testing.T) {
	redistest.ForEach(t, func(t *testing.T, tg redistest.Target) {
		a, fc := fakeApp(t, tg, Options{IdleTimeout: 10 * time.Minute, Lifetime: time.Hour})
		ctx := context.Background()
		user := "u-idx-" + redistest.Unique(t)
		var b1, b2 browser
		mustCode(t, b1.do(t, a, "/login", kv("user", user)), 200)
		mustCode(t, b2.do(t, a, "/login", kv("user", user)), 200)
		fc.Advance(6 * time.Minute)
		mustCode(t, b2.do(t, a, "/get", kv("k", "x")), 404) // b2 stays active (touch)
		fc.Advance(6 * time.Minute)                         // b1 idle-expired
		list, err := a.m.ListForUser(ctx, user)
		if err != nil || len(list) != 1 {
			t.Fatalf("ListForUser = %d, %v; want 1 live session", len(list), err)
		}
		if id := storageID(b2.tok()); list[0].ID != id {
			t.Fatalf("listed %s, want b2 %s", list[0].ID, id)
		}
		if n := a.rdb.ZCard(ctx, a.m.keys.user(user)).Val(); n != 1 {
			t.Fatalf("index holds %d entries after pruning, want 1", n)
		}
		if ttl := a.rdb.PTTL(ctx, a.m.keys.user(user)).Val(); ttl <= 0 {
			t.Fatalf("index TTL = %v, want one (it must not outlive its sessions)", ttl)
		}
		fc.Advance(11 * time.Minute)
		if list, err := a.m.ListForUser(ctx, user); err != nil || len(list) != 0 {
			t.Fatalf("ListForUser after all expired = %v, %v", list, err)
		}
	})
}

// Options.Pipelining switches a plain client to its shared
// auto-pipeliner; the deprecated AutoPipeline still works.
func TestAutoPipelineOption(t *testing.T) {
	redistest.ForEach(t, func(t *testing.T, tg redistest.Target) {
		for _, c := range []struct {
			opts     Options
			ap, auto bool // every call through the blocking auto-pipeliner; PipeliningAuto's
		}{
			{Options{}, false, true},
			{Options{Pipelining: PipeliningOn}, true, false},
			{Options{Pipelining: PipeliningOff}, false, false},
			{Options{Pipelining: PipeliningOff, AutoPipeline: true}, false, false},
			{Options{AutoPipeline: true}, true, false},
		} {
			m, err := New(tg.Client(t), c.opts)
			if err != nil {
				t.Fatal(err)
			}
			if _, ap := m.client.(*redis.AutoPipeliner); ap != c.ap || (m.auto != nil) != c.auto {
				t.Errorf("%+v: client is %T, PipeliningAuto %v; want auto-pipelined %v, PipeliningAuto %v", c.opts, m.client, m.auto != nil, c.ap, c.auto)
			}
		}
		// An auto-pipeliner passed in is used as it is.
		if m, err := New(apTarget{tg}.Client(t), Options{}); err != nil || m.auto != nil {
			t.Errorf("New(auto-pipeliner) = PipeliningAuto %v, %v; want off", m != nil && m.auto != nil, err)
		}
		a := newApp(t, tg.Client(t), Options{Pipelining: PipeliningOn})
		if _, ok := a.m.client.(*redis.AutoPipeliner); !ok {
			t.Fatalf("client is %T, want *redis.AutoPipeliner", a.m.client)
		}
		var b browser
		mustCode(t, b.do(t, a, "/set", kv("x", "1")), 200)
		if r := b.do(t, a, "/get", kv("k", "x")); r.body != "1" {
			t.Fatalf("x = %q", r.body)
		}
	})
}

// Requests still using the old token while Renew runs never bring the old
// session back, and the renewed session keeps its data.
func testRenewRace(t *testing.T, tg target) {
	rdb := tg.Client(t)
	a := newApp(t, rdb, Options{})
	var b browser
	mustCode(t, b.do(t, a, "/set", kv("keep", "1")), 200)
	old := b.tok()
	var wg sync.WaitGroup
	for i := range 30 {
		wg.Go(func() {
			ob := browser{token: old}
			_, _ = ob.try(a, "/set", kv(fmt.Sprintf("late%d", i), "x"))
		})
	}
	mustCode(t, b.do(t, a, "/renew", nil), 200)
	wg.Wait()
	if n := rdb.Exists(context.Background(), a.m.keys.session(storageID(old))).Val(); n != 0 {
		t.Fatal("a request with the old token resurrected the renewed session")
	}
	if r := b.do(t, a, "/get", kv("k", "keep")); r.body != "1" {
		t.Fatalf("renewed session lost its data: %q", r.body)
	}
}
