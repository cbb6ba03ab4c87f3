package lock

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/rediskit/rediskit/internal/redisproc"
	"github.com/rediskit/rediskit/internal/redistest"
	"github.com/rediskit/rediskit/internal/slot"
)

// A subscription that hangs (its master is paused mid-failover, say) must
// not hold up the wake-ups of locks on other masters: the notifier does
// no network I/O under the lock every incoming message needs.
func TestNotifierSlowSubscribe(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	cl := redistest.NewCluster(t, redisproc.ClusterOptions{Replicas: -1})
	client := cl.Client()
	t.Cleanup(func() { _ = client.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	prefix := redistest.Unique(t) + ":"
	// Two locks whose channels live on different masters.
	var chA, chB string
	var masterA *redisproc.Server
	for i := 0; chB == ""; i++ {
		if i > 200 {
			t.Fatal("no two names on different masters")
		}
		k, _ := keysFor(prefix, fmt.Sprintf("n%d", i), TaggedKeys)
		m, err := cl.MasterForKey(ctx, k.channel)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case chA == "":
			chA, masterA = k.channel, m
		case m != masterA:
			chB = k.channel
		}
	}
	l := New(client, Options{Prefix: prefix})
	n := l.nodes[0].notifier

	cb := make(chan struct{}, 1)
	wb, activeB := n.watch(chB, cb, "b")
	select {
	case <-activeB:
	case <-time.After(10 * time.Second):
		t.Fatal("subscription on B not confirmed")
	}
	// Warm the client up (go-redis loads COMMAND from a random node on the
	// first SPUBLISH), so the publish below does not wait for A.
	if err := client.SPublish(ctx, chB, "nobody").Err(); err != nil {
		t.Fatal(err)
	}
	if err := masterA.Pause(); err != nil {
		t.Fatal(err)
	}
	resumed := false
	resume := func() {
		if !resumed {
			resumed = true
			_ = masterA.Resume()
		}
	}
	defer resume()
	ca := make(chan struct{}, 1)
	was := make(chan *waiter, 1)
	go func() {
		w, _ := n.watch(chA, ca, "a")
		was <- w
	}()
	// The subscription for A is on its way (registered, or its SSUBSCRIBE
	// holding the notifier's lock).
	redistest.Eventually(t, 5*time.Second, "subscribing on A", func() bool {
		if !n.mu.TryLock() {
			return true
		}
		defer n.mu.Unlock()
		return n.subs[slot.Of(chA)] != nil
	})
	start := time.Now()
	if err := client.SPublish(ctx, chB, "1").Err(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-cb:
	case <-time.After(10 * time.Second):
		t.Fatal("no wake-up on B")
	}
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Errorf("wake-up on B took %v while a subscribe to a paused master was in flight", d)
	}
	resume()
	wa := <-was
	wa.done(false)
	wb.done(false)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}

// A subscription whose connection is lost wakes its waiters (a release
// may have been missed), is counted in Stats.NotifyErrors, and is made
// again by its retry loop: the next release wakes the waiter.
func TestNotifierReconnect(t *testing.T) {
	srv := redistest.NewSingle(t, redisproc.ServerOptions{})
	client := srv.Client()
	t.Cleanup(func() { _ = client.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	l := New(client, Options{Prefix: redistest.Unique(t) + ":", Logger: slog.New(slog.DiscardHandler)})
	n := l.nodes[0].notifier
	k, _ := keysFor(l.opts.Prefix, "r", TaggedKeys)
	c := make(chan struct{}, 1)
	w, active := n.watch(k.channel, c, "me")
	select {
	case <-active:
	case <-time.After(10 * time.Second):
		t.Fatal("subscription not confirmed")
	}
	if err := client.ClientKillByFilter(ctx, "TYPE", "pubsub").Err(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-c:
	case <-time.After(10 * time.Second):
		t.Fatal("waiter not woken after its subscription's connection was lost")
	}
	redistest.Eventually(t, 10*time.Second, "the error counted", func() bool { return l.Stats().NotifyErrors >= 1 })
	redistest.Eventually(t, 10*time.Second, "subscribed again", func() bool {
		got, err := client.SPublish(ctx, k.channel, "nobody").Result()
		return err == nil && got == 1
	})
	if err := client.SPublish(ctx, k.channel, "1").Err(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-c:
	case <-time.After(5 * time.Second):
		t.Fatal("no wake-up after the subscription was made again")
	}
	w.done(false)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}
