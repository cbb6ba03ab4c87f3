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

// commands is every subcommand, in the order the usage lists them.
var commands = cli.Set{
	Name:   "payments",
	Footer: "Configuration: REDIS_* (see redisconn), DATABASE_URL, PAYMENTS_* (see `payments serve -h`).",
	Commands: []cli.Command{
		{Name: "loadgen", Usage: "drive a realistic load against instances and print a report", Run: runLoadgen},
		{Name: "migrate", Usage: "apply the schema migrations to DATABASE_URL (and -seed the demo data)", Run: runMigrate},
		{Name: "serve", Usage: "run the payments HTTP service (configured by the environment)", Run: runServe},
	},
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return commands.Run(ctx, args, stdout, stderr)
}

func main() { cli.Main("payments", run) }
