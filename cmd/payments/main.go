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
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "payments:", err)
		os.Exit(1)
	}
}

type command struct {
	run   func(ctx context.Context, args []string, stdout, stderr io.Writer) error
	usage string
}

var commands = map[string]command{}

func register(name, usage string, run func(ctx context.Context, args []string, stdout, stderr io.Writer) error) {
	commands[name] = command{run: run, usage: usage}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		if len(args) == 0 {
			return errors.New("no command given")
		}
		return nil
	}
	c, ok := commands[args[0]]
	if !ok {
		usage(stderr)
		return fmt.Errorf("unknown command %q", args[0])
	}
	return c.run(ctx, args[1:], stdout, stderr)
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: payments <command> [flags]")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-8s %s\n", n, commands[n].usage)
	}
	fmt.Fprintln(w, "Configuration: REDIS_* (see redisconn), DATABASE_URL, PAYMENTS_* (see `payments serve -h`).")
}
