package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rediskit/rediskit/internal/testlog"

	"github.com/rediskit/rediskit/internal/redisproc"
	"github.com/rediskit/rediskit/internal/redistest"
)

// startDashboard runs `rediskit dashboard args...` until the test ends and
// returns its URL.
func startDashboard(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var out, errb testlog.Buffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, append([]string{"dashboard", "-listen", "127.0.0.1:0"}, args...), &out, &errb)
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("dashboard: %v", err)
		}
	})
	re := regexp.MustCompile(`serving (http://\S+)`)
	var url string
	redistest.Eventually(t, 10*time.Second, "dashboard prints its URL", func() bool {
		select {
		case err := <-done:
			t.Fatalf("dashboard exited: %v\n%s", err, errb.String())
		default:
		}
		if m := re.FindStringSubmatch(out.String()); m != nil {
			url = m[1]
			return true
		}
		return false
	})
	return url
}

func getJSON(t *testing.T, url, user, pass string, v any) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusOK && v != nil {
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("%s: %v: %s", url, err, b)
		}
	}
	return resp.StatusCode
}

func TestDashboardCommand(t *testing.T) {
	s := redistest.NewSingle(t, redisproc.ServerOptions{})
	t.Setenv("REDIS_NODES", s.Addr())
	t.Setenv("REDIS_URL", "")
	t.Setenv("REDIS_SENTINEL_ADDRS", "")
	t.Setenv("DASHBOARD_USER", "")
	t.Setenv("DASHBOARD_PASSWORD", "")
	t.Setenv("DASHBOARD_PASSWORD_FILE", "")

	var out, errb testlog.Buffer
	err := run(context.Background(), []string{"dashboard", "-write", "-listen", "127.0.0.1:0"}, &out, &errb)
	if err == nil || !strings.Contains(err.Error(), "DASHBOARD_USER") {
		t.Fatalf("-write without credentials: %v", err)
	}

	url := startDashboard(t)
	var sess struct{ ReadOnly bool }
	if code := getJSON(t, url+"api/session", "", "", &sess); code != http.StatusOK || !sess.ReadOnly {
		t.Errorf("default: %d read-only %v", code, sess.ReadOnly)
	}
	var cl struct{ Nodes []struct{ Up bool } }
	if code := getJSON(t, url+"api/cluster", "", "", &cl); code != http.StatusOK || len(cl.Nodes) != 1 || !cl.Nodes[0].Up {
		t.Errorf("cluster: %d %+v", code, cl)
	}

	pw := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pw, []byte("hunter2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DASHBOARD_USER", "ops")
	t.Setenv("DASHBOARD_PASSWORD_FILE", pw)
	url = startDashboard(t, "-write", "-prefix", "/admin")
	if !strings.HasSuffix(url, "/admin/") {
		t.Fatalf("url %s", url)
	}
	if code := getJSON(t, url+"api/session", "", "", nil); code != http.StatusUnauthorized {
		t.Errorf("no credentials: %d, want 401", code)
	}
	if code := getJSON(t, url+"api/session", "ops", "hunter2", &sess); code != http.StatusOK || sess.ReadOnly {
		t.Errorf("with credentials: %d read-only %v", code, sess.ReadOnly)
	}
}
