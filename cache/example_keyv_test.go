package cache_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/rediskit/rediskit/cache"
	"github.com/rediskit/rediskit/internal/redistest"
)

// A cache shared with a NestJS service whose CacheModule stores through
// new Keyv({store: new KeyvRedis(client), namespace: 'products'}): the
// same keys, the same {"value","expires"} entries, and a Nest write drops
// the Go near copy.
func ExampleFormatKeyv() {
	client := redistest.ExampleClient()
	defer client.Close()
	type Product struct {
		ID   int    `json:"id"`
		Name string `json:"name"`
	}
	products, err := cache.New[Product](client, cache.Options{
		Namespace:   "products", // the Keyv namespace
		Format:      cache.FormatKeyv,
		TTL:         time.Minute,
		Jitter:      -1,
		NearEntries: 1000,
	})
	if err != nil {
		panic(err)
	}
	defer products.Close()
	ctx := context.Background()

	// Go writes through; Nest's cache.get('product:42') reads it at once.
	_, err = products.Write(ctx, "product:42", func(ctx context.Context) (Product, error) {
		return Product{ID: 42, Name: ":colon"}, nil // UPDATE products ... (committed)
	})
	fmt.Println(err)
	raw, _ := client.Get(ctx, "products::products:product:42").Result()
	fmt.Println(raw[:strings.Index(raw, `,"expires"`)])

	// An entry Go cannot read (here a Node Buffer) is named, not guessed.
	_ = client.Set(ctx, "products::products:logo", `{"value":":base64:iVBORw0K"}`, time.Minute).Err()
	_, err = products.Peek(ctx, "logo")
	fmt.Println(errors.Is(err, cache.ErrUnreadable), strings.Contains(err.Error(), "Node Buffer"))
	// Output:
	// <nil>
	// {"value":{"id":42,"name":"::colon"}
	// true true
}
