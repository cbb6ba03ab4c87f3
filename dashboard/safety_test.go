package dashboard

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/rediskit/rediskit/internal/redistest"
)

func TestNewRefusesWritableWithoutAuth(t *testing.T) {
	rdb := redistest.SingleTarget(t).Client(t)
	if _, err := New(rdb, Options{}); !errors.Is(err, ErrNoAuth) {
		t.Errorf("New(writable, no auth) = %v, want ErrNoAuth", err)
	}
	for _, o := range []Options{{ReadOnly: true}, {AllowAnonymousWrites: true}, {Authorize: BasicAuth("a", "b")}} {
		d, err := New(rdb, o)
		if err != nil {
			t.Errorf("New(%+v): %v", o, err)
			continue
		}
		_ = d.Close()
	}
}

func TestSafety(t *testing.T) {
	redistest.ForEach(t, func(t *testing.T, tg redistest.Target) {
		rdb := tg.Client(t)
		f := newFixture(t, rdb, 1, 0)
		body := actionBody{Queue: f.id}

		t.Run("auth", func(t *testing.T) {
			e := newEnv(t, rdb, Options{Authorize: BasicAuth("admin", "s3cret"), Prefix: "/admin"})
			for _, p := range []string{"", "api/queues", "api/session", "app.js"} {
				code, _ := e.getRaw(p)
				if code != http.StatusUnauthorized {
					t.Errorf("GET %q without credentials: %d, want 401", p, code)
				}
			}
			req, _ := http.NewRequest(http.MethodGet, e.url("api/queues"), nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic ") {
				t.Errorf("no basic challenge: %q", resp.Header.Get("WWW-Authenticate"))
			}
			e.user, e.pass = "admin", "wrong"
			if code, _ := e.getRaw("api/queues"); code != http.StatusUnauthorized {
				t.Errorf("wrong password: %d, want 401", code)
			}
			e.user, e.pass = "admin", "s3cret"
			if code, b := e.getRaw(""); code != http.StatusOK || !strings.Contains(string(b), "rediskit dashboard") {
				t.Errorf("index with credentials: %d", code)
			}
			e.login()
			e.mustPost("pause", body)
			e.mustPost("resume", body)
			if log := e.log.String(); !strings.Contains(log, "who=admin@") {
				t.Errorf("audit line does not name the user:\n%s", log)
			}
			if s := e.log.String(); strings.Contains(s, "s3cret") {
				t.Error("password in the log")
			}
		})

		t.Run("forbidden", func(t *testing.T) {
			e := newEnv(t, rdb, Options{Authorize: func(*http.Request) error { return errors.New("not on the VPN") }})
			if code, b := e.getRaw("api/queues"); code != http.StatusForbidden || strings.Contains(string(b), "VPN") {
				t.Errorf("Authorize error: %d %s, want 403 without the reason", code, b)
			}
		})

		t.Run("csrf", func(t *testing.T) {
			e := newEnv(t, rdb, Options{})
			if code, b := e.post("pause", body); code != http.StatusForbidden || !strings.Contains(string(b), "CSRF") {
				t.Errorf("no cookie: %d %s", code, b)
			}
			e.login()
			if code, b := e.postWith("pause", body, nil); code != http.StatusForbidden || !strings.Contains(string(b), "CSRF") {
				t.Errorf("no token header: %d %s", code, b)
			}
			if code, _ := e.postWith("pause", body, func(r *http.Request) { r.Header.Set(csrfHeader, strings.Repeat("0", 32)) }); code != http.StatusForbidden {
				t.Errorf("wrong token: %d", code)
			}
			cross := func(r *http.Request) {
				r.Header.Set(csrfHeader, e.csrf)
				r.Header.Set("Sec-Fetch-Site", "cross-site")
				r.Header.Set("Origin", "https://evil.example")
			}
			if code, b := e.postWith("pause", body, cross); code != http.StatusForbidden {
				t.Errorf("cross-site with token: %d %s", code, b)
			}
			if p, _ := f.q.IsPaused(ctxT(t)); p {
				t.Fatal("a refused action paused the queue")
			}
			same := func(r *http.Request) {
				r.Header.Set(csrfHeader, e.csrf)
				r.Header.Set("Sec-Fetch-Site", "same-origin")
			}
			if code, b := e.postWith("pause", body, same); code != http.StatusOK {
				t.Errorf("same-origin with token: %d %s", code, b)
			}
			e.mustPost("resume", body)
			if log := e.log.String(); !strings.Contains(log, "action refused") {
				t.Errorf("refusals not logged:\n%s", log)
			}
		})

		t.Run("read-only", func(t *testing.T) {
			e := newEnv(t, rdb, Options{ReadOnly: true})
			e.login()
			var s sessionInfo
			e.get("api/session", &s)
			if !s.ReadOnly {
				t.Error("session does not say read-only")
			}
			for _, a := range []string{"pause", "retry-all", "add", "remove", "clean"} {
				if code, b := e.post(a, actionBody{Queue: f.id, ID: "1", Name: "x", State: "completed", Confirm: true}); code != http.StatusForbidden || !strings.Contains(string(b), "read-only") {
					t.Errorf("%s on read-only: %d %s", a, code, b)
				}
			}
			if c, _ := f.q.Counts(ctxT(t)); c.Waiting+c.Completed != 1 {
				t.Errorf("read-only dashboard changed the queue: %+v", c)
			}
			e.get("api/queues", nil) // reads still work
		})

		t.Run("prefix", func(t *testing.T) {
			e := newEnv(t, rdb, Options{Prefix: "/admin/"})
			code, _ := e.getRaw("api/queues")
			if code != http.StatusOK {
				t.Errorf("under prefix: %d", code)
			}
			req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/api/queues", nil)
			if code, _ := e.do(req); code != http.StatusNotFound {
				t.Errorf("outside prefix: %d, want 404", code)
			}
		})
	})
}
