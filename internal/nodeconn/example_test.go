package nodeconn_test

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"
	"github.com/rediskit/rediskit/internal/nodeconn"
	"github.com/rediskit/rediskit/internal/redisproc"
)

// A connection of its own to every master, dialled with the client's
// options (here DB 5), for a RESP3 link that receives push messages.
func ExampleDial() {
	ctx := context.Background()
	s, err := redisproc.StartServer(ctx, redisproc.ServerOptions{})
	if err != nil {
		panic(err)
	}
	defer s.Close()
	client := redis.NewClient(&redis.Options{Addr: s.Addr(), DB: 5})
	defer client.Close()

	top, err := nodeconn.Discover(ctx, client)
	if err != nil {
		panic(err)
	}
	for _, n := range top.Masters {
		conn, err := nodeconn.Dial(ctx, n, nodeconn.DialOptions{Protocol: 3, Name: "example"})
		if err != nil {
			panic(err)
		}
		v, err := nodeconn.Call(conn.R, conn.W, "CLIENT", "GETNAME")
		fmt.Println(v, err)
		_ = client.Set(ctx, "k", "v", 0).Err()             // in DB 5
		v, err = nodeconn.Call(conn.R, conn.W, "GET", "k") // the same DB
		fmt.Println(v, err)
		_ = conn.Close()
	}
	// Output:
	// example <nil>
	// v <nil>
}
