package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/rediskit/rediskit/internal/redisproc"
)

func runUp(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("up", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", ".rediskit", "directory for the nodes' files and the state file")
	port := fs.Int("port", 7000, "first port; nodes use port..port+5 (and +10000 for the cluster bus); 0 picks free ports")
	masters := fs.Int("masters", 3, "number of masters")
	policy := fs.String("policy", "noeviction", "maxmemory-policy of every node")
	if err := fs.Parse(args); err != nil {
		return err
	}
	abs, err := filepath.Abs(*dir)
	if err != nil {
		return err
	}
	if st, err := readState(abs); err == nil {
		if n := st.alive(); n == len(st.PIDs) {
			fmt.Fprintf(stdout, "local cluster already running (%d nodes)\n%s\n", n, nodesLine(st.Addrs))
			return nil
		} else if n > 0 {
			return fmt.Errorf("local cluster in %s is partly running (%d of %d nodes): run `rediskit down` first", abs, n, len(st.PIDs))
		}
	}
	if _, err := redisproc.Binary(); err != nil {
		return err
	}
	clusterDir := filepath.Join(abs, "nodes")
	if err := os.RemoveAll(clusterDir); err != nil {
		return err
	}
	n := *masters * 2
	var ports []int
	if *port != 0 {
		for i := range n {
			ports = append(ports, *port+i)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	start := time.Now()
	cl, err := redisproc.StartCluster(ctx, redisproc.ClusterOptions{
		Masters: *masters, Dir: clusterDir, Ports: ports, Detach: true,
		Args: []string{"maxmemory-policy " + *policy, "notify-keyspace-events KEA"},
	})
	if err != nil {
		return fmt.Errorf("start cluster (is a port in %d..%d taken? try -port 0): %w", *port, *port+n-1, err)
	}
	st := &localState{Dir: abs, Addrs: cl.Addrs()}
	for _, s := range cl.Nodes {
		st.PIDs = append(st.PIDs, s.PID())
	}
	if err := st.write(); err != nil {
		_ = cl.Close()
		return err
	}
	fmt.Fprintf(stdout, "local cluster up in %v: %d masters, %d replicas, data in %s\n", time.Since(start).Round(time.Millisecond), *masters, *masters, clusterDir)
	fmt.Fprintf(stdout, "export %s\n", nodesLine(st.Addrs))
	fmt.Fprintln(stdout, "stop it with: rediskit down")
	return nil
}
