package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/rediskit/rediskit/internal/redisproc"
)

func runDown(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fset := flag.NewFlagSet("down", flag.ContinueOnError)
	fset.SetOutput(stderr)
	dir := fset.String("dir", ".rediskit", "directory given to `up`")
	if err := fset.Parse(args); err != nil {
		return err
	}
	abs, err := filepath.Abs(*dir)
	if err != nil {
		return err
	}
	st, err := readState(abs)
	if errors.Is(err, fs.ErrNotExist) {
		fmt.Fprintln(stdout, errNotRunning)
		return nil
	}
	if err != nil {
		return err
	}
	for _, p := range st.PIDs {
		_ = syscall.Kill(p, syscall.SIGTERM)
	}
	err = redisproc.Poll(ctx, 10*time.Second, "nodes to stop", func(context.Context) (bool, error) { return st.alive() == 0, nil })
	if err != nil {
		for _, p := range st.PIDs {
			_ = syscall.Kill(p, syscall.SIGKILL)
		}
	}
	if err := os.RemoveAll(filepath.Join(abs, "nodes")); err != nil {
		return err
	}
	if err := os.Remove(stateFile(abs)); err != nil {
		return err
	}
	_ = os.Remove(abs) // only if empty
	fmt.Fprintf(stdout, "stopped %d nodes\n", len(st.PIDs))
	return nil
}
