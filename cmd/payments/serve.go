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
	"time"

	"github.com/redis/go-redis/v9"
)

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: payments serve   (no flags: configuration comes from the environment)")
		fmt.Fprint(stderr, envHelp)
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := configFromEnv(osLookup)
	if err != nil {
		return err
	}
	// go-redis logs every failed dial; during a failover that is noise
	// the metrics count anyway: keep it at debug level.
	redis.SetLogger(redisLogger{newLogger(stderr, cfg.LogLevel, cfg.Instance)})
	return serve(ctx, cfg, stderr, nil)
}

type redisLogger struct{ log *slog.Logger }

func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.DebugContext(ctx, "go-redis: "+fmt.Sprintf(format, v...))
}

func newLogger(w io.Writer, level, instance string) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelInfo
	}
	log := slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l}))
	if instance != "" {
		log = log.With("instance", instance)
	}
	return log
}

// serve runs one instance until ctx ends, then shuts down gracefully:
// stop accepting, drain HTTP requests, let the worker finish its jobs,
// stop the relay, close the clients. ready, when set, receives the
// listening address.
func serve(ctx context.Context, cfg config, logw io.Writer, ready chan<- string) error {
	log := newLogger(logw, cfg.LogLevel, cfg.Instance)
	startCtx, cancel := context.WithTimeout(ctx, time.Minute)
	a, err := newApp(startCtx, cfg, log)
	cancel()
	if err != nil {
		return err
	}
	defer a.close()
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: a.handler, ReadHeaderTimeout: 10 * time.Second}
	bg, stopBG := context.WithCancel(context.WithoutCancel(ctx))
	defer stopBG()
	bgDone := make(chan error, 1)
	go func() { bgDone <- a.run(bg) }()
	httpDone := make(chan error, 1)
	go func() { httpDone <- srv.Serve(ln) }()
	log.Info("payments listening", "addr", ln.Addr().String(), "redis", string(a.conn.Mode))
	if ready != nil {
		ready <- ln.Addr().String()
	}
	var runErr error
	select {
	case <-ctx.Done():
	case err := <-httpDone:
		runErr = err
	case err := <-bgDone:
		runErr = fmt.Errorf("background work stopped: %w", err)
		bgDone <- err
	}
	log.Info("shutting down", "timeout", cfg.Shutdown)
	sctx, scancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.Shutdown)
	defer scancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("http shutdown", "err", err)
	}
	stopBG()
	select {
	case err := <-bgDone:
		if err != nil && runErr == nil {
			runErr = err
		}
	case <-sctx.Done():
		log.Warn("worker did not stop in time")
	}
	log.Info("stopped")
	if errors.Is(runErr, http.ErrServerClosed) {
		runErr = nil
	}
	return runErr
}
