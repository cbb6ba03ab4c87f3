// Command payments is the rediskit reference payments service and its load
// generator. Each subcommand lives in its own file as
// run<Name>(ctx, args, stdout, stderr) error:
//
//	payments serve     the HTTP service (configuration from the environment)
//	payments loadgen   a realistic load against one or more instances, with a report
//	payments migrate   apply the schema migrations and seed the demo data
package main

import (
	"context"
	"io"

	"github.com/rediskit/rediskit/internal/cli"
)

var commands = cli.Set{
	Name:   "payments",
	Footer: "Configuration: REDIS_* (see redisconn), DATABASE_URL, PAYMENTS_* (see `payments serve -h`).",
}

func register(name, usage string, run cli.Func) { commands.Register(name, usage, run) }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return commands.Run(ctx, args, stdout, stderr)
}

func main() { cli.Main("payments", run) }
