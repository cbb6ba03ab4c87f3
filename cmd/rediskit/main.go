// Command rediskit runs a local Redis Cluster, reports on any deployment,
// exports Prometheus metrics and analyses memory. Each subcommand lives in
// its own file as run<Name>(ctx, args, stdout, stderr) error.
package main

import (
	"context"
	"io"

	"github.com/rediskit/rediskit/internal/cli"
)

var commands = cli.Set{
	Name:   "rediskit",
	Footer: "Deployments are given by the environment: REDIS_NODES, REDIS_URL, REDIS_MODE, REDIS_SENTINEL_*, REDIS_TLS*, ... (see redisconn).",
}

// register is called by each subcommand file's init.
func register(name, usage string, run cli.Func) { commands.Register(name, usage, run) }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return commands.Run(ctx, args, stdout, stderr)
}

func main() { cli.Main("rediskit", run) }
