package lock_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rediskit/rediskit/internal/redisproc"
	"github.com/rediskit/rediskit/internal/redistest"
	"github.com/rediskit/rediskit/lock"
)

// TestFailoverOneDeployment documents what a lock on one deployment
// guarantees when the master holding it fails over. Replication is
// asynchronous: without WAIT, a lock (and its fence counter increment)
// the replica had not received is forgotten and a second owner gets it,
// with the same token. With Options.Replicas the acquire returns only
// once a replica has the lock, so it survives the failover; and when no
// replica acknowledges, the acquire fails with ErrNotReplicated and is
// undone.
func TestFailoverOneDeployment(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	cl := redistest.NewCluster(t, redisproc.ClusterOptions{})
	ctx := ctxT(t, 90*time.Second)
	newClient := func(t *testing.T) *redis.ClusterClient {
		// A short reload interval: go-redis does not reload the topology
		// when the dead master refuses connections.
		c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: cl.Addrs(), ClusterStateReloadInterval: 200 * time.Millisecond})
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	prefix := redistest.Unique(t) + ":"
	// nameWithReplica picks a lock name whose master still has a running
	// replica, and returns both.
	used := map[string]bool{}
	nameWithReplica := func(t *testing.T) (string, *redisproc.Server, *redisproc.Server) {
		t.Helper()
		for i := range 100 {
			name := fmt.Sprintf("pay%d", i)
			m, err := cl.MasterForKey(ctx, prefix+"{"+name+"}")
			if err != nil || used[m.Addr()] {
				continue
			}
			reps, err := cl.ReplicaOf(ctx, m)
			if err == nil && len(reps) > 0 {
				used[m.Addr()] = true
				return name, m, reps[0]
			}
		}
		t.Fatal("no master with a replica left")
		return "", nil, nil
	}

	t.Run("WaitFailsWhenReplicaDown", func(t *testing.T) {
		name, _, replica := nameWithReplica(t)
		l := lock.New(newClient(t), lock.Options{Prefix: prefix, Replicas: 1, ReplicaTimeout: 200 * time.Millisecond})
		defer l.Close()
		le, err := l.TryAcquire(ctx, name, 10*time.Second)
		if err != nil {
			t.Fatalf("acquire with replica up: %v", err)
		}
		if err := le.Release(ctx); err != nil {
			t.Fatal(err)
		}
		if err := replica.Pause(); err != nil {
			t.Fatal(err)
		}
		defer replica.Resume()
		_, err = l.TryAcquire(ctx, name, 10*time.Second)
		var nr *lock.NotReplicatedError
		if !errors.Is(err, lock.ErrNotReplicated) || !errors.As(err, &nr) || nr.Acked != 0 || nr.Want != 1 {
			t.Fatalf("acquire with replica paused: %v, want *NotReplicatedError 0 of 1", err)
		}
		if n := newClient(t).Exists(ctx, prefix+"{"+name+"}").Val(); n != 0 {
			t.Error("a lock that was not replicated was left behind")
		}
	})

	t.Run("WaiterFollowsFailover", func(t *testing.T) {
		// A waiter subscribed on the old master still hears the release
		// made on the new one (the server drops the sharded subscription
		// when the slot moves; the notifier subscribes again). Fallback
		// polling is a minute away, so only the message can wake it.
		name, _, replica := nameWithReplica(t)
		a := lock.New(newClient(t), lock.Options{Prefix: prefix})
		defer a.Close()
		b := lock.New(newClient(t), lock.Options{Prefix: prefix, PollEvery: time.Minute})
		defer b.Close()
		la, err := a.TryAcquire(ctx, name, 60*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		got := make(chan error, 1)
		go func() {
			le, err := b.Acquire(ctx, name, 60*time.Second)
			if err == nil {
				err = le.Release(ctx)
			}
			got <- err
		}()
		redistest.Eventually(t, 5*time.Second, "b waiting", func() bool { return b.Stats().Contended >= 2 })
		if err := cl.Failover(ctx, replica); err != nil {
			t.Fatal(err)
		}
		redistest.Eventually(t, 20*time.Second, "release on the new master", func() bool {
			return la.Release(ctx) == nil
		})
		released := time.Now()
		select {
		case err := <-got:
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("waiter took over %v after the release", time.Since(released))
		case <-time.After(30 * time.Second):
			t.Fatal("waiter not woken after the failover")
		}
	})

	t.Run("AsyncFailoverLosesLock", func(t *testing.T) {
		name, master, replica := nameWithReplica(t)
		a := lock.New(newClient(t), lock.Options{Prefix: prefix, Holder: "a"})
		defer a.Close()
		// The replica does not get the lock: it is stopped and its link
		// cut (a stopped process would still receive into its socket
		// buffer) while A takes it, and the master dies before it resumes.
		if err := replica.Pause(); err != nil {
			t.Fatal(err)
		}
		mc := master.Client()
		err := mc.Do(ctx, "CLIENT", "KILL", "TYPE", "replica").Err()
		_ = mc.Close()
		if err != nil {
			_ = replica.Resume()
			t.Fatal(err)
		}
		la, err := a.TryAcquire(ctx, name, 60*time.Second)
		if err != nil {
			_ = replica.Resume()
			t.Fatal(err)
		}
		if err := master.Kill(); err != nil {
			t.Fatal(err)
		}
		if err := replica.Resume(); err != nil {
			t.Fatal(err)
		}
		if err := redisproc.Poll(ctx, 30*time.Second, "replica promoted", func(ctx context.Context) (bool, error) {
			r, err := redisproc.Role(ctx, replica)
			return err == nil && r == "master", nil
		}); err != nil {
			t.Fatal(err)
		}
		b := lock.New(newClient(t), lock.Options{Prefix: prefix, Holder: "b"})
		defer b.Close()
		var lb *lock.Lease
		redistest.Eventually(t, 20*time.Second, "b acquires on the promoted replica", func() bool {
			lb, err = b.TryAcquire(ctx, name, 60*time.Second)
			return err == nil
		})
		t.Logf("A token %d, B token %d", la.Token(), lb.Token())
		// Two owners: A's lease is still within its validity and A cannot
		// know yet. The fence counter's increment was lost too: B drew
		// the same token, so a fenced resource rejects one of them.
		if time.Now().After(la.ValidUntil()) {
			t.Fatal("test too slow: A's lease expired before B acquired")
		}
		if lb.Token() != la.Token() {
			t.Errorf("B's token %d, A's %d: expected the lost INCR to repeat the token", lb.Token(), la.Token())
		}
		// A finds out at its next extend, once its client follows the
		// new topology: the loss is surfaced, never silent.
		redistest.Eventually(t, 20*time.Second, "A's extend reports the loss", func() bool {
			return errors.Is(la.Extend(ctx, 60*time.Second), lock.ErrLost)
		})
		select {
		case <-la.Lost():
		default:
			t.Error("A's Lost() not closed")
		}
		_ = lb.Release(ctx)
	})

	t.Run("WaitedLockSurvivesFailover", func(t *testing.T) {
		name, master, _ := nameWithReplica(t)
		a := lock.New(newClient(t), lock.Options{Prefix: prefix, Holder: "a", Replicas: 1})
		defer a.Close()
		la, err := a.TryAcquire(ctx, name, 60*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := cl.KillMaster(ctx, master); err != nil {
			t.Fatal(err)
		}
		b := lock.New(newClient(t), lock.Options{Prefix: prefix, Holder: "b"})
		defer b.Close()
		var te *lock.TakenError
		redistest.Eventually(t, 20*time.Second, "b reaches the new master", func() bool {
			_, err = b.TryAcquire(ctx, name, 60*time.Second)
			return errors.As(err, &te)
		})
		if te.Holder != "a" || te.Token != la.Token() {
			t.Errorf("after failover: %v, want held by a with token %d", te, la.Token())
		}
		// The new master has no replica left (its master died), so A's
		// extends now reach the lock but cannot be acknowledged: surfaced
		// as ErrNotReplicated, and the lease's validity is not pushed back.
		redistest.Eventually(t, 20*time.Second, "A reaches the new master", func() bool {
			return errors.Is(la.Extend(ctx, 60*time.Second), lock.ErrNotReplicated)
		})
		if err := la.Release(ctx); err != nil {
			t.Errorf("release after failover: %v", err)
		}
	})
}

// TestRedlock runs the quorum over 3 independent single nodes. It holds
// while a majority of nodes keeps its state: a node that loses its data
// (here: restarted without persistence) is outvoted, the holder keeps the
// lock and its extends succeed, nobody else gets it, and tokens stay
// increasing. Once a majority has lost its state, safety is gone: that is
// why a restarted node must stay away for at least the ttl (or persist
// with fsync) in production.
func TestRedlock(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	ctx := ctxT(t, 60*time.Second)
	var nodes []*redisproc.Server
	var clientsA, clientsB []redis.UniversalClient
	for range 3 {
		s := redistest.NewSingle(t, redisproc.ServerOptions{})
		nodes = append(nodes, s)
		for _, cs := range []*[]redis.UniversalClient{&clientsA, &clientsB} {
			c := redis.NewClient(&redis.Options{Addr: s.Addr(), MaxRetries: -1})
			t.Cleanup(func() { _ = c.Close() })
			*cs = append(*cs, c)
		}
	}
	prefix := redistest.Unique(t) + ":"
	a := lock.NewRedlock(clientsA, lock.Options{Prefix: prefix, Holder: "a"})
	defer a.Close()
	b := lock.NewRedlock(clientsB, lock.Options{Prefix: prefix, Holder: "b", PollEvery: time.Minute})
	defer b.Close()

	// Tokens follow the largest counter of the quorum and are written
	// back, so they keep increasing whichever majority answers.
	if err := clientsA[0].Set(ctx, prefix+"{t}:fence", 100, 0).Err(); err != nil {
		t.Fatal(err)
	}
	l1, err := a.TryAcquire(ctx, "t", 10*time.Second)
	if err != nil || l1.Token() != 101 {
		t.Fatalf("first token: %v, %v; want 101", l1, err)
	}
	if err := l1.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if err := clientsA[0].Set(ctx, prefix+"{t}:fence", 0, 0).Err(); err != nil { // node 0 "forgets"
		t.Fatal(err)
	}
	l2, err := a.TryAcquire(ctx, "t", 10*time.Second)
	if err != nil || l2.Token() <= 101 {
		t.Fatalf("second token: %v, %v; want > 101", l2, err)
	}
	_ = l2.Release(ctx)

	// Waiters are woken by a release on any node.
	held, err := a.TryAcquire(ctx, "w", 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan error, 1)
	go func() {
		le, err := b.Acquire(ctx, "w", 30*time.Second)
		if err == nil {
			err = le.Release(ctx)
		}
		got <- err
	}()
	redistest.Eventually(t, 5*time.Second, "b waiting", func() bool { return b.Stats().Contended >= 2 })
	if err := held.Release(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("redlock waiter not woken by release")
	}

	la, err := a.TryAcquire(ctx, "pay", 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	// One deployment loses its state: outvoted.
	if err := nodes[0].Kill(); err != nil {
		t.Fatal(err)
	}
	if err := nodes[0].Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := b.TryAcquire(ctx, "pay", 30*time.Second); !errors.Is(err, lock.ErrTaken) {
		t.Fatalf("b with one node forgotten: %v, want ErrTaken", err)
	}
	if err := la.Extend(ctx, 30*time.Second); err != nil {
		t.Fatalf("a's extend with 2 of 3: %v", err)
	}
	// One deployment down: still a quorum.
	if err := nodes[2].Pause(); err != nil {
		t.Fatal(err)
	}
	shortCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
	err = la.Extend(shortCtx, 30*time.Second)
	cancel()
	// Node 0 no longer holds it and node 2 does not answer: 1 of 3.
	if !errors.Is(err, lock.ErrNoQuorum) && !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("extend with 1 of 3 reachable: %v, want no quorum", err)
	}
	if err := nodes[2].Resume(); err != nil {
		t.Fatal(err)
	}
	if err := la.Extend(ctx, 30*time.Second); err != nil {
		t.Fatalf("a's extend after node 2 is back: %v", err)
	}
	// A majority forgets: the holder learns it lost, and the lock is free
	// again although its ttl has not run out.
	if err := nodes[1].Kill(); err != nil {
		t.Fatal(err)
	}
	if err := nodes[1].Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if err := la.Extend(ctx, 30*time.Second); !errors.Is(err, lock.ErrLost) {
		t.Fatalf("a's extend with a majority forgotten: %v, want ErrLost", err)
	}
	lb, err := b.TryAcquire(ctx, "pay", 30*time.Second)
	if err != nil {
		t.Fatalf("b after a majority forgot: %v", err)
	}
	_ = lb.Release(ctx)

	// Two nodes down: no quorum.
	_ = nodes[0].Kill()
	_ = nodes[1].Kill()
	_, err = a.TryAcquire(ctx, "q", 10*time.Second)
	var qe *lock.QuorumError
	if !errors.As(err, &qe) || qe.Got != 1 || qe.Need != 2 {
		t.Errorf("acquire with 1 of 3 up: %v, want QuorumError 1 of 2", err)
	}
}
