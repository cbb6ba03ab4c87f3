// Package nestjs holds the end-to-end test of the NestJS example: the Nest
// app built with tsc and run with node beside the Go payments service, on a
// private Redis Cluster and a fresh PostgreSQL database.
package nestjs

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
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

// repoRoot is the directory of the module's go.mod.
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
		if filepath.Dir(d) == d {
			t.Fatalf("no go.mod above %s", dir)
		}
	}
}

// hashFiles hashes the named files of dir (names relative to dir).
func hashFiles(t *testing.T, dir string, names []string) string {
	t.Helper()
	h := sha256.New()
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(h, n+"\x00")
		h.Write(b)
		io.WriteString(h, "\x00")
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// sources lists the files the build reads: package.json, the lockfile,
// tsconfig.json and src/.
func sources(t *testing.T, dir string) []string {
	t.Helper()
	names := []string{"package.json", "package-lock.json", "tsconfig.json"}
	err := filepath.WalkDir(filepath.Join(dir, "src"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		names = append(names, rel)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(names[3:])
	return names
}

// publish runs fill on a fresh temporary directory next to final and
// renames it to final; a concurrent run that published first wins.
func publish(t *testing.T, final string, fill func(tmp string) error) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(final, ".done")); err == nil {
		return
	}
	if err := os.MkdirAll(filepath.Dir(final), 0o755); err != nil {
		t.Fatal(err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(final), filepath.Base(final)+".tmp-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	if err := fill(tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tmp, ".done"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, final); err != nil {
		if _, serr := os.Stat(filepath.Join(final, ".done")); serr != nil {
			t.Fatalf("publish %s: %v", final, err)
		}
	}
}

func copyFile(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	return os.WriteFile(dst, b, 0o644)
}

func run(dir, name string, args ...string) error {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return errors.New(name + " " + strings.Join(args, " ") + ": " + err.Error() + "\n" + string(out))
	}
	return nil
}

// buildApp installs the locked dependencies (npm ci) and compiles the app
// (tsc) under <repo>/.rediskit/nestjs/, each keyed by the hash of its
// inputs, so a rerun with nothing changed does neither. It returns the
// directory to run "node dist/main.js" in.
func buildApp(t *testing.T) string {
	t.Helper()
	needNode(t)
	src, _ := filepath.Abs(".")
	cache := filepath.Join(repoRoot(t), ".rediskit", "nestjs")
	deps := filepath.Join(cache, "deps-"+hashFiles(t, src, []string{"package.json", "package-lock.json"}))
	start := time.Now()
	publish(t, deps, func(tmp string) error {
		for _, f := range []string{"package.json", "package-lock.json"} {
			if err := copyFile(filepath.Join(src, f), filepath.Join(tmp, f)); err != nil {
				return err
			}
		}
		return run(tmp, "npm", "ci", "--no-audit", "--no-fund", "--loglevel=error")
	})
	t.Logf("npm dependencies ready in %s (%s)", time.Since(start).Round(time.Millisecond), deps)
	names := sources(t, src)
	build := filepath.Join(cache, "build-"+hashFiles(t, src, names))
	start = time.Now()
	publish(t, build, func(tmp string) error {
		for _, f := range names {
			if err := copyFile(filepath.Join(src, f), filepath.Join(tmp, f)); err != nil {
				return err
			}
		}
		if err := os.Symlink(filepath.Join(deps, "node_modules"), filepath.Join(tmp, "node_modules")); err != nil {
			return err
		}
		return run(tmp, "node", "node_modules/typescript/bin/tsc", "-p", "tsconfig.json")
	})
	t.Logf("tsc build ready in %s (%s)", time.Since(start).Round(time.Millisecond), build)
	return build
}

// syncBuffer collects a child's output.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// nestApp is one running Nest process.
type nestApp struct {
	name string
	base string
	cmd  *exec.Cmd
	out  *syncBuffer
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
	a := &nestApp{name: name, cmd: cmd, out: &syncBuffer{}, done: make(chan error, 1)}
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
