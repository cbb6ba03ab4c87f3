package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/rediskit/rediskit/metrics"
)

// runExporter serves /metrics for the deployment given by the
// environment (redisconn: REDIS_NODES, REDIS_URL, REDIS_SENTINEL_*,
// REDIS_TLS*, REDIS_USERNAME/PASSWORD) or -redis. One scrape covers every
// node. METRICS_USERNAME and METRICS_PASSWORD turn on basic auth for
// /metrics. It returns when ctx is cancelled.
func runExporter(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("exporter", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", ":9121", "listen address for /metrics")
	nodes := fs.String("redis", "", "comma-separated Redis addresses (default: REDIS_NODES and the rest of the redisconn environment)")
	dir := fs.String("dir", ".rediskit", "local cluster directory used when no deployment is given")
	nodeTimeout := fs.Duration("node-timeout", 2*time.Second, "timeout per node and scrape")
	scrapeTimeout := fs.Duration("scrape-timeout", 0, "bound on one whole scrape (0: 2*node-timeout+1s)")
	slowlog := fs.Int("slowlog-entries", 32, "recent SLOWLOG entries summarized per node (negative: none)")
	hist := fs.String("latency-histograms", "", "comma-separated commands whose LATENCY HISTOGRAM is exported (Redis 7; 26 series per command and node)")
	compat := fs.String("compat", "", `"redis_exporter": also export redis_exporter v1.x's redis_* families (addr label per node) and serve its /scrape?target=<node>`)
	anyTarget := fs.Bool("scrape-any-target", false, "let /scrape?target= probe servers outside the deployment (with its credentials)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *compat != "" && *compat != "redis_exporter" {
		return fmt.Errorf("exporter: -compat %q: the only compatibility mode is redis_exporter", *compat)
	}
	if *nodes != "" {
		if err := os.Setenv("REDIS_NODES", *nodes); err != nil {
			return err
		}
	}
	// No Connect: the exporter must start, and report, while the
	// deployment is unhealthy.
	conn, cfg, err := openUnverified(ctx, *dir, nil)
	if err != nil {
		return err
	}
	defer conn.Close()
	user, pw := os.Getenv("METRICS_USERNAME"), os.Getenv("METRICS_PASSWORD")
	if (user == "") != (pw == "") {
		return errors.New("exporter: set both METRICS_USERNAME and METRICS_PASSWORD, or neither")
	}
	var histCmds []string
	for c := range strings.SplitSeq(*hist, ",") {
		if c = strings.TrimSpace(c); c != "" {
			histCmds = append(histCmds, strings.ToLower(c))
		}
	}
	exp, err := metrics.ExporterHandler(conn.Client, metrics.ExporterOptions{
		Server: metrics.ServerOptions{NodeTimeout: *nodeTimeout, ScrapeTimeout: *scrapeTimeout,
			SlowlogEntries: *slowlog, LatencyHistograms: histCmds, RedisExporterNames: *compat != ""},
		Username: user, Password: pw, ScrapeAnyTarget: *anyTarget,
	})
	if err != nil {
		return err
	}
	defer exp.Close()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("exporter: %w", err)
	}
	srv := &http.Server{Handler: exp, ReadHeaderTimeout: 10 * time.Second}
	auth := "off"
	if user != "" {
		auth = "basic"
	}
	extra := ""
	if *compat != "" {
		extra = fmt.Sprintf(" with redis_exporter names, and http://%s/scrape?target=<node>", ln.Addr())
	}
	fmt.Fprintf(stdout, "rediskit exporter: %s deployment %s, serving http://%s/metrics%s (auth %s)\n",
		conn.Mode, strings.Join(append(cfg.Nodes, cfg.SentinelAddrs...), ","), ln.Addr(), extra, auth)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("exporter: %w", err)
	case <-ctx.Done():
	}
	shutCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil {
		return fmt.Errorf("exporter: shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("exporter: %w", err)
	}
	return nil
}
