package redisconn

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func lookup(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestFromLookupValid(t *testing.T) {
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "pw")
	if err := os.WriteFile(pwFile, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		env   map[string]string
		check func(t *testing.T, c Config)
	}{
		{"nodes", map[string]string{"REDIS_NODES": "10.0.0.1:7000, 10.0.0.2:7001", "REDIS_MODE": "cluster"}, func(t *testing.T, c Config) {
			if len(c.Nodes) != 2 || c.Nodes[1] != "10.0.0.2:7001" || c.Mode != ModeCluster {
				t.Errorf("got %v %v", c.Nodes, c.Mode)
			}
		}},
		{"url with tls, user, db", map[string]string{"REDIS_URL": "rediss://alice:p%40ss@cache.example:6380/2"}, func(t *testing.T, c Config) {
			if !c.TLS || c.Username != "alice" || c.Password != "p@ss" || c.DB != 2 || c.Nodes[0] != "cache.example:6380" {
				t.Errorf("got %+v", c)
			}
		}},
		{"url password only, default port, many hosts", map[string]string{"REDIS_URL": "redis://:pw@a,b:7001"}, func(t *testing.T, c Config) {
			if c.Password != "pw" || c.Username != "" || len(c.Nodes) != 2 || c.Nodes[0] != "a:6379" {
				t.Errorf("got %+v", c)
			}
		}},
		{"secret file", map[string]string{"REDIS_NODES": "h:1", "REDIS_PASSWORD_FILE": pwFile}, func(t *testing.T, c Config) {
			if c.Password != "from-file" {
				t.Errorf("password %q", c.Password)
			}
		}},
		{"durations and numbers", map[string]string{"REDIS_NODES": "h:1", "REDIS_DIAL_TIMEOUT": "250", "REDIS_READ_TIMEOUT": "2s", "REDIS_POOL_SIZE": "32", "REDIS_MAX_RETRIES": "-1", "REDIS_READ_FROM_REPLICAS": "yes", "REDIS_RETRY_CAP": "1s"}, func(t *testing.T, c Config) {
			if c.DialTimeout != 250*time.Millisecond || c.ReadTimeout != 2*time.Second || c.PoolSize != 32 || c.MaxRetries != -1 || !c.ReadFromReplicas || c.RetryCap != time.Second {
				t.Errorf("got %+v", c)
			}
		}},
		{"sentinel", map[string]string{"REDIS_SENTINEL_ADDRS": "s1:26379,s2:26379", "REDIS_SENTINEL_MASTER": "mymaster"}, func(t *testing.T, c Config) {
			if len(c.SentinelAddrs) != 2 || c.SentinelMaster != "mymaster" {
				t.Errorf("got %+v", c)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := FromLookup(lookup(tc.env))
			if err != nil {
				t.Fatalf("FromLookup: %v", err)
			}
			tc.check(t, c)
		})
	}
}

func TestFromLookupErrorsNameTheVariable(t *testing.T) {
	cases := []struct {
		env     map[string]string
		wantVar string
	}{
		{map[string]string{}, "REDIS_NODES"},
		{map[string]string{"REDIS_NODES": "localhost"}, "REDIS_NODES"},
		{map[string]string{"REDIS_NODES": "h:99999"}, "REDIS_NODES"},
		{map[string]string{"REDIS_NODES": "h:1", "REDIS_MODE": "clustr"}, "REDIS_MODE"},
		{map[string]string{"REDIS_NODES": "h:1", "REDIS_POOL_SIZE": "ten"}, "REDIS_POOL_SIZE"},
		{map[string]string{"REDIS_NODES": "h:1", "REDIS_DIAL_TIMEOUT": "-3s"}, "REDIS_DIAL_TIMEOUT"},
		{map[string]string{"REDIS_NODES": "h:1", "REDIS_TLS": "maybe"}, "REDIS_TLS"},
		{map[string]string{"REDIS_NODES": "h:1", "REDIS_TLS_CA": "/nonexistent/ca.pem"}, "REDIS_TLS_CA"},
		{map[string]string{"REDIS_NODES": "h:1", "REDIS_TLS_CERT": "/x"}, "REDIS_TLS_CERT"},
		{map[string]string{"REDIS_NODES": "h:1", "REDIS_PASSWORD_FILE": "/nonexistent/pw"}, "REDIS_PASSWORD_FILE"},
		{map[string]string{"REDIS_NODES": "h:1", "REDIS_PASSWORD": "a", "REDIS_PASSWORD_FILE": "/x"}, "REDIS_PASSWORD"},
		{map[string]string{"REDIS_URL": "http://h:1"}, "REDIS_URL"},
		{map[string]string{"REDIS_URL": "redis://h:1", "REDIS_NODES": "h:2"}, "REDIS_URL"},
		{map[string]string{"REDIS_URL": "redis://h:1/abc"}, "REDIS_URL"},
		{map[string]string{"REDIS_URL": "redis://h:1/0?family=6"}, "REDIS_URL"},
		{map[string]string{"REDIS_URL": "redis://h:1#x"}, "REDIS_URL"},
		{map[string]string{"REDIS_SENTINEL_ADDRS": "s:1"}, "REDIS_SENTINEL_MASTER"},
		{map[string]string{"REDIS_NODES": "h:1", "REDIS_MODE": "cluster", "REDIS_DB": "3"}, "REDIS_DB"},
		{map[string]string{"REDIS_NODES": "h:1", "REDIS_MODE": "sentinel"}, "REDIS_SENTINEL_ADDRS"},
	}
	for _, tc := range cases {
		_, err := FromLookup(lookup(tc.env))
		var ce *ConfigError
		if !errors.As(err, &ce) || !errors.Is(err, ErrConfig) {
			t.Errorf("%v: err = %v, want a *ConfigError", tc.env, err)
			continue
		}
		if ce.Var != tc.wantVar || !strings.Contains(err.Error(), tc.wantVar) {
			t.Errorf("%v: error %q names %s, want %s", tc.env, err, ce.Var, tc.wantVar)
		}
	}
}

func TestSecretsNeverPrinted(t *testing.T) {
	const secret = "hunter2-very-secret"
	c, err := FromLookup(lookup(map[string]string{"REDIS_URL": "redis://bob:" + secret + "@h:1/0"}))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{c.String(), c.GoString()} {
		if strings.Contains(s, secret) {
			t.Fatalf("secret in %q", s)
		}
	}
	_, err = FromLookup(lookup(map[string]string{"REDIS_URL": "redis://bob:" + secret + "@h:1/notadb"}))
	if err == nil || strings.Contains(err.Error(), secret) {
		t.Fatalf("err %v leaks or is nil", err)
	}
}

func FuzzFromLookup(f *testing.F) {
	f.Add("redis://u:pw@h:1/0", "h:1", "cluster", "2s", "10")
	f.Add("rediss://:pw@[::1]:6380", "", "", "", "")
	f.Add("", "a:1,b:2", "auto", "100", "-1")
	f.Fuzz(func(t *testing.T, url, nodes, mode, dur, num string) {
		const pw = "S3CR3T-pass-XYZ"
		env := map[string]string{"REDIS_URL": url, "REDIS_NODES": nodes, "REDIS_MODE": mode,
			"REDIS_DIAL_TIMEOUT": dur, "REDIS_POOL_SIZE": num, "REDIS_PASSWORD": pw}
		c, err := FromLookup(lookup(env))
		if err != nil {
			var ce *ConfigError
			if !errors.As(err, &ce) || ce.Var == "" {
				t.Fatalf("error without variable: %v", err)
			}
			if strings.Contains(err.Error(), pw) {
				t.Fatalf("password leaked: %v", err)
			}
			return
		}
		if strings.Contains(c.String(), pw) {
			t.Fatal("password in String")
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("accepted config fails Validate: %v", err)
		}
	})
}

func TestLinearBackoff(t *testing.T) {
	b := LinearBackoff(100*time.Millisecond, 3*time.Second)
	for _, c := range []struct {
		n    int
		want time.Duration
	}{{1, 100 * time.Millisecond}, {5, 500 * time.Millisecond}, {30, 3 * time.Second}, {1000, 3 * time.Second}} {
		if got := b(c.n); got != c.want {
			t.Errorf("backoff(%d) = %v, want %v", c.n, got, c.want)
		}
	}
}
