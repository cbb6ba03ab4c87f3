package migrate

import (
	"errors"
	"fmt"
	"strings"

	"github.com/rediskit/rediskit/redisconn"
)

// Prefixes of the environment variables that configure the two sides:
// SOURCE_REDIS_NODES, TARGET_REDIS_URL, SOURCE_REDIS_SENTINEL_ADDRS, ...
const (
	SourcePrefix = "SOURCE_"
	TargetPrefix = "TARGET_"
)

// LoadConfig reads one side's redisconn configuration through lookup
// (os.LookupEnv-like), with every variable name prefixed by prefix
// (SourcePrefix or TargetPrefix): SOURCE_REDIS_NODES, SOURCE_REDIS_URL,
// SOURCE_REDIS_SENTINEL_*, SOURCE_REDIS_PASSWORD[_FILE], ... It is
// redisconn.FromLookup with the names rewritten, so every rule and
// default is the same. Errors match redisconn.ErrConfig, name the
// prefixed variable and never carry a secret.
func LoadConfig(prefix string, lookup func(string) (string, bool)) (redisconn.Config, error) {
	cfg, err := redisconn.FromLookup(func(name string) (string, bool) { return lookup(prefix + name) })
	if err != nil {
		return cfg, PrefixError(prefix, err)
	}
	return cfg, nil
}

// PrefixError rewrites the variable names in a redisconn error (a
// *redisconn.ConfigError, or REDIS_ names in its text) so they carry
// prefix. Other errors are returned as they are.
func PrefixError(prefix string, err error) error {
	if err == nil {
		return nil
	}
	var ce *redisconn.ConfigError
	if errors.As(err, &ce) {
		c := *ce
		c.Var = prefix + c.Var
		c.Want = prefixNames(prefix, c.Want)
		return &c
	}
	return &sideError{prefix: prefix, err: err}
}

// sideError names the side (SOURCE_/TARGET_) of a connection error while
// keeping the cause matchable.
type sideError struct {
	prefix string
	err    error
}

func (e *sideError) Error() string {
	side := strings.ToLower(strings.TrimSuffix(e.prefix, "_"))
	return fmt.Sprintf("%s (%sREDIS_*): %s", side, e.prefix, prefixNames(e.prefix, e.err.Error()))
}

func (e *sideError) Unwrap() error { return e.err }

// prefixNames prefixes every REDIS_ variable name in s that is not
// prefixed yet.
func prefixNames(prefix, s string) string {
	var b strings.Builder
	for {
		i := strings.Index(s, "REDIS_")
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i])
		if !strings.HasSuffix(s[:i], prefix) {
			b.WriteString(prefix)
		}
		b.WriteString("REDIS_")
		s = s[i+len("REDIS_"):]
	}
}
