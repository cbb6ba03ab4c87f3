package queue

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

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
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node %s %s: %v\n%s", script, mode, err, stderr.String())
	}
	var lines []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("node %s %s: bad line %q", script, mode, l)
		}
		lines = append(lines, m)
	}
	return lines
}

// nodeProc is a long-running fixture process (worker, events).
type nodeProc struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	Lines chan map[string]any
	done  chan struct{}
}

func startNode(t *testing.T, tg redistest.Target, prefix, mode, queue string, args any) *nodeProc {
	t.Helper()
	return startNodeScript(t, tg, "fixture.js", prefix, mode, queue, args)
}

// startNodeScript starts a long-running mode of one of testdata/node's
// scripts.
func startNodeScript(t *testing.T, tg redistest.Target, script, prefix, mode, queue string, args any) *nodeProc {
	t.Helper()
	dir := needNode(t)
	cmd := exec.Command("node", script, mode, queue)
	cmd.Dir = dir
	cmd.Env = nodeEnv(tg, prefix, args)
	cmd.Stderr = os.Stderr
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatalf("start node %s: %v", mode, err)
	}
	p := &nodeProc{cmd: cmd, stdin: stdin, Lines: make(chan map[string]any, 100000), done: make(chan struct{})}
	ready := make(chan struct{})
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		once := sync.Once{}
		for sc.Scan() {
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) != nil {
				continue
			}
			if m["ready"] == true {
				once.Do(func() { close(ready) })
				continue
			}
			p.Lines <- m
		}
		close(p.Lines)
	}()
	t.Cleanup(p.Stop)
	select {
	case <-ready:
	case <-p.done:
		t.Fatalf("node %s exited before ready", mode)
	case <-time.After(30 * time.Second):
		t.Fatalf("node %s not ready", mode)
	}
	return p
}

// Stop ends the process gracefully (closes stdin) and waits.
func (p *nodeProc) Stop() {
	_ = p.stdin.Close()
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	_ = p.cmd.Wait()
}

// waitLines collects lines until cond returns true or the limit passes.
func (p *nodeProc) waitFor(t *testing.T, limit time.Duration, what string, cond func(m map[string]any) bool) map[string]any {
	t.Helper()
	tm := time.NewTimer(limit)
	defer tm.Stop()
	for {
		select {
		case m, ok := <-p.Lines:
			if !ok {
				t.Fatalf("node exited while waiting for %s", what)
			}
			if cond(m) {
				return m
			}
		case <-tm.C:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}
