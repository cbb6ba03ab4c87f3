package dashboard

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rediskit/rediskit/internal/redistest"
	"github.com/rediskit/rediskit/lock"
	"github.com/rediskit/rediskit/session"
)

// loginN creates n sessions of user through the session middleware.
func loginN(t *testing.T, m *session.Manager, user string, n int) {
	t.Helper()
	h := m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := m.From(r.Context()).SetUser(r.Context(), user); err != nil {
			t.Error(err)
		}
	}))
	for range n {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/login", nil))
		if rec.Code != http.StatusOK {
			t.Fatalf("login: %d", rec.Code)
		}
	}
}

func TestLocksSessionsCaches(t *testing.T) {
	redistest.ForEach(t, func(t *testing.T, tg redistest.Target) {
		rdb := tg.Client(t)
		ctx := ctxT(t)
		u := redistest.Unique(t)
		lk := lock.New(rdb, lock.Options{Prefix: u + ":lock:", Holder: "worker-7"})
		lease, err := lk.Acquire(ctx, "order-42", time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		sm, err := session.New(rdb, session.Options{Prefix: u + ":s:"})
		if err != nil {
			t.Fatal(err)
		}
		loginN(t, sm, "alice", 3)
		loginN(t, sm, "bob", 1)
		e := newEnv(t, rdb, Options{Services: Services{
			Sessions: map[string]SessionStore{"app": sm}, LockPrefixes: []string{u + ":lock:"}, Lockers: []LockStatser{lk}}})
		e.login()

		var lv LocksView
		e.get("api/locks", &lv)
		if len(lv.Locks) != 1 {
			t.Fatalf("locks %+v", lv.Locks)
		}
		l := lv.Locks[0]
		if l.Name != "order-42" || l.Holder != "worker-7" || l.TTLMS <= 0 || l.TTLMS > 60000 || l.Fence != "1" || len(lv.Process) != 1 {
			t.Errorf("lock %+v (fence token %d)", l, lease.Token())
		}

		var sv SessionsView
		e.get("api/sessions", &sv)
		if len(sv.Stores) != 1 || sv.Stores[0].Name != "app" || sv.Stores[0].Active < 4 || sv.Stores[0].Stats.Created != 4 {
			t.Errorf("sessions %+v", sv)
		}
		var us []UserSession
		e.get("api/sessions/user?store=app&user=alice", &us)
		if len(us) != 3 {
			t.Fatalf("alice has %d sessions", len(us))
		}
		if code, _ := e.post("revoke-user", actionBody{Name: "app", User: "alice"}); code != http.StatusBadRequest {
			t.Errorf("revoke without confirm: %d", code)
		}
		if r := e.mustPost("revoke-user", actionBody{Name: "app", User: "alice", Confirm: true}); r.Count != 3 {
			t.Errorf("revoked %d", r.Count)
		}
		e.get("api/sessions/user?store=app&user=alice", &us)
		if len(us) != 0 {
			t.Errorf("alice still has %d sessions", len(us))
		}
		e.get("api/sessions/user?store=app&user=bob", &us)
		if len(us) != 1 {
			t.Errorf("bob has %d sessions, want 1", len(us))
		}
		if code, _ := e.getRaw("api/sessions/user?store=nope&user=bob"); code != http.StatusNotFound {
			t.Errorf("unknown store: %d", code)
		}
		if !strings.Contains(e.log.String(), "action=revoke-user") || !strings.Contains(e.log.String(), "user=alice") {
			t.Errorf("no audit line for the revoke:\n%s", e.log.String())
		}

		var cv CachesView
		e.get("api/caches", &cv)
		if cv.RedisHitRate > 1 || len(cv.Caches) != 0 {
			t.Errorf("caches %+v", cv)
		}
		ro := newEnv(t, rdb, Options{ReadOnly: true, Services: Services{Sessions: map[string]SessionStore{"app": sm}}})
		ro.login()
		if code, _ := ro.post("revoke-user", actionBody{Name: "app", User: "bob", Confirm: true}); code != http.StatusForbidden {
			t.Errorf("revoke on read-only: %d", code)
		}
	})
}

// TestMemoryAnalysis starts an analysis from the API (allowed read-only:
// it changes nothing), follows it to its report, and is refused a second
// start within the minute.
func TestMemoryAnalysis(t *testing.T) {
	rdb := redistest.SingleTarget(t).Client(t)
	u := redistest.Unique(t)
	ctx := context.Background()
	for i := range 50 {
		rdb.Set(ctx, u+":k:"+strings.Repeat("x", i%3), i, 0)
	}
	e := newEnv(t, rdb, Options{ReadOnly: true})
	e.login()
	e.mustPost("analyze", actionBody{})
	var v MemoryView
	redistest.Eventually(t, 30*time.Second, "analysis done", func() bool {
		e.get("api/memory", &v)
		return !v.Running && (v.Report != nil || v.Err != "")
	})
	if v.Err != "" || v.Report.Keys == 0 || len(v.Report.Patterns) == 0 {
		t.Fatalf("report %+v err %q", v.Report, v.Err)
	}
	if code, b := e.post("analyze", actionBody{}); code != http.StatusTooManyRequests {
		t.Errorf("second analysis: %d %s", code, b)
	}
}
