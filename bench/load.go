package main

import (
	"cmp"
	"context"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Throughput runs op from n goroutines for d and returns operations per
// second. Errors are counted and returned as the first error seen.
func Throughput(ctx context.Context, n int, d time.Duration, op func(ctx context.Context, g int) error) (float64, error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var ops atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	for g := range n {
		wg.Go(func() {
			for ctx.Err() == nil {
				if err := op(ctx, g); err != nil {
					if ctx.Err() != nil {
						return
					}
					firstErr.CompareAndSwap(nil, err)
					return
				}
				ops.Add(1)
			}
		})
	}
	wg.Wait()
	el := time.Since(start).Seconds()
	if e, ok := firstErr.Load().(error); ok {
		return float64(ops.Load()) / el, e
	}
	return float64(ops.Load()) / el, nil
}

// Percentile returns the p-th percentile (0..100) of ds.
func Percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(float64(len(s)-1) * p / 100)
	return s[i]
}

// median returns the middle value of v (the upper middle for an even
// count), or zero for none: the figure every area reports over its
// alternating rounds.
func median[T cmp.Ordered](v []T) T {
	var zero T
	if len(v) == 0 {
		return zero
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}
