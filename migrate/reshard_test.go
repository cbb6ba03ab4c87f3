package migrate

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rediskit/rediskit/internal/redisproc"
	"github.com/rediskit/rediskit/internal/slot"
)

// moveSlot migrates slot s with its keys from one source master to
// another, the way redis-cli --cluster reshard does. pause, if set, runs
// once the slot is marked and before any key moves.
func moveSlot(t *testing.T, cl *redisproc.Cluster, s int, pause func()) {
	t.Helper()
	ctx := context.Background()
	masters, err := cl.Masters(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var from, to *redis.Client
	for _, ms := range masters {
		c := ms.Client()
		t.Cleanup(func() { c.Close() })
		n, err := c.ClusterCountKeysInSlot(ctx, s).Result()
		if err != nil {
			t.Fatal(err)
		}
		if owner, _ := c.ClusterGetKeysInSlot(ctx, s, 1).Result(); n > 0 || len(owner) > 0 {
			from = c
		} else if to == nil {
			to = c
		}
	}
	if from == nil || to == nil {
		t.Fatalf("slot %d: no owner with keys or no other master", s)
	}
	id := func(c *redis.Client) string { return c.Do(ctx, "CLUSTER", "MYID").Val().(string) }
	fromID, toID := id(from), id(to)
	do := func(c *redis.Client, args ...any) {
		t.Helper()
		if err := c.Do(ctx, args...).Err(); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
	}
	do(to, "CLUSTER", "SETSLOT", s, "IMPORTING", fromID)
	do(from, "CLUSTER", "SETSLOT", s, "MIGRATING", toID)
	if pause != nil {
		pause()
	}
	host, port, _ := strings.Cut(to.Options().Addr, ":")
	for {
		keys, err := from.ClusterGetKeysInSlot(ctx, s, 100).Result()
		if err != nil {
			t.Fatal(err)
		}
		if len(keys) == 0 {
			break
		}
		args := []any{"MIGRATE", host, port, "", 0, 5000, "KEYS"}
		for _, k := range keys {
			args = append(args, k)
		}
		do(from, args...)
	}
	for _, ms := range masters {
		c := ms.Client()
		t.Cleanup(func() { c.Close() })
		do(c, "CLUSTER", "SETSLOT", s, "NODE", toID)
	}
}

// TestSyncStopsOnSourceReshard moves a slot (with its keys) between two
// source masters while sync runs: sync stops with ErrTopology naming the
// reshard as soon as the slot is marked, and a sync run again once the
// reshard is over ends with 0 differences.
func TestSyncStopsOnSourceReshard(t *testing.T) {
	srcCl, src := newCluster(t, 3, -1)
	_, dst := newSingle(t)
	seed(t, src, "k", 3000)
	s := slot.Of("k:1")
	m := New(src, dst, Options{Heartbeat: 100 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- m.Sync(ctx) }()
	waitCaughtUp(t, m, done)
	var err error
	moveSlot(t, srcCl, s, func() {
		select {
		case err = <-done:
		case <-time.After(30 * time.Second):
			t.Fatal("sync still running 30 s after a slot was marked MIGRATING")
		}
	})
	if !errors.Is(err, ErrTopology) || !strings.Contains(err.Error(), "reshard") {
		t.Fatalf("sync ended with %v, want ErrTopology naming the reshard", err)
	}
	t.Log(err)
	// Keys of the moved slot change after the move.
	wctx := context.Background()
	if err := src.Set(wctx, "k:1", "moved", 0).Err(); err != nil {
		t.Fatal(err)
	}
	runSync(t, src, dst, func(*Migrator) { mustVerify(t, src, dst) })
}

// TestCopyRefusesMidReshard: a copy started while a source slot is
// being migrated refuses with ErrTopology naming the mark; once the move
// is over, a copy verifies clean.
func TestCopyRefusesMidReshard(t *testing.T) {
	srcCl, src := newCluster(t, 3, -1)
	_, dst := newSingle(t)
	seed(t, src, "k", 200)
	ctx := context.Background()
	moveSlot(t, srcCl, slot.Of("k:1"), func() {
		_, err := New(src, dst, Options{}).Copy(ctx)
		if !errors.Is(err, ErrTopology) || !strings.Contains(err.Error(), "slot mark [") {
			t.Fatalf("copy ended with %v, want ErrTopology naming the slot mark", err)
		}
		t.Log(err)
	})
	if _, err := New(src, dst, Options{}).Copy(ctx); err != nil {
		t.Fatal(err)
	}
	mustVerify(t, src, dst)
}
