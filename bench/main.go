// Command bench measures rediskit side by side with peer libraries in one
// run, on servers it starts itself through the test harness.
//
//	cd bench && go run . <area>... [-json] [-duration 3s]
//
// With -json it prints one JSON object per case:
// {"area","case","ours","peer","peer_name","unit","ratio"} where ratio =
// ours/peer for rates (higher is better) and peer/ours for latencies, so
// a ratio above 1 always means rediskit did better. Areas: see -h.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/redis/go-redis/v9"
)

func main() {
	redis.SetLogger(quietLogger{}) // dial errors during failover cases are expected
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// Result is one measured case.
type Result struct {
	Area     string  `json:"area"`
	Case     string  `json:"case"`
	Ours     float64 `json:"ours"`
	Peer     float64 `json:"peer"`
	PeerName string  `json:"peer_name"`
	Unit     string  `json:"unit"`
	Ratio    float64 `json:"ratio"`
}

// Rate builds a result where higher values are better.
func Rate(area, name string, ours, peer float64, peerName, unit string) Result {
	r := Result{Area: area, Case: name, Ours: ours, Peer: peer, PeerName: peerName, Unit: unit}
	if peer > 0 {
		r.Ratio = ours / peer
	}
	return r
}

// Latency builds a result where lower values are better (ratio = peer/ours).
func Latency(area, name string, ours, peer float64, peerName, unit string) Result {
	r := Result{Area: area, Case: name, Ours: ours, Peer: peer, PeerName: peerName, Unit: unit}
	if ours > 0 {
		r.Ratio = peer / ours
	}
	return r
}

// Config is what every area gets.
type Config struct {
	// Duration is how long one measured phase runs.
	Duration time.Duration
	Env      *Env
	Stderr   io.Writer
}

// Area runs its cases and reports each through emit.
type Area func(ctx context.Context, cfg Config, emit func(Result)) error

var areas = map[string]Area{}

// register is called from init() in each area's file.
func register(name string, a Area) { areas[name] = a }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "print one JSON object per case")
	dur := fs.Duration("duration", 3*time.Second, "length of each measured phase")
	names := slices.Sorted(func(yield func(string) bool) {
		for k := range areas {
			if !yield(k) {
				return
			}
		}
	})
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: go run . <area|all>... [-json] [-duration 3s]\nareas: %s\n", strings.Join(names, ", "))
		fs.PrintDefaults()
	}
	// Accept flags before or after the area names.
	var pos []string
	for len(args) > 0 {
		if err := fs.Parse(args); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(pos) == 0 {
		fs.Usage()
		return fmt.Errorf("no area given")
	}
	if slices.Contains(pos, "all") {
		pos = names
	}
	env := &Env{}
	defer env.Close()
	cfg := Config{Duration: *dur, Env: env, Stderr: stderr}
	var results []Result
	emit := func(r Result) {
		if *asJSON {
			b, _ := json.Marshal(r)
			fmt.Fprintln(stdout, string(b))
		}
		results = append(results, r)
	}
	for _, name := range pos {
		a, ok := areas[name]
		if !ok {
			return fmt.Errorf("unknown area %q (have %s)", name, strings.Join(names, ", "))
		}
		if err := a(ctx, cfg, emit); err != nil {
			return fmt.Errorf("area %s: %w", name, err)
		}
	}
	if !*asJSON {
		tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "AREA\tCASE\tOURS\tPEER\tPEER NAME\tUNIT\tRATIO")
		for _, r := range results {
			fmt.Fprintf(tw, "%s\t%s\t%.4g\t%.4g\t%s\t%s\t%.2f\n", r.Area, r.Case, r.Ours, r.Peer, r.PeerName, r.Unit, r.Ratio)
		}
		return tw.Flush()
	}
	return nil
}

type quietLogger struct{}

func (quietLogger) Printf(context.Context, string, ...any) {}
