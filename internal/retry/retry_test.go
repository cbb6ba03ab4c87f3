package retry_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rediskit/rediskit/internal/redistest"
	"github.com/rediskit/rediskit/internal/retry"
)

func TestMain(m *testing.M) { redistest.Main(m) }

// freeClosedAddr returns a loopback address nothing listens on.
func freeClosedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

// TestClassifyRealErrors classifies errors produced by a real server and
// real sockets, not hand-made ones.
func TestClassifyRealErrors(t *testing.T) {
	ctx := context.Background()
	tg := redistest.SingleTarget(t)
	rdb := redis.NewClient(&redis.Options{Addr: tg.Addrs[0], MaxRetries: -1})
	defer rdb.Close()
	k := redistest.Unique(t)

	// A dial to a closed port never reached a server.
	dead := redis.NewClient(&redis.Options{Addr: freeClosedAddr(t), MaxRetries: -1, DialerRetries: 1})
	defer dead.Close()
	dialErr := dead.Set(ctx, k, "v", 0).Err()

	// WRONGTYPE and script errors are answers: fatal.
	if err := rdb.LPush(ctx, k+":list", "x").Err(); err != nil {
		t.Fatal(err)
	}
	wrongType := rdb.Get(ctx, k+":list").Err()
	scriptErr := rdb.Eval(ctx, "return redis.error_reply('boom')", nil).Err()
	nilErr := rdb.Get(ctx, k+":absent").Err()

	// A blocked command whose connection the server kills lost its reply.
	blocker := redis.NewClient(&redis.Options{Addr: tg.Addrs[0], MaxRetries: -1, PoolSize: 1, ClientName: "retry-test-" + k})
	defer blocker.Close()
	done := make(chan error, 1)
	go func() { done <- blocker.BLPop(ctx, 20*time.Second, k+":never").Err() }()
	var id string
	redistest.Eventually(t, 5*time.Second, "blocked client listed", func() bool {
		list, _ := rdb.ClientList(ctx).Result()
		for _, line := range strings.Split(list, "\n") {
			if strings.Contains(line, "name=retry-test-"+k+" ") && strings.Contains(line, "cmd=blpop") {
				id, _, _ = strings.Cut(strings.TrimPrefix(line, "id="), " ")
				return true
			}
		}
		return false
	})
	if err := rdb.Do(ctx, "CLIENT", "KILL", "ID", id).Err(); err != nil {
		t.Fatal(err)
	}
	killedErr := <-done

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	ctxErr := rdb.Get(cancelled, k).Err()

	for _, c := range []struct {
		name string
		err  error
		want retry.Class
	}{
		{"dial to a closed port", dialErr, retry.NotApplied},
		{"WRONGTYPE", wrongType, retry.Fatal},
		{"script error", scriptErr, retry.Fatal},
		{"redis.Nil", nilErr, retry.Fatal},
		{"connection killed under a blocked command", killedErr, retry.MaybeApplied},
		{"cancelled context", ctxErr, retry.Fatal},
		{"nil", nil, retry.Fatal},
	} {
		if c.err == nil && c.name != "nil" {
			t.Errorf("%s: got no error from the server", c.name)
			continue
		}
		if got := retry.Classify(c.err); got != c.want {
			t.Errorf("%s: Classify(%v) = %v, want %v", c.name, c.err, got, c.want)
		}
	}
	if !retry.Retryable(dialErr, false) || retry.Retryable(killedErr, false) || !retry.Retryable(killedErr, true) {
		t.Errorf("Retryable: dial must always retry, a lost reply only when idempotent")
	}
}

// TestClassifyServerRefusals covers replies that servers send for commands
// they did not run; a cluster in the middle of a failover produces them,
// so their text is checked here as Redis 7 words it.
func TestClassifyServerRefusals(t *testing.T) {
	for _, msg := range []string{
		"CLUSTERDOWN The cluster is down",
		"TRYAGAIN Multiple keys request during rehashing of slot",
		"LOADING Redis is loading the dataset in memory",
		"MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.",
		"READONLY You can't write against a read only replica.",
	} {
		err := fmt.Errorf("wrapped: %w", redisError(msg))
		if got := retry.Classify(err); got != retry.NotApplied {
			t.Errorf("Classify(%q) = %v, want not-applied", msg, got)
		}
	}
	if !retry.TopologyHint(redisError("READONLY You can't write against a read only replica.")) {
		t.Error("READONLY must hint at a topology change")
	}
	if retry.TopologyHint(redisError("WRONGTYPE Operation against a key holding the wrong kind of value")) {
		t.Error("WRONGTYPE is no topology hint")
	}
}

type redisError string

func (e redisError) Error() string { return string(e) }
func (redisError) RedisError()     {}

func TestBackoffRampCapAndJitter(t *testing.T) {
	p := retry.Policy{Min: 100 * time.Millisecond, Max: 300 * time.Millisecond}
	for attempt, want := range map[int]time.Duration{1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 3: 300 * time.Millisecond, 50: 300 * time.Millisecond} {
		seen := map[time.Duration]bool{}
		for range 200 {
			d := p.Backoff(attempt)
			if d < want*4/5 || d > want*6/5 {
				t.Fatalf("Backoff(%d) = %v, want within ±20%% of %v", attempt, d, want)
			}
			seen[d] = true
		}
		if len(seen) < 10 {
			t.Errorf("Backoff(%d) has no jitter: %d distinct values", attempt, len(seen))
		}
	}
}

func TestDoRetriesOnlyWhatIsSafe(t *testing.T) {
	ctx := context.Background()
	fast := retry.Policy{Min: time.Millisecond, Max: 2 * time.Millisecond, Attempts: 5}
	notApplied := redisError("TRYAGAIN later")
	lost := &net.OpError{Op: "read", Err: errors.New("connection reset by peer")}

	for _, c := range []struct {
		name       string
		err        error
		idempotent bool
		wantCalls  int
	}{
		{"not applied is retried until attempts run out", notApplied, false, 6},
		{"maybe applied is not retried for non-idempotent work", lost, false, 1},
		{"maybe applied is retried for idempotent work", lost, true, 6},
		{"fatal is never retried", redisError("ERR Error running script"), true, 1},
	} {
		var calls int
		err := retry.Do(ctx, fast, c.idempotent, func(context.Context) error { calls++; return c.err })
		if calls != c.wantCalls || !errors.Is(err, c.err) {
			t.Errorf("%s: %d calls, err %v; want %d calls and the last error", c.name, calls, err, c.wantCalls)
		}
	}

	var calls int
	if err := retry.Do(ctx, fast, false, func(context.Context) error {
		if calls++; calls < 3 {
			return notApplied
		}
		return nil
	}); err != nil || calls != 3 {
		t.Errorf("success on the third try: calls %d, err %v", calls, err)
	}

	// The budget bounds the total pause, whatever the attempts.
	start := time.Now()
	_ = retry.Do(ctx, retry.Policy{Min: 20 * time.Millisecond, Max: 20 * time.Millisecond, Attempts: 1000, Budget: 100 * time.Millisecond},
		false, func(context.Context) error { return notApplied })
	if el := time.Since(start); el > time.Second {
		t.Errorf("budget of 100ms took %v", el)
	}

	// A cancelled ctx ends the pauses and is reported.
	cctx, cancel := context.WithCancel(ctx)
	go func() { time.Sleep(20 * time.Millisecond); cancel() }() // the cancellation under test, not a wait for state
	err := retry.Do(cctx, retry.Policy{Min: time.Hour, Max: time.Hour, Budget: 24 * time.Hour}, false, func(context.Context) error { return notApplied })
	if !errors.Is(err, context.Canceled) || !errors.Is(err, notApplied) {
		t.Errorf("cancelled Do: %v, want both the cause and the last error", err)
	}
}

func TestLoopCountsLogsAndStops(t *testing.T) {
	var buf bytes.Buffer
	l := &retry.Loop{Name: "test loop", Log: slog.New(slog.NewTextHandler(&buf, nil)),
		Policy: retry.Policy{Min: time.Millisecond, Max: time.Millisecond}, LogEvery: time.Hour}
	boom := errors.New("boom")
	var calls atomic.Int64
	err := l.Run(context.Background(), func(context.Context) error {
		switch n := calls.Add(1); {
		case n <= 5:
			return boom
		case n <= 7:
			return nil
		default:
			return retry.Stop(fmt.Errorf("done after %d: %w", n, boom))
		}
	})
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "done after 8") {
		t.Fatalf("Run = %v, want the Stop error", err)
	}
	if l.Errors() != 5 || !errors.Is(l.LastError(), boom) {
		t.Errorf("Errors %d LastError %v, want 5 and boom", l.Errors(), l.LastError())
	}
	if n := strings.Count(buf.String(), "loop error"); n != 1 || !strings.Contains(buf.String(), `loop="test loop"`) {
		t.Errorf("want one rate-limited log line naming the loop, got %d:\n%s", n, buf.String())
	}

	// A cancelled context ends Run with nil, even mid-pause.
	ctx, cancel := context.WithCancel(context.Background())
	slow := &retry.Loop{Policy: retry.Policy{Min: time.Hour, Max: time.Hour}, Log: slog.New(slog.NewTextHandler(&buf, nil))}
	res := make(chan error, 1)
	go func() { res <- slow.Run(ctx, func(context.Context) error { return boom }) }()
	redistest.Eventually(t, 5*time.Second, "first failure counted", func() bool { return slow.Errors() == 1 })
	cancel()
	select {
	case err := <-res:
		if err != nil {
			t.Errorf("Run after cancel = %v, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

func TestIdempotent(t *testing.T) {
	for _, c := range []struct {
		args []any
		want bool
	}{
		{[]any{"get", "k"}, true},
		{[]any{"HGETALL", "k"}, true},
		{[]any{"set", "k", "v"}, true},
		{[]any{"set", "k", "v", "px", 100}, true},
		{[]any{"set", "k", "v", "nx"}, false},
		{[]any{"set", "k", "v", "GET"}, false},
		{[]any{"incr", "k"}, false},
		{[]any{"evalsha", "abc", 1, "k"}, false},
		{[]any{"evalsha_ro", "abc", 1, "k"}, true},
		{nil, false},
	} {
		if got := retry.Idempotent(c.args); got != c.want {
			t.Errorf("Idempotent(%v) = %v, want %v", c.args, got, c.want)
		}
	}
}
