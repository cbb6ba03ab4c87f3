package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/rediskit/rediskit/redisconn"
)

// configFromEnv reads redisconn's environment; with no deployment given
// it falls back to the local cluster of `up` in dir.
func configFromEnv(dir string) (redisconn.Config, error) {
	given := false
	for _, v := range []string{"REDIS_NODES", "REDIS_URL", "REDIS_SENTINEL_ADDRS"} {
		if os.Getenv(v) != "" {
			given = true
		}
	}
	if !given {
		abs, err := filepath.Abs(dir)
		if err == nil {
			if st, err := readState(abs); err == nil {
				return redisconn.Config{Nodes: st.Addrs}, nil
			}
		}
	}
	cfg, err := redisconn.FromEnv()
	if err != nil && !given {
		return cfg, fmt.Errorf("no deployment given: set REDIS_NODES (or REDIS_URL, REDIS_SENTINEL_ADDRS), or start a local cluster with `rediskit up` (%w)", err)
	}
	return cfg, err
}

// openUnverified builds a client for the deployment of the environment
// (or the local cluster) without Connect's health check, so that status
// and the exporter can report on a deployment that is unhealthy.
func openUnverified(ctx context.Context, dir string, tweak func(*redisconn.Config)) (*redisconn.Conn, redisconn.Config, error) {
	cfg, err := configFromEnv(dir)
	if err != nil {
		return nil, cfg, err
	}
	if tweak != nil {
		tweak(&cfg)
	}
	mode := cfg.Mode
	if mode == "" || mode == redisconn.ModeAuto {
		if mode, err = redisconn.Detect(ctx, cfg); err != nil {
			return nil, cfg, err
		}
	}
	conn, err := redisconn.NewClient(cfg, mode)
	return conn, cfg, err
}

func runStatus(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", ".rediskit", "local cluster directory used when REDIS_NODES/REDIS_URL/REDIS_SENTINEL_ADDRS are unset")
	asJSON := fs.Bool("json", false, "print the topology as JSON")
	roles := fs.String("roles", "cache,queue,lock,session", "roles whose memory-policy fit is reported")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	conn, _, err := openUnverified(ctx, *dir, func(c *redisconn.Config) { c.MaxRetries = -1 })
	if err != nil {
		return err
	}
	defer conn.Close()
	topo, err := redisconn.Describe(ctx, conn.Client)
	if err != nil {
		return err
	}
	if conn.Mode == redisconn.ModeSentinel {
		// Describe sees the failover client as a single node; the mode
		// the client was built for is the one to report.
		topo.Mode = conn.Mode
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		type node struct {
			redisconn.Node
			Err string `json:",omitempty"`
		}
		out := struct {
			Mode         redisconn.Mode
			ClusterState string `json:",omitempty"`
			SlotsOK      int    `json:",omitempty"`
			Nodes        []node
			Warnings     []string
			Healthy      bool
		}{Mode: topo.Mode, ClusterState: topo.ClusterState, SlotsOK: topo.SlotsOK, Warnings: topo.Warnings(), Healthy: topo.Healthy() == nil}
		for _, n := range topo.Nodes {
			nn := node{Node: n}
			if n.Err != nil {
				nn.Err = n.Err.Error()
				nn.Node.Err = nil
			}
			out.Nodes = append(out.Nodes, nn)
		}
		if err := enc.Encode(out); err != nil {
			return err
		}
		return topo.Healthy()
	}
	printTopology(stdout, topo)
	for _, r := range strings.Split(*roles, ",") {
		r = strings.TrimSpace(r)
		if r == "" {
			continue
		}
		fs := redisconn.PolicyFindings(topo, redisconn.Role(r))
		if len(fs) == 0 {
			fmt.Fprintf(stdout, "role %-8s fits: every master's policy suits it\n", r)
			continue
		}
		sev := "warning"
		for _, f := range fs {
			if f.Severity == redisconn.Error {
				sev = "unfit"
			}
		}
		fmt.Fprintf(stdout, "role %-8s %s: %s (fix: %s)\n", r, sev, fs[0].Problem, fs[0].Fix)
	}
	for _, w := range topo.Warnings() {
		fmt.Fprintln(stdout, "warning:", w)
	}
	if err := topo.Healthy(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "healthy: %d nodes answer\n", len(topo.Nodes))
	return nil
}

func printTopology(w io.Writer, t redisconn.Topology) {
	fmt.Fprintf(w, "mode: %s", t.Mode)
	if t.Mode == redisconn.ModeCluster {
		fmt.Fprintf(w, "   cluster_state: %s   slots ok: %d/16384", t.ClusterState, t.SlotsOK)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tROLE\tMASTER\tSLOTS\tUSED\tMAXMEMORY\tPOLICY\tFRAG\tCLIENTS\tVERSION\tSTATE")
	for _, n := range t.Nodes {
		state := "ok"
		if n.Err != nil {
			state = "DOWN: " + n.Err.Error()
		} else if !n.LinkUp {
			state = "link down"
		}
		master := n.MasterAddr
		if master == "" {
			master = "-"
		}
		maxm := "unlimited"
		if n.MaxMemory > 0 {
			maxm = bytesHuman(n.MaxMemory)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\t%.2f\t%d\t%s\t%s\n", n.Addr, n.Role, master, n.Slots,
			bytesHuman(n.UsedMemory), maxm, n.Policy, n.Fragmentation, n.Clients, n.Version, state)
	}
	_ = tw.Flush()
}

func bytesHuman(b int64) string {
	const unit = 1024
	if b < unit {
		return fmt.Sprintf("%dB", b)
	}
	div, exp := int64(unit), 0
	for n := b / unit; n >= unit; n /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f%ciB", float64(b)/float64(div), "KMGTPE"[exp])
}
