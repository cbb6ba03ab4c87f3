package dashboard

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/rediskit/rediskit/internal/testlog"

	"github.com/redis/go-redis/v9"
	"github.com/rediskit/rediskit/internal/redistest"
)

func TestMain(m *testing.M) { redistest.Main(m) }

// env is a dashboard served over HTTP with a browser-like client (cookie
// jar, CSRF header).
type env struct {
	t    *testing.T
	rdb  redis.UniversalClient
	d    *Dashboard
	srv  *httptest.Server
	hc   *http.Client
	csrf string
	log  *testlog.Buffer
	user string
	pass string
}

func newEnv(t *testing.T, rdb redis.UniversalClient, o Options) *env {
	t.Helper()
	e := &env{t: t, rdb: rdb, log: &testlog.Buffer{}}
	o.Logger = slog.New(slog.NewTextHandler(e.log, nil))
	if o.Authorize == nil && !o.ReadOnly {
		o.AllowAnonymousWrites = true
	}
	d, err := New(rdb, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	e.d = d
	e.srv = httptest.NewServer(d)
	t.Cleanup(e.srv.Close)
	jar, _ := cookiejar.New(nil)
	e.hc = &http.Client{Jar: jar}
	return e
}

func (e *env) url(path string) string {
	return e.srv.URL + e.d.o.Prefix + "/" + strings.TrimPrefix(path, "/")
}

func (e *env) do(req *http.Request) (int, []byte) {
	e.t.Helper()
	if e.user != "" {
		req.SetBasicAuth(e.user, e.pass)
	}
	resp, err := e.hc.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// get fetches an API path and decodes a 200 reply into v.
func (e *env) get(path string, v any) {
	e.t.Helper()
	code, b := e.getRaw(path)
	if code != http.StatusOK {
		e.t.Fatalf("GET %s: %d %s", path, code, b)
	}
	if v != nil {
		if err := json.Unmarshal(b, v); err != nil {
			e.t.Fatalf("GET %s: %v: %s", path, err, b)
		}
	}
}

func (e *env) getRaw(path string) (int, []byte) {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.url(path), nil)
	return e.do(req)
}

// login loads the session like the page does (cookie + token).
func (e *env) login() {
	e.t.Helper()
	var s sessionInfo
	e.get("api/session", &s)
	if s.CSRF == "" {
		e.t.Fatal("no CSRF token")
	}
	e.csrf = s.CSRF
}

// post runs an action with the CSRF token and returns status and body.
func (e *env) post(action string, body any) (int, []byte) {
	e.t.Helper()
	return e.postWith(action, body, func(r *http.Request) { r.Header.Set(csrfHeader, e.csrf) })
}

func (e *env) postWith(action string, body any, tweak func(*http.Request)) (int, []byte) {
	e.t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, e.url("api/action/"+action), bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	if tweak != nil {
		tweak(req)
	}
	return e.do(req)
}

// mustPost runs an action that must succeed.
func (e *env) mustPost(action string, body any) ActionResult {
	e.t.Helper()
	code, b := e.post(action, body)
	if code != http.StatusOK {
		e.t.Fatalf("action %s: %d %s", action, code, b)
	}
	var r ActionResult
	if err := json.Unmarshal(b, &r); err != nil {
		e.t.Fatal(err)
	}
	return r
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	return ctx
}
