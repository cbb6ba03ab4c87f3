package memory_test

import (
	"context"
	"fmt"
	"os"

	"github.com/redis/go-redis/v9"
	"github.com/rediskit/rediskit/memory"
)

func ExampleNewBuckets() {
	ctx := context.Background()
	client := redis.NewClient(&redis.Options{Addr: os.Getenv("REDIS_ADDR")})
	defer client.Close()

	b, err := memory.NewBuckets(ctx, client, "avatar", memory.BucketOptions{Items: 1_000_000})
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := b.Set(ctx, "1042", []byte("s3://avatars/1042.png")); err != nil {
		fmt.Println(err)
		return
	}
	v, err := b.Get(ctx, "1042")
	fmt.Println(string(v), err)
}

func ExampleAnalyze() {
	ctx := context.Background()
	client := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{os.Getenv("REDIS_ADDR")}})
	defer client.Close()

	r, err := memory.Analyze(ctx, client, memory.AnalyzeOptions{
		SampleRatio:   0.05,   // inspect 5% of the keys
		KeysPerSecond: 50_000, // gentle on a busy cluster
		Replicas:      true,   // and scan the replicas, not the masters
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	_ = r.WriteTable(os.Stdout)
	for _, p := range r.Stats().Patterns {
		fmt.Println(p.Pattern, p.Keys, p.Bytes)
	}
}

func ExampleFold() {
	fmt.Println(memory.Fold("user:1042:profile"))
	fmt.Println(memory.Fold("{cart:9f8e7d6c5b4a}:items"))
	fmt.Println(memory.Fold("session:3f2504e0-4f89-11d3-9a0c-0305e82c3301"))
	// Output:
	// user:*:profile
	// {cart:*}:items
	// session:*
}
