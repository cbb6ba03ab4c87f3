package cache_test

import (
	"context"
	"fmt"
	"time"

	"github.com/rediskit/rediskit/cache"
	"github.com/rediskit/rediskit/internal/redistest"
)

type User struct {
	ID   int    `json:"id"`
	Name string `json:"name"`
}

func Example() {
	client := redistest.ExampleClient() // in a service: conn.Client from redisconn.Connect
	defer client.Close()
	users, err := cache.New[User](client, cache.Options{Namespace: "example-users", TTL: time.Minute, NearEntries: 1000})
	if err != nil {
		panic(err)
	}
	defer users.Close()
	ctx := context.Background()
	_ = users.Invalidate(ctx, "42")

	load := func(ctx context.Context) (User, error) { return User{ID: 42, Name: "Ada"}, nil }
	u, err := users.Get(ctx, "42", load)
	fmt.Println(u.Name, err)

	u, err = users.Write(ctx, "42", func(ctx context.Context) (User, error) {
		// UPDATE users SET name = 'Grace' WHERE id = 42 (committed here)
		return User{ID: 42, Name: "Grace"}, nil
	})
	fmt.Println(u.Name, err)

	u, err = users.Get(ctx, "42", load) // served from the cache, not loaded
	fmt.Println(u.Name, err)
	// Output:
	// Ada <nil>
	// Grace <nil>
	// Grace <nil>
}

func ExampleCache_GetMany() {
	client := redistest.ExampleClient()
	defer client.Close()
	users, err := cache.New[User](client, cache.Options{Namespace: "example-many"})
	if err != nil {
		panic(err)
	}
	defer users.Close()
	ctx := context.Background()
	_ = users.Invalidate(ctx, "1", "2", "3")
	got, err := users.GetMany(ctx, []string{"1", "2", "3"}, func(ctx context.Context, missing []string) (map[string]User, error) {
		// SELECT ... WHERE id = ANY($1): one query for every missing key;
		// keys left out of the map do not exist (cached as not found).
		return map[string]User{"1": {ID: 1, Name: "Ada"}, "3": {ID: 3, Name: "Grace"}}, nil
	})
	fmt.Println(len(got), got["1"].Name, got["3"].Name, err)
	// Output: 2 Ada Grace <nil>
}

func ExampleCache_InvalidateTags() {
	client := redistest.ExampleClient()
	defer client.Close()
	products, err := cache.New[User](client, cache.Options{Namespace: "example-tags"})
	if err != nil {
		panic(err)
	}
	defer products.Close()
	products.Tagged(func(key string, u User) []string { return []string{fmt.Sprint("team:", u.ID%2)} })
	ctx := context.Background()
	for i := range 4 {
		_, _ = products.Get(ctx, fmt.Sprint(i), func(ctx context.Context) (User, error) { return User{ID: i}, nil })
	}
	n, err := products.InvalidateTags(ctx, "team:1")
	fmt.Println(n, err)
	// Output: 2 <nil>
}
