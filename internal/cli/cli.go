// Package cli is the small frame shared by rediskit's commands: a set of
// subcommands, each run<Name>(ctx, args, stdout, stderr) error in its own
// file, and a main that cancels the context on SIGINT/SIGTERM and turns
// an error into exit status 1.
package cli

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

// Func is one subcommand.
type Func func(ctx context.Context, args []string, stdout, stderr io.Writer) error

type command struct {
	run   Func
	usage string
}

// Set is a command's subcommands. Register them from init functions;
// Run is safe for concurrent use once registration is over.
type Set struct {
	// Name is the program name in usage and error lines.
	Name string
	// Footer is printed after the list of subcommands.
	Footer string
	cmds   map[string]command
}

// Register adds a subcommand.
func (s *Set) Register(name, usage string, run Func) {
	if s.cmds == nil {
		s.cmds = map[string]command{}
	}
	s.cmds[name] = command{run: run, usage: usage}
}

// Run dispatches args[0] to its subcommand. No arguments is an error
// (after the usage); -h, --help and help print the usage.
func (s *Set) Run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		s.usage(stderr)
		if len(args) == 0 {
			return errors.New("no command given")
		}
		return nil
	}
	c, ok := s.cmds[args[0]]
	if !ok {
		s.usage(stderr)
		return fmt.Errorf("unknown command %q", args[0])
	}
	return c.run(ctx, args[1:], stdout, stderr)
}

func (s *Set) usage(w io.Writer) {
	fmt.Fprintf(w, "usage: %s <command> [flags]\n", s.Name)
	names := make([]string, 0, len(s.cmds))
	for n := range s.cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, s.cmds[n].usage)
	}
	if s.Footer != "" {
		fmt.Fprintln(w, s.Footer)
	}
}

// Main runs run with the process arguments and a context cancelled by
// SIGINT or SIGTERM, and exits 1 after printing "<name>: <error>".
func Main(name string, run Func) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, name+":", err)
		os.Exit(1)
	}
}
