package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/rediskit/rediskit/dashboard"
)

// runDashboard serves the dashboard for the deployment of the
// environment (redisconn's REDIS_* variables, or the local cluster of
// `up`). It is read-only unless -write, and -write needs basic auth from
// DASHBOARD_USER and DASHBOARD_PASSWORD(_FILE). It returns when ctx is
// cancelled.
func runDashboard(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("dashboard", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", ":8090", "listen address")
	write := fs.Bool("write", false, "allow actions (retry, remove, pause, ...); needs DASHBOARD_USER and DASHBOARD_PASSWORD(_FILE)")
	prefix := fs.String("prefix", "/", "path prefix the dashboard is served under")
	nodes := fs.String("redis", "", "comma-separated Redis addresses (default: REDIS_NODES and the rest of the redisconn environment)")
	dir := fs.String("dir", ".rediskit", "local cluster directory used when no deployment is given")
	timeout := fs.Duration("timeout", 5*time.Second, "bound on the Redis work of one request")
	nodeTimeout := fs.Duration("node-timeout", time.Second, "bound per node on the cluster page")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *nodes != "" {
		if err := os.Setenv("REDIS_NODES", *nodes); err != nil {
			return err
		}
	}
	user, password, err := dashboard.CredentialsFromEnv(os.LookupEnv)
	if err != nil {
		return err
	}
	if *write && user == "" {
		return errors.New("dashboard: -write needs DASHBOARD_USER and DASHBOARD_PASSWORD (or DASHBOARD_PASSWORD_FILE)")
	}
	// No Connect: the dashboard must start, and show, an unhealthy deployment.
	conn, cfg, err := openUnverified(ctx, *dir, nil)
	if err != nil {
		return err
	}
	defer conn.Close()
	opts := dashboard.Options{Prefix: strings.TrimRight(*prefix, "/"), ReadOnly: !*write, Timeout: *timeout, NodeTimeout: *nodeTimeout,
		Logger: slog.New(slog.NewTextHandler(stderr, nil))}
	if user != "" {
		opts.Authorize = dashboard.BasicAuth(user, password)
	}
	d, err := dashboard.New(conn.Client, opts)
	if err != nil {
		return err
	}
	defer d.Close()
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("dashboard: %w", err)
	}
	srv := &http.Server{Handler: d, ReadHeaderTimeout: 10 * time.Second}
	mode, auth := "read-only", "off (anyone who reaches the port can read)"
	if *write {
		mode = "read-write"
	}
	if user != "" {
		auth = "basic, user " + user
	}
	fmt.Fprintf(stdout, "rediskit dashboard: %s deployment %s, %s, auth %s, serving http://%s%s/\n",
		conn.Mode, strings.Join(append(cfg.Nodes, cfg.SentinelAddrs...), ","), mode, auth, ln.Addr(), opts.Prefix)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("dashboard: %w", err)
	case <-ctx.Done():
	}
	shutCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil {
		return fmt.Errorf("dashboard: shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("dashboard: %w", err)
	}
	return nil
}
