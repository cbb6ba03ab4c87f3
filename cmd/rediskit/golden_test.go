package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/rediskit/rediskit/internal/testlog"

	"github.com/rediskit/rediskit/internal/redistest"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/ with what the commands print now")

func TestMain(m *testing.M) { redistest.Main(m) }

// envVars are cleared before each command so that the caller's
// environment never changes a golden output.
var envVars = []string{
	"REDIS_NODES", "REDIS_URL", "REDIS_MODE", "REDIS_SENTINEL_ADDRS", "REDIS_SENTINEL_MASTER",
	"REDIS_USERNAME", "REDIS_PASSWORD", "REDIS_PASSWORD_FILE", "REDIS_SENTINEL_USERNAME", "REDIS_SENTINEL_PASSWORD",
	"REDIS_TLS", "REDIS_TLS_CA", "REDIS_TLS_CERT", "REDIS_TLS_KEY", "REDIS_TLS_SERVER_NAME", "REDIS_TLS_INSECURE",
	"REDIS_DB", "REDIS_DIAL_TIMEOUT", "REDIS_READ_TIMEOUT", "REDIS_WRITE_TIMEOUT", "REDIS_POOL_SIZE",
	"REDIS_MAX_RETRIES", "REDIS_RETRY_STEP", "REDIS_RETRY_CAP", "REDIS_TOPOLOGY_REFRESH", "REDIS_READ_FROM_REPLICAS",
	"REDIS_CLIENT_NAME", "METRICS_USERNAME", "METRICS_PASSWORD",
}

// setEnv clears every variable the commands read, then sets env.
func setEnv(t *testing.T, env map[string]string) {
	t.Helper()
	for _, v := range envVars {
		t.Setenv(v, "")
	}
	for k, v := range env {
		t.Setenv(k, v)
	}
}

// transcript runs `rediskit args...` and renders what it printed and
// returned.
func transcript(ctx context.Context, args ...string) string {
	var out, errb testlog.Buffer
	err := run(ctx, args, &out, &errb)
	return render(args, out.String(), errb.String(), err)
}

func render(args []string, stdout, stderr string, err error) string {
	var b strings.Builder
	fmt.Fprintln(&b, strings.TrimSpace("$ rediskit "+strings.Join(args, " ")))
	if stdout != "" {
		fmt.Fprintf(&b, "-- stdout --\n%s", stdout)
		if !strings.HasSuffix(stdout, "\n") {
			b.WriteString("\n")
		}
	}
	if stderr != "" {
		fmt.Fprintf(&b, "-- stderr --\n%s", stderr)
		if !strings.HasSuffix(stderr, "\n") {
			b.WriteString("\n")
		}
	}
	switch {
	case err == nil:
		b.WriteString("-- ok --\n")
	case errors.Is(err, flag.ErrHelp):
		b.WriteString("-- help --\n")
	default:
		fmt.Fprintf(&b, "-- error --\nrediskit: %v\n", err)
	}
	return b.String()
}

// golden compares got with testdata/<name>.golden, or rewrites the file
// with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		t.Fatalf("%s is missing: record it with `go test ./cmd/rediskit -run %s -update`, then read it", path, t.Name())
	}
	if err != nil {
		t.Fatal(err)
	}
	if string(want) != got {
		t.Errorf("%s differs (-want +got):\n%s\nrun with -update if the change is intended", path, lineDiff(string(want), got))
	}
}

// lineDiff is a line diff (longest common subsequence): "-" lines are
// only in want, "+" lines only in got, with their line numbers.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	// lcs[i][j] is the LCS length of w[i:] and g[j:].
	lcs := make([][]int, len(w)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(g)+1)
	}
	for i := len(w) - 1; i >= 0; i-- {
		for j := len(g) - 1; j >= 0; j-- {
			if w[i] == g[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var b strings.Builder
	i, j := 0, 0
	for i < len(w) || j < len(g) {
		switch {
		case i < len(w) && j < len(g) && w[i] == g[j]:
			i, j = i+1, j+1
		case j < len(g) && (i == len(w) || lcs[i][j+1] >= lcs[i+1][j]):
			fmt.Fprintf(&b, "+%d: %s\n", j+1, g[j])
			j++
		default:
			fmt.Fprintf(&b, "-%d: %s\n", i+1, w[i])
			i++
		}
	}
	return b.String()
}

// normalizer replaces what changes from run to run (ports, ids, sizes,
// timings, paths) by stable placeholders.
type normalizer struct {
	ports map[string]string
	next  int
	repl  []string // old, new pairs applied first
}

var (
	reAddr     = regexp.MustCompile(`127\.0\.0\.1:\d+`)
	reMem      = regexp.MustCompile(`\b\d+(\.\d+)?(B|[KMGT]iB)\b`)
	reDuration = regexp.MustCompile(`\b\d+(\.\d+)?(ns|µs|ms|s|m)\b`)
	reSpaces   = regexp.MustCompile(` {2,}`)
)

func newNormalizer(repl ...string) *normalizer {
	return &normalizer{ports: map[string]string{}, repl: repl}
}

// addr maps each distinct address to ADDR1, ADDR2, ... in order of first
// appearance.
func (n *normalizer) addr(a string) string {
	if p, ok := n.ports[a]; ok {
		return p
	}
	n.next++
	p := "ADDR" + strconv.Itoa(n.next)
	n.ports[a] = p
	return p
}

func (n *normalizer) apply(s string) string {
	if len(n.repl) > 0 {
		s = strings.NewReplacer(n.repl...).Replace(s)
	}
	return reAddr.ReplaceAllStringFunc(s, n.addr)
}

// table normalizes a tabwriter table: sizes, and the runs of spaces that
// align columns of varying width.
func (n *normalizer) table(s string) string {
	s = n.apply(s)
	s = reMem.ReplaceAllString(s, "SIZE")
	return reSpaces.ReplaceAllString(s, "  ")
}
