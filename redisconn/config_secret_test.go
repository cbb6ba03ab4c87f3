package redisconn

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
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
		// An unescaped '#', '/' or '?' would make the rest of the password
		// the host (dialled, printed): found by the fuzzer.
		{"REDIS_URL": "rediss://:x@" + pw + "#@h:1"},
		{"REDIS_URL": "redis://:x@" + pw + "?a@h:1"},
		{"REDIS_URL": "redis://:x#" + pw + "@h:1"},
		{"REDIS_NODES": "redis://:x@" + pw + "/@h:1"},
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

// FuzzSecretsNeverPrinted plants a secret in every place a secret may be
// given (password variables, their _FILE contents, the userinfo of
// REDIS_URL and of node-list entries, escaped or raw) next to fuzzed
// values of the other variables, and checks that no error and no
// rendering of the Config ever contains any end of it. The secret is
// framed by markers that appear nowhere else, so a partial echo is
// caught too.
func FuzzSecretsNeverPrinted(f *testing.F) {
	f.Add(uint8(0), "pw", "", uint8(0), "", "h:1", "cluster", "2s")
	f.Add(uint8(5), "p@ss:w/rd", "x", uint8(1), "a:1", "", "", "")
	f.Add(uint8(6), "p,ss;w rd", "%zz", uint8(4), "", "", "sentinel", "3")
	f.Add(uint8(3), "p%40ss", "#?", uint8(6), "", "", "single", "x")
	f.Add(uint8(9), "pw", "", uint8(2), "", "", "", "")
	f.Add(uint8(1), "pw\n", "\r", uint8(0), "", "h:1", "", "")
	f.Add(uint8(7), "pw", "@", uint8(3), "b:2", "", "", "yes")
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, where uint8, x, y string, hostPick uint8, extra, nodes, mode, other string) {
		const m1, m2, m3 = "Zk9Q", "Xm4V", "Qj8W"
		secret := m1 + x + m2 + y + m3
		for _, v := range []string{extra, nodes, mode, other} {
			for _, m := range []string{m1, m2, m3} {
				if strings.Contains(v, m) {
					return // the marker must come from the secret only
				}
			}
		}
		hosts := []string{"h:1", "[::1]:6380", "h", "h:0", "h:99999", "", "h:1/2", "h:1?x=1", "h:1#f", "@h:1"}
		host := hosts[int(hostPick)%len(hosts)]
		esc := url.UserPassword("u", secret).String()
		env := map[string]string{"REDIS_NODES": nodes, "REDIS_MODE": mode, "REDIS_DIAL_TIMEOUT": other,
			"REDIS_DB": other, "REDIS_TLS": other, "REDIS_SENTINEL_MASTER": mode}
		list := func(entry string) string {
			if extra == "" {
				return entry
			}
			return extra + "," + entry
		}
		wantPw, wantSentPw := "", ""
		switch where % 11 {
		case 0:
			env["REDIS_PASSWORD"], wantPw = secret, secret
		case 1:
			p := filepath.Join(dir, "pw")
			if err := os.WriteFile(p, []byte(secret), 0o600); err != nil {
				t.Fatal(err)
			}
			env["REDIS_PASSWORD_FILE"] = p
		case 2:
			env["REDIS_SENTINEL_PASSWORD"], wantSentPw = secret, secret
		case 3:
			env["REDIS_URL"] = "redis://" + esc + "@" + host
		case 4:
			env["REDIS_URL"] = "rediss://:" + secret + "@" + host
		case 5:
			env["REDIS_NODES"] = list("redis://" + esc + "@" + host)
		case 6:
			env["REDIS_NODES"] = list("redis://:" + secret + "@" + host)
		case 7:
			env["REDIS_SENTINEL_ADDRS"] = list("rediss://" + esc + "@" + host)
		case 8:
			env["REDIS_SENTINEL_ADDRS"] = list("redis://u:" + secret + "@" + host)
		case 9:
			env["REDIS_NODES"] = list("u:" + secret + "@" + host)
		case 10:
			p := filepath.Join(dir, "spw")
			if err := os.WriteFile(p, []byte(secret+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			env["REDIS_SENTINEL_PASSWORD_FILE"] = p
		}
		c, err := FromLookup(lookup(env))
		var shown []any
		shown = append(shown, c, &c)
		if err != nil {
			var ce *ConfigError
			if !errors.As(err, &ce) || ce.Var == "" {
				t.Fatalf("error without a variable: %v", err)
			}
			shown = append(shown, err, ce, *ce)
		} else {
			if verr := c.Validate(); verr != nil {
				shown = append(shown, verr)
				t.Errorf("accepted config fails Validate: %v", verr)
			}
			if wantPw != "" && c.Password != wantPw || wantSentPw != "" && c.SentinelPassword != wantSentPw {
				t.Errorf("secret not taken as the password")
			}
		}
		for _, v := range shown {
			for _, m := range []string{m1, m2, m3} {
				if l := leaks(v, m); len(l) > 0 {
					t.Fatalf("part of the secret %q leaked:\n%s", secret, strings.Join(l, "\n"))
				}
			}
		}
	})
}
