// Package nestjs holds the end-to-end test of the NestJS example: the Nest
// app built with tsc and run with node beside the Go payments service, on a
// private Redis Cluster and a fresh PostgreSQL database.
package nestjs

import (
	"bufio"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rediskit/rediskit/internal/testlog"
)

// needNode skips the test when Node.js or npm is missing.
func needNode(t *testing.T) {
	t.Helper()
	for _, bin := range []string{"node", "npm"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("%s is not installed: skipping the NestJS example (install Node.js 20+ and npm, e.g. scripts/deps.sh)", bin)
		}
	}
}

// buildApp builds the app with run.sh (npm ci and tsc into
// .rediskit/nestjs/app, each redone only when its inputs changed) and
// returns the directory to run "node dist/main.js" in.
func buildApp(t *testing.T) string {
	t.Helper()
	needNode(t)
	start := time.Now()
	cmd := exec.Command("bash", "run.sh", "build")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("run.sh build: %v\n%s", err, stderr.String())
	}
	dir := strings.TrimSpace(string(out))
	t.Logf("app built in %s (%s)", time.Since(start).Round(time.Millisecond), dir)
	return dir
}

// nestApp is one running Nest process.
type nestApp struct {
	name string
	base string
	cmd  *exec.Cmd
	out  *testlog.Buffer
	done chan error
}

// startNest runs the built app with env and waits until it listens. The
// process is stopped (SIGTERM, then SIGKILL) when the test ends; its
// output is logged when the test failed.
func startNest(t *testing.T, dir, name string, env map[string]string) *nestApp {
	t.Helper()
	cmd := exec.Command("node", "dist/main.js")
	cmd.Dir = dir
	cmd.Env = os.Environ()
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	a := &nestApp{name: name, cmd: cmd, out: &testlog.Buffer{}, done: make(chan error, 1)}
	cmd.Stderr = a.out
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			a.out.Write([]byte(line + "\n"))
			if u, ok := strings.CutPrefix(line, "listening on "); ok {
				select {
				case addr <- u:
				default:
				}
			}
		}
		a.done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		a.stop(t)
		if t.Failed() {
			t.Logf("--- output of %s:\n%s", name, a.out.String())
		}
	})
	select {
	case a.base = <-addr:
	case err := <-a.done:
		a.done <- err
		t.Fatalf("%s exited before listening: %v\n%s", name, err, a.out.String())
	case <-time.After(90 * time.Second):
		t.Fatalf("%s did not listen within 90 s\n%s", name, a.out.String())
	}
	return a
}

// checkLog fails the test when the app logged a failed request (a 500).
func (a *nestApp) checkLog(t *testing.T) {
	t.Helper()
	if out := a.out.String(); strings.Contains(out, "request failed") || strings.Contains(out, "Unhandled") {
		t.Errorf("%s logged errors:\n%s", a.name, out)
	}
}

// stop ends the process (SIGTERM, SIGKILL after 10 s); it is idempotent.
func (a *nestApp) stop(t *testing.T) {
	t.Helper()
	select {
	case err := <-a.done:
		a.done <- err
		return
	default:
	}
	_ = a.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-a.done:
		a.done <- err
	case <-time.After(10 * time.Second):
		_ = a.cmd.Process.Kill()
		t.Errorf("%s did not stop within 10 s of SIGTERM", a.name)
		err := <-a.done
		a.done <- err
	}
}
