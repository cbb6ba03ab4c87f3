package main

import (
	"context"
	"sort"
	"strings"
	"testing"
)

// Every row of the table is well formed, and every subcommand's -h and
// bad-flag output is recorded.
func TestGoldenUsage(t *testing.T) {
	if err := commands.Validate(); err != nil {
		t.Fatal(err)
	}
	setEnv(t, nil)
	ctx := context.Background()
	var all []string
	for _, args := range [][]string{{}, {"-h"}, {"nope"}} {
		all = append(all, transcript(ctx, args...))
	}
	golden(t, "usage", strings.Join(all, "\n"))
	for _, c := range commands.Commands {
		t.Run(c.Name, func(t *testing.T) {
			got := transcript(ctx, c.Name, "-h") + "\n" + transcript(ctx, c.Name, "-no-such-flag")
			golden(t, "usage_"+c.Name, got)
		})
	}
}

// Bad environment and bad arguments are named in the error, and a
// password pasted into a node list is never echoed.
func TestGoldenErrors(t *testing.T) {
	ctx := context.Background()
	empty := t.TempDir()
	cases := []struct {
		name string
		env  map[string]string
		args []string
	}{
		{"status_bad_port", map[string]string{"REDIS_NODES": "10.0.0.1:99999"}, []string{"status"}},
		{"status_secret_in_nodes", map[string]string{"REDIS_NODES": "redis://admin:hunter2@10.0.0.1:99999"}, []string{"status"}},
		{"status_no_deployment", nil, []string{"status", "-dir", empty}},
		{"analyze_bad_duration", map[string]string{"REDIS_NODES": "127.0.0.1:1", "REDIS_DIAL_TIMEOUT": "soon"}, []string{"analyze"}},
		{"analyze_extra_args", nil, []string{"analyze", "-json", "extra"}},
		{"smoke_bad_url", map[string]string{"REDIS_URL": "http://:secret@10.0.0.1:6379"}, []string{"smoke"}},
		{"exporter_bad_pool", map[string]string{"REDIS_NODES": "127.0.0.1:1", "REDIS_POOL_SIZE": "ten"}, []string{"exporter"}},
		{"exporter_url_and_nodes", map[string]string{"REDIS_NODES": "127.0.0.1:1", "REDIS_URL": "redis://127.0.0.1:2"}, []string{"exporter"}},
		{"down_not_running", nil, []string{"down", "-dir", empty}},
		{"up_bad_port", nil, []string{"up", "-port", "x"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			setEnv(t, tc.env)
			var env []string
			for k, v := range tc.env {
				env = append(env, k+"="+v)
			}
			sort.Strings(env)
			got := transcript(ctx, tc.args...)
			got = strings.ReplaceAll(got, empty, "TMPDIR")
			if strings.Contains(got, "hunter2") || strings.Contains(got, "secret") {
				t.Errorf("a password is echoed:\n%s", got)
			}
			if len(env) > 0 {
				got = "# env " + strings.Join(env, " ") + "\n" + got
			}
			golden(t, "error_"+tc.name, got)
		})
	}
}
