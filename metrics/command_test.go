package metrics_test

import (
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rediskit/rediskit/internal/redisproc"
	"github.com/rediskit/rediskit/internal/redistest"
)

// The real `rediskit exporter` command serves the shared cluster with
// basic auth and stops cleanly on SIGTERM.
func TestExporterCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("builds cmd/rediskit")
	}
	bin := filepath.Join(t.TempDir(), "rediskit")
	build := exec.Command("go", "build", "-o", bin, "../cmd/rediskit")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ../cmd/rediskit: %v\n%s", err, out)
	}
	tg := redistest.ClusterTarget(t)
	port, err := redisproc.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "exporter", "-addr", addr, "-latency-histograms", "get")
	cmd.Env = append(os.Environ(), "REDIS_NODES="+strings.Join(tg.Addrs, ","), "METRICS_USERNAME=prom", "METRICS_PASSWORD=pw")
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	get := func(user string) (int, string) {
		req, _ := http.NewRequest("GET", "http://"+addr+"/metrics", nil)
		req.SetBasicAuth(user, "pw")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	var body string
	redistest.Eventually(t, 30*time.Second, "exporter serving 6 nodes", func() bool {
		code, b := get("prom")
		body = b
		return code == http.StatusOK && strings.Count(b, "rediskit_redis_up{") == 6
	})
	if code, _ := get("intruder"); code != http.StatusUnauthorized {
		t.Errorf("wrong user: status %d, want 401", code)
	}
	if !strings.Contains(body, `rediskit_redis_cluster_state{`) {
		t.Errorf("no cluster_state in the exporter's output")
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("exporter exit: %v\n%s", err, out.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("exporter did not stop on SIGTERM\n%s", out.String())
	}
}
