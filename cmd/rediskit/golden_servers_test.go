package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/rediskit/rediskit/internal/testlog"

	"github.com/rediskit/rediskit/internal/redisproc"
	"github.com/rediskit/rediskit/internal/redistest"
)

// statusTable normalizes the node table of status and smoke: addresses,
// sizes, fragmentation, client counts and the server version change from
// run to run; roles, slots, policies and states do not. Which port got
// which slot range changes too, so node rows are sorted after their
// addresses are replaced.
func statusTable(n *normalizer, s string) string {
	lines := strings.Split(n.table(s), "\n")
	var rows []int
	for i, l := range lines {
		f := strings.Split(l, "  ")
		// NODE ROLE MASTER SLOTS USED MAXMEMORY POLICY FRAG CLIENTS VERSION STATE
		if len(f) < 11 || !strings.HasPrefix(f[0], "ADDR") {
			continue
		}
		f[0], f[7], f[8], f[9] = "ADDR", "FRAG", "N", "VERSION"
		if f[2] != "-" {
			f[2] = "ADDR"
		}
		lines[i] = strings.Join(f, "  ")
		rows = append(rows, i)
	}
	if len(rows) > 0 {
		block := lines[rows[0] : rows[len(rows)-1]+1]
		sort.Strings(block)
	}
	return strings.Join(lines, "\n")
}

// marshal renders decoded JSON for a golden file.
func marshal(t *testing.T, v any) string {
	t.Helper()
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestGoldenStatus(t *testing.T) {
	redistest.ForEach(t, func(t *testing.T, tg redistest.Target) {
		setEnv(t, map[string]string{"REDIS_NODES": strings.Join(tg.Addrs, ",")})
		got := transcript(context.Background(), "status")
		golden(t, "status_"+tg.Name, statusTable(newNormalizer(), got))
	})
}

func TestGoldenStatusJSON(t *testing.T) {
	redistest.ForEach(t, func(t *testing.T, tg redistest.Target) {
		setEnv(t, map[string]string{"REDIS_NODES": strings.Join(tg.Addrs, ",")})
		var out, errb testlog.Buffer
		err := run(context.Background(), []string{"status", "-json"}, &out, &errb)
		if err != nil {
			t.Fatalf("status -json: %v\n%s", err, errb.String())
		}
		var v any
		if err := json.Unmarshal([]byte(out.String()), &v); err != nil {
			t.Fatalf("status -json printed no JSON: %v\n%s", err, out.String())
		}
		volatile(v, map[string]bool{"UsedMemory": true, "Fragmentation": true, "Clients": true, "Version": true,
			"ID": true, "MasterID": true, "Addr": true})
		// Which port got which slots changes from run to run: sort the
		// nodes once their addresses are gone.
		if top, ok := v.(map[string]any); ok {
			if nodes, ok := top["Nodes"].([]any); ok {
				for _, nd := range nodes {
					if m, ok := nd.(map[string]any); ok && m["MasterAddr"] != "" {
						m["MasterAddr"] = "<string>"
					}
				}
				sort.Slice(nodes, func(i, j int) bool { return marshal(t, nodes[i]) < marshal(t, nodes[j]) })
			}
		}
		golden(t, "status_json_"+tg.Name, marshal(t, v))
	})
}

// volatile replaces the values of the named keys, wherever they are in
// decoded JSON, by a placeholder that keeps their type visible.
func volatile(v any, keys map[string]bool) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if keys[k] {
				x[k] = fmt.Sprintf("<%s>", map[bool]string{true: "number", false: fmt.Sprintf("%T", e)}[isNumber(e)])
				continue
			}
			volatile(e, keys)
		}
	case []any:
		for _, e := range x {
			volatile(e, keys)
		}
	}
}

func isNumber(v any) bool { _, ok := v.(float64); return ok }

// analyze -json over seeded keys: patterns, counts, encodings and TTL
// shares are stable; sizes, timings and the per-node split are not.
func TestGoldenAnalyzeJSON(t *testing.T) {
	redistest.ForEach(t, func(t *testing.T, tg redistest.Target) {
		ctx := context.Background()
		c := tg.Client(t)
		p := "golden" + strings.NewReplacer("-", "").Replace(redistest.Unique(t))
		pipe := c.Pipeline()
		for i := range 40 {
			pipe.Set(ctx, fmt.Sprintf("%s:user:%d", p, i), strings.Repeat("u", 20), 0)
		}
		for i := range 10 {
			pipe.HSet(ctx, fmt.Sprintf("%s:cart:%d", p, i), "sku", "1", "qty", "2")
			pipe.Expire(ctx, fmt.Sprintf("%s:cart:%d", p, i), time.Hour)
		}
		for i := range 3 {
			pipe.RPush(ctx, fmt.Sprintf("%s:jobs:%d", p, i), "a", "b", "c")
		}
		if _, err := pipe.Exec(ctx); err != nil {
			t.Fatal(err)
		}
		setEnv(t, map[string]string{"REDIS_NODES": strings.Join(tg.Addrs, ",")})
		var out, errb testlog.Buffer
		err := run(ctx, []string{"analyze", "-json", "-match", p + ":*", "-sample", "1", "-rate", "-1", "-progress", "off"}, &out, &errb)
		if err != nil {
			t.Fatalf("analyze: %v\n%s", err, errb.String())
		}
		var v map[string]any
		if err := json.Unmarshal([]byte(out.String()), &v); err != nil {
			t.Fatalf("analyze -json printed no JSON: %v\n%s", err, out.String())
		}
		if n, ok := v["nodes"].([]any); ok {
			v["nodes"] = fmt.Sprintf("<%d nodes>", len(n))
		}
		volatile(v, map[string]bool{"started": true, "duration_ns": true, "ops_per_second": true, "commands": true,
			"bytes": true, "avg_bytes": true, "p50": true, "p99": true, "max": true, "top": true, "confidence": true,
			"saving": true, "bucketed_bytes": true, "biggest": true, "bytes_low": true, "bytes_high": true})
		golden(t, "analyze_json_"+tg.Name, strings.ReplaceAll(marshal(t, v), p, "PREFIX"))
	})
}

var rePhase = regexp.MustCompile(`(?m)^(.{28}) +\d+ ops in \S+ = +\d+ ops/s, \d+ failed$`)

func TestGoldenSmoke(t *testing.T) {
	redistest.ForEach(t, func(t *testing.T, tg redistest.Target) {
		setEnv(t, map[string]string{"REDIS_NODES": strings.Join(tg.Addrs, ",")})
		got := transcript(context.Background(), "smoke", "-duration", "50ms", "-workers", "2")
		if m := rePhase.FindAllString(got, -1); len(m) != 3 {
			t.Fatalf("want 3 phase lines, got %d:\n%s", len(m), got)
		}
		got = rePhase.ReplaceAllString(got, "$1 N ops in DURATION = N ops/s, N failed")
		golden(t, "smoke_"+tg.Name, statusTable(newNormalizer(), got))
	})
}

var reTypeLine = regexp.MustCompile(`(?m)^# TYPE (\S+) (\S+)$`)

// The exporter starts, serves one scrape that covers the deployment, and
// stops when its context ends.
func TestGoldenExporter(t *testing.T) {
	redistest.ForEach(t, func(t *testing.T, tg redistest.Target) {
		// Some families exist only once the server has keys, keys with a
		// TTL, hits, misses and error replies: make sure it has them all.
		c, k := tg.Client(t), redistest.Unique(t)
		bg := context.Background()
		if err := c.Set(bg, k, "v", time.Hour).Err(); err != nil {
			t.Fatal(err)
		}
		_ = c.Get(bg, k).Err()
		_ = c.Get(bg, k+":missing").Err()
		if err := c.Do(bg, "INCR", k).Err(); err == nil {
			t.Fatal("INCR of a non-number succeeded")
		}
		setEnv(t, map[string]string{"REDIS_NODES": strings.Join(tg.Addrs, ",")})
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var out, errb testlog.Buffer
		done := make(chan error, 1)
		go func() { done <- run(ctx, []string{"exporter", "-addr", "127.0.0.1:0"}, &out, &errb) }()
		reURL := regexp.MustCompile(`http://(\S+)/metrics`)
		var url string
		redistest.Eventually(t, 10*time.Second, "exporter prints its address", func() bool {
			select {
			case err := <-done:
				t.Fatalf("exporter ended: %v\n%s", err, errb.String())
			default:
			}
			m := reURL.FindStringSubmatch(out.String())
			if m != nil {
				url = m[0]
			}
			return m != nil
		})
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("scrape: %v %s", err, resp.Status)
		}
		var fams []string
		for _, m := range reTypeLine.FindAllStringSubmatch(string(body), -1) {
			// The slowlog summaries exist only once a command was slow:
			// on a busy machine, some are.
			if strings.HasPrefix(m[1], "rediskit_redis_slowlog_") && m[1] != "rediskit_redis_slowlog_length" {
				continue
			}
			if strings.HasPrefix(m[1], "redis") {
				fams = append(fams, m[1]+" "+m[2])
			}
		}
		sort.Strings(fams)
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("exporter after cancel: %v", err)
		}
		n := newNormalizer()
		n.ports["127.0.0.1:0"] = "127.0.0.1:0"
		for _, a := range tg.Addrs {
			n.addr(a)
		}
		got := render([]string{"exporter", "-addr", "127.0.0.1:0"}, out.String(), errb.String(), nil)
		got = n.apply(got) + "-- metric families --\n" + strings.Join(fams, "\n") + "\n"
		golden(t, "exporter_"+tg.Name, got)
	})
}

// status through sentinels: REDIS_SENTINEL_ADDRS and the master's name.
func TestGoldenStatusSentinel(t *testing.T) {
	st := redistest.NewSentinel(t, redisproc.SentinelOptions{Sentinels: 1, Args: []string{"maxmemory-policy noeviction"}})
	setEnv(t, map[string]string{"REDIS_SENTINEL_ADDRS": strings.Join(st.SentinelAddrs(), ","), "REDIS_SENTINEL_MASTER": st.MasterName})
	got := transcript(context.Background(), "status")
	golden(t, "status_sentinel", statusTable(newNormalizer(), got))
}
