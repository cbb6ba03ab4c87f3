package session

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/rediskit/rediskit/internal/redistest"
)

func TestMain(m *testing.M) {
	redis.SetLogger(nopLogger{}) // failover tests make go-redis log every failed dial
	redistest.Main(m)
}

var quiet = slog.New(slog.DiscardHandler)

type nopLogger struct{}

func (nopLogger) Printf(context.Context, string, ...any) {}

// app is an httptest server running handlers over one Manager.
type app struct {
	t   testing.TB
	m   *Manager
	rdb redis.UniversalClient
	srv *httptest.Server
}

// newApp starts a server; opts.Prefix is made unique.
func newApp(t testing.TB, rdb redis.UniversalClient, opts Options) *app {
	t.Helper()
	if opts.Prefix == "" {
		opts.Prefix = redistest.Unique(t) + ":"
	}
	opts.Cookie.Insecure = true
	if opts.Logger == nil {
		opts.Logger = quiet
	}
	m, err := New(rdb, opts)
	if err != nil {
		t.Fatal(err)
	}
	a := &app{t: t, m: m, rdb: rdb}
	a.srv = httptest.NewServer(m.Middleware(a.routes()))
	t.Cleanup(a.srv.Close)
	return a
}

// sameStore starts a second server (own Manager, own client) over the
// keys of a.
func (a *app) sameStore(t testing.TB, rdb redis.UniversalClient) *app {
	t.Helper()
	return newApp(t, rdb, a.m.opts)
}

func fail(w http.ResponseWriter, err error) {
	code := http.StatusInternalServerError
	if errors.Is(err, ErrTooLarge) {
		code = http.StatusRequestEntityTooLarge
	}
	http.Error(w, err.Error(), code)
}

func (a *app) routes() http.Handler {
	m := a.m
	mux := http.NewServeMux()
	mux.HandleFunc("/nothing", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	mux.HandleFunc("/get", func(w http.ResponseWriter, r *http.Request) {
		v, ok, err := m.From(r.Context()).Get(r.Context(), r.FormValue("k"))
		if err != nil {
			fail(w, err)
			return
		}
		if !ok {
			http.Error(w, "unset", http.StatusNotFound)
			return
		}
		w.Write(v)
	})
	mux.HandleFunc("/set", func(w http.ResponseWriter, r *http.Request) {
		s := m.From(r.Context())
		for k, vs := range r.URL.Query() {
			if err := s.Set(r.Context(), k, []byte(vs[0])); err != nil {
				fail(w, err)
				return
			}
		}
		io.WriteString(w, "ok")
	})
	mux.HandleFunc("/incr", func(w http.ResponseWriter, r *http.Request) {
		n, err := m.From(r.Context()).Incr(r.Context(), r.FormValue("k"), 1)
		if err != nil {
			fail(w, err)
			return
		}
		fmt.Fprint(w, n)
	})
	mux.HandleFunc("/login", func(w http.ResponseWriter, r *http.Request) {
		s := m.From(r.Context())
		if err := s.Renew(r.Context()); err != nil {
			fail(w, err)
			return
		}
		if err := s.SetUser(r.Context(), r.FormValue("user")); err != nil {
			fail(w, err)
			return
		}
		io.WriteString(w, "ok")
	})
	mux.HandleFunc("/renew", func(w http.ResponseWriter, r *http.Request) {
		if err := m.From(r.Context()).Renew(r.Context()); err != nil {
			fail(w, err)
			return
		}
		io.WriteString(w, "ok")
	})
	mux.HandleFunc("/logout", func(w http.ResponseWriter, r *http.Request) {
		if err := m.From(r.Context()).Destroy(r.Context()); err != nil {
			fail(w, err)
			return
		}
		io.WriteString(w, "ok")
	})
	mux.HandleFunc("/keys", func(w http.ResponseWriter, r *http.Request) {
		ks, err := m.From(r.Context()).Keys(r.Context())
		if err != nil {
			fail(w, err)
			return
		}
		io.WriteString(w, strings.Join(ks, ","))
	})
	mux.HandleFunc("/user", func(w http.ResponseWriter, r *http.Request) {
		u, err := m.From(r.Context()).UserID(r.Context())
		if err != nil {
			fail(w, err)
			return
		}
		io.WriteString(w, u)
	})
	return mux
}

// browser keeps one session token, like a browser's cookie jar, for the
// cookie named "session". Safe for concurrent use.
type browser struct {
	mu    sync.Mutex
	token string
}

type resp struct {
	code   int
	body   string
	cookie *http.Cookie // the session cookie set by the response, if any
}

// do sends a request to a with the browser's token and keeps a new one.
func (b *browser) do(t testing.TB, a *app, path string, q url.Values) resp {
	t.Helper()
	r, err := b.try(a, path, q)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func (b *browser) try(a *app, path string, q url.Values) (resp, error) {
	u := a.srv.URL + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequest("GET", u, nil)
	if err != nil {
		return resp{}, err
	}
	b.mu.Lock()
	if b.token != "" {
		req.AddCookie(&http.Cookie{Name: "session", Value: b.token})
	}
	b.mu.Unlock()
	res, err := a.srv.Client().Do(req)
	if err != nil {
		return resp{}, err
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	out := resp{code: res.StatusCode, body: strings.TrimSpace(string(body))}
	for _, c := range res.Cookies() {
		if c.Name == "session" {
			out.cookie = c
			b.mu.Lock()
			if c.MaxAge < 0 {
				b.token = ""
			} else {
				b.token = c.Value
			}
			b.mu.Unlock()
		}
	}
	return out, nil
}

func (b *browser) tok() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.token
}

func kv(pairs ...string) url.Values {
	q := url.Values{}
	for i := 0; i+1 < len(pairs); i += 2 {
		q.Set(pairs[i], pairs[i+1])
	}
	return q
}

func mustCode(t testing.TB, r resp, want int) {
	t.Helper()
	if r.code != want {
		t.Fatalf("status = %d (%s), want %d", r.code, r.body, want)
	}
}

func newTestServer(t testing.TB, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// allOK runs n requests at once (req(i) makes the i-th) and fails t on a
// transport error or a status other than 200.
func allOK(t testing.TB, n int, req func(i int) (resp, error)) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			r, err := req(i)
			if err == nil && r.code != 200 {
				err = fmt.Errorf("status %d: %s", r.code, r.body)
			}
			if err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}
