package scan_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/rediskit/rediskit/internal/redistest"
	"github.com/rediskit/rediskit/internal/scan"
)

func TestMain(m *testing.M) { redistest.Main(m) }

func TestKeysFindsEveryKeyOnEveryMaster(t *testing.T) {
	redistest.ForEach(t, func(t *testing.T, tg redistest.Target) {
		ctx := context.Background()
		c := tg.Client(t)
		u := redistest.Unique(t)
		var want []string
		// No hash tag: the keys spread over all masters of a cluster.
		for i := range 300 {
			k := fmt.Sprintf("%s:k%d", u, i)
			want = append(want, k)
			if err := c.Set(ctx, k, i, time.Minute).Err(); err != nil {
				t.Fatal(err)
			}
		}
		if err := c.HSet(ctx, u+":hash", "f", "v").Err(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Expire(ctx, u+":hash", time.Second) })
		got, truncated, err := scan.Collect(ctx, c, u+":k*", scan.Options{Count: 50}, 0)
		if err != nil || truncated {
			t.Fatalf("Collect: %v (truncated %v)", err, truncated)
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Fatalf("Collect found %d keys, want %d", len(got), len(want))
		}
		hashes, _, err := scan.Collect(ctx, c, u+":*", scan.Options{Type: "hash"}, 0)
		if err != nil || !slices.Equal(hashes, []string{u + ":hash"}) {
			t.Fatalf("Type hash: %v, %v", hashes, err)
		}
		some, truncated, err := scan.Collect(ctx, c, u+":k*", scan.Options{Count: 10}, 25)
		if err != nil || !truncated || len(some) != 25 {
			t.Fatalf("max 25: %d keys, truncated %v, err %v", len(some), truncated, err)
		}
	})
}

func TestKeysHashTagScansOneMaster(t *testing.T) {
	redistest.ForEach(t, func(t *testing.T, tg redistest.Target) {
		ctx := context.Background()
		c := tg.Client(t)
		tag := "{" + redistest.Unique(t) + "}"
		for i := range 20 {
			if err := c.Set(ctx, fmt.Sprintf("%s:%d", tag, i), i, time.Minute).Err(); err != nil {
				t.Fatal(err)
			}
		}
		got, _, err := scan.Collect(ctx, c, tag+":*", scan.Options{}, 0)
		if err != nil || len(got) != 20 {
			t.Fatalf("tagged scan: %d keys, %v; want 20", len(got), err)
		}
	})
}

func TestKeysStopsOnErrorAndCancel(t *testing.T) {
	ctx := context.Background()
	c := redistest.ClusterTarget(t).Client(t)
	u := redistest.Unique(t)
	for i := range 50 {
		if err := c.Set(ctx, fmt.Sprintf("%s:%d", u, i), i, time.Minute).Err(); err != nil {
			t.Fatal(err)
		}
	}
	stop := errors.New("stop")
	calls := 0
	err := scan.Keys(ctx, c, u+":*", scan.Options{}, func(string) error { calls++; return stop })
	if !errors.Is(err, stop) || calls != 1 {
		t.Fatalf("err = %v after %d calls, want stop after 1", err, calls)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := scan.Keys(cctx, c, u+":*", scan.Options{}, func(string) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: err = %v", err)
	}
}

func ExampleKeys() {
	ctx := context.Background()
	c := redistest.ExampleClient() // or a cluster client
	defer c.Close()
	for _, k := range []string{"{orders}:1", "{orders}:2", "{orders}:3", "{carts}:1"} {
		c.Set(ctx, k, "x", time.Minute)
	}
	// On a cluster only the master owning the slot of {orders} is scanned.
	_ = scan.Keys(ctx, c, "{orders}:*", scan.Options{}, func(key string) error {
		fmt.Println(key)
		return nil
	})
	// Unordered output:
	// {orders}:1
	// {orders}:2
	// {orders}:3
}
