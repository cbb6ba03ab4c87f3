package queue

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rediskit/rediskit/internal/redistest"
)

// TestMixedPool: Go and Node workers share one queue of 10,000 jobs added
// by both sides; every job runs exactly once.
func TestMixedPool(t *testing.T) {
	const total = 10000
	redistest.ForEach(t, func(t *testing.T, tg redistest.Target) {
		e := newEnv(t, tg)
		ctx := context.Background()
		var bulk []BulkJob
		for k := range total / 2 {
			bulk = append(bulk, BulkJob{Name: "gen", Data: map[string]int{"k": k}})
		}
		if _, err := e.q.AddBulk(ctx, bulk); err != nil {
			t.Fatal(err)
		}
		runNode(t, tg, e.prefix, "produce", e.name, map[string]any{"generate": map[string]any{"n": total / 2}})

		var mu sync.Mutex
		runs := map[string]int{}
		goRuns, nodeRuns := 0, 0
		h := func(ctx context.Context, j *Job) (any, error) {
			mu.Lock()
			runs[j.ID]++
			goRuns++
			mu.Unlock()
			return j.ID, nil
		}
		nodes := []*nodeProc{
			startNode(t, tg, e.prefix, "work", e.name, map[string]any{"concurrency": 20}),
			startNode(t, tg, e.prefix, "work", e.name, map[string]any{"concurrency": 20}),
		}
		e.run(t, h, WorkerOptions{Concurrency: 20})
		e.run(t, h, WorkerOptions{Concurrency: 20})
		var wg sync.WaitGroup
		for _, p := range nodes {
			wg.Go(func() {
				for m := range p.Lines {
					if m["event"] == "start" {
						mu.Lock()
						runs[fmt.Sprint(m["id"])]++
						nodeRuns++
						mu.Unlock()
					}
				}
			})
		}
		redistest.Eventually(t, 90*time.Second, "10,000 completed", func() bool {
			n, _ := e.rdb.ZCard(ctx, e.q.k.completed).Result()
			return n == total
		})
		for _, p := range nodes {
			p.Stop()
		}
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		twice := 0
		for id, n := range runs {
			if n != 1 {
				twice++
				if twice < 5 {
					t.Errorf("job %s ran %d times", id, n)
				}
			}
		}
		if len(runs) != total || twice > 0 {
			t.Errorf("%d distinct jobs ran (want %d), %d more than once", len(runs), total, twice)
		}
		if goRuns == 0 || nodeRuns == 0 {
			t.Errorf("go ran %d, node ran %d: both should share the work", goRuns, nodeRuns)
		}
		t.Logf("go ran %d jobs, node ran %d", goRuns, nodeRuns)
	})
}

// childWorker is the body of the re-executed test binary: a Go worker
// whose handler never returns, killed with SIGKILL by the parent.
func childWorker() int {
	addrs := strings.Split(os.Getenv("QUEUE_TEST_ADDRS"), ",")
	var rdb redis.UniversalClient
	if os.Getenv("QUEUE_TEST_CLUSTER") == "1" {
		rdb = redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs})
	} else {
		rdb = redis.NewClient(&redis.Options{Addr: addrs[0]})
	}
	w, err := NewWorker(rdb, os.Getenv("QUEUE_TEST_NAME"), func(ctx context.Context, j *Job) (any, error) {
		fmt.Printf("started %s\n", j.ID)
		<-ctx.Done()
		return nil, ctx.Err()
	}, WorkerOptions{Options: Options{Prefix: os.Getenv("QUEUE_TEST_PREFIX")}, Concurrency: 10, LockDuration: time.Second, StalledInterval: 300 * time.Millisecond})
	if err != nil {
		fmt.Println(err)
		return 1
	}
	_ = w.Run(context.Background())
	return 0
}

// startChildWorker starts the test binary as a Go worker process on e's
// queue (childWorker) and returns it with a scanner of its output: one
// line "started <id>" per job it takes. The test kills it.
func (e *env) startChildWorker(t *testing.T) (*exec.Cmd, *bufio.Scanner) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cluster := "0"
	if e.tg.Cluster {
		cluster = "1"
	}
	cmd.Env = append(os.Environ(), "QUEUE_TEST_CHILD=1", "QUEUE_TEST_ADDRS="+strings.Join(e.tg.Addrs, ","),
		"QUEUE_TEST_CLUSTER="+cluster, "QUEUE_TEST_NAME="+e.name, "QUEUE_TEST_PREFIX="+e.prefix)
	out, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd, bufio.NewScanner(out)
}

// TestKilledWorker: a Go worker process killed with SIGKILL mid-job; its
// jobs are recovered by the stalled check and finished by a Go or a Node
// worker.
func TestKilledWorker(t *testing.T) {
	redistest.ForEach(t, func(t *testing.T, tg redistest.Target) {
		for _, by := range sides {
			t.Run("recovered-by-"+by, func(t *testing.T) {
				e := newEnv(t, tg)
				ctx := context.Background()
				var ids []string
				for i := range 3 {
					ids = append(ids, e.add(t, "long", map[string]int{"i": i}))
				}
				cmd, sc := e.startChildWorker(t)
				for n := 0; n < 3 && sc.Scan(); {
					if strings.HasPrefix(sc.Text(), "started ") {
						n++
					}
				}
				if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
					t.Fatal(err)
				}
				_ = cmd.Wait()
				if c, _ := e.q.Counts(ctx); c.Active != 3 {
					t.Fatalf("after kill: %+v, want 3 active", c)
				}
				if by == "go" {
					e.run(t, fixtureHandler(nil), WorkerOptions{Concurrency: 5, StalledInterval: 300 * time.Millisecond})
				} else {
					startNode(t, tg, e.prefix, "work", e.name, map[string]any{"concurrency": 5, "stalledInterval": 300})
				}
				redistest.Eventually(t, 20*time.Second, "killed worker's jobs completed", func() bool {
					n, _ := e.rdb.ZCard(ctx, e.q.k.completed).Result()
					return n == 3
				})
				for _, id := range ids {
					if stc := e.hget(t, id, "stc"); stc != "1" {
						t.Errorf("job %s stc = %q, want 1", id, stc)
					}
				}
			})
		}
	})
}
