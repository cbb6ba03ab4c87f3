package memory_test

import (
	"context"
	"fmt"

	"github.com/rediskit/rediskit/internal/redistest"
	"github.com/rediskit/rediskit/memory"
)

func ExampleNewBuckets() {
	ctx := context.Background()
	client := redistest.ExampleClient() // in a service: conn.Client from redisconn.Connect
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
	// Output: s3://avatars/1042.png <nil>
}

func ExampleAnalyze() {
	ctx := context.Background()
	client := redistest.ExampleClient() // a cluster client scans every master
	defer client.Close()
	for i := range 30 {
		client.Set(ctx, fmt.Sprintf("example:user:%d", i), "Ada", 0)
	}
	client.HSet(ctx, "example:cart:9f8e7d6c", "sku-1", 2)

	r, err := memory.Analyze(ctx, client, memory.AnalyzeOptions{
		Match:         "example:*", // default every key
		SampleRatio:   1,           // inspect every key; 0.05 inspects 5%
		KeysPerSecond: 50_000,      // gentle on a busy cluster
		Replicas:      false,       // true scans the replicas, sparing the masters
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	// r.WriteTable(os.Stdout) prints sizes, what-ifs and nodes.
	for _, p := range r.Stats().Patterns {
		fmt.Println(p.Pattern, p.Keys, p.Bytes > 0)
	}
	// Output:
	// example:user:* 30 true
	// example:cart:* 1 true
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
