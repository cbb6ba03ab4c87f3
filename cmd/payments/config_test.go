package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rediskit/rediskit/session"
)

// TestConfigSessions checks the session format settings: connect-redis
// needs SESSION_SECRET, and the secrets never show in an error or a
// printed configuration.
func TestConfigSessions(t *testing.T) {
	env := func(kv ...string) func(string) (string, bool) {
		m := map[string]string{"REDIS_URL": "redis://127.0.0.1:6379", "DATABASE_URL": "postgres://x@127.0.0.1/db"}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
	}
	c, err := configFromEnv(env())
	if err != nil || c.Sessions.Format != session.FormatNative {
		t.Fatalf("default: %+v, %v", c.Sessions, err)
	}
	if _, err := configFromEnv(env("PAYMENTS_SESSION_FORMAT", "connect-redis")); err == nil || !strings.Contains(err.Error(), "SESSION_SECRET") {
		t.Errorf("connect-redis without a secret: %v", err)
	}
	if _, err := configFromEnv(env("PAYMENTS_SESSION_FORMAT", "redis-json")); err == nil || !strings.Contains(err.Error(), "PAYMENTS_SESSION_FORMAT") {
		t.Errorf("unknown format: %v", err)
	}
	_, err = configFromEnv(env("PAYMENTS_SESSION_FORMAT", "connect-redis", "SESSION_SECRET", "hunter2-new,hunter2-old", "SESSION_TTL", "-1"))
	if err == nil || !strings.Contains(err.Error(), "SESSION_TTL") || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("bad SESSION_TTL: %v", err)
	}
	c, err = configFromEnv(env("PAYMENTS_SESSION_FORMAT", "connect-redis", "SESSION_SECRET", "hunter2-new,hunter2-old", "SESSION_TTL", "600"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Sessions.Format != session.FormatConnectRedis || len(c.Sessions.Secrets) != 2 || c.Sessions.TTL != 10*time.Minute {
		t.Errorf("connect-redis: %v %d secrets, ttl %v", c.Sessions.Format, len(c.Sessions.Secrets), c.Sessions.TTL)
	}
	o := sessionOptions(c.Sessions, nil)
	if o.Secrets[0] != "hunter2-new" || o.IdleTimeout != 10*time.Minute || o.StoreTTL != 10*time.Minute {
		t.Errorf("session options: %v", o)
	}
	for _, s := range []string{fmt.Sprintf("%v", c), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c), fmt.Sprint(o)} {
		if strings.Contains(s, "hunter2") {
			t.Errorf("a secret is printed: %s", s)
		}
	}
}
