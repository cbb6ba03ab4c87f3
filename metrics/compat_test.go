package metrics_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rediskit/rediskit/internal/redisproc"
	"github.com/rediskit/rediskit/internal/redistest"
	"github.com/rediskit/rediskit/metrics"
)

// startPrometheusConfig runs prometheus with conf (a prometheus.yml).
func startPrometheusConfig(tb testing.TB, conf string) *promServer {
	tb.Helper()
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		tb.Skip("prometheus not found: install the Debian package prometheus (apt-get install -y prometheus)")
	}
	dir := tb.TempDir()
	confPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		tb.Fatal(err)
	}
	port, err := redisproc.FreePort()
	if err != nil {
		tb.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	logf, err := os.Create(filepath.Join(dir, "prometheus.log"))
	if err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(bin, "--config.file="+confPath, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--log.level=warn")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		_ = logf.Close()
		if tb.Failed() {
			b, _ := os.ReadFile(logf.Name())
			tb.Logf("prometheus log:\n%s", b)
		}
	})
	p := &promServer{base: "http://" + addr}
	redistest.Eventually(tb, 30*time.Second, "prometheus ready", func() bool {
		resp, err := http.Get(p.base + "/-/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return p
}

type compatExpr struct {
	source, expr, data string
}

// loadCompatFixture reads testdata/redis_exporter_compat.txt.
func loadCompatFixture(t *testing.T) []compatExpr {
	t.Helper()
	f, err := os.Open("testdata/redis_exporter_compat.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	vars := strings.NewReplacer(`$instance`, `.*`, `$__interval`, `1m`, `$__rate_interval`, `1m`)
	var out []compatExpr
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		parts := strings.Split(line, " | ")
		if len(parts) < 2 || len(parts) > 3 {
			t.Fatalf("fixture line %q: want 2 or 3 fields", line)
		}
		e := compatExpr{source: parts[0], expr: vars.Replace(parts[1])}
		e.data = e.expr
		if len(parts) == 3 {
			e.data = vars.Replace(parts[2])
		}
		out = append(out, e)
	}
	if len(out) < 30 {
		t.Fatalf("fixture has %d expressions", len(out))
	}
	return out
}

// TestRedisExporterCompat: a real Prometheus scrapes the exporter in its
// redis_exporter mode both ways (the whole cluster on /metrics, every node
// through /scrape?target= with the usual relabelling), and every
// expression of Grafana dashboard 763 and the common alert rules returns
// data, from both jobs.
func TestRedisExporterCompat(t *testing.T) {
	if _, err := exec.LookPath("prometheus"); err != nil {
		t.Skip("prometheus not found: install the Debian package prometheus (apt-get install -y prometheus)")
	}
	exprs := loadCompatFixture(t)
	tg := redistest.ClusterTarget(t)
	client := tg.Client(t)
	ctx := context.Background()
	tag := redistest.Unique(t)
	for i := range 60 {
		k := fmt.Sprintf("%s:%d", tag, i)
		if err := client.Set(ctx, k, i, time.Duration(i%2)*time.Hour).Err(); err != nil {
			t.Fatal(err)
		}
		_ = client.Get(ctx, k).Err()
	}
	_ = client.Get(ctx, tag+":missing").Err()
	exp, err := metrics.ExporterHandler(client, metrics.ExporterOptions{Server: metrics.ServerOptions{RedisExporterNames: true}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = exp.Close() })
	srv := httptest.NewServer(exp)
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	var targets []string
	for _, a := range tg.Addrs {
		targets = append(targets, strconv.Quote("redis://"+a))
	}
	prom := startPrometheusConfig(t, fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: redis
    static_configs:
      - targets: [%q]
  - job_name: redis_targets
    metrics_path: /scrape
    static_configs:
      - targets: [%s]
    relabel_configs:
      - source_labels: [__address__]
        target_label: __param_target
      - source_labels: [__param_target]
        target_label: instance
      - target_label: __address__
        replacement: %q
`, host, strings.Join(targets, ", "), host))

	redistest.Eventually(t, 30*time.Second, "6 nodes up in both jobs for 5 s", func() bool {
		a := prom.query(t, `count(min_over_time(redis_up{job="redis"}[5s]) == 1) == 6 and count(count_over_time(redis_up{job="redis"}[5s]) >= 4) == 6`)
		b := prom.query(t, `count(min_over_time(redis_up{job="redis_targets"}[5s]) == 1) == 6 and count(count_over_time(redis_up{job="redis_targets"}[5s]) >= 4) == 6`)
		return len(a) == 1 && len(b) == 1
	})
	// /scrape series are one node each, named by instance, without addr.
	for _, s := range prom.query(t, `redis_up{job="redis_targets"}`) {
		if s.Metric["addr"] != "" || !strings.HasPrefix(s.Metric["instance"], "redis://127.0.0.1:") {
			t.Errorf("/scrape series labels %v", s.Metric)
		}
	}
	for _, s := range prom.query(t, `redis_up{job="redis"}`) {
		if s.Metric["addr"] == "" {
			t.Errorf("/metrics series without addr: %v", s.Metric)
		}
	}
	name := regexp.MustCompile(`\bredis_[a-z_]+\b`)
	for _, e := range exprs {
		if r := prom.query(t, e.data); len(r) == 0 {
			t.Errorf("%s: no data for %s", e.source, e.data)
		}
		if e.expr != e.data {
			prom.query(t, e.expr) // the rule itself must parse and evaluate
		}
		for _, n := range name.FindAllString(e.expr, -1) {
			if r := prom.query(t, fmt.Sprintf(`count by (job) ({__name__=%q})`, n)); len(r) != 2 {
				t.Errorf("%s: %s present in %d of 2 jobs", e.source, n, len(r))
			}
		}
	}
}

func serve(t *testing.T, h http.Handler, path string, hdr map[string]string) (int, string, time.Duration) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	start := time.Now()
	h.ServeHTTP(rec, req)
	b, _ := io.ReadAll(rec.Body)
	return rec.Code, string(b), time.Since(start)
}

func TestScrapeTarget(t *testing.T) {
	tg := redistest.SingleTarget(t)
	client := tg.Client(t)
	exp, err := metrics.ExporterHandler(client, metrics.ExporterOptions{Server: metrics.ServerOptions{RedisExporterNames: true}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = exp.Close() })
	code, body, _ := serve(t, exp, "/scrape?target=redis://"+tg.Addrs[0], nil)
	if code != http.StatusOK || !strings.Contains(body, "\nredis_up 1\n") || !strings.Contains(body, "redis_instance_info{") || strings.Contains(body, `addr="`) {
		t.Errorf("/scrape: %d\n%s", code, body)
	}
	if code, body, _ := serve(t, exp, "/scrape", nil); code != http.StatusBadRequest || !strings.Contains(body, "target") {
		t.Errorf("no target: %d %s", code, body)
	}
	// a scraper cannot make the exporter dial (with its credentials) a
	// server outside the deployment
	if code, body, _ := serve(t, exp, "/scrape?target=redis://10.255.255.1:6379", nil); code != http.StatusForbidden {
		t.Errorf("foreign target: %d %s", code, body)
	}
	if code, _, _ := serve(t, exp, "/scrape?target=http://x:1", nil); code != http.StatusBadRequest {
		t.Errorf("bad scheme: %d", code)
	}
	code, body, _ = serve(t, exp, "/metrics", nil)
	if code != http.StatusOK || !strings.Contains(body, fmt.Sprintf("redis_up{addr=%q} 1", tg.Addrs[0])) || !strings.Contains(body, "rediskit_redis_up{") {
		t.Errorf("/metrics in compat mode: %d", code)
	}
	plain, err := metrics.ExporterHandler(client, metrics.ExporterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = plain.Close() })
	if code, body, _ := serve(t, plain, "/metrics", nil); code != http.StatusOK || strings.Contains(body, "\nredis_up") {
		t.Errorf("redis_* without RedisExporterNames: %d", code)
	}
	if code, _, _ := serve(t, plain, "/scrape?target="+tg.Addrs[0], nil); code != http.StatusNotFound {
		t.Errorf("/scrape without RedisExporterNames: %d", code)
	}
}

// TestScrapeTimeoutHeader: with a paused node, a scrape answers within
// the X-Prometheus-Scrape-Timeout-Seconds it was given (the collector's
// own timeout is much longer) and reports the node down.
func TestScrapeTimeoutHeader(t *testing.T) {
	s := redistest.NewSingle(t, redisproc.ServerOptions{})
	client := redis.NewClient(&redis.Options{Addr: s.Addr()})
	t.Cleanup(func() { _ = client.Close() })
	exp, err := metrics.ExporterHandler(client, metrics.ExporterOptions{Server: metrics.ServerOptions{
		RedisExporterNames: true, NodeTimeout: 10 * time.Second, ScrapeTimeout: 20 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = exp.Close() })
	if code, body, _ := serve(t, exp, "/metrics", nil); code != http.StatusOK || !strings.Contains(body, "redis_up{addr=") {
		t.Fatalf("healthy scrape: %d", code)
	}
	if err := s.Pause(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Resume() })
	hdr := map[string]string{"X-Prometheus-Scrape-Timeout-Seconds": "0.5"}
	code, body, took := serve(t, exp, "/metrics", hdr)
	if code != http.StatusOK || took > 2*time.Second || !strings.Contains(body, fmt.Sprintf("redis_up{addr=%q} 0", s.Addr())) {
		t.Errorf("/metrics with a paused node and a 0.5 s header: %d after %v", code, took)
	}
	code, body, took = serve(t, exp, "/scrape?target="+s.Addr(), hdr)
	if code != http.StatusOK || took > 2*time.Second || !strings.Contains(body, "\nredis_up 0\n") {
		t.Errorf("/scrape with a paused node and a 0.5 s header: %d after %v\n%s", code, took, body)
	}
}
