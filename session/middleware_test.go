package session

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rediskit/rediskit/internal/redistest"
)

func TestCookieAttributes(t *testing.T) {
	tests := []struct {
		name string
		opts CookieOptions
		want []string
		not  []string
	}{
		{"defaults", CookieOptions{}, []string{"session=", "Path=/", "HttpOnly", "Secure", "SameSite=Lax", "Expires=", "Max-Age="}, []string{"Domain", "Partitioned"}},
		{"all set", CookieOptions{Name: "sid", Domain: "example.com", Path: "/app", SameSite: http.SameSiteStrictMode, Partitioned: true},
			[]string{"sid=", "Domain=example.com", "Path=/app", "SameSite=Strict", "Partitioned", "Secure", "HttpOnly"}, nil},
		{"relaxed", CookieOptions{Insecure: true, ScriptReadable: true, SameSite: http.SameSiteNoneMode, BrowserSession: true},
			[]string{"SameSite=None"}, []string{"HttpOnly", "Secure", "Expires", "Max-Age"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := New(nil, Options{Cookie: tt.opts})
			if err != nil {
				t.Fatal(err)
			}
			h := http.Header{}
			m.sendToken(h, newToken(), time.Now().Add(time.Hour))
			got := h.Get("Set-Cookie")
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("Set-Cookie %q lacks %q", got, w)
				}
			}
			for _, w := range tt.not {
				if strings.Contains(got, w) {
					t.Errorf("Set-Cookie %q has %q", got, w)
				}
			}
			h = http.Header{}
			m.sendToken(h, "", time.Time{})
			if c := h.Get("Set-Cookie"); !strings.Contains(c, "Max-Age=0") {
				t.Errorf("clearing cookie = %q, want Max-Age=0", c)
			}
		})
	}
}

// With Redis unreachable, requests that never touch the session still
// work; the others get ErrorFunc's answer, and the handler's own writes
// after a failed save go nowhere.
func TestStoreDown(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 100 * time.Millisecond})
	t.Cleanup(func() { _ = rdb.Close() })
	var called error
	m, err := New(rdb, Options{Logger: quiet, ErrorFunc: func(w http.ResponseWriter, r *http.Request, err error) {
		called = err
		http.Error(w, "custom", http.StatusServiceUnavailable)
	}})
	if err != nil {
		t.Fatal(err)
	}
	var writeErr error
	h := m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/nothing" {
			io.WriteString(w, "ok")
			return
		}
		s := m.From(r.Context())
		_, _, err := s.Get(r.Context(), "x")
		if err == nil {
			t.Error("load from a dead server succeeded")
		}
		var se *StoreError
		if !errors.As(err, &se) || se.Op != "load" {
			t.Errorf("err = %v, want *StoreError{Op: load}", err)
		}
		_, writeErr = io.WriteString(w, "ok")
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/nothing", nil))
	if rec.Code != 200 || rec.Body.String() != "ok" {
		t.Fatalf("untouched session: %d %q", rec.Code, rec.Body)
	}
	req := httptest.NewRequest("GET", "/get", nil)
	req.AddCookie(&http.Cookie{Name: "session", Value: newToken()})
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != 200 || writeErr != nil { // the handler chose to go on without its session
		t.Fatalf("failed load: %d %v", rec.Code, writeErr)
	}
	// A new session (no cookie) whose save fails.
	h2 := m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := m.From(r.Context()).Set(r.Context(), "x", []byte("1")); err != nil {
			t.Error(err)
		}
		_, writeErr = io.WriteString(w, "handler body")
	}))
	rec = httptest.NewRecorder()
	h2.ServeHTTP(rec, httptest.NewRequest("GET", "/set", nil))
	if rec.Code != http.StatusServiceUnavailable || strings.Contains(rec.Body.String(), "handler body") || rec.Header().Get("Set-Cookie") != "" {
		t.Fatalf("failed save answered %d %q cookie %q", rec.Code, rec.Body, rec.Header().Get("Set-Cookie"))
	}
	if called == nil || !errors.Is(writeErr, errAborted) {
		t.Fatalf("ErrorFunc err %v, handler write err %v", called, writeErr)
	}
	// Cancellation stays matchable.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s := &Session{m: m, token: newToken()}
	if _, _, err := s.Get(ctx, "x"); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled load: %v, want context.Canceled", err)
	}
}

// Flush and http.ResponseController reach the real writer after the
// session is saved.
func TestFlushSaves(t *testing.T) {
	m, err := New(nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	h := m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := http.NewResponseController(w).Flush(); err != nil {
			t.Error(err)
		}
		io.WriteString(w, "streamed")
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if !rec.Flushed || rec.Body.String() != "streamed" {
		t.Fatalf("flushed %v body %q", rec.Flushed, rec.Body)
	}
}

// Hijacking (websockets) saves the session first.
func TestHijackSaves(t *testing.T) {
	m, err := New(nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var hijacked atomic.Bool
	srv := httptest.NewServer(m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, buf, err := w.(http.Hijacker).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		hijacked.Store(true)
		buf.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi")
		buf.Flush()
		conn.Close()
	})))
	defer srv.Close()
	res, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if !hijacked.Load() || string(body) != "hi" {
		t.Fatalf("hijacked %v body %q", hijacked.Load(), body)
	}
}

// A cancelled ctx is honoured with the auto-pipeliner too, which would
// send a queued call whatever happens to ctx.
func TestCancelledPipelined(t *testing.T) {
	redistest.ForEach(t, func(t *testing.T, tg redistest.Target) {
		m, err := New(tg.Client(t), Options{Logger: quiet, Pipelining: PipeliningOn, Prefix: redistest.Unique(t) + ":"})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		s := &Session{m: m, token: newToken()}
		if _, _, err := s.Get(ctx, "x"); !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled load: %v, want context.Canceled", err)
		}
		s = &Session{m: m}
		if err := s.Set(context.Background(), "x", []byte("1")); err != nil {
			t.Fatal(err)
		}
		if err := s.Save(ctx); !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled save: %v, want context.Canceled", err)
		}
		if got := m.Stats().Saves; got != 0 {
			t.Fatalf("%d saves made with a cancelled ctx", got)
		}
	})
}
