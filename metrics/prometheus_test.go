package metrics_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rediskit/rediskit/internal/redisproc"
	"github.com/rediskit/rediskit/internal/redistest"
	"github.com/rediskit/rediskit/metrics"
)

// promServer is a real prometheus process on loopback.
type promServer struct {
	base string
}

// startPrometheus runs prometheus with the rediskit rules, scraping
// target (host:port) every second as job "redis". It is killed when tb
// ends.
func startPrometheus(tb testing.TB, target string) *promServer {
	tb.Helper()
	abs := func(p string) string {
		a, err := filepath.Abs(p)
		if err != nil {
			tb.Fatal(err)
		}
		return a
	}
	conf := fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s # the exporter answers within its 800 ms ScrapeTimeout
  evaluation_interval: 1s
rule_files:
  - %q
  - %q
scrape_configs:
  - job_name: redis
    basic_auth:
      username: prom
      password: secret
    static_configs:
      - targets: [%q]
`, abs(filepath.Join(rulesDir, "rules.yml")), abs(filepath.Join(rulesDir, "alerts.yml")), target)
	return startPrometheusConfig(tb, conf)
}

type promSample struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
}

func (s promSample) float() float64 {
	v, _ := s.Value[1].(string)
	f, _ := strconv.ParseFloat(v, 64)
	return f
}

// query runs an instant query through the HTTP API.
func (p *promServer) query(tb testing.TB, q string) []promSample {
	tb.Helper()
	resp, err := http.Get(p.base + "/api/v1/query?query=" + url.QueryEscape(q))
	if err != nil {
		tb.Fatalf("query %s: %v", q, err)
	}
	defer resp.Body.Close()
	var out struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []promSample `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		tb.Fatalf("query %s: %v", q, err)
	}
	if out.Status != "success" {
		tb.Fatalf("query %s: %s", q, out.Error)
	}
	return out.Data.Result
}

// A real Prometheus scrapes the exporter for a private cluster (through
// basic auth), a master is killed, and the node-down and
// master-without-replica alert expressions fire.
func TestPrometheusAlertsFireWhenMasterDies(t *testing.T) {
	if _, err := exec.LookPath("prometheus"); err != nil {
		t.Skip("prometheus not found: install the Debian package prometheus (apt-get install -y prometheus)")
	}
	ctx := context.Background()
	cl := redistest.NewCluster(t, redisproc.ClusterOptions{})
	client := cl.Client()
	t.Cleanup(func() { _ = client.Close() })
	exp, err := metrics.ExporterHandler(client, metrics.ExporterOptions{
		Server:   metrics.ServerOptions{NodeTimeout: 500 * time.Millisecond, ScrapeTimeout: 800 * time.Millisecond},
		Username: "prom", Password: "secret",
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = exp.Close() })
	srv := httptest.NewServer(exp)
	t.Cleanup(srv.Close)
	prom := startPrometheus(t, strings.TrimPrefix(srv.URL, "http://"))

	redistest.Eventually(t, 30*time.Second, "prometheus to see 6 nodes up", func() bool {
		r := prom.query(t, `count(rediskit_redis_up{job="redis"} == 1)`)
		return len(r) == 1 && r[0].float() == 6
	})
	masters, err := cl.Masters(ctx)
	if err != nil {
		t.Fatal(err)
	}
	victim := masters[0]
	// (Eventually: on a loaded machine one probe may time out and make
	// an alert pending for a moment, which is what it is for.)
	redistest.Eventually(t, 10*time.Second, "no alert before the fault", func() bool {
		return len(prom.query(t, `ALERTS{alertname=~"RedisNodeDown|RedisMasterWithoutReplica|RedisClusterStateFail"}`)) == 0
	})
	promoted, err := cl.KillMaster(ctx, victim)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("killed master %s, %s took over", victim.Addr(), promoted.Addr())

	// The exporter keeps reporting the dead node (CLUSTER NODES still
	// lists it as a failed master) and the promoted replica runs alone.
	redistest.Eventually(t, 30*time.Second, "RedisNodeDown pending or firing for "+victim.Addr(), func() bool {
		r := prom.query(t, fmt.Sprintf(`ALERTS{alertname="RedisNodeDown",addr=%q}`, victim.Addr()))
		return len(r) == 1 && r[0].Metric["role"] == "master"
	})
	redistest.Eventually(t, 30*time.Second, "RedisMasterWithoutReplica pending or firing for "+promoted.Addr(), func() bool {
		r := prom.query(t, fmt.Sprintf(`ALERTS{alertname="RedisMasterWithoutReplica",addr=%q}`, promoted.Addr()))
		return len(r) == 1
	})
	redistest.Eventually(t, 10*time.Second, "5 nodes up after the kill", func() bool {
		r := prom.query(t, `count(rediskit_redis_up{job="redis"} == 1)`)
		return len(r) == 1 && r[0].float() == 5
	})
	// The collector's own scrape time stayed bounded by its 800 ms
	// ScrapeTimeout although a node is dead (1.5 s leaves room for a
	// loaded machine; an unbounded scrape would take the 2 s dial and
	// read timeouts of go-redis or hang).
	if r := prom.query(t, `max_over_time(rediskit_redis_scrape_duration_seconds{job="redis"}[1m])`); len(r) != 1 || r[0].float() > 1.5 {
		t.Errorf("collector scrape duration = %v, want under 1.5 s", r)
	}
}

func TestExporterBasicAuth(t *testing.T) {
	c := redistest.SingleTarget(t).Client(t)
	exp, err := metrics.ExporterHandler(c, metrics.ExporterOptions{Username: "u", Password: "p"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = exp.Close() })
	for _, tt := range []struct {
		user, pw string
		set      bool
		want     int
	}{
		{"", "", false, http.StatusUnauthorized},
		{"u", "wrong", true, http.StatusUnauthorized},
		{"x", "p", true, http.StatusUnauthorized},
		{"u", "p", true, http.StatusOK},
	} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", "/metrics", nil)
		if tt.set {
			req.SetBasicAuth(tt.user, tt.pw)
		}
		exp.ServeHTTP(rec, req)
		if rec.Code != tt.want {
			t.Errorf("auth %q/%q: status %d, want %d", tt.user, tt.pw, rec.Code, tt.want)
		}
		if tt.want == http.StatusOK && !strings.Contains(rec.Body.String(), "rediskit_redis_up{") {
			t.Errorf("authorized scrape has no rediskit_redis_up")
		}
	}
}
