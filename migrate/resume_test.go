package migrate

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rediskit/rediskit/internal/redistest"
)

const helperEnv = "REDISKIT_MIGRATE_HELPER"

func clientFor(addrs string) redis.UniversalClient {
	a := strings.Split(addrs, ",")
	if len(a) > 1 {
		return redis.NewClusterClient(&redis.ClusterOptions{Addrs: a})
	}
	return redis.NewClient(&redis.Options{Addr: a[0]})
}

// helperMain is the migrator run as a child process by the kill -9
// tests: REDISKIT_MIGRATE_HELPER=copy|sync, HELPER_SRC and HELPER_DST are
// comma-separated addresses (more than one: a cluster).
func helperMain() int {
	src, dst := clientFor(os.Getenv("HELPER_SRC")), clientFor(os.Getenv("HELPER_DST"))
	opts := Options{ReadBatch: 20, ScanCount: 50}
	if os.Getenv(helperEnv) == "copy-default" {
		opts = Options{}
	}
	m := New(src, dst, opts)
	var err error
	if os.Getenv(helperEnv) == "sync" {
		err = m.Sync(context.Background())
	} else {
		_, err = m.Copy(context.Background())
	}
	if err != nil {
		os.Stderr.WriteString(err.Error() + "\n")
		return 1
	}
	return 0
}

func startHelper(t *testing.T, mode, src, dst string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+mode, "HELPER_SRC="+src, "HELPER_DST="+dst)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _, _ = cmd.Process.Wait() })
	return cmd
}

func checkpoint(t *testing.T, dst redis.UniversalClient) map[string]position {
	t.Helper()
	s, err := loadState(context.Background(), dst)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func kill9(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_, _ = cmd.Process.Wait()
}

// TestKillMidCopyResumes kills a copying migrator with SIGKILL, then runs
// it again: it continues from the checkpoint (re-copying only what was in
// flight) and the result verifies clean.
func TestKillMidCopyResumes(t *testing.T) {
	srcSrv, src := newSingle(t)
	dstCl, dst := newCluster(t, 3, -1)
	const n = 20000
	seed(t, src, "k", n)
	cmd := startHelper(t, "copy", srcSrv.Addr(), strings.Join(dstCl.Addrs(), ","))
	var at position
	redistest.Eventually(t, time.Minute, "checkpoint past 5000 keys", func() bool {
		at = checkpoint(t, dst)["main"]
		return at.Scanned > 5000
	})
	kill9(t, cmd)
	at = checkpoint(t, dst)["main"]
	if at.Done {
		t.Skip("the copy finished before the kill; machine too fast for this test")
	}
	sum, err := New(src, dst, Options{}).Copy(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("killed at %d scanned; second run: %v, scanned %d", at.Scanned, sum, sum.Scanned)
	if sum.Resumed != 1 {
		t.Errorf("resumed %d masters, want 1", sum.Resumed)
	}
	if max := int64(n) - at.Scanned + 100; sum.Scanned > max {
		t.Errorf("second run scanned %d keys, want at most %d (it started over?)", sum.Scanned, max)
	}
	mustVerify(t, src, dst)
}

// TestKillMidSyncResumes kills a syncing migrator, changes the source
// while no migrator runs (writes, deletes, an EXPIRE), then runs sync
// again: the gap is repaired, verify is clean, and the second run
// re-copies only what changed (it compares the rest), not every key.
func TestKillMidSyncResumes(t *testing.T) {
	srcCl, src := newCluster(t, 3, -1)
	_, dst := newSingle(t)
	seed(t, src, "k", 3000)
	cmd := startHelper(t, "sync", strings.Join(srcCl.Addrs(), ","), dst.Options().Addr)
	redistest.Eventually(t, time.Minute, "first pass done on every master", func() bool {
		s := checkpoint(t, dst)
		done := 0
		for _, p := range s {
			if p.Done {
				done++
			}
		}
		return done == 3
	})
	ctx := context.Background()
	src.Set(ctx, "live:1", "a", 0)
	redistest.Eventually(t, 10*time.Second, "live change applied", func() bool { return dst.Get(ctx, "live:1").Val() == "a" })
	kill9(t, cmd)
	// While no migrator runs:
	for i := range 50 {
		src.Del(ctx, "k:"+itoa(i))
		src.Set(ctx, "down:"+itoa(i), "x", 0)
	}
	src.Expire(ctx, "k:100", time.Hour)
	const changed = 101
	runSync(t, src, dst, func(m *Migrator) {
		mustVerify(t, src, dst)
		s := m.Status()
		t.Logf("second run: applied %d (restored %d, deleted %d, chunked %d), compared equal %d", s.Applied, s.Restored, s.Deleted, s.Chunked, s.Compared)
		// What changed while no migrator ran, plus what was in flight at
		// the kill and keys of the seed expiring meanwhile.
		if s.Applied > changed+100 {
			t.Errorf("second run applied %d keys, want at most %d: it re-copied everything", s.Applied, changed+100)
		}
	})
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

// runSync runs Sync until it is following changes with no lag, calls
// check, then stops it.
func runSync(t *testing.T, src, dst redis.UniversalClient, check func(*Migrator)) {
	t.Helper()
	m := New(src, dst, Options{Heartbeat: 200 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Sync(ctx) }()
	waitCaughtUp(t, m, done)
	check(m)
	cancel()
	if err := <-done; err != nil && !strings.Contains(err.Error(), "context canceled") {
		t.Fatalf("sync: %v", err)
	}
}

func waitCaughtUp(t *testing.T, m *Migrator, done chan error) {
	t.Helper()
	redistest.Eventually(t, time.Minute, "sync caught up", func() bool {
		select {
		case err := <-done:
			t.Fatalf("sync ended: %v", err)
		default:
		}
		s := m.Status()
		if s.Phase != PhaseSync || s.Dirty != 0 || s.LagSeconds != 0 {
			return false
		}
		for _, sh := range s.Shards {
			if sh.Scanning {
				return false
			}
		}
		return true
	})
}
