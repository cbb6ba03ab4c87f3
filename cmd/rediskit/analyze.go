package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/rediskit/rediskit/memory"
	"github.com/rediskit/rediskit/redisconn"
)

// runAnalyze is `rediskit analyze`: memory by key pattern over a whole
// deployment, with SCAN only (never KEYS). The deployment comes from
// -nodes or the redisconn environment (REDIS_NODES, REDIS_URL, TLS, ACL,
// sentinel), else the local cluster of `rediskit up`.
func runAnalyze(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("analyze", flag.ContinueOnError)
	fs.SetOutput(stderr)
	nodes := fs.String("nodes", "", "comma-separated host:port of the deployment (default: REDIS_NODES and the rest of the redisconn environment, else the local cluster)")
	dir := fs.String("dir", ".rediskit", "local cluster directory used when no deployment is given")
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
	if *nodes != "" {
		if err := os.Setenv("REDIS_NODES", *nodes); err != nil {
			return err
		}
	}
	cfg, err := configFromEnv(*dir)
	if err != nil {
		return err
	}
	conn, err := redisconn.Connect(ctx, cfg)
	if err != nil {
		return fmt.Errorf("analyze: %w", err)
	}
	defer conn.Close()
	c := conn.Client

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
