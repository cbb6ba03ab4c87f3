package redisconn

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// leaks reports every rendering of v that contains secret.
func leaks(v any, secret string) []string {
	var out []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		if s := fmt.Sprintf(verb, v); strings.Contains(s, secret) {
			out = append(out, verb+": "+s)
		}
	}
	if s, ok := v.(fmt.Stringer); ok && strings.Contains(s.String(), secret) {
		out = append(out, "String(): "+s.String())
	}
	if s, ok := v.(fmt.GoStringer); ok && strings.Contains(s.GoString(), secret) {
		out = append(out, "GoString(): "+s.GoString())
	}
	if e, ok := v.(error); ok && strings.Contains(e.Error(), secret) {
		out = append(out, "Error(): "+e.Error())
	}
	return out
}

// A password pasted into a node list, as ioredis accepts it, must never
// be echoed by an error, and a well-formed URL entry is accepted.
func TestNodeListURLsNeverLeak(t *testing.T) {
	const pw = "hunter2-Zq9"
	bad := []map[string]string{
		{"REDIS_NODES": "redis://:" + pw + "@h:99999"},
		{"REDIS_NODES": "rediss://bob:" + pw + "@h:6379/3"},
		{"REDIS_NODES": "bob:" + pw + "@h:6379"},
		{"REDIS_NODES": ":" + pw + "@h:6379"},
		{"REDIS_NODES": "redis://:" + pw + "@h:1,redis://:other@h:2"},
		{"REDIS_NODES": "redis://:" + pw + "@h:1", "REDIS_PASSWORD": "different"},
		{"REDIS_NODES": "redis://:" + pw + "@h:1,rediss://:" + pw + "@h:2"},
		{"REDIS_NODES": "redis://:" + pw + "@h:1?db=2"},
		{"REDIS_NODES": "http://:" + pw + "@h:1"},
		{"REDIS_NODES": "redis://:" + pw + "@"},
		{"REDIS_SENTINEL_ADDRS": "redis://:" + pw + "@s:0", "REDIS_SENTINEL_MASTER": "m"},
		{"REDIS_SENTINEL_ADDRS": "s:1;x:" + pw + "@s", "REDIS_SENTINEL_MASTER": "m"},
	}
	for _, env := range bad {
		c, err := FromLookup(lookup(env))
		if err == nil {
			t.Errorf("%v: accepted as %v", env, c)
			continue
		}
		if !errors.Is(err, ErrConfig) {
			t.Errorf("%v: %v is not ErrConfig", env, err)
		}
		if l := leaks(err, pw); len(l) > 0 {
			t.Errorf("secret leaked:\n%s", strings.Join(l, "\n"))
		}
	}

	c, err := FromLookup(lookup(map[string]string{"REDIS_NODES": "redis://bob:" + pw + "@h1:7000, redis://bob:" + pw + "@h2"}))
	if err != nil {
		t.Fatalf("URL node list: %v", err)
	}
	if got := strings.Join(c.Nodes, ","); got != "h1:7000,h2:6379" || c.Username != "bob" || c.Password != pw || c.TLS {
		t.Errorf("got nodes %s user %q password ok %v tls %v", got, c.Username, c.Password == pw, c.TLS)
	}
	if l := leaks(c, pw); len(l) > 0 {
		t.Errorf("secret leaked:\n%s", strings.Join(l, "\n"))
	}
	c, err = FromLookup(lookup(map[string]string{"REDIS_SENTINEL_ADDRS": "rediss://:" + pw + "@s1,s2:26380", "REDIS_SENTINEL_MASTER": "m"}))
	if err != nil {
		t.Fatalf("URL sentinel list: %v", err)
	}
	if got := strings.Join(c.SentinelAddrs, ","); got != "s1:26379,s2:26380" || c.SentinelPassword != pw || c.Password != "" || !c.TLS {
		t.Errorf("got sentinels %s password ok %v tls %v", got, c.SentinelPassword == pw, c.TLS)
	}
	// A Config built in code with userinfo in Nodes is refused without echo.
	code := Config{Nodes: []string{"u:" + pw + "@h:1"}}
	if err := code.Validate(); err == nil || len(leaks(err, pw)) > 0 {
		t.Errorf("Validate: %v", err)
	}
	if l := leaks(code, pw); len(l) > 0 {
		t.Errorf("secret leaked:\n%s", strings.Join(l, "\n"))
	}
}
