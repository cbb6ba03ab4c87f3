package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rediskit/rediskit/memory"
)

// runAnalyze is `rediskit analyze`: memory by key pattern over a whole
// deployment, with SCAN only (never KEYS). The nodes come from -nodes or
// REDIS_NODES ("host:port,..."); REDIS_USERNAME and REDIS_PASSWORD are
// used when set. Several nodes, or one node with cluster mode on, mean a
// cluster client.
func runAnalyze(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("analyze", flag.ContinueOnError)
	fs.SetOutput(stderr)
	nodes := fs.String("nodes", os.Getenv("REDIS_NODES"), "comma-separated host:port of the deployment (default $REDIS_NODES)")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	sample := fs.Float64("sample", 0, "share of keys inspected (0 = about 100,000 keys, 1 = all)")
	rate := fs.Int("rate", 0, "keys per second SCAN may return over all shards (0 = 100000, -1 = no limit)")
	count := fs.Int("count", 0, "SCAN COUNT hint (0 = 1000)")
	match := fs.String("match", "", "SCAN MATCH pattern (default every key)")
	replicas := fs.Bool("replicas", false, "scan a replica of each shard to spare the masters")
	top := fs.Int("top", 0, "biggest keys kept per pattern (0 = 5)")
	patterns := fs.Int("patterns", 0, "patterns reported before the rest go to (other) (0 = 1000)")
	samples := fs.Int("samples", 0, "MEMORY USAGE SAMPLES (0 = 5, -1 = every element)")
	progress := fs.String("progress", "auto", "progress bar on stderr: auto (when a terminal), on, off")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("analyze: unexpected arguments %q", fs.Args())
	}
	var addrs []string
	for _, a := range strings.Split(*nodes, ",") {
		if a = strings.TrimSpace(a); a != "" {
			addrs = append(addrs, a)
		}
	}
	if len(addrs) == 0 {
		return fmt.Errorf("analyze: no nodes: give -nodes host:port,... or set REDIS_NODES")
	}
	c, err := analyzeClient(ctx, addrs)
	if err != nil {
		return err
	}
	defer c.Close()

	opts := memory.AnalyzeOptions{SampleRatio: *sample, KeysPerSecond: *rate, ScanCount: *count, Match: *match,
		Replicas: *replicas, TopKeys: *top, MaxPatterns: *patterns, MemorySamples: *samples}
	showBar := *progress == "on" || *progress == "auto" && isTerminal(stderr)
	if showBar {
		opts.Progress = func(p memory.Progress) { drawProgress(stderr, p) }
	}
	r, err := memory.Analyze(ctx, c, opts)
	if err != nil {
		return err
	}
	if *asJSON {
		return r.WriteJSON(stdout)
	}
	return r.WriteTable(stdout)
}

// analyzeClient returns a cluster client for several nodes or a cluster
// node, else a plain client.
func analyzeClient(ctx context.Context, addrs []string) (redis.UniversalClient, error) {
	user, pass := os.Getenv("REDIS_USERNAME"), os.Getenv("REDIS_PASSWORD")
	cluster := len(addrs) > 1
	if !cluster {
		probe := redis.NewClient(&redis.Options{Addr: addrs[0], Username: user, Password: pass, MaxRetries: -1})
		info, err := probe.Info(ctx, "cluster").Result()
		_ = probe.Close()
		if err != nil {
			return nil, fmt.Errorf("analyze: %s: %w", addrs[0], err)
		}
		cluster = strings.Contains(info, "cluster_enabled:1")
	}
	if cluster {
		return redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs, Username: user, Password: pass}), nil
	}
	return redis.NewClient(&redis.Options{Addr: addrs[0], Username: user, Password: pass}), nil
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// drawProgress redraws one line: bar, share, keys, samples, ETA.
func drawProgress(w io.Writer, p memory.Progress) {
	if p.Done {
		fmt.Fprint(w, "\r\033[K")
		return
	}
	const width = 30
	share := 0.0
	if p.Total > 0 {
		share = min(1, float64(p.Keys)/float64(p.Total))
	}
	n := int(share * width)
	bar := strings.Repeat("=", n) + strings.Repeat(" ", width-n)
	eta := "?"
	if p.ETA > 0 {
		eta = p.ETA.Round(time.Second).String()
	}
	fmt.Fprintf(w, "\r\033[K[%s] %3.0f%% %d/%d keys, %d sampled, shards %d/%d, ETA %s",
		bar, 100*share, p.Keys, p.Total, p.Sampled, p.ShardsDone, p.Shards, eta)
}
