package migrate_test

import (
	"context"
	"fmt"
	"time"

	"github.com/rediskit/rediskit/internal/redisproc"
	"github.com/rediskit/rediskit/migrate"
)

// Copy one deployment to another, then check both directions.
func ExampleMigrator_Copy() {
	ctx := context.Background()
	a, _ := redisproc.StartServer(ctx, redisproc.ServerOptions{})
	b, _ := redisproc.StartServer(ctx, redisproc.ServerOptions{})
	defer a.Close()
	defer b.Close()
	src, dst := a.Client(), b.Client()
	defer src.Close()
	defer dst.Close()
	src.Set(ctx, "user:1", "ada", time.Hour)
	src.HSet(ctx, "cart:1", "sku-9", 2)

	sum, err := migrate.New(src, dst, migrate.Options{}).Copy(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("restored", sum.Restored)
	rep, _ := migrate.Verify(ctx, src, dst, migrate.VerifyOptions{})
	fmt.Println("clean", rep.Clean())
	srcExp, dstExp := src.PExpireTime(ctx, "user:1").Val(), dst.PExpireTime(ctx, "user:1").Val()
	fmt.Println("same absolute expiry", srcExp == dstExp)
	// Output:
	// restored 2
	// clean true
	// same absolute expiry true
}

// Configure each side from the environment with its prefix.
func ExampleLoadConfig() {
	// In a program: migrate.LoadConfig(migrate.SourcePrefix, os.LookupEnv).
	env := map[string]string{"SOURCE_REDIS_NODES": "10.0.0.1:6379", "TARGET_REDIS_NODES": "nodes"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	src, _ := migrate.LoadConfig(migrate.SourcePrefix, lookup)
	fmt.Println(src.Nodes)
	_, err := migrate.LoadConfig(migrate.TargetPrefix, lookup)
	fmt.Println(err)
	// Output:
	// [10.0.0.1:6379]
	// redisconn: TARGET_REDIS_NODES="nodes": want host:port (IPv6 as [::1]:6379)
}
