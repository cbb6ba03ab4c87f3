package queue

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rediskit/rediskit/internal/nodetest"
	"github.com/rediskit/rediskit/internal/redistest"
)

// The Node fixture (testdata/node) runs real BullMQ 6.7.0.

var (
	npmOnce sync.Once
	npmErr  error
)

// needNode skips the test when node is absent and installs the fixture's
// node_modules (npm ci) once when they are missing.
func needNode(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("node is not installed: skipping the BullMQ interop test (install Node 20 to run it)")
	}
	dir, _ := filepath.Abs("testdata/node")
	npmOnce.Do(func() {
		if _, err := os.Stat(filepath.Join(dir, "node_modules", "bullmq", "package.json")); err == nil {
			return
		}
		cmd := exec.Command("npm", "ci", "--no-audit", "--no-fund")
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			npmErr = err
			npmErr = &npmError{err: err, out: string(out)}
		}
	})
	if npmErr != nil {
		t.Fatalf("npm ci in %s: %v", dir, npmErr)
	}
	return dir
}

type npmError struct {
	err error
	out string
}

func (e *npmError) Error() string { return e.err.Error() + "\n" + e.out }

func nodeEnv(tg redistest.Target, prefix string, args any) []string {
	b, _ := json.Marshal(args)
	env := append(os.Environ(), "REDIS_ADDRS="+strings.Join(tg.Addrs, ","), "PREFIX="+prefix, "ARGS="+string(b))
	if tg.Cluster {
		env = append(env, "CLUSTER=1")
	}
	return env
}

// runNode runs a fixture mode to completion and returns its JSON lines.
func runNode(t *testing.T, tg redistest.Target, prefix, mode, queue string, args any) []map[string]any {
	t.Helper()
	return runNodeScript(t, tg, "fixture.js", prefix, mode, queue, args)
}

// runNodeScript runs a mode of one of testdata/node's scripts to
// completion and returns its JSON lines.
func runNodeScript(t *testing.T, tg redistest.Target, script, prefix, mode, queue string, args any) []map[string]any {
	t.Helper()
	dir := needNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", script, mode, queue)
	cmd.Dir = dir
	cmd.Env = nodeEnv(tg, prefix, args)
	return nodetest.RunCmd(t, cmd)
}

// nodeProc is a long-running fixture process (worker, events): the
// module's one Node process runner, on the fixture's own node_modules.
type nodeProc = nodetest.Proc

func startNode(t *testing.T, tg redistest.Target, prefix, mode, queue string, args any) *nodeProc {
	t.Helper()
	return startNodeScript(t, tg, "fixture.js", prefix, mode, queue, args)
}

// startNodeScript starts a long-running mode of one of testdata/node's
// scripts.
func startNodeScript(t *testing.T, tg redistest.Target, script, prefix, mode, queue string, args any) *nodeProc {
	t.Helper()
	cmd := exec.Command("node", script, mode, queue)
	cmd.Dir = needNode(t)
	cmd.Env = nodeEnv(tg, prefix, args)
	return nodetest.StartCmd(t, cmd)
}
