package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rediskit/rediskit/internal/testlog"

	"github.com/redis/go-redis/v9"
	"github.com/rediskit/rediskit/internal/pgtest"
	"github.com/rediskit/rediskit/internal/redisproc"
	"github.com/rediskit/rediskit/internal/redistest"
	"github.com/rediskit/rediskit/payments/postgres"
)

// childEnv makes the test binary run `payments serve` (a child instance
// the tests can SIGSTOP).
const childEnv = "PAYMENTS_E2E_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		err := run(ctx, []string{"serve"}, os.Stdout, os.Stderr)
		stop()
		if err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	redis.SetLogger(redisLogger{discardLogger()})
	code := m.Run()
	redistest.Shutdown()
	pgtest.Shutdown()
	os.Exit(code)
}

// env is one private deployment: a 3+3 cluster and a fresh database.
type env struct {
	t       *testing.T
	cluster *redisproc.Cluster
	dsn     string
	vars    map[string]string
	store   *postgres.Store
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{t: t}
	e.cluster = redistest.NewCluster(t, redisproc.ClusterOptions{Args: []string{"maxmemory-policy noeviction"}})
	e.dsn = pgtest.NewDatabase(t)
	e.vars = map[string]string{
		"REDIS_NODES":               strings.Join(e.cluster.Addrs(), ","),
		"DATABASE_URL":              e.dsn,
		"PAYMENTS_LOCK_TTL":         "1s",
		"PAYMENTS_SEED":             "1",
		"PAYMENTS_SEED_PRODUCTS":    "20",
		"PAYMENTS_SEED_ACCOUNTS":    "20",
		"PAYMENTS_LOG_LEVEL":        "error",
		"PAYMENTS_JOB_LOCK":         "5s",
		"PAYMENTS_SHUTDOWN_TIMEOUT": "10s",
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := postgres.Open(ctx, e.dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	e.store = st
	return e
}

func (e *env) config(name string, extra map[string]string) config {
	e.t.Helper()
	vars := map[string]string{"PAYMENTS_INSTANCE": name}
	for k, v := range e.vars {
		vars[k] = v
	}
	for k, v := range extra {
		vars[k] = v
	}
	cfg, err := configFromEnv(func(k string) (string, bool) { v, ok := vars[k]; return v, ok })
	if err != nil {
		e.t.Fatal(err)
	}
	return cfg
}

// instance is one in-process service instance with its own clients.
type instance struct {
	name string
	url  string
	app  *app
}

func (e *env) start(name string) *instance {
	e.t.Helper()
	cfg := e.config(name, nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	log := newLogger(os.Stderr, cfg.LogLevel, name)
	a, err := newApp(ctx, cfg, log)
	if err != nil {
		e.t.Fatalf("start %s: %v", name, err)
	}
	srv := httptest.NewServer(a.handler)
	bg, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.run(bg) }()
	e.t.Cleanup(func() {
		srv.Close()
		stop()
		if err := <-done; err != nil {
			e.t.Errorf("%s background: %v", name, err)
		}
		a.close()
	})
	return &instance{name: name, url: srv.URL, app: a}
}

// child is an instance in a child process (the test binary re-executed as
// `payments serve`).
type child struct {
	url    string
	cmd    *exec.Cmd
	out    *testlog.Buffer
	exited chan struct{}
}

func (e *env) startChild(name string, extra map[string]string) *child {
	e.t.Helper()
	port, err := redisproc.FreePort()
	if err != nil {
		e.t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=1", "PAYMENTS_INSTANCE="+name, "PAYMENTS_ADDR="+addr)
	for k, v := range e.vars {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	for k, v := range extra {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	c := &child{url: "http://" + addr, cmd: cmd, out: &testlog.Buffer{}}
	cmd.Stdout, cmd.Stderr = c.out, c.out
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	exited := make(chan struct{})
	c.exited = exited
	go func() { _ = cmd.Wait(); close(exited) }()
	e.t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGCONT)
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if e.t.Failed() {
			e.t.Logf("child %s output:\n%s", name, c.out.String())
		}
	})
	redistest.Eventually(e.t, 60*time.Second, "child "+name+" ready", func() bool {
		select {
		case <-exited:
			e.t.Fatalf("child %s exited:\n%s", name, c.out.String())
		default:
		}
		resp, err := http.Get(c.url + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	return c
}

// client is one user's browser: a cookie jar shared by every instance.
type client struct {
	hc *http.Client
}

func newClient(tb testing.TB) *client {
	jar, _ := cookiejar.New(nil)
	return &client{hc: &http.Client{Jar: jar, Timeout: 30 * time.Second}}
}

type reply struct {
	Status int
	Body   []byte
	Header http.Header
}

func (r reply) decode(tb testing.TB, v any) {
	tb.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		tb.Fatalf("decode %s: %v", r.Body, err)
	}
}

func (c *client) do(base, method, path string, body any, hdr map[string]string) (reply, error) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, base+path, rd)
	if err != nil {
		return reply{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return reply{Status: resp.StatusCode, Body: b, Header: resp.Header}, err
}

// must does a request that must answer want.
func (c *client) must(tb testing.TB, want int, base, method, path string, body any, hdr map[string]string) reply {
	tb.Helper()
	r, err := c.do(base, method, path, body, hdr)
	if err != nil {
		tb.Fatalf("%s %s%s: %v", method, base, path, err)
	}
	if r.Status != want {
		tb.Fatalf("%s %s%s = %d %s, want %d", method, base, path, r.Status, r.Body, want)
	}
	return r
}

func (c *client) login(tb testing.TB, base string, user int) {
	tb.Helper()
	c.must(tb, 200, base, "POST", "/login", map[string]string{"email": fmt.Sprintf("user%d@example.com", user), "password": "demo"}, nil)
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
