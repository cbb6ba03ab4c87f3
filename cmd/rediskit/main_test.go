package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestUpStatusDown(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir() + "/.rediskit"
	t.Setenv("REDIS_NODES", "")
	t.Setenv("REDIS_URL", "")
	t.Setenv("REDIS_SENTINEL_ADDRS", "")
	var out, errb bytes.Buffer
	if err := run(ctx, []string{"up", "-dir", dir, "-port", "0"}, &out, &errb); err != nil {
		t.Fatalf("up: %v\n%s", err, errb.String())
	}
	t.Cleanup(func() { _ = run(ctx, []string{"down", "-dir", dir}, &out, &errb) })
	if !strings.Contains(out.String(), "export REDIS_NODES=127.0.0.1:") {
		t.Fatalf("up printed %q", out.String())
	}
	out.Reset()
	if err := run(ctx, []string{"status", "-dir", dir}, &out, &errb); err != nil {
		t.Fatalf("status: %v\n%s", err, out.String())
	}
	s := out.String()
	if strings.Count(s, " master ") != 3 || strings.Count(s, " replica ") != 3 || !strings.Contains(s, "healthy: 6 nodes answer") ||
		!strings.Contains(s, "cluster_state: ok") || !strings.Contains(s, "role queue    fits") || !strings.Contains(s, "role cache    unfit") {
		t.Fatalf("status printed:\n%s", s)
	}
	out.Reset()
	if err := run(ctx, []string{"up", "-dir", dir, "-port", "0"}, &out, &errb); err != nil || !strings.Contains(out.String(), "already running") {
		t.Fatalf("second up: %v %q", err, out.String())
	}
	out.Reset()
	if err := run(ctx, []string{"down", "-dir", dir}, &out, &errb); err != nil || !strings.Contains(out.String(), "stopped 6 nodes") {
		t.Fatalf("down: %v %q", err, out.String())
	}
	err := run(ctx, []string{"status", "-dir", dir}, &out, &errb)
	if err == nil || !strings.Contains(err.Error(), "rediskit up") {
		t.Fatalf("status after down: %v", err)
	}
}

func TestUnknownCommand(t *testing.T) {
	var out, errb bytes.Buffer
	if err := run(context.Background(), []string{"nope"}, &out, &errb); err == nil || !strings.Contains(errb.String(), "usage") {
		t.Fatalf("err %v, stderr %q", err, errb.String())
	}
}
