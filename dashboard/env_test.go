package dashboard

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCredentialsFromEnv(t *testing.T) {
	pw := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pw, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		env        map[string]string
		user, pass string
		err        string
	}{
		{env: map[string]string{}},
		{env: map[string]string{"DASHBOARD_USER": "ops", "DASHBOARD_PASSWORD": "p"}, user: "ops", pass: "p"},
		{env: map[string]string{"DASHBOARD_USER": "ops", "DASHBOARD_PASSWORD_FILE": pw}, user: "ops", pass: "from-file"},
		{env: map[string]string{"DASHBOARD_USER": "ops"}, err: "set both"},
		{env: map[string]string{"DASHBOARD_PASSWORD": "secret-value"}, err: "set both"},
		{env: map[string]string{"DASHBOARD_USER": "ops", "DASHBOARD_PASSWORD": "x", "DASHBOARD_PASSWORD_FILE": pw}, err: "not both"},
		{env: map[string]string{"DASHBOARD_USER": "ops", "DASHBOARD_PASSWORD_FILE": pw + "-missing"}, err: "DASHBOARD_PASSWORD_FILE"},
	} {
		u, p, err := CredentialsFromEnv(func(k string) (string, bool) { v, ok := c.env[k]; return v, ok })
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) || strings.Contains(err.Error(), "secret-value") {
				t.Errorf("%v: err %v, want %q", c.env, err, c.err)
			}
			continue
		}
		if err != nil || u != c.user || p != c.pass {
			t.Errorf("%v: %q %q %v", c.env, u, p, err)
		}
	}
}
