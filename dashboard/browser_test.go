package dashboard

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rediskit/rediskit/internal/redisproc"
	"github.com/rediskit/rediskit/internal/redistest"
	"github.com/rediskit/rediskit/lock"
	"github.com/rediskit/rediskit/session"
)

// needBrowser returns the chromium binary and the browser test directory
// with its node_modules installed (npm ci), or skips the test saying what
// is missing and how to install it.
func needBrowser(t *testing.T) (chromium, dir string) {
	t.Helper()
	chromium = os.Getenv("CHROMIUM")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	if _, err := os.Stat(chromium); err != nil {
		t.Skipf("browser tests skipped: %s not found (install the Debian package chromium: apt-get install -y chromium, or run scripts/deps.sh as root)", chromium)
	}
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("browser tests skipped: node not found (apt-get install -y nodejs npm)")
	}
	dir, _ = filepath.Abs("testdata/browser")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "playwright-core", "package.json")); err != nil {
		cmd := exec.Command("npm", "ci", "--no-audit", "--no-fund")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Skipf("browser tests skipped: npm ci in %s failed (playwright-core, bullmq could not be installed): %v\n%s", dir, err, out)
		}
	}
	return chromium, dir
}

// startNodeWorker runs testdata/browser/worker.js (a BullMQ worker that
// also adds jobs) until the test ends.
func startNodeWorker(t *testing.T, dir string, addrs []string, prefix, queue string, jobs int) {
	t.Helper()
	cmd := exec.Command("node", "worker.js")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "REDIS_ADDRS="+strings.Join(addrs, ","), "CLUSTER=1", "PREFIX="+prefix, "QUEUE="+queue,
		fmt.Sprintf("NODE_JOBS=%d", jobs))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		ok := false
		for sc.Scan() {
			if sc.Text() == "ready" && !ok {
				ok = true
				ready <- true
			}
		}
		if !ok {
			ready <- false
		}
	}()
	select {
	case ok := <-ready:
		if !ok {
			t.Fatalf("node worker exited before ready:\n%s", stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("node worker not ready after 30s:\n%s", stderr.String())
	}
}

// TestBrowser opens every page in headless Chromium on a private cluster
// with a Go and a Node worker: queues and counts, a failed job retried
// until it completes, search, pause/resume, and a killed master shown
// down. Screenshots go to $DASHBOARD_SCREENSHOTS or a temporary directory
// (printed).
func TestBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test")
	}
	chromium, dir := needBrowser(t)
	cl := redistest.NewCluster(t, redisproc.ClusterOptions{Args: []string{"maxmemory-policy noeviction"}})
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: cl.Addrs()})
	t.Cleanup(func() { _ = rdb.Close() })
	f := newFixture(t, rdb, 20, 5)
	prefix := strings.TrimSuffix(f.id, ":orders")
	f.run(t, rdb, "go-w1", false)
	startNodeWorker(t, dir, cl.Addrs(), prefix, "orders", 20)
	u := redistest.Unique(t)
	lk := lock.New(rdb, lock.Options{Prefix: u + ":lock:", Holder: "worker-7"})
	if _, err := lk.Acquire(ctxT(t), "order-42", 5*time.Minute); err != nil {
		t.Fatal(err)
	}
	sm, err := session.New(rdb, session.Options{Prefix: u + ":s:"})
	if err != nil {
		t.Fatal(err)
	}
	loginN(t, sm, "alice", 3)
	e := newEnv(t, rdb, Options{Prefix: "/admin", NodeTimeout: 500 * time.Millisecond, Services: Services{
		Sessions: map[string]SessionStore{"app": sm}, LockPrefixes: []string{u + ":lock:"}, Lockers: []LockStatser{lk}}})

	shots := os.Getenv("DASHBOARD_SCREENSHOTS")
	if shots == "" {
		shots = t.TempDir()
	}
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "browser.js")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "BASE_URL="+e.srv.URL+"/admin/", "SHOTS="+shots, "QUEUE="+f.id, "NODES=6", "CHROMIUM="+chromium)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var steps []string
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		line := sc.Text()
		t.Log("browser:", line)
		switch {
		case line == "kill":
			masters, err := cl.Masters(ctx)
			if err != nil || len(masters) == 0 {
				t.Errorf("masters: %v", err)
				_ = stdin.Close()
				continue
			}
			victim := masters[len(masters)-1]
			if err := victim.Kill(); err != nil {
				t.Error(err)
			}
			_, _ = io.WriteString(stdin, "killed "+victim.Addr()+"\n")
		case strings.HasPrefix(line, "ok "):
			mu.Lock()
			steps = append(steps, strings.TrimPrefix(line, "ok "))
			mu.Unlock()
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("browser.js: %v\n%s", err, stderr.String())
	}
	want := []string{"cluster", "queues", "queue", "retry", "search", "pause-resume", "locks", "revoke", "caches", "memory", "master-down"}
	if strings.Join(steps, ",") != strings.Join(want, ",") {
		t.Errorf("steps %v, want %v\n%s", steps, want, stderr.String())
	}
	t.Logf("screenshots in %s", shots)
}
