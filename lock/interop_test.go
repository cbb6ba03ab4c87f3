package lock_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rediskit/rediskit/internal/nodetest"
	"github.com/rediskit/rediskit/internal/redistest"
	"github.com/rediskit/rediskit/lock"
)

// The Node peers: redlock 4.2 and @sesamecare-oss/redlock 1.4, both on
// ioredis 5 (a Cluster on the cluster target), see testdata/node/peer.js.
var nodeLibs = []string{"redlock", "sesame"}

// nodeEnv is the environment of a testdata/node script for tg and lib.
func nodeEnv(tg redistest.Target, lib string, kv ...string) []string {
	cl := "0"
	if tg.Cluster {
		cl = "1"
	}
	return append([]string{"REDIS_ADDRS=" + strings.Join(tg.Addrs, ","), "CLUSTER=" + cl, "LIB=" + lib}, kv...)
}

// plainLocker is a Locker on the plain resource keys node-redlock locks.
func plainLocker(t *testing.T, tg redistest.Target, opts lock.Options) *lock.Locker {
	t.Helper()
	opts.KeyLayout = lock.PlainKeys
	l, _ := newLocker(t, tg.Client(t), opts)
	return l
}

// forEachPeer runs fn on the single node and the cluster, with each Node
// lock library.
func forEachPeer(t *testing.T, fn func(t *testing.T, tg redistest.Target, lib string)) {
	redistest.ForEach(t, func(t *testing.T, tg redistest.Target) {
		for _, lib := range nodeLibs {
			t.Run(lib, func(t *testing.T) { fn(t, tg, lib) })
		}
	})
}

// nodeLock has holder.js take resource for ttl ms, retrying for ever
// when wait, and fails the test when it does not.
func nodeLock(t *testing.T, p *nodetest.Proc, resource string, ttl int, wait bool) {
	t.Helper()
	cmd := map[string]any{"op": "lock", "resource": resource, "ttl": ttl}
	if wait {
		cmd["retries"] = -1
	}
	if m := holderCmd(t, p, cmd); m["op"] != "locked" {
		t.Fatalf("node lock: %v", m)
	}
}

// holderCmd sends one command to holder.js and returns its answer.
func holderCmd(t *testing.T, p *nodetest.Proc, cmd map[string]any) map[string]any {
	t.Helper()
	if err := p.Send(cmd); err != nil {
		t.Fatal(err)
	}
	return p.WaitFor(t, 30*time.Second, fmt.Sprint(cmd["op"]), func(m map[string]any) bool { return m["op"] == cmd["op"] || m["op"] == "locked" && cmd["op"] == "lock" })
}

// TestNodeInteropCounter: 2 Node processes (redlock 4 and
// @sesamecare-oss/redlock) and 2 Go processes, 10 contenders each,
// increment a plain counter 5,000 times with GET then SET under one
// plain resource lock: the count must be exact, so Node and Go holders
// excluded each other in both directions.
func TestNodeInteropCounter(t *testing.T) {
	redistest.ForEach(t, func(t *testing.T, tg redistest.Target) {
		dir := nodetest.Dir(t)
		const contenders, total = 10, 5000
		u := redistest.Unique(t)
		resource, counter := u+":payment", u+":count"
		start := time.Now()
		type proc struct {
			name        string
			cmd         *exec.Cmd
			out, stderr strings.Builder
		}
		var procs []*proc
		for i, lib := range nodeLibs {
			cmd := exec.Command("node", "testdata/node/contend.js")
			cmd.Env = nodetest.Env(dir, nodeEnv(tg, lib, "RESOURCE="+resource, "COUNTER="+counter,
				"N="+strconv.Itoa(total/4), "C="+strconv.Itoa(contenders), "RETRY_DELAY=5")...)
			procs = append(procs, &proc{name: fmt.Sprintf("node %d (%s)", i, lib), cmd: cmd})
		}
		for i := range 2 {
			cmd := helperCmd(t, "mutex", append(targetEnv(tg), "LOCK_PLAIN=1", "LOCK_PREFIX="+u+":",
				"LOCK_NAME="+resource, "LOCK_COUNTER="+counter,
				"LOCK_N="+strconv.Itoa(total/4), "LOCK_G="+strconv.Itoa(contenders))...)
			procs = append(procs, &proc{name: fmt.Sprintf("go %d", i), cmd: cmd})
		}
		for _, p := range procs {
			p.cmd.Stdout = &p.out
			if p.cmd.Stderr == nil {
				p.cmd.Stderr = &p.stderr
			}
			if err := p.cmd.Start(); err != nil {
				t.Fatal(err)
			}
		}
		var wg sync.WaitGroup
		errs := make([]error, len(procs))
		for i, p := range procs {
			wg.Go(func() { errs[i] = p.cmd.Wait() })
		}
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(3 * time.Minute):
			for _, p := range procs {
				_ = p.cmd.Process.Kill()
			}
			<-done
			t.Fatal("contenders still running after 3 minutes")
		}
		elapsed := time.Since(start)
		for i, p := range procs {
			if errs[i] != nil {
				t.Errorf("%s: %v\n%s%s", p.name, errs[i], p.out.String(), p.stderr.String())
			}
		}
		c := tg.Client(t)
		got, err := c.Get(context.Background(), counter).Int()
		if err != nil || got != total {
			t.Fatalf("counter = %d, %v; want %d", got, err, total)
		}
		for _, p := range procs {
			t.Logf("%s: %s", p.name, strings.TrimSpace(p.out.String()))
		}
		t.Logf("%d GET-then-SET increments by 2 Node + 2 Go processes x %d contenders in %v", total, contenders, elapsed)
	})
}

// TestNodeStoppedHolderGoTakes: a Node holder stopped (SIGSTOP) keeps
// its lock until the ttl runs out; a Go waiter then takes it (no release
// comes: it polls, bounded by the ttl). The Node holder, resumed, cannot
// extend or release the Go holder's lock.
func TestNodeStoppedHolderGoTakes(t *testing.T) {
	t.Parallel()
	forEachPeer(t, func(t *testing.T, tg redistest.Target, lib string) {
		ctx := ctxT(t, 60*time.Second)
		l := plainLocker(t, tg, lock.Options{Holder: "go-waiter", MaxWait: 20 * time.Second})
		resource := redistest.Unique(t) + ":payment"
		p := nodetest.Start(t, "testdata/node/holder.js", nodeEnv(tg, lib))
		// The lock is set after this instant, so it expires 1.5 s
		// after it at the earliest.
		lockedAt := time.Now()
		nodeLock(t, p, resource, 1500, false)
		if err := p.Signal(syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		h, err := l.Inspect(ctx, resource)
		if err != nil || !h.Held || !h.Foreign || h.Key != resource {
			t.Fatalf("Inspect of the Node-held lock = %+v, %v; want held, foreign, key %q", h, err, resource)
		}
		le, err := l.Acquire(ctx, resource, 30*time.Second)
		if err != nil {
			t.Fatalf("Go waiter: %v", err)
		}
		if waited := time.Since(lockedAt); waited < 1490*time.Millisecond {
			t.Fatalf("took the lock after %v, before the stopped holder's 1.5 s ttl ran out", waited)
		}
		if err := p.Signal(syscall.SIGCONT); err != nil {
			t.Fatal(err)
		}
		// The resumed Node holder's extend and release compare its
		// value with the Go value: both refused, nothing changed.
		if m := holderCmd(t, p, map[string]any{"op": "extend", "ttl": 60000}); m["ok"] != false {
			t.Errorf("node extend of the Go-held lock: %v, want refused", m)
		}
		if m := holderCmd(t, p, map[string]any{"op": "unlock"}); m["ok"] != false {
			t.Errorf("node unlock of the Go-held lock: %v, want refused", m)
		}
		h, err = l.Inspect(ctx, resource)
		if err != nil || h.Foreign || h.Holder != "go-waiter" || h.Token != le.Token() || h.TTL > 30*time.Second {
			t.Errorf("after the Node release: %+v, %v; want the Go holder, token %d, ttl <= 30s", h, err, le.Token())
		}
		if err := le.Release(ctx); err != nil {
			t.Errorf("Go release: %v", err)
		}
	})
}

// TestGoStoppedHolderNodeTakes: the reverse: a Go holder in a process of
// its own, stopped, loses its lock at the ttl and a Node waiter takes it,
// then draws a fencing token from the Go counter (the documented rule)
// above the stopped holder's.
func TestGoStoppedHolderNodeTakes(t *testing.T) {
	t.Parallel()
	forEachPeer(t, func(t *testing.T, tg redistest.Target, lib string) {
		u := redistest.Unique(t)
		// On the cluster, a resource with a hash tag of its own.
		resource := u + ":payment"
		if tg.Cluster {
			resource = "payments:{" + u + "}"
		}
		l := plainLocker(t, tg, lock.Options{Prefix: u + ":"})
		fenceKey, err := l.FenceKey(resource)
		if err != nil {
			t.Fatal(err)
		}
		cmd := helperCmd(t, "hold", append(targetEnv(tg), "LOCK_PLAIN=1", "LOCK_PREFIX="+u+":",
			"LOCK_NAME="+resource, "LOCK_TTL=1000")...)
		stdin, _ := cmd.StdinPipe()
		stdout, _ := cmd.StdoutPipe()
		lockedAt := time.Now() // before the helper sets the lock
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { _ = cmd.Process.Signal(syscall.SIGCONT); _ = stdin.Close(); _ = cmd.Wait() }()
		line, err := bufio.NewReader(stdout).ReadString('\n')
		if err != nil {
			t.Fatalf("helper: %v", err)
		}
		var goToken int64
		if _, err := fmt.Sscanf(line, "TOKEN %d", &goToken); err != nil {
			t.Fatalf("helper said %q", line)
		}
		if err := cmd.Process.Signal(syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		p := nodetest.Start(t, "testdata/node/holder.js", nodeEnv(tg, lib))
		nodeLock(t, p, resource, 5000, true)
		if waited := time.Since(lockedAt); waited < 990*time.Millisecond {
			t.Fatalf("Node took the lock after %v, before the stopped Go holder's 1 s ttl ran out", waited)
		}
		f := holderCmd(t, p, map[string]any{"op": "fence", "key": fenceKey})
		if f["held"] != true || f["token"].(float64) <= float64(goToken) {
			t.Errorf("node fence %v, want held and a token above the stopped Go holder's %d", f, goToken)
		}
		if m := holderCmd(t, p, map[string]any{"op": "unlock"}); m["ok"] != true {
			t.Errorf("node unlock: %v", m)
		}
	})
}

// TestNodeAndGoValuesRefused: neither side extends or releases a lock the
// other holds. A Node lock deleted under it (as an expiry would) and
// taken by Go: Node's extend and unlock are no-ops. A Go lease whose key
// Node now holds: Extend says ErrLost, Release ErrNotHeld, and the Node
// value and ttl are untouched.
func TestNodeAndGoValuesRefused(t *testing.T) {
	t.Parallel()
	forEachPeer(t, func(t *testing.T, tg redistest.Target, lib string) {
		ctx := ctxT(t, 60*time.Second)
		c := tg.Client(t)
		l := plainLocker(t, tg, lock.Options{Holder: "go"})
		resource := redistest.Unique(t) + ":r"
		p := nodetest.Start(t, "testdata/node/holder.js", nodeEnv(tg, lib))

		// Node's release of a Go-held lock.
		nodeLock(t, p, resource, 60000, false)
		if _, err := l.TryAcquire(ctx, resource, time.Second); !errors.Is(err, lock.ErrTaken) {
			t.Fatalf("Go TryAcquire of a Node-held lock: %v, want ErrTaken", err)
		}
		c.Del(ctx, resource)
		le, err := l.TryAcquire(ctx, resource, 20*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if m := holderCmd(t, p, map[string]any{"op": "extend", "ttl": 60000}); m["ok"] != false {
			t.Errorf("node extend of a Go-held lock: %v", m)
		}
		if m := holderCmd(t, p, map[string]any{"op": "unlock"}); m["ok"] != false {
			t.Errorf("node unlock of a Go-held lock: %v", m)
		}
		if h, _ := l.Inspect(ctx, resource); h.Holder != "go" || h.TTL > 20*time.Second {
			t.Errorf("after Node's extend and unlock: %+v, want the Go holder, ttl <= 20s", h)
		}

		// Go's extend and release of a Node-held lock.
		c.Del(ctx, resource)
		nodeLock(t, p, resource, 30000, false)
		if err := le.Extend(ctx, time.Minute); !errors.Is(err, lock.ErrLost) {
			t.Errorf("Go Extend of a Node-held lock: %v, want ErrLost", err)
		}
		le2, err := func() (*lock.Lease, error) {
			c.Del(ctx, resource)
			return l.TryAcquire(ctx, resource, 20*time.Second)
		}()
		if err != nil {
			t.Fatal(err)
		}
		c.Del(ctx, resource)
		nodeLock(t, p, resource, 30000, false)
		if err := le2.Release(ctx); !errors.Is(err, lock.ErrNotHeld) {
			t.Errorf("Go Release of a Node-held lock: %v, want ErrNotHeld", err)
		}
		h, err := l.Inspect(ctx, resource)
		if err != nil || !h.Foreign || h.TTL <= 20*time.Second || h.TTL > 30*time.Second {
			t.Errorf("after Go's extend and release: %+v, %v; want the Node holder with its 30 s ttl", h, err)
		}
		if m := holderCmd(t, p, map[string]any{"op": "unlock"}); m["ok"] != true {
			t.Errorf("node unlock of its own lock: %v", m)
		}
	})
}

// TestNodeReleaseWakeLatency measures how long a Go waiter takes to get a
// lock after a Node holder released it (redlock's release publishes
// nothing: the waiter polls, capped by Options.ForeignPoll), from the
// Node side's release reply to Acquire's return, and bounds it.
func TestNodeReleaseWakeLatency(t *testing.T) {
	redistest.ForEach(t, func(t *testing.T, tg redistest.Target) {
		const rounds = 24
		ctx := ctxT(t, 2*time.Minute)
		l := plainLocker(t, tg, lock.Options{})
		resource := redistest.Unique(t) + ":wake"
		p := nodetest.Start(t, "testdata/node/holder.js", nodeEnv(tg, "redlock"))
		var lat []time.Duration
		for i := range rounds {
			nodeLock(t, p, resource, 10000, false)
			before := l.Stats().Contended
			got := make(chan time.Time, 1)
			errc := make(chan error, 1)
			go func() {
				le, err := l.Acquire(ctx, resource, 10*time.Second)
				got <- time.Now()
				if err == nil {
					err = le.Release(ctx)
				}
				errc <- err
			}()
			// Release after the waiter tried 1 to 8 times, so that the
			// release falls at varied points of its polling, on the ramp
			// (10, 20, 30, 40 ms) and at the 50 ms cap.
			redistest.Eventually(t, 10*time.Second, "the Go waiter tries", func() bool {
				return l.Stats().Contended >= before+1+uint64(i%8)
			})
			m := holderCmd(t, p, map[string]any{"op": "unlock"})
			if m["ok"] != true {
				t.Fatalf("node unlock: %v", m)
			}
			at := m["at"].(float64)
			acquired := <-got
			if err := <-errc; err != nil {
				t.Fatal(err)
			}
			lat = append(lat, time.Duration(float64(acquired.UnixNano())-at*1e6))
		}
		p50, p99 := percentiles(lat)
		t.Logf("Go waiter wake-up after a Node release (polling, ForeignPoll 50 ms, %d rounds, loaded machine): p50 %v, p99 %v, max %v",
			rounds, p50, p99, slices.Max(lat))
		if p99 > 400*time.Millisecond {
			t.Errorf("p99 wake-up %v, want under 400ms (ForeignPoll is 50 ms)", p99)
		}
	})
}

// percentiles returns the 50th and 99th percentiles (nearest rank).
func percentiles(d []time.Duration) (p50, p99 time.Duration) {
	s := slices.Clone(d)
	slices.Sort(s)
	at := func(q float64) time.Duration { return s[min(len(s)-1, int(q*float64(len(s))))] }
	return at(0.50), at(0.99)
}

// TestForeignValue: a lock key with a value rediskit did not write, or
// another type, is held until it expires or is deleted: TryAcquire says
// ErrTaken with a foreign holder (never quoting the value), Inspect says
// foreign, Acquire takes it once it expired.
func TestForeignValue(t *testing.T) {
	t.Parallel()
	redistest.ForEach(t, func(t *testing.T, tg redistest.Target) {
		for _, layout := range []lock.KeyLayout{lock.TaggedKeys, lock.PlainKeys} {
			t.Run(layout.String(), func(t *testing.T) {
				ctx := ctxT(t, 30*time.Second)
				c := tg.Client(t)
				prefix := redistest.Unique(t) + ":"
				l, _ := newLocker(t, c, lock.Options{Prefix: prefix, KeyLayout: layout, MaxWait: 10 * time.Second})
				for i, set := range []func(key string) error{
					func(key string) error { return c.Set(ctx, key, "secret-value-42", 300*time.Millisecond).Err() },
					func(key string) error { return c.Set(ctx, key, "x:y:z", 300*time.Millisecond).Err() },
					func(key string) error {
						if err := c.HSet(ctx, key, "owner", "someone").Err(); err != nil {
							return err
						}
						return c.PExpire(ctx, key, 300*time.Millisecond).Err()
					},
				} {
					name := fmt.Sprintf("%sres%d", prefix, i)
					h, err := l.Inspect(ctx, name)
					if err != nil || h.Held {
						t.Fatalf("Inspect of a free lock: %+v, %v", h, err)
					}
					if err := set(h.Key); err != nil {
						t.Fatal(err)
					}
					_, err = l.TryAcquire(ctx, name, time.Second)
					var te *lock.TakenError
					if !errors.As(err, &te) || !te.Foreign || te.Token != 0 || te.TTL <= 0 {
						t.Fatalf("TryAcquire over a foreign key: %#v, want a foreign *TakenError with its ttl", err)
					}
					if strings.Contains(err.Error(), "secret") || !strings.Contains(err.Error(), "foreign") {
						t.Errorf("error %q: want it to name a foreign holder without its value", err)
					}
					h, err = l.Inspect(ctx, name)
					if err != nil || !h.Held || !h.Foreign || h.Holder != te.Holder {
						t.Errorf("Inspect of a foreign key: %+v, %v", h, err)
					}
					le, err := l.Acquire(ctx, name, time.Second)
					if err != nil {
						t.Fatalf("Acquire after the foreign key expired: %v", err)
					}
					_ = le.Release(ctx)
				}
				// A foreign key without expiry: held until deleted.
				name := prefix + "forever"
				h, _ := l.Inspect(ctx, name)
				c.Set(ctx, h.Key, "owned-elsewhere", 0)
				short := lock.New(c, lock.Options{Prefix: prefix, KeyLayout: layout, MaxWait: 100 * time.Millisecond})
				defer short.Close()
				_, err := short.Acquire(ctx, name, time.Second)
				var te *lock.TakenError
				if !errors.As(err, &te) || !te.Foreign || te.TTL >= 0 || !strings.Contains(err.Error(), "no expiry") {
					t.Errorf("Acquire over a persistent foreign key: %v, want a foreign holder with no expiry", err)
				}
			})
		}
	})
}

// TestPlainKeysWakeByMessage: with PlainKeys, a waiter on a lock that Go
// holds is still woken by the release's message (on the release channel in
// the resource's slot), not by polling: with PollEvery and ForeignPoll at
// a minute it gets the lock at once, after a couple of attempts.
func TestPlainKeysWakeByMessage(t *testing.T) {
	t.Parallel()
	redistest.ForEach(t, func(t *testing.T, tg redistest.Target) {
		for _, resource := range []string{redistest.Unique(t) + ":plain", "orders:{" + redistest.Unique(t) + "}"} {
			ctx := ctxT(t, 30*time.Second)
			l := plainLocker(t, tg, lock.Options{PollEvery: time.Minute, ForeignPoll: time.Minute})
			held, err := l.TryAcquire(ctx, resource, time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			before := l.Stats().Contended
			got := make(chan error, 1)
			go func() {
				le, err := l.Acquire(ctx, resource, time.Minute)
				if err == nil {
					err = le.Release(ctx)
				}
				got <- err
			}()
			redistest.Eventually(t, 10*time.Second, "the waiter tried", func() bool { return l.Stats().Contended > before })
			released := time.Now()
			if err := held.Release(ctx); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-got:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("%s: waiter not woken by the release", resource)
			}
			if n := l.Stats().Contended - before; n > 3 {
				t.Errorf("%s: %d attempts while waiting, want a wake-up by message", resource, n)
			}
			t.Logf("%s: woken %v after the release", resource, time.Since(released))
		}
	})
}
