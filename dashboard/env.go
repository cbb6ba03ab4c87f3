package dashboard

import (
	"errors"
	"fmt"
	"os"
	"strings"
)

// CredentialsFromEnv reads the basic-auth credentials of a dashboard from
// DASHBOARD_USER and DASHBOARD_PASSWORD, or DASHBOARD_PASSWORD_FILE (a
// file holding the password; a trailing newline is dropped). lookup is
// os.LookupEnv or a stand-in. All unset means no credentials (empty
// user); a user without a password, or both password variables, is an
// error. The password never appears in an error.
func CredentialsFromEnv(lookup func(string) (string, bool)) (user, password string, err error) {
	get := func(k string) string { v, _ := lookup(k); return v }
	user, password = get("DASHBOARD_USER"), get("DASHBOARD_PASSWORD")
	if f := get("DASHBOARD_PASSWORD_FILE"); f != "" {
		if password != "" {
			return "", "", errors.New("dashboard: set DASHBOARD_PASSWORD or DASHBOARD_PASSWORD_FILE, not both")
		}
		b, err := os.ReadFile(f)
		if err != nil {
			return "", "", fmt.Errorf("dashboard: DASHBOARD_PASSWORD_FILE: %w", err)
		}
		password = strings.TrimRight(string(b), "\r\n")
		if password == "" {
			return "", "", fmt.Errorf("dashboard: DASHBOARD_PASSWORD_FILE %s is empty", f)
		}
	}
	if (user == "") != (password == "") {
		return "", "", errors.New("dashboard: set both DASHBOARD_USER and DASHBOARD_PASSWORD (or DASHBOARD_PASSWORD_FILE), or neither")
	}
	return user, password, nil
}
