package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/schollz/progressbar/v3"

	"github.com/rediskit/rediskit/migrate"
)

// migrateCollector turns migrate.Status into Prometheus metrics.
type migrateCollector struct {
	m                                                 *migrate.Migrator
	applied, deleted, scanned, errors, events, gaps   *prometheus.Desc
	lag, dirty, rate, shardScanned, shardTotal, phase *prometheus.Desc
}

func newMigrateCollector(m *migrate.Migrator) *migrateCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("rediskit_migrate_"+name, help, labels, nil)
	}
	return &migrateCollector{m: m,
		applied:      d("keys_applied_total", "Keys written to the target (restored, copied in chunks or deleted)."),
		deleted:      d("keys_deleted_total", "Keys deleted on the target because the source no longer has them."),
		scanned:      d("keys_scanned_total", "Keys returned by SCAN on the source masters."),
		errors:       d("errors_total", "Errors met (each logged); the migrator retries."),
		events:       d("notifications_total", "Keyspace notifications received from the source masters."),
		gaps:         d("gaps_total", "Notification gaps detected (each rescans one source master)."),
		lag:          d("lag_seconds", "Age of the oldest source change not yet applied to the target (0 when none)."),
		dirty:        d("dirty_keys", "Changed keys waiting to be applied."),
		rate:         d("keys_per_second", "Keys applied per second over the last second."),
		shardScanned: d("scan_keys", "Keys scanned in the current pass of a source master.", "shard"),
		shardTotal:   d("scan_total_keys", "DBSIZE of a source master when its pass started.", "shard"),
		phase:        d("phase", "1 for the current phase.", "phase"),
	}
}

func (c *migrateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.applied, c.deleted, c.scanned, c.errors, c.events, c.gaps, c.lag, c.dirty, c.rate, c.shardScanned, c.shardTotal, c.phase} {
		ch <- d
	}
}

func (c *migrateCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.m.Status()
	counter := func(d *prometheus.Desc, v int64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v))
	}
	gauge := func(d *prometheus.Desc, v float64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, l...)
	}
	counter(c.applied, s.Applied)
	counter(c.deleted, s.Deleted)
	counter(c.scanned, s.Scanned)
	counter(c.errors, s.Errors)
	counter(c.events, s.Events)
	counter(c.gaps, s.Gaps)
	gauge(c.lag, s.LagSeconds)
	gauge(c.dirty, float64(s.Dirty))
	gauge(c.rate, s.KeysPerSecond)
	for _, sh := range s.Shards {
		gauge(c.shardScanned, float64(sh.Scanned), sh.Label)
		gauge(c.shardTotal, float64(sh.Total), sh.Label)
	}
	for _, p := range []migrate.Phase{migrate.PhaseIdle, migrate.PhaseCopy, migrate.PhaseSync, migrate.PhaseDone} {
		v := 0.0
		if s.Phase == p {
			v = 1
		}
		gauge(c.phase, v, string(p))
	}
}

// serveMigrateStatus serves /metrics and /status on addr until ctx is
// done or stop is called (which waits for the server to end).
func serveMigrateStatus(ctx context.Context, addr string, m *migrate.Migrator, stderr io.Writer) (stop func(), err error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(newMigrateCollector(m))
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	status := func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(m.Status())
	}
	mux.HandleFunc("/status", status)
	mux.HandleFunc("/{$}", status)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("migrate: -listen %s: %w", addr, err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintln(stderr, "migrate: status server:", err)
		}
	}()
	fmt.Fprintf(stderr, "migrate: /metrics and /status on http://%s\n", ln.Addr())
	stopOnce := context.AfterFunc(ctx, func() { _ = srv.Close() })
	return func() {
		stopOnce()
		_ = srv.Close()
		<-done
	}, nil
}

// startProgress draws a bar with ETA over the first pass (when mode is
// "on", or "auto" and stderr is a terminal) and then one status line per
// second; otherwise it logs a status line every 10 s. stop ends it and
// waits.
func startProgress(ctx context.Context, m *migrate.Migrator, mode string, stderr io.Writer) (stop func()) {
	bar := mode == "on" || mode == "auto" && isTerminal(stderr)
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		every := 10 * time.Second
		if bar {
			every = 200 * time.Millisecond
		}
		t := time.NewTicker(every)
		defer t.Stop()
		var pb *progressbar.ProgressBar
		for {
			select {
			case <-ctx.Done():
				if pb != nil {
					_ = pb.Finish()
					fmt.Fprintln(stderr)
				}
				return
			case <-t.C:
			}
			s := m.Status()
			if !bar {
				fmt.Fprintln(stderr, "migrate:", statusLine(s))
				continue
			}
			var scanned int64
			for _, sh := range s.Shards {
				scanned += sh.Scanned
			}
			if s.Phase == migrate.PhaseCopy || pb == nil {
				if pb == nil && s.Total > 0 {
					pb = progressbar.NewOptions64(s.Total, progressbar.OptionSetWriter(stderr), progressbar.OptionShowCount(),
						progressbar.OptionShowIts(), progressbar.OptionSetItsString("keys"), progressbar.OptionSetPredictTime(true),
						progressbar.OptionSetDescription("copy"), progressbar.OptionThrottle(200*time.Millisecond), progressbar.OptionSetWidth(30))
				}
				if pb != nil {
					if s.Total > pb.GetMax64() {
						pb.ChangeMax64(s.Total)
					}
					_ = pb.Set64(min(scanned, pb.GetMax64()))
				}
				continue
			}
			pb.Describe(fmt.Sprintf("sync: lag %.3fs, dirty %d, %.0f keys/s, gaps %d", s.LagSeconds, s.Dirty, s.KeysPerSecond, s.Gaps))
		}
	}()
	return func() { cancel(); <-done }
}
