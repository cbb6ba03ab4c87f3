// Command rediskit runs a local Redis Cluster, reports on any deployment,
// exports Prometheus metrics and analyses memory. Each subcommand lives in
// its own file as run<Name>(ctx, args, stdout, stderr) error and has one
// line in the table below.
package main

import (
	"context"
	"io"

	"github.com/rediskit/rediskit/internal/cli"
)

// commands is every subcommand, in the order the usage lists them. Add a
// subcommand with one line here, in alphabetical order, and run
// `go test ./cmd/rediskit -run TestGolden -update` to record its usage.
var commands = cli.Set{
	Name:   "rediskit",
	Footer: "Deployments are given by the environment: REDIS_NODES, REDIS_URL, REDIS_MODE, REDIS_SENTINEL_*, REDIS_TLS*, ... (see redisconn).",
	Commands: []cli.Command{
		{Name: "analyze", Usage: "memory by key pattern over every master (SCAN only, sampled, rate-limited)", Run: runAnalyze},
		{Name: "dashboard", Usage: "serve the web dashboard (cluster, queues, locks, sessions, memory) for a deployment", Run: runDashboard},
		{Name: "down", Usage: "stop the local cluster started by `up` and remove its files", Run: runDown},
		{Name: "exporter", Usage: "serve Prometheus /metrics for every node of a deployment", Run: runExporter},
		{Name: "migrate", Usage: "copy, sync, verify or cut over one deployment to another (SOURCE_REDIS_*, TARGET_REDIS_*)", Run: runMigrate},
		{Name: "smoke", Usage: "run a short read/write workload against a deployment and print what it did", Run: runSmoke},
		{Name: "status", Usage: "show nodes, roles, slots, memory and policy warnings of a deployment", Run: runStatus},
		{Name: "up", Usage: "start a persistent local 3-master, 3-replica cluster under ./.rediskit", Run: runUp},
	},
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return commands.Run(ctx, args, stdout, stderr)
}

func main() { cli.Main("rediskit", run) }
