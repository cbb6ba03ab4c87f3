// Package cli is the small frame shared by rediskit's commands: an
// explicit table of subcommands, each run<Name>(ctx, args, stdout,
// stderr) error in its own file, and a main that cancels the context on
// SIGINT/SIGTERM and turns an error into exit status 1.
//
// A command's main.go holds its whole table, so adding a subcommand is one
// line there (and one file for its run function):
//
//	var commands = cli.Set{Name: "rediskit", Commands: []cli.Command{
//		{Name: "status", Usage: "show the deployment", Run: runStatus},
//	}}
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Func is one subcommand.
type Func func(ctx context.Context, args []string, stdout, stderr io.Writer) error

// Command is one row of a Set's table.
type Command struct {
	// Name is the word that selects the subcommand.
	Name string
	// Usage is the one line printed beside Name in the command's usage.
	Usage string
	// Run runs the subcommand with the arguments after Name.
	Run Func
}

// Set is a command's subcommands. It is plain data, built once (usually a
// package-level var); Run is safe for concurrent use as long as nobody
// changes the Set.
type Set struct {
	// Name is the program name in usage and error lines.
	Name string
	// Footer is printed after the list of subcommands.
	Footer string
	// Commands are listed in the usage in this order.
	Commands []Command
}

// Lookup returns the subcommand called name.
func (s *Set) Lookup(name string) (Command, bool) {
	for _, c := range s.Commands {
		if c.Name == name {
			return c, true
		}
	}
	return Command{}, false
}

// Validate reports an empty or duplicate name, or a missing Run: call it
// from a test so that a bad table never ships.
func (s *Set) Validate() error {
	seen := map[string]bool{}
	for i, c := range s.Commands {
		switch {
		case c.Name == "":
			return fmt.Errorf("%s: command %d has no name", s.Name, i)
		case seen[c.Name]:
			return fmt.Errorf("%s: command %q listed twice", s.Name, c.Name)
		case c.Run == nil:
			return fmt.Errorf("%s: command %q has no Run", s.Name, c.Name)
		}
		seen[c.Name] = true
	}
	return nil
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
	c, ok := s.Lookup(args[0])
	if !ok {
		s.usage(stderr)
		return fmt.Errorf("unknown command %q", args[0])
	}
	return c.Run(ctx, args[1:], stdout, stderr)
}

func (s *Set) usage(w io.Writer) {
	fmt.Fprintf(w, "usage: %s <command> [flags]\n", s.Name)
	for _, c := range s.Commands {
		fmt.Fprintf(w, "  %-10s %s\n", c.Name, c.Usage)
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
