package redisconn_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"

	"github.com/rediskit/rediskit/internal/redistest"
	"github.com/rediskit/rediskit/redisconn"
)

// Connect from the environment (REDIS_NODES=host:port,... and friends),
// verify the deployment, and check that its memory policy suits a queue.
func ExampleConnect() {
	// In a service the environment is set by the deployment; here it
	// points at the example server.
	os.Setenv("REDIS_NODES", redistest.ExampleAddr())
	defer os.Unsetenv("REDIS_NODES")

	ctx := context.Background()
	cfg, err := redisconn.FromEnv()
	if err != nil {
		log.Fatal(err) // e.g. `redisconn: REDIS_POOL_SIZE="ten": want an integer from 1 to 100000`
	}
	conn, err := redisconn.Connect(ctx, cfg)
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	fmt.Println(conn.Mode, len(conn.Topology.Masters()), "master")
	_, err = redisconn.CheckPolicy(ctx, conn.Client, redisconn.RoleQueue)
	if errors.Is(err, redisconn.ErrPolicy) {
		log.Print(err) // names the node and the CONFIG SET that fixes it
	}
	fmt.Println("fit for a queue:", err == nil)
	// Output:
	// single 1 master
	// fit for a queue: true
}

// Malformed configuration names the variable and never echoes secrets.
func ExampleFromLookup() {
	env := map[string]string{"REDIS_NODES": "10.0.0.1:7000", "REDIS_DIAL_TIMEOUT": "soon"}
	_, err := redisconn.FromLookup(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	fmt.Println(err)
	// Output: redisconn: REDIS_DIAL_TIMEOUT="soon": want a positive duration like 500ms or 2s (a bare number is milliseconds)
}
