package cache_test

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/rediskit/rediskit/cache"
)

// GetMany serves every key it can and reports the others one by one.
func ExampleKeyError() {
	client := cache.TestingClient()
	defer client.Close()
	prices, err := cache.New[float64](client, cache.Options{Namespace: "example-prices", Pipelining: cache.PipeliningOn})
	if err != nil {
		panic(err)
	}
	defer prices.Close()
	ctx := context.Background()
	_ = prices.Invalidate(ctx, "apple", "pear")
	got, err := prices.GetMany(ctx, []string{"apple", "pear"}, func(ctx context.Context, missing []string) (map[string]float64, error) {
		return map[string]float64{"apple": 1.5, "pear": math.NaN()}, nil // JSON cannot encode NaN
	})
	fmt.Println(got)
	var ke *cache.KeyError
	if errors.As(err, &ke) {
		fmt.Println("failed:", ke.Key)
	}
	// Output:
	// map[apple:1.5]
	// failed: pear
}
