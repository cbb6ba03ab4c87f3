package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rediskit/rediskit/internal/redisproc"
	"github.com/rediskit/rediskit/internal/redistest"
)

func clearMigrateEnv(t *testing.T) {
	for _, side := range []string{"SOURCE_", "TARGET_"} {
		for _, v := range []string{"REDIS_NODES", "REDIS_URL", "REDIS_SENTINEL_ADDRS", "REDIS_SENTINEL_MASTER", "REDIS_PASSWORD", "REDIS_MODE"} {
			t.Setenv(side+v, "")
		}
	}
}

func TestMigrateConfigErrors(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"no source", map[string]string{"TARGET_REDIS_NODES": "127.0.0.1:1"}, "SOURCE_REDIS_NODES"},
		{"bad target", map[string]string{"SOURCE_REDIS_NODES": "127.0.0.1:1", "TARGET_REDIS_NODES": "localhost"}, "TARGET_REDIS_NODES"},
		{"bad url", map[string]string{"SOURCE_REDIS_URL": "redis://:hunter2@", "TARGET_REDIS_NODES": "127.0.0.1:1"}, "SOURCE_REDIS_URL"},
		{"same", map[string]string{"SOURCE_REDIS_NODES": "127.0.0.1:1", "TARGET_REDIS_NODES": "127.0.0.1:1"}, "same nodes"},
		{"unreachable source", map[string]string{"SOURCE_REDIS_NODES": "127.0.0.1:1", "SOURCE_REDIS_PASSWORD": "hunter2", "TARGET_REDIS_NODES": "127.0.0.1:2"}, "source (SOURCE_REDIS_*)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clearMigrateEnv(t)
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			var out, errb bytes.Buffer
			err := run(ctx, []string{"migrate", "copy", "-progress", "off"}, &out, &errb)
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "hunter2") {
				t.Fatalf("err = %v, want it to name %q and hide the password", err, tc.want)
			}
		})
	}
	t.Run("unreachable target", func(t *testing.T) {
		clearMigrateEnv(t)
		src := redistest.NewSingle(t, redisproc.ServerOptions{})
		t.Setenv("SOURCE_REDIS_NODES", src.Addr())
		t.Setenv("TARGET_REDIS_NODES", "127.0.0.1:1")
		var out, errb bytes.Buffer
		err := run(ctx, []string{"migrate", "verify"}, &out, &errb)
		if err == nil || !strings.Contains(err.Error(), "target (TARGET_REDIS_*)") || !strings.Contains(err.Error(), "127.0.0.1:1") {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestMigrateCopyVerifySync(t *testing.T) {
	clearMigrateEnv(t)
	ctx := context.Background()
	srcSrv := redistest.NewSingle(t, redisproc.ServerOptions{Args: []string{"notify-keyspace-events KEA"}})
	dstSrv := redistest.NewSingle(t, redisproc.ServerOptions{})
	src, dst := srcSrv.Client(), dstSrv.Client()
	defer src.Close()
	defer dst.Close()
	for i := range 300 {
		src.Set(ctx, fmt.Sprint("k", i), i, time.Duration(i+1)*time.Minute)
	}
	t.Setenv("SOURCE_REDIS_NODES", srcSrv.Addr())
	t.Setenv("TARGET_REDIS_NODES", dstSrv.Addr())
	var out, errb bytes.Buffer
	if err := run(ctx, []string{"migrate", "copy", "-json", "-progress", "off"}, &out, &errb); err != nil {
		t.Fatalf("copy: %v\n%s", err, errb.String())
	}
	var sum struct{ Restored int64 }
	if err := json.Unmarshal(out.Bytes(), &sum); err != nil || sum.Restored != 300 {
		t.Fatalf("copy printed %s (%v)", out.String(), err)
	}
	out.Reset()
	if err := run(ctx, []string{"migrate", "verify"}, &out, &errb); err != nil || !strings.Contains(out.String(), "no difference") {
		t.Fatalf("verify: %v\n%s", err, out.String())
	}
	dst.Set(ctx, "k1", "other", 0)
	out.Reset()
	err := run(ctx, []string{"migrate", "verify"}, &out, &errb)
	if err == nil || !strings.Contains(out.String(), `"k1"`) || !strings.Contains(err.Error(), "1 differences") {
		t.Fatalf("verify after a change: %v\n%s", err, out.String())
	}

	// sync with -listen: /status and /metrics answer, changes arrive.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- run(sctx, []string{"migrate", "sync", "-listen", addr, "-progress", "off"}, io.Discard, io.Discard)
	}()
	redistest.Eventually(t, 30*time.Second, "sync following", func() bool {
		var s struct{ Phase string }
		return fetchJSON("http://"+addr+"/status", &s) == nil && s.Phase == "sync"
	})
	src.Set(ctx, "live", "1", 0)
	redistest.Eventually(t, 10*time.Second, "live key copied", func() bool { return dst.Get(ctx, "live").Val() == "1" })
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, m := range []string{"rediskit_migrate_lag_seconds", "rediskit_migrate_keys_applied_total", "rediskit_migrate_dirty_keys", `rediskit_migrate_scan_keys{shard="main"}`, "rediskit_migrate_errors_total"} {
		if !strings.Contains(string(body), m) {
			t.Errorf("/metrics lacks %s", m)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("sync: %v", err)
	}
}

func fetchJSON(url string, v any) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return json.NewDecoder(resp.Body).Decode(v)
}
