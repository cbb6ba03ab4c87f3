// Package nodetest runs real Node peers (express-session + connect-redis,
// redlock, cache-manager + Keyv) beside Go tests.
//
// The npm packages live in one place, internal/nodetest/node (package.json
// and package-lock.json pin their versions), and are installed once per
// machine with npm ci under a file lock, so test binaries of several
// packages running at once never install into the same directory together.
//
// Test scripts stay next to the tests that run them (a package's testdata)
// and are CommonJS: Run and Start set NODE_PATH to the shared
// node_modules, so a script's require('connect-redis') resolves there.
//
// Scripts speak JSON lines: one object per line on stdout. A long-running
// script prints {"ready":true} once it can take work and reads commands,
// one JSON line each, on stdin; it exits when stdin closes.
package nodetest

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// marker is a file npm ci leaves only when every package is installed.
const marker = "node_modules/.package-lock.json"

var (
	installOnce sync.Once
	installErr  error
)

// Dir returns the directory holding package.json and node_modules. It
// skips the test when node or npm is missing, and installs the packages
// (npm ci) when they are not installed yet.
func Dir(t testing.TB) string {
	t.Helper()
	for _, bin := range []string{"node", "npm"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("%s is not installed: skipping the Node interop test (install Node.js 20+ and npm, e.g. scripts/deps.sh)", bin)
		}
	}
	dir := root()
	installOnce.Do(func() { installErr = install(dir) })
	if installErr != nil {
		t.Fatalf("nodetest: %v", installErr)
	}
	return dir
}

// root is internal/nodetest/node, found from this source file, so it is
// the same directory whichever package's test binary asks.
func root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "node")
}

func install(dir string) error {
	lf, err := os.OpenFile(filepath.Join(dir, ".install.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return fmt.Errorf("lock file: %w", err)
	}
	defer lf.Close()
	if err := syscall.Flock(int(lf.Fd()), syscall.LOCK_EX); err != nil {
		return fmt.Errorf("flock: %w", err)
	}
	defer syscall.Flock(int(lf.Fd()), syscall.LOCK_UN) //nolint:errcheck // released on close anyway
	lock, err := os.Stat(filepath.Join(dir, "package-lock.json"))
	if err != nil {
		return fmt.Errorf("package-lock.json: %w", err)
	}
	if m, err := os.Stat(filepath.Join(dir, marker)); err == nil && !m.ModTime().Before(lock.ModTime()) {
		return nil
	}
	cmd := exec.Command("npm", "ci", "--no-audit", "--no-fund")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("npm ci in %s: %w\n%s", dir, err, out)
	}
	return nil
}

// Env returns os.Environ plus NODE_PATH and the given KEY=VALUE pairs.
func Env(dir string, kv ...string) []string {
	env := append(os.Environ(), "NODE_PATH="+filepath.Join(dir, "node_modules"))
	return append(env, kv...)
}

// Run runs a script to completion (at most limit) and returns its JSON
// lines. script is a path relative to the test's working directory, e.g.
// "testdata/node/login.js"; kv are extra environment variables.
func Run(t testing.TB, limit time.Duration, script string, kv []string, args ...string) []map[string]any {
	t.Helper()
	dir := Dir(t)
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	abs, _ := filepath.Abs(script)
	cmd := exec.CommandContext(ctx, "node", append([]string{abs}, args...)...)
	cmd.Env = Env(dir, kv...)
	return RunCmd(t, cmd)
}

// RunCmd runs a prepared node command (for scripts with node_modules of
// their own, e.g. queue's BullMQ fixture) to completion and returns its
// JSON lines; the caller bounds it with exec.CommandContext.
func RunCmd(t testing.TB, cmd *exec.Cmd) []map[string]any {
	t.Helper()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%v: %v\n%s", cmd.Args, err, stderr.String())
	}
	lines, err := parseLines(out)
	if err != nil {
		t.Fatalf("%v: %v", cmd.Args, err)
	}
	return lines
}

func parseLines(out []byte) ([]map[string]any, error) {
	var lines []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			return nil, fmt.Errorf("not a JSON line: %q", l)
		}
		lines = append(lines, m)
	}
	return lines, nil
}

// Proc is a long-running script. Its stdout lines arrive on Lines (closed
// when the process exits); Send writes one JSON command to its stdin.
type Proc struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	mu    sync.Mutex
	Lines chan map[string]any
	done  chan struct{}
}

// ErrExited is returned by Proc.Next when the process has exited.
var ErrExited = errors.New("nodetest: node process exited")

// Start starts a long-running script and waits (up to 30 s) for its
// {"ready":true} line. The process is stopped when the test ends.
func Start(t testing.TB, script string, kv []string, args ...string) *Proc {
	t.Helper()
	dir := Dir(t)
	abs, _ := filepath.Abs(script)
	cmd := exec.Command("node", append([]string{abs}, args...)...)
	cmd.Env = Env(dir, kv...)
	return StartCmd(t, cmd)
}

// StartCmd starts a prepared node command (for scripts with node_modules
// of their own, e.g. queue's BullMQ fixture) as Start does: it waits for
// {"ready":true} and stops the process when the test ends. Its stderr
// goes to the test's stderr unless the caller set one.
func StartCmd(t testing.TB, cmd *exec.Cmd) *Proc {
	t.Helper()
	if cmd.Stderr == nil {
		cmd.Stderr = os.Stderr
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatalf("stdin pipe: %v", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatalf("stdout pipe: %v", err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %v: %v", cmd.Args, err)
	}
	p := &Proc{cmd: cmd, stdin: stdin, Lines: make(chan map[string]any, 1<<17), done: make(chan struct{})}
	ready := make(chan struct{})
	go p.read(stdout, ready) // owned by p: ends when the process closes stdout
	t.Cleanup(p.Stop)
	select {
	case <-ready:
	case <-p.done:
		t.Fatalf("%v exited before it was ready", cmd.Args)
	case <-time.After(30 * time.Second):
		t.Fatalf("%v was not ready within 30s", cmd.Args)
	}
	return p
}

func (p *Proc) read(stdout io.Reader, ready chan struct{}) {
	defer close(p.done)
	defer close(p.Lines)
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var once sync.Once
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
}

// Pid is the process id, for signals (SIGSTOP/SIGCONT/SIGKILL) in tests.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Signal sends sig to the process.
func (p *Proc) Signal(sig os.Signal) error { return p.cmd.Process.Signal(sig) }

// Send writes v as one JSON line to the process's stdin.
func (p *Proc) Send(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	_, err = p.stdin.Write(append(b, '\n'))
	return err
}

// Next returns the next line, or an error when limit passes or the process
// exits first.
func (p *Proc) Next(limit time.Duration) (map[string]any, error) {
	tm := time.NewTimer(limit)
	defer tm.Stop()
	select {
	case m, ok := <-p.Lines:
		if !ok {
			return nil, ErrExited
		}
		return m, nil
	case <-tm.C:
		return nil, fmt.Errorf("nodetest: no line within %s", limit)
	}
}

// WaitFor returns the first line for which cond is true, failing the test
// after limit or when the process exits first.
func (p *Proc) WaitFor(t testing.TB, limit time.Duration, what string, cond func(map[string]any) bool) map[string]any {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		m, err := p.Next(time.Until(deadline))
		if err != nil {
			t.Fatalf("waiting for %s: %v", what, err)
		}
		if cond(m) {
			return m
		}
	}
}

// Stop closes stdin, waits up to 15 s for the process to exit, then kills
// it. A stopped (SIGSTOP) process is continued first. Stop is idempotent.
func (p *Proc) Stop() {
	_ = p.cmd.Process.Signal(syscall.SIGCONT)
	_ = p.stdin.Close()
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	_ = p.cmd.Wait()
}
