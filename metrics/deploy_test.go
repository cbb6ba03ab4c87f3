package metrics_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

const (
	rulesDir      = "../deploy/prometheus"
	dashboardPath = "../deploy/grafana/rediskit.json"
)

func TestPrometheusRulesCheck(t *testing.T) {
	out := runPromtool(t, nil, "check", "rules", filepath.Join(rulesDir, "rules.yml"), filepath.Join(rulesDir, "alerts.yml"))
	if !strings.Contains(out, "SUCCESS") {
		t.Fatalf("promtool check rules:\n%s", out)
	}
}

func TestPrometheusExampleConfigCheck(t *testing.T) {
	runPromtool(t, nil, "check", "config", filepath.Join(rulesDir, "prometheus.example.yml"))
}

// The unit tests in alerts_test.yml feed series to RedisNodeDown,
// RedisMasterWithoutReplica, RedisDangerousCommands, RedisMemoryNearMax,
// QueueStalledJobs, LockLost, RedisEvictionsOnQueueNode, CacheHitRateDrop
// and QueueBacklogGrowing.
func TestPrometheusRulesUnitTests(t *testing.T) {
	out := runPromtool(t, nil, "test", "rules", filepath.Join(rulesDir, "alerts_test.yml"))
	if !strings.Contains(out, "SUCCESS") {
		t.Fatalf("promtool test rules:\n%s", out)
	}
}

// dashboard is the part of the Grafana dashboard model that Grafana
// requires to import a dashboard and draw its panels.
type dashboard struct {
	UID           *string  `json:"uid"`
	Title         *string  `json:"title"`
	SchemaVersion *int     `json:"schemaVersion"`
	Panels        []*panel `json:"panels"`
	Templating    *struct {
		List []struct {
			Name string `json:"name"`
			Type string `json:"type"`
		} `json:"list"`
	} `json:"templating"`
	Time *struct {
		From string `json:"from"`
		To   string `json:"to"`
	} `json:"time"`
}

type panel struct {
	ID         *int   `json:"id"`
	Type       string `json:"type"`
	Title      string `json:"title"`
	Datasource *struct {
		Type string `json:"type"`
		UID  string `json:"uid"`
	} `json:"datasource"`
	GridPos *struct {
		H, W, X, Y *int
	} `json:"gridPos"`
	Targets []struct {
		Expr  string `json:"expr"`
		RefID string `json:"refId"`
	} `json:"targets"`
	Panels []*panel `json:"panels"`
}

var panelTypes = map[string]bool{"row": true, "timeseries": true, "stat": true, "table": true, "gauge": true, "bargauge": true, "heatmap": true, "text": true}

func TestGrafanaDashboardSchema(t *testing.T) {
	raw, err := os.ReadFile(dashboardPath)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("dashboard JSON: %v", err)
	}
	switch {
	case d.UID == nil || !regexp.MustCompile(`^[a-zA-Z0-9_-]{1,40}$`).MatchString(*d.UID):
		t.Errorf("uid missing or invalid: %v", d.UID)
	case d.Title == nil || *d.Title == "":
		t.Errorf("title missing")
	case d.SchemaVersion == nil || *d.SchemaVersion < 30:
		t.Errorf("schemaVersion missing or older than 30: %v", d.SchemaVersion)
	case d.Time == nil || d.Time.From == "":
		t.Errorf("time range missing")
	case len(d.Panels) < 10:
		t.Errorf("only %d panels", len(d.Panels))
	}
	vars := map[string]bool{}
	if d.Templating != nil {
		for _, v := range d.Templating.List {
			vars[v.Name] = true
		}
	}
	if !vars["datasource"] || !vars["job"] {
		t.Errorf("template variables = %v, want datasource and job", vars)
	}
	ids := map[int]bool{}
	type cell struct{ x, y int }
	used := map[cell]string{}
	var exprs []string
	for _, p := range d.Panels {
		where := fmt.Sprintf("panel %q", p.Title)
		if p.ID == nil || ids[*p.ID] {
			t.Errorf("%s: id missing or duplicate", where)
		} else {
			ids[*p.ID] = true
		}
		if !panelTypes[p.Type] {
			t.Errorf("%s: unknown type %q", where, p.Type)
		}
		if p.Title == "" {
			t.Errorf("panel %v: no title", p.ID)
		}
		g := p.GridPos
		if g == nil || g.H == nil || g.W == nil || g.X == nil || g.Y == nil {
			t.Errorf("%s: gridPos needs h, w, x, y", where)
			continue
		}
		if *g.W < 1 || *g.X < 0 || *g.X+*g.W > 24 || *g.H < 1 || *g.Y < 0 {
			t.Errorf("%s: gridPos %d,%d %dx%d outside the 24-column grid", where, *g.X, *g.Y, *g.W, *g.H)
		}
		for dx := range *g.W {
			for dy := range *g.H {
				c := cell{*g.X + dx, *g.Y + dy}
				if other, ok := used[c]; ok {
					t.Errorf("%s overlaps %s at %v", where, other, c)
				}
				used[c] = p.Title
			}
		}
		if p.Type == "row" {
			continue
		}
		if p.Datasource == nil || p.Datasource.UID == "" {
			t.Errorf("%s: no datasource", where)
		}
		if len(p.Targets) == 0 {
			t.Errorf("%s: no targets", where)
		}
		refs := map[string]bool{}
		for _, tg := range p.Targets {
			if tg.Expr == "" || tg.RefID == "" || refs[tg.RefID] {
				t.Errorf("%s: target without expr or with a missing/duplicate refId: %+v", where, tg)
			}
			refs[tg.RefID] = true
			exprs = append(exprs, tg.Expr)
		}
	}
	checkExprs(t, exprs)
}

// checkExprs has promtool parse every dashboard expression (with the
// Grafana variables replaced) as a recording rule.
func checkExprs(t *testing.T, exprs []string) {
	t.Helper()
	var b strings.Builder
	b.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	r := strings.NewReplacer("$__rate_interval", "5m", "$job", ".*")
	for i, e := range exprs {
		q, _ := json.Marshal(r.Replace(e))
		fmt.Fprintf(&b, "      - record: dashboard:expr_%d\n        expr: %s\n", i, q)
	}
	path := filepath.Join(t.TempDir(), "dashboard-exprs.yml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	runPromtool(t, nil, "check", "rules", path)
}
