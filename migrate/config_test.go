package migrate

import (
	"errors"
	"strings"
	"testing"

	"github.com/rediskit/rediskit/redisconn"
)

func lookupOf(env map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := env[k]; return v, ok }
}

func TestLoadConfig(t *testing.T) {
	env := map[string]string{
		"SOURCE_REDIS_NODES": "127.0.0.1:7000,127.0.0.1:7001", "SOURCE_REDIS_PASSWORD": "s3cret",
		"TARGET_REDIS_URL": "redis://u:pw@10.0.0.1:6380/2",
		"REDIS_NODES":      "127.0.0.1:9999", // unprefixed: ignored
	}
	src, err := LoadConfig(SourcePrefix, lookupOf(env))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(src.Nodes, ",") != "127.0.0.1:7000,127.0.0.1:7001" || src.Password != "s3cret" {
		t.Fatalf("source: %v", src)
	}
	dst, err := LoadConfig(TargetPrefix, lookupOf(env))
	if err != nil {
		t.Fatal(err)
	}
	if dst.Nodes[0] != "10.0.0.1:6380" || dst.DB != 2 || dst.Username != "u" {
		t.Fatalf("target: %v", dst)
	}
}

func TestLoadConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		env    map[string]string
		prefix string
		want   string
	}{
		{"missing", map[string]string{}, SourcePrefix, "SOURCE_REDIS_NODES"},
		{"bad node", map[string]string{"TARGET_REDIS_NODES": "nope"}, TargetPrefix, "TARGET_REDIS_NODES"},
		{"bad url", map[string]string{"SOURCE_REDIS_URL": "http://u:hunter2@h:1"}, SourcePrefix, "SOURCE_REDIS_URL"},
		{"both", map[string]string{"SOURCE_REDIS_URL": "redis://:hunter2@h:1", "SOURCE_REDIS_NODES": "h:1"}, SourcePrefix, "SOURCE_REDIS_URL"},
		{"sentinel", map[string]string{"SOURCE_REDIS_SENTINEL_ADDRS": "h:26379"}, SourcePrefix, "SOURCE_REDIS_SENTINEL_MASTER"},
		{"pw file", map[string]string{"TARGET_REDIS_NODES": "h:1", "TARGET_REDIS_PASSWORD_FILE": "/nonexistent/x"}, TargetPrefix, "TARGET_REDIS_PASSWORD_FILE"},
		{"timeout", map[string]string{"TARGET_REDIS_NODES": "h:1", "TARGET_REDIS_DIAL_TIMEOUT": "soon"}, TargetPrefix, "TARGET_REDIS_DIAL_TIMEOUT"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadConfig(tc.prefix, lookupOf(tc.env))
			if err == nil {
				t.Fatal("no error")
			}
			if !errors.Is(err, redisconn.ErrConfig) {
				t.Errorf("%v does not match redisconn.ErrConfig", err)
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.want) {
				t.Errorf("error %q does not name %s", msg, tc.want)
			}
			if strings.Contains(msg, "hunter2") {
				t.Errorf("error %q echoes the secret", msg)
			}
			if strings.Contains(strings.ReplaceAll(msg, tc.prefix+"REDIS_", ""), "REDIS_") {
				t.Errorf("error %q names an unprefixed variable", msg)
			}
		})
	}
}
