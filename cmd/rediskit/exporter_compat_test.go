package main

import (
	"context"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rediskit/rediskit/internal/testlog"

	"github.com/rediskit/rediskit/internal/redisproc"
	"github.com/rediskit/rediskit/internal/redistest"
)

func TestExporterCompat(t *testing.T) {
	s := redistest.NewSingle(t, redisproc.ServerOptions{})
	t.Setenv("REDIS_NODES", s.Addr())
	t.Setenv("REDIS_URL", "")
	t.Setenv("REDIS_SENTINEL_ADDRS", "")
	t.Setenv("METRICS_USERNAME", "")
	t.Setenv("METRICS_PASSWORD", "")
	var out, errb testlog.Buffer
	if err := run(context.Background(), []string{"exporter", "-compat", "nope"}, &out, &errb); err == nil || !strings.Contains(err.Error(), "redis_exporter") {
		t.Fatalf("-compat nope: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"exporter", "-compat", "redis_exporter", "-addr", "127.0.0.1:0"}, &out, &errb)
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("exporter: %v", err)
		}
	})
	re := regexp.MustCompile(`serving (http://[0-9.:]+)/metrics`)
	var base string
	redistest.Eventually(t, 10*time.Second, "exporter prints its URL", func() bool {
		m := re.FindStringSubmatch(out.String())
		if m != nil {
			base = m[1]
		}
		return m != nil
	})
	get := func(path string) (int, string) {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/scrape?target=redis://" + s.Addr()); code != 200 || !strings.Contains(body, "\nredis_up 1\n") {
		t.Errorf("/scrape: %d\n%s", code, body)
	}
	if code, body := get("/metrics"); code != 200 || !strings.Contains(body, `redis_connected_clients{addr="`+s.Addr()+`"}`) {
		t.Errorf("/metrics: %d", code)
	}
}
