package metrics_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rediskit/rediskit/internal/redistest"
	"github.com/rediskit/rediskit/metrics"
)

// recorder is a prometheus.Registerer that keeps the collectors, so the
// test can ask every one for its descriptors.
type recorder struct{ cs []prometheus.Collector }

func (r *recorder) Register(c prometheus.Collector) error   { r.cs = append(r.cs, c); return nil }
func (r *recorder) MustRegister(cs ...prometheus.Collector) { r.cs = append(r.cs, cs...) }
func (r *recorder) Unregister(prometheus.Collector) bool    { return false }

var fqName = regexp.MustCompile(`fqName: "([^"]+)"`)

// exportedNames returns every metric family name the package can emit.
func exportedNames(t *testing.T) map[string]bool {
	t.Helper()
	rec := &recorder{}
	c := redistest.SingleTarget(t).Client(t)
	if _, err := metrics.InstrumentClient(c, rec, metrics.ClientOptions{}); err != nil {
		t.Fatal(err)
	}
	sc, err := metrics.NewServerCollector(c, metrics.ServerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sc.Close() })
	rec.cs = append(rec.cs, sc, metrics.NewPatternCollector(metrics.PatternOptions{}))
	names := map[string]bool{}
	for _, col := range rec.cs {
		ch := make(chan *prometheus.Desc, 256)
		go func() { col.Describe(ch); close(ch) }()
		for d := range ch {
			m := fqName.FindStringSubmatch(d.String())
			if m == nil {
				t.Fatalf("no fqName in %s", d)
			}
			names[m[1]] = true
		}
	}
	return names
}

var metricRef = regexp.MustCompile(`(?:^|[^:A-Za-z0-9_])(rediskit_[a-z0-9_]+)\b(?:[^:]|$)`)

// Every rediskit_* series that the alerts, the recording rules and the
// dashboard read is one the package exports (a typo would leave a panel
// empty and an alert silent forever).
func TestDeployFilesUseExportedNames(t *testing.T) {
	names := exportedNames(t)
	known := func(n string) bool {
		if names[n] {
			return true
		}
		for _, suf := range []string{"_bucket", "_sum", "_count"} {
			if strings.HasSuffix(n, suf) && names[strings.TrimSuffix(n, suf)] {
				return true
			}
		}
		return false
	}
	for _, f := range []string{filepath.Join(rulesDir, "alerts.yml"), filepath.Join(rulesDir, "rules.yml"), dashboardPath} {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		refs := 0
		for _, m := range metricRef.FindAllStringSubmatch(string(raw), -1) {
			if strings.HasSuffix(m[1], "_") {
				continue // a family in a comment: "rediskit_redis_*"
			}
			refs++
			if !known(m[1]) {
				t.Errorf("%s reads %s, which metrics does not export", f, m[1])
			}
		}
		if refs < 10 {
			t.Errorf("%s: only %d metric references found; is the pattern right?", f, refs)
		}
	}
}
