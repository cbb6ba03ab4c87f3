// Package scan lists keys with SCAN on every master of a deployment, so
// no rediskit code needs KEYS (which blocks a node for O(N) and, on a
// cluster, only sees one node).
//
//	err := scan.Keys(ctx, client, "{orders}:*", scan.Options{}, func(key string) error {
//		fmt.Println(key)
//		return nil
//	})
//
// On a cluster every master is scanned in turn, unless the pattern starts
// with a literal hash tag ("{orders}:*"): then only the master that owns
// that slot is scanned. Replicas are never scanned (they hold copies).
// SCAN may report a key more than once; Collect removes duplicates.
package scan

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"
)

// Options tune a scan. The zero value scans all types with COUNT 1000.
type Options struct {
	// Count is the COUNT hint per SCAN call. Zero means 1000.
	Count int64
	// Type restricts keys to one Redis type ("string", "hash", "zset",
	// ...) with SCAN's TYPE option. Empty means every type.
	Type string
}

// Keys calls fn for every key matching pattern (SCAN MATCH syntax) on
// every master of c, one master after the other; fn is never called
// concurrently. It stops at the first error of fn or of a SCAN call and
// returns it wrapped; on cancellation it returns ctx's error wrapped.
func Keys(ctx context.Context, c redis.UniversalClient, pattern string, opts Options, fn func(key string) error) error {
	if opts.Count <= 0 {
		opts.Count = 1000
	}
	nodes, err := masters(ctx, c, pattern)
	if err != nil {
		return err
	}
	for _, n := range nodes {
		var cursor uint64
		for {
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("scan: %w", err)
			}
			var cmd *redis.ScanCmd
			if opts.Type != "" {
				cmd = n.ScanType(ctx, cursor, pattern, opts.Count, opts.Type)
			} else {
				cmd = n.Scan(ctx, cursor, pattern, opts.Count)
			}
			keys, next, err := cmd.Result()
			if err != nil {
				return fmt.Errorf("scan: %w", err)
			}
			for _, k := range keys {
				if err := fn(k); err != nil {
					return fmt.Errorf("scan: %w", err)
				}
			}
			if next == 0 {
				break
			}
			cursor = next
		}
	}
	return nil
}

// Collect returns the distinct keys matching pattern. limit bounds the
// result (zero means no bound): the scan stops once limit keys are found,
// and truncated reports whether it stopped early.
func Collect(ctx context.Context, c redis.UniversalClient, pattern string, opts Options, limit int) (keys []string, truncated bool, err error) {
	seen := map[string]bool{}
	errEnough := errors.New("scan: enough keys")
	err = Keys(ctx, c, pattern, opts, func(k string) error {
		if seen[k] {
			return nil
		}
		if limit > 0 && len(keys) == limit {
			truncated = true
			return errEnough
		}
		seen[k] = true
		keys = append(keys, k)
		return nil
	})
	if truncated {
		err = nil
	}
	return keys, truncated, err
}

// scanner is what Keys needs of a node client.
type scanner interface {
	Scan(ctx context.Context, cursor uint64, match string, count int64) *redis.ScanCmd
	ScanType(ctx context.Context, cursor uint64, match string, count int64, keyType string) *redis.ScanCmd
}

// masters returns the node clients to scan for pattern.
func masters(ctx context.Context, c redis.UniversalClient, pattern string) ([]scanner, error) {
	switch c := c.(type) {
	case *redis.ClusterClient:
		if tag, ok := literalTag(pattern); ok {
			n, err := c.MasterForKey(ctx, "{"+tag+"}")
			if err != nil {
				return nil, fmt.Errorf("scan: master for {%s}: %w", tag, err)
			}
			return []scanner{n}, nil
		}
		var mu sync.Mutex
		var out []scanner
		err := c.ForEachMaster(ctx, func(_ context.Context, n *redis.Client) error {
			mu.Lock()
			out = append(out, n)
			mu.Unlock()
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("scan: masters: %w", err)
		}
		return out, nil
	case *redis.Ring:
		var mu sync.Mutex
		var out []scanner
		err := c.ForEachShard(ctx, func(_ context.Context, n *redis.Client) error {
			mu.Lock()
			out = append(out, n)
			mu.Unlock()
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("scan: shards: %w", err)
		}
		return out, nil
	default:
		return []scanner{c}, nil
	}
}

// literalTag returns the hash tag of pattern when the pattern starts
// with "{tag}" and the tag has no glob or escape characters, so every
// matching key is in the tag's slot.
func literalTag(pattern string) (string, bool) {
	if !strings.HasPrefix(pattern, "{") {
		return "", false
	}
	end := strings.IndexByte(pattern, '}')
	if end <= 1 {
		return "", false
	}
	tag := pattern[1:end]
	if strings.ContainsAny(tag, `*?[]\{`) {
		return "", false
	}
	return tag, true
}
