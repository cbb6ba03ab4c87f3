package memory

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/rediskit/rediskit/internal/redistest"
)

func TestBuckets(t *testing.T) {
	redistest.ForEach(t, func(t *testing.T, tg redistest.Target) {
		ctx := context.Background()
		c := tg.Client(t)
		ns := redistest.Unique(t)
		b, err := NewBuckets(ctx, c, ns, BucketOptions{Items: 2000})
		if err != nil {
			t.Fatal(err)
		}
		maxFields, maxValue := b.Limits()
		cfg := c.ConfigGet(ctx, "hash-max-listpack-*").Val()
		if fmt.Sprint(maxFields) != cfg["hash-max-listpack-entries"] || fmt.Sprint(maxValue) != cfg["hash-max-listpack-value"] {
			t.Fatalf("limits = %d, %d; server says %v", maxFields, maxValue, cfg)
		}
		if want := int(math.Ceil(2000 / (0.75 * float64(maxFields)))); b.Count() != want {
			t.Fatalf("Count() = %d, want %d", b.Count(), want)
		}

		if _, err := b.Get(ctx, "nope"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Get(missing) err = %v, want ErrNotFound", err)
		}
		if err := b.Set(ctx, "u1", []byte("alice")); err != nil {
			t.Fatal(err)
		}
		if v, err := b.Get(ctx, "u1"); err != nil || string(v) != "alice" {
			t.Fatalf("Get(u1) = %q, %v", v, err)
		}
		items := map[string][]byte{}
		for i := range 1500 {
			items[fmt.Sprintf("id%d", i)] = fmt.Appendf(nil, "value-%d", i)
		}
		if err := b.SetMany(ctx, items); err != nil {
			t.Fatal(err)
		}
		got, err := b.GetMany(ctx, "id0", "id777", "id1499", "missing", "u1")
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{"id0": "value-0", "id777": "value-777", "id1499": "value-1499", "u1": "alice"}
		if len(got) != len(want) {
			t.Fatalf("GetMany = %d values, want %d: %q", len(got), len(want), got)
		}
		for k, v := range want {
			if string(got[k]) != v {
				t.Errorf("GetMany[%s] = %q, want %q", k, got[k], v)
			}
		}
		n, err := b.Delete(ctx, "id0", "id1", "missing")
		if err != nil || n != 2 {
			t.Fatalf("Delete = %d, %v; want 2", n, err)
		}
		if _, err := b.Get(ctx, "id0"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Get(deleted) err = %v", err)
		}

		// Every bucket stays listpack-encoded and under the field limit.
		for i := range b.Count() {
			k := bucketKey(ns, i)
			enc, err := c.ObjectEncoding(ctx, k).Result()
			if err != nil {
				t.Fatalf("bucket %s: %v", k, err)
			}
			if enc != "listpack" {
				t.Errorf("bucket %s encoding %s, want listpack", k, enc)
			}
			if l := c.HLen(ctx, k).Val(); l > int64(maxFields) {
				t.Errorf("bucket %s has %d fields > %d", k, l, maxFields)
			}
		}

		// Too long ids and values are refused.
		var tl *TooLongError
		if err := b.Set(ctx, "big", []byte(strings.Repeat("x", 65))); !errors.As(err, &tl) || tl.What != "value" || !errors.Is(err, ErrTooLong) {
			t.Fatalf("Set(65-byte value) err = %v, want *TooLongError value", err)
		}
		if err := b.Set(ctx, strings.Repeat("i", 65), nil); !errors.As(err, &tl) || tl.What != "id" {
			t.Fatalf("Set(65-byte id) err = %v, want *TooLongError id", err)
		}

		// A second process with another layout is refused.
		if _, err := NewBuckets(ctx, c, ns, BucketOptions{Items: 100_000}); !errors.Is(err, ErrLayout) {
			t.Fatalf("NewBuckets(other layout) err = %v, want ErrLayout", err)
		}
		if _, err := NewBuckets(ctx, c, ns, BucketOptions{Buckets: b.Count()}); err != nil {
			t.Fatalf("NewBuckets(same layout): %v", err)
		}
		if _, err := NewBuckets(ctx, c, "a{b}", BucketOptions{}); !errors.Is(err, ErrNamespace) {
			t.Fatalf("NewBuckets(a{b}) err = %v, want ErrNamespace", err)
		}
	})
}

func TestBucketsFull(t *testing.T) {
	redistest.ForEach(t, func(t *testing.T, tg redistest.Target) {
		ctx := context.Background()
		c := tg.Client(t)
		ns := redistest.Unique(t)
		b, err := NewBuckets(ctx, c, ns, BucketOptions{Buckets: 1, MaxFields: 10})
		if err != nil {
			t.Fatal(err)
		}
		items := map[string][]byte{}
		for i := range 10 {
			items[fmt.Sprint(i)] = []byte("v")
		}
		if err := b.SetMany(ctx, items); err != nil {
			t.Fatal(err)
		}
		// Overwriting an existing field is fine when full.
		if err := b.Set(ctx, "3", []byte("w")); err != nil {
			t.Fatalf("overwrite in a full bucket: %v", err)
		}
		var fe *FullError
		err = b.SetMany(ctx, map[string][]byte{"4": []byte("x"), "new": []byte("y")})
		if !errors.As(err, &fe) || !errors.Is(err, ErrBucketFull) || fe.Fields != 10 || fe.Limit != 10 {
			t.Fatalf("SetMany past the limit err = %v, want *FullError 10/10", err)
		}
		// All or nothing: "4" was not overwritten.
		if v, _ := b.Get(ctx, "4"); string(v) != "v" {
			t.Fatalf("refused write changed 4 to %q", v)
		}
	})
}
