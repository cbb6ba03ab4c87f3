package redisconn_test

import (
	"fmt"

	"github.com/rediskit/rediskit/redisconn"
)

// A node list pasted from an ioredis configuration may carry credentials
// in URLs; errors and String never show them.
func ExampleFromLookup_nodeURLs() {
	env := map[string]string{"REDIS_NODES": "redis://app:s3cret@10.0.0.1:7000,redis://app:s3cret@10.0.0.2:7000"}
	cfg, err := redisconn.FromLookup(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	fmt.Println(cfg.Nodes, cfg.Username, cfg.Password == "s3cret", err)
	fmt.Println(cfg)

	env["REDIS_NODES"] = "redis://app:s3cret@10.0.0.1:70000"
	_, err = redisconn.FromLookup(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	fmt.Println(err)
	// Output:
	// [10.0.0.1:7000 10.0.0.2:7000] app true <nil>
	// redisconn.Config{Mode:auto Nodes:[10.0.0.1:7000 10.0.0.2:7000] SentinelAddrs:[] SentinelMaster:"" Username:"app" Password:[redacted] SentinelPassword: DB:0 TLS:false TLSServerName:"" TLSInsecure:false}
	// redisconn: REDIS_NODES="[redacted]@10.0.0.1:70000": want a port from 1 to 65535
}
