package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rediskit/rediskit/internal/testlog"
)

// up, status on the local cluster, a second up, down, and status once it
// is gone, on free ports under a temporary directory.
func TestGoldenUpDown(t *testing.T) {
	ctx := context.Background()
	tmp := t.TempDir()
	dir := filepath.Join(tmp, ".rediskit")
	setEnv(t, nil)
	up := transcript(ctx, "up", "-dir", dir, "-port", "0")
	t.Cleanup(func() { _ = run(ctx, []string{"down", "-dir", dir}, &testlog.Buffer{}, &testlog.Buffer{}) })
	if !strings.Contains(up, "-- ok --") {
		t.Fatalf("up failed:\n%s", up)
	}
	steps := []string{
		up,
		transcript(ctx, "status", "-dir", dir),
		transcript(ctx, "up", "-dir", dir, "-port", "0"),
		transcript(ctx, "down", "-dir", dir),
		transcript(ctx, "status", "-dir", dir),
	}
	n := newNormalizer(tmp, "TMPDIR")
	got := statusTable(n, strings.Join(steps, "\n"))
	got = reDuration.ReplaceAllString(got, "DURATION")
	golden(t, "up_down", got)
}
