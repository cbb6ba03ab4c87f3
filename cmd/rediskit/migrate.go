package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/rediskit/rediskit/migrate"
	"github.com/rediskit/rediskit/redisconn"
)

const migrateUsage = `usage: rediskit migrate <copy|sync|verify|cutover> [flags]

  copy     one pass over every source master, resumable after a crash, then a summary
  sync     copy, then follow live changes until stopped (Ctrl-C); -listen serves /metrics and /status
  verify   compare both directions (missing, extra, type, value, TTL); exit status 1 on any difference
  cutover  wait until sync lag is under a bound and verify is clean, then switch (see docs/MIGRATION.md)

Source and target are configured like REDIS_* with a prefix: SOURCE_REDIS_NODES or
SOURCE_REDIS_URL or SOURCE_REDIS_SENTINEL_ADDRS + SOURCE_REDIS_SENTINEL_MASTER,
SOURCE_REDIS_PASSWORD[_FILE], SOURCE_REDIS_TLS*, ... and the same with TARGET_.
`

// runMigrate is `rediskit migrate <sub>`.
func runMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stderr, migrateUsage)
		if len(args) == 0 {
			return errors.New("migrate: no subcommand given")
		}
		return nil
	}
	switch args[0] {
	case "copy":
		return runMigrateCopy(ctx, args[1:], stdout, stderr)
	case "sync":
		return runMigrateSync(ctx, args[1:], stdout, stderr)
	case "verify":
		return runMigrateVerify(ctx, args[1:], stdout, stderr)
	case "cutover":
		return runMigrateCutover(ctx, args[1:], stdout, stderr)
	}
	fmt.Fprint(stderr, migrateUsage)
	return fmt.Errorf("migrate: unknown subcommand %q", args[0])
}

// migrateFlags are the flags every subcommand that copies shares.
type migrateFlags struct {
	restart    *bool
	structural *bool
	bigKey     *int64
	batch      *int
	pipelines  *int
	scanCount  *int
	progress   *string
	jsonOut    *bool
}

func addMigrateFlags(fs *flag.FlagSet) migrateFlags {
	return migrateFlags{
		restart:    fs.Bool("restart", false, "ignore the checkpoint of an interrupted run and start over"),
		structural: fs.Bool("structural", false, "copy every key type-aware instead of DUMP/RESTORE (source and target of different Redis versions)"),
		bigKey:     fs.Int64("big-key", 0, "bytes above which a key is copied in chunks (0 = 256 KiB)"),
		batch:      fs.Int("batch", 0, "keys per read/write pipeline (0 = 256)"),
		pipelines:  fs.Int("pipelines", 0, "batches of one source master in flight at once (0 = 4)"),
		scanCount:  fs.Int("scan-count", 0, "SCAN COUNT hint (0 = 1000)"),
		progress:   fs.String("progress", "auto", "progress bar on stderr: auto (when a terminal), on, off"),
		jsonOut:    fs.Bool("json", false, "print the result as JSON"),
	}
}

func (f migrateFlags) options(stderr io.Writer) migrate.Options {
	return migrate.Options{Restart: *f.restart, Structural: *f.structural, BigKeyBytes: *f.bigKey,
		ReadBatch: *f.batch, Pipelines: *f.pipelines, ScanCount: *f.scanCount, Log: slog.New(slog.NewTextHandler(stderr, nil))}
}

// sides are a migrate subcommand's source and target connections.
type sides struct{ src, dst *redisconn.Conn }

func (s sides) Close() {
	s.src.Close()
	s.dst.Close()
}

// parseAndConnect parses a migrate subcommand's flags, then connects the
// source and the target from SOURCE_REDIS_* and TARGET_REDIS_*; each
// error names the side and the variable. The caller closes the sides.
func parseAndConnect(ctx context.Context, fs *flag.FlagSet, args []string) (sides, error) {
	if err := fs.Parse(args); err != nil {
		return sides{}, err
	}
	scfg, err := migrate.LoadConfig(migrate.SourcePrefix, os.LookupEnv)
	if err != nil {
		return sides{}, err
	}
	tcfg, err := migrate.LoadConfig(migrate.TargetPrefix, os.LookupEnv)
	if err != nil {
		return sides{}, err
	}
	if len(scfg.Nodes) > 0 && slices.Equal(sorted(scfg.Nodes), sorted(tcfg.Nodes)) && scfg.DB == tcfg.DB {
		return sides{}, fmt.Errorf("migrate: SOURCE_REDIS_* and TARGET_REDIS_* name the same nodes (%s)", strings.Join(scfg.Nodes, ","))
	}
	src, err := redisconn.Connect(ctx, scfg)
	if err != nil {
		return sides{}, migrate.PrefixError(migrate.SourcePrefix, err)
	}
	dst, err := redisconn.Connect(ctx, tcfg)
	if err != nil {
		src.Close()
		return sides{}, migrate.PrefixError(migrate.TargetPrefix, err)
	}
	return sides{src, dst}, nil
}

func sorted(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}

func runMigrateCopy(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("migrate copy", flag.ContinueOnError)
	fs.SetOutput(stderr)
	mf := addMigrateFlags(fs)
	sd, err := parseAndConnect(ctx, fs, args)
	if err != nil {
		return err
	}
	defer sd.Close()
	m := migrate.New(sd.src.Client, sd.dst.Client, mf.options(stderr))
	stopBar := startProgress(ctx, m, *mf.progress, stderr)
	sum, err := m.Copy(ctx)
	stopBar()
	if *mf.jsonOut {
		_ = json.NewEncoder(stdout).Encode(struct {
			migrate.Summary
			KeysPerSecond float64 `json:"keys_per_second"`
			Error         string  `json:"error,omitempty"`
		}{sum, sum.KeysPerSecond(), errString(err)})
	} else {
		fmt.Fprintln(stdout, sum)
		if sum.Resumed > 0 {
			fmt.Fprintf(stdout, "resumed %d source masters from the checkpoint\n", sum.Resumed)
		}
	}
	return err
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func runMigrateSync(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("migrate sync", flag.ContinueOnError)
	fs.SetOutput(stderr)
	mf := addMigrateFlags(fs)
	listen := fs.String("listen", "", "serve /metrics (Prometheus) and /status (JSON) on this address, e.g. :9121")
	heartbeat := fs.Duration("heartbeat", 0, "heartbeat and topology check interval (0 = 1s, negative = no heartbeat key)")
	sd, err := parseAndConnect(ctx, fs, args)
	if err != nil {
		return err
	}
	defer sd.Close()
	opts := mf.options(stderr)
	opts.Heartbeat = *heartbeat
	m := migrate.New(sd.src.Client, sd.dst.Client, opts)
	if *listen != "" {
		stop, err := serveMigrateStatus(ctx, *listen, m, stderr)
		if err != nil {
			return err
		}
		defer stop()
	}
	stopBar := startProgress(ctx, m, *mf.progress, stderr)
	err = m.Sync(ctx)
	stopBar()
	s := m.Status()
	fmt.Fprintf(stdout, "sync stopped: applied %d keys (%d deleted), %d notifications, %d gaps repaired, %d errors, lag %.3fs\n",
		s.Applied, s.Deleted, s.Events, s.Gaps, s.Errors, s.LagSeconds)
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		return nil // Ctrl-C: a normal stop
	}
	return err
}

func runMigrateVerify(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("migrate verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	tol := fs.Duration("ttl-tolerance", 0, "accepted difference between absolute expiries (0 = exact to the millisecond)")
	rate := fs.Int("rate", 0, "keys read per second over both sides (0 = 50000, -1 = no limit)")
	maxList := fs.Int("max", 0, "differences listed (0 = 100; all are counted)")
	jsonOut := fs.Bool("json", false, "print the report as JSON")
	sd, err := parseAndConnect(ctx, fs, args)
	if err != nil {
		return err
	}
	defer sd.Close()
	rep, err := migrate.Verify(ctx, sd.src.Client, sd.dst.Client, migrate.VerifyOptions{TTLTolerance: *tol, KeysPerSecond: *rate, MaxReported: *maxList})
	if err != nil {
		return err
	}
	if *jsonOut {
		_ = json.NewEncoder(stdout).Encode(rep)
	} else {
		writeVerifyReport(stdout, rep)
	}
	if !rep.Clean() {
		return fmt.Errorf("migrate verify: %d differences", rep.Missing+rep.Extra+rep.Type+rep.Value+rep.TTL)
	}
	return nil
}

func writeVerifyReport(w io.Writer, rep migrate.Report) {
	fmt.Fprintln(w, rep)
	if len(rep.Differences) == 0 {
		fmt.Fprintln(w, "no difference: the target holds every source key with the same type, value and expiry, and nothing else")
		return
	}
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "KIND\tKEY\tSOURCE\tTARGET")
	for _, d := range rep.Differences {
		fmt.Fprintf(tw, "%s\t%q\t%s\t%s\n", d.Kind, d.Key, d.Source, d.Target)
	}
	_ = tw.Flush()
}

// statusLine is the one-line summary logged when no bar is drawn.
func statusLine(s migrate.Status) string {
	return fmt.Sprintf("%s: applied %d (%.0f keys/s), dirty %d, lag %.3fs, gaps %d, errors %d",
		s.Phase, s.Applied, s.KeysPerSecond, s.Dirty, s.LagSeconds, s.Gaps, s.Errors)
}
