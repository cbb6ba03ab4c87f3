package lock_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
	"github.com/rediskit/rediskit/internal/pgtest"
	"github.com/rediskit/rediskit/internal/redistest"
	"github.com/rediskit/rediskit/lock"
	"github.com/rediskit/rediskit/lock/pgfence"
)

// The tests below re-execute the test binary as separate processes: with
// helperEnv set, TestMain runs helperMain instead of the tests.
const helperEnv = "REDISKIT_LOCK_HELPER"

func helperMain() int {
	var err error
	switch os.Getenv(helperEnv) {
	case "mutex":
		err = helperMutex()
	case "stale":
		err = helperStale()
	case "hold":
		err = helperHold()
	default:
		err = fmt.Errorf("unknown helper %q", os.Getenv(helperEnv))
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		return 1
	}
	return 0
}

func helperClient() redis.UniversalClient {
	addrs := strings.Split(os.Getenv("LOCK_ADDRS"), ",")
	if os.Getenv("LOCK_CLUSTER") == "1" {
		return redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs})
	}
	return redis.NewClient(&redis.Options{Addr: addrs[0]})
}

// helperOptions reads LOCK_PREFIX, and LOCK_PLAIN=1 for PlainKeys.
func helperOptions() lock.Options {
	o := lock.Options{Prefix: os.Getenv("LOCK_PREFIX")}
	if os.Getenv("LOCK_PLAIN") == "1" {
		o.KeyLayout = lock.PlainKeys
	}
	return o
}

// helperName is LOCK_NAME, or def.
func helperName(def string) string {
	if n := os.Getenv("LOCK_NAME"); n != "" {
		return n
	}
	return def
}

// helperMutex increments LOCK_COUNTER LOCK_N times from LOCK_G goroutines,
// each increment a plain GET then SET inside Do.
func helperMutex() error {
	c := helperClient()
	defer c.Close()
	l := lock.New(c, helperOptions())
	defer l.Close()
	name := helperName("counter")
	n, _ := strconv.Atoi(os.Getenv("LOCK_N"))
	g, _ := strconv.Atoi(os.Getenv("LOCK_G"))
	counter := os.Getenv("LOCK_COUNTER")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, g)
	for i := range g {
		todo := n / g
		if i < n%g {
			todo++
		}
		wg.Go(func() {
			for range todo {
				err := l.Do(ctx, name, 5*time.Second, func(ctx context.Context, _ *lock.Lease) error {
					v, err := c.Get(ctx, counter).Int()
					if err != nil && !errors.Is(err, redis.Nil) {
						return err
					}
					return c.Set(ctx, counter, v+1, 0).Err()
				})
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	fmt.Printf("{\"done\":%d,\"ms\":%d,\"lib\":\"rediskit\"}\n", n, time.Since(start).Milliseconds())
	return <-errs
}

// helperStale takes the lock, prints its token, and on "WRITE" from stdin
// (after the parent stopped and resumed it) tries the fenced write and
// prints the outcome.
func helperStale() error {
	c := helperClient()
	defer c.Close()
	l := lock.New(c, lock.Options{Prefix: os.Getenv("LOCK_PREFIX")})
	defer l.Close()
	ctx := context.Background()
	le, err := l.TryAcquire(ctx, "payment", time.Second)
	if err != nil {
		return err
	}
	lost := le.Lost()
	fmt.Printf("TOKEN %d\n", le.Token())
	line, err := bufio.NewReader(os.Stdin).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "WRITE" {
		return fmt.Errorf("stdin: %q %v", line, err)
	}
	// Resumed: this process still believes it may hold the lock until
	// its watcher runs; the write is attempted regardless, as a paused
	// process would.
	conn, err := pgx.Connect(ctx, os.Getenv("LOCK_DSN"))
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	err = pgfence.Advance(ctx, conn, "", "payment-1", le.Token())
	switch {
	case errors.Is(err, pgfence.ErrStale):
		fmt.Println("STALE")
	case err != nil:
		return err
	default:
		fmt.Println("WROTE")
	}
	select {
	case <-lost:
		fmt.Println("LOST", errors.Is(le.Err(), lock.ErrLost))
	case <-time.After(10 * time.Second):
		fmt.Println("NOT-LOST")
	}
	return nil
}

// helperHold takes LOCK_NAME for LOCK_TTL ms, prints its token, and
// holds it (never extending) until stdin closes.
func helperHold() error {
	c := helperClient()
	defer c.Close()
	l := lock.New(c, helperOptions())
	defer l.Close()
	ttl, _ := strconv.Atoi(os.Getenv("LOCK_TTL"))
	le, err := l.TryAcquire(context.Background(), helperName("hold"), time.Duration(ttl)*time.Millisecond)
	if err != nil {
		return err
	}
	fmt.Printf("TOKEN %d\n", le.Token())
	_, _ = io.Copy(io.Discard, os.Stdin)
	return nil
}

func helperCmd(t *testing.T, mode string, env ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), append([]string{helperEnv + "=" + mode}, env...)...)
	cmd.Stderr = os.Stderr
	return cmd
}

func targetEnv(tg redistest.Target) []string {
	cl := "0"
	if tg.Cluster {
		cl = "1"
	}
	return []string{"LOCK_ADDRS=" + strings.Join(tg.Addrs, ","), "LOCK_CLUSTER=" + cl}
}

// TestMutualExclusionProcesses: 3 processes x 20 goroutines, 10,000
// GET-then-SET increments under the lock: the counter must be exact.
func TestMutualExclusionProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	redistest.ForEach(t, func(t *testing.T, tg redistest.Target) {
		const procs, goroutines, total = 3, 20, 10000
		prefix := redistest.Unique(t) + ":"
		counter := prefix + "counter"
		start := time.Now()
		var cmds []*exec.Cmd
		for p := range procs {
			n := total / procs
			if p < total%procs {
				n++
			}
			cmd := helperCmd(t, "mutex", append(targetEnv(tg),
				"LOCK_PREFIX="+prefix, "LOCK_COUNTER="+counter,
				"LOCK_N="+strconv.Itoa(n), "LOCK_G="+strconv.Itoa(goroutines))...)
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			cmds = append(cmds, cmd)
		}
		for _, cmd := range cmds {
			if err := cmd.Wait(); err != nil {
				t.Errorf("helper process: %v", err)
			}
		}
		c := tg.Client(t)
		got, err := c.Get(context.Background(), counter).Int()
		if err != nil || got != total {
			t.Fatalf("counter = %d, %v; want %d", got, err, total)
		}
		t.Logf("%d increments by %d processes x %d goroutines in %v", total, procs, goroutines, time.Since(start))
	})
}

// TestStoppedHolderFenced: a holder stopped (SIGSTOP) past its ttl loses
// the lock, another takes it with a newer token, and when the stopped one
// resumes, PostgreSQL rejects its write through pgfence.
func TestStoppedHolderFenced(t *testing.T) {
	tg := redistest.SingleTarget(t)
	dsn := pgtest.NewDatabase(t)
	ctx := ctxT(t, 60*time.Second)
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if err := pgfence.CreateTable(ctx, conn, ""); err != nil {
		t.Fatal(err)
	}
	prefix := redistest.Unique(t) + ":"
	cmd := helperCmd(t, "stale", append(targetEnv(tg), "LOCK_PREFIX="+prefix, "LOCK_DSN="+dsn)...)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	out := bufio.NewReader(stdout)
	readLine := func() string {
		t.Helper()
		line, err := out.ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			t.Fatal(err)
		}
		return strings.TrimSpace(line)
	}
	var staleToken int64
	if _, err := fmt.Sscanf(readLine(), "TOKEN %d", &staleToken); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	l, _ := newLocker(t, tg.Client(t), lock.Options{Prefix: prefix})
	// Waits for the stopped holder's 1 s ttl to run out (woken by the
	// holder's PTTL, no release will come).
	le, err := l.Acquire(ctx, "payment", 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if le.Token() <= staleToken {
		t.Fatalf("new token %d not above stale %d", le.Token(), staleToken)
	}
	if err := pgfence.Advance(ctx, conn, "", "payment-1", le.Token()); err != nil {
		t.Fatalf("current holder's write: %v", err)
	}
	if err := cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(stdin, "WRITE\n"); err != nil {
		t.Fatal(err)
	}
	if got := readLine(); got != "STALE" {
		t.Errorf("stale holder's write: %q, want STALE", got)
	}
	if got := readLine(); got != "LOST true" {
		t.Errorf("stale holder's lease: %q, want LOST true", got)
	}
	if le.Err() != nil {
		t.Errorf("current lease: %v", le.Err())
	}
	_ = le.Release(ctx)
}
