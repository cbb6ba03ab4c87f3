package redisconn

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// Mode is the kind of deployment.
type Mode string

// Modes. ModeAuto asks the servers.
const (
	ModeAuto     Mode = "auto"
	ModeCluster  Mode = "cluster"
	ModeSentinel Mode = "sentinel"
	ModeSingle   Mode = "single"
)

// Config describes how to reach a deployment. The zero value is not
// usable: set Nodes (or URL), or SentinelAddrs and SentinelMaster.
// Every other field's zero value means the default stated on it.
// A Config is plain data: safe to copy, not to mutate concurrently.
type Config struct {
	// Nodes are host:port seeds (REDIS_NODES). In REDIS_NODES and
	// REDIS_SENTINEL_ADDRS an entry may also be written as ioredis accepts
	// it, redis://[user[:password]@]host[:port] or rediss://...: the port
	// defaults to 6379 (26379 for sentinels), rediss turns TLS on, and the
	// userinfo becomes Username/Password (SentinelUsername/Password for
	// sentinels). Every entry with userinfo must carry the same; a
	// REDIS_*USERNAME/PASSWORD variable that says otherwise is an error,
	// and so are a database, query or fragment in an entry. Errors never
	// echo what stands before an entry's '@'. Nodes themselves are plain
	// host:port.
	Nodes []string
	// Mode selects the client kind (REDIS_MODE). Zero means ModeAuto:
	// sentinel when SentinelAddrs is set, else what the first reachable
	// node reports (cluster or standalone).
	Mode Mode
	// SentinelAddrs are the sentinels' host:port (REDIS_SENTINEL_ADDRS).
	SentinelAddrs []string
	// SentinelMaster is the monitored master name (REDIS_SENTINEL_MASTER).
	SentinelMaster string
	// SentinelUsername and SentinelPassword authenticate to the sentinels
	// (REDIS_SENTINEL_USERNAME, REDIS_SENTINEL_PASSWORD[_FILE]). Empty: none.
	SentinelUsername, SentinelPassword string
	// Username and Password for AUTH / ACL (REDIS_USERNAME[_FILE],
	// REDIS_PASSWORD[_FILE]). Empty means no AUTH (or the "default" user
	// when only Password is set).
	Username, Password string
	// DB is the database number for single and sentinel modes (REDIS_DB).
	// Zero means 0. A cluster only has DB 0; a non-zero DB is an error there.
	DB int

	// TLS turns TLS on (REDIS_TLS, or a rediss:// URL). Certificates are
	// verified unless TLSInsecure is set.
	TLS bool
	// TLSCA is a PEM file of CAs to trust (REDIS_TLS_CA). Empty means the
	// system roots.
	TLSCA string
	// TLSCert and TLSKey are a client certificate for mutual TLS
	// (REDIS_TLS_CERT, REDIS_TLS_KEY). Empty means none.
	TLSCert, TLSKey string
	// TLSServerName is the name checked in server certificates
	// (REDIS_TLS_SERVER_NAME). Empty means the host dialled; set it when
	// cluster nodes announce IP addresses that the certificate lacks.
	TLSServerName string
	// TLSInsecure skips certificate verification (REDIS_TLS_INSECURE).
	// Only an explicit opt-out; never a default.
	TLSInsecure bool

	// DialTimeout (REDIS_DIAL_TIMEOUT). Zero means 2 s.
	DialTimeout time.Duration
	// ReadTimeout (REDIS_READ_TIMEOUT). Zero means 3 s.
	ReadTimeout time.Duration
	// WriteTimeout (REDIS_WRITE_TIMEOUT). Zero means ReadTimeout.
	WriteTimeout time.Duration
	// PoolSize is connections per node (REDIS_POOL_SIZE). Zero means
	// go-redis's default, 10 per CPU.
	PoolSize int
	// ReadFromReplicas routes read-only commands to replicas
	// (REDIS_READ_FROM_REPLICAS). Zero means reads go to masters.
	ReadFromReplicas bool
	// ClientName is sent with CLIENT SETNAME (REDIS_CLIENT_NAME). Empty
	// means none.
	ClientName string

	// MaxRetries bounds retries of a command after a retryable failure
	// (REDIS_MAX_RETRIES). Zero means 10, which with the default backoff
	// spans about 5.5 s: longer than a cluster failover. -1 disables.
	MaxRetries int
	// RetryBackoff returns the pause before retry attempt n (1-based).
	// Nil means the article's min(n*RetryStep, RetryCap).
	RetryBackoff func(attempt int) time.Duration
	// RetryStep (REDIS_RETRY_STEP). Zero means 100 ms.
	RetryStep time.Duration
	// RetryCap (REDIS_RETRY_CAP). Zero means 3 s.
	RetryCap time.Duration
	// TopologyRefresh is the periodic cluster topology reload interval
	// (REDIS_TOPOLOGY_REFRESH). Zero means 10 s (go-redis: 60 s). Errors
	// that suggest a topology change also reload at once.
	TopologyRefresh time.Duration
}

// ErrConfig is matched by every configuration error.
var ErrConfig = errors.New("redisconn: invalid configuration")

// ConfigError names the variable (or field) that is wrong and what was
// expected. It never carries a secret's value.
type ConfigError struct {
	// Var is the environment variable or Config field.
	Var string
	// Value is the offending value, empty for secrets. Whatever stands
	// before its last '@' (the userinfo of a URL) is never printed: Error
	// and GoString show "[redacted]" instead.
	Value string
	// Want says what is expected.
	Want string
	Err  error
}

func (e *ConfigError) Error() string {
	v := ""
	if e.Value != "" {
		v = fmt.Sprintf("=%q", redactValue(e.Value))
	}
	s := fmt.Sprintf("redisconn: %s%s: want %s", e.Var, v, e.Want)
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// GoString keeps %#v as free of secrets as Error.
func (e *ConfigError) GoString() string {
	return fmt.Sprintf("&redisconn.ConfigError{Var:%q, Value:%q, Want:%q, Err:%v}", e.Var, redactValue(e.Value), e.Want, e.Err)
}

// Unwrap lets errors.Is match ErrConfig and the cause.
func (e *ConfigError) Unwrap() []error { return []error{ErrConfig, e.Err} }

// FromEnv reads the configuration from the process environment.
func FromEnv() (Config, error) { return FromLookup(os.LookupEnv) }

// FromLookup reads the configuration through lookup (os.LookupEnv-like).
func FromLookup(lookup func(string) (string, bool)) (Config, error) {
	p := parser{lookup: lookup}
	var c Config
	get := func(name string) string {
		v, _ := lookup(name)
		return strings.TrimSpace(v)
	}
	if u := get("REDIS_URL"); u != "" {
		if get("REDIS_NODES") != "" {
			return c, &ConfigError{Var: "REDIS_URL", Want: "either REDIS_URL or REDIS_NODES, not both"}
		}
		if err := applyURL(&c, u); err != nil {
			return c, err
		}
	}
	var nodeCreds, sentCreds listCreds
	if v := get("REDIS_NODES"); v != "" {
		nodes, cr, err := parseAddrs("REDIS_NODES", v, "6379")
		if err != nil {
			return c, err
		}
		c.Nodes, nodeCreds = nodes, cr
	}
	if v := get("REDIS_MODE"); v != "" {
		switch m := Mode(strings.ToLower(v)); m {
		case ModeAuto, ModeCluster, ModeSentinel, ModeSingle:
			c.Mode = m
		default:
			return c, &ConfigError{Var: "REDIS_MODE", Value: v, Want: "auto, cluster, sentinel or single"}
		}
	}
	if v := get("REDIS_SENTINEL_ADDRS"); v != "" {
		a, cr, err := parseAddrs("REDIS_SENTINEL_ADDRS", v, "26379")
		if err != nil {
			return c, err
		}
		c.SentinelAddrs, sentCreds = a, cr
	}
	if nodeCreds.scheme != "" && sentCreds.scheme != "" && nodeCreds.scheme != sentCreds.scheme {
		return c, &ConfigError{Var: "REDIS_SENTINEL_ADDRS", Want: "the same scheme as REDIS_NODES (redis:// or rediss://)"}
	}
	c.TLS = c.TLS || nodeCreds.scheme == "rediss" || sentCreds.scheme == "rediss"
	if nodeCreds.list != "" {
		c.Username, c.Password = nodeCreds.user, nodeCreds.pass
	}
	if sentCreds.list != "" {
		c.SentinelUsername, c.SentinelPassword = sentCreds.user, sentCreds.pass
	}
	c.SentinelMaster = get("REDIS_SENTINEL_MASTER")
	c.ClientName = get("REDIS_CLIENT_NAME")
	c.TLSCA, c.TLSCert, c.TLSKey = get("REDIS_TLS_CA"), get("REDIS_TLS_CERT"), get("REDIS_TLS_KEY")
	c.TLSServerName = get("REDIS_TLS_SERVER_NAME")
	var err error
	set := func(e error) {
		if err == nil {
			err = e
		}
	}
	// list names the node list whose URL entries already set dst ("":
	// none; REDIS_URL's credentials are overridden by the variables, as
	// before). A variable that contradicts a list's credentials is an error.
	for _, s := range []struct {
		name string
		dst  *string
		list string
	}{
		{"REDIS_USERNAME", &c.Username, nodeCreds.list},
		{"REDIS_PASSWORD", &c.Password, nodeCreds.list},
		{"REDIS_SENTINEL_USERNAME", &c.SentinelUsername, sentCreds.list},
		{"REDIS_SENTINEL_PASSWORD", &c.SentinelPassword, sentCreds.list},
	} {
		v, ok, e := p.secret(s.name)
		set(e)
		if !ok {
			continue
		}
		if s.list != "" && *s.dst != "" && *s.dst != v {
			set(&ConfigError{Var: s.name, Want: "the same value as the credentials inside " + s.list + ", or only one of them"})
			continue
		}
		*s.dst = v
	}
	if b, ok, e := p.boolean("REDIS_TLS"); ok || e != nil {
		set(e)
		c.TLS = c.TLS || b
	}
	if b, _, e := p.boolean("REDIS_TLS_INSECURE"); e != nil {
		set(e)
	} else {
		c.TLSInsecure = b
	}
	if b, _, e := p.boolean("REDIS_READ_FROM_REPLICAS"); e != nil {
		set(e)
	} else {
		c.ReadFromReplicas = b
	}
	for _, d := range []struct {
		name string
		dst  *time.Duration
	}{
		{"REDIS_DIAL_TIMEOUT", &c.DialTimeout},
		{"REDIS_READ_TIMEOUT", &c.ReadTimeout},
		{"REDIS_WRITE_TIMEOUT", &c.WriteTimeout},
		{"REDIS_RETRY_STEP", &c.RetryStep},
		{"REDIS_RETRY_CAP", &c.RetryCap},
		{"REDIS_TOPOLOGY_REFRESH", &c.TopologyRefresh},
	} {
		v, e := p.duration(d.name)
		set(e)
		if v != 0 {
			*d.dst = v
		}
	}
	if n, ok, e := p.integer("REDIS_POOL_SIZE", 1, 100000); ok || e != nil {
		set(e)
		c.PoolSize = n
	}
	if n, ok, e := p.integer("REDIS_MAX_RETRIES", -1, 1000); ok || e != nil {
		set(e)
		c.MaxRetries = n
	}
	if n, ok, e := p.integer("REDIS_DB", 0, 1<<20); ok || e != nil {
		set(e)
		if ok {
			c.DB = n
		}
	}
	if err != nil {
		return c, err
	}
	return c, c.Validate()
}

// Validate checks a Config built in code or from the environment.
func (c Config) Validate() error {
	if len(c.Nodes) == 0 && len(c.SentinelAddrs) == 0 {
		return &ConfigError{Var: "REDIS_NODES", Want: "at least one host:port (or REDIS_URL, or REDIS_SENTINEL_ADDRS)"}
	}
	for _, a := range c.Nodes {
		if err := checkAddr("REDIS_NODES", a, redactValue(a)); err != nil {
			return err
		}
	}
	for _, a := range c.SentinelAddrs {
		if err := checkAddr("REDIS_SENTINEL_ADDRS", a, redactValue(a)); err != nil {
			return err
		}
	}
	switch c.Mode {
	case "", ModeAuto, ModeCluster, ModeSingle:
	case ModeSentinel:
		if len(c.SentinelAddrs) == 0 {
			return &ConfigError{Var: "REDIS_SENTINEL_ADDRS", Want: "sentinel addresses when REDIS_MODE=sentinel"}
		}
	default:
		return &ConfigError{Var: "REDIS_MODE", Value: string(c.Mode), Want: "auto, cluster, sentinel or single"}
	}
	if len(c.SentinelAddrs) > 0 && c.SentinelMaster == "" {
		return &ConfigError{Var: "REDIS_SENTINEL_MASTER", Want: "the monitored master's name when sentinels are given"}
	}
	if c.Mode == ModeCluster && c.DB != 0 {
		return &ConfigError{Var: "REDIS_DB", Value: strconv.Itoa(c.DB), Want: "0: a cluster has only database 0"}
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return &ConfigError{Var: "REDIS_TLS_CERT", Want: "REDIS_TLS_CERT and REDIS_TLS_KEY together"}
	}
	for _, f := range []struct{ name, path string }{{"REDIS_TLS_CA", c.TLSCA}, {"REDIS_TLS_CERT", c.TLSCert}, {"REDIS_TLS_KEY", c.TLSKey}} {
		if f.path == "" {
			continue
		}
		if _, err := os.Stat(f.path); err != nil {
			return &ConfigError{Var: f.name, Value: f.path, Want: "a readable PEM file", Err: err}
		}
	}
	if c.MaxRetries < -1 {
		return &ConfigError{Var: "REDIS_MAX_RETRIES", Value: strconv.Itoa(c.MaxRetries), Want: "-1 (off), 0 (default) or a positive count"}
	}
	return nil
}

// String describes the configuration without secrets.
func (c Config) String() string {
	red := func(s string) string {
		if s == "" {
			return ""
		}
		return "[redacted]"
	}
	addrs := func(as []string) []string {
		out := make([]string, len(as))
		for i, a := range as {
			out[i] = redactValue(a)
		}
		return out
	}
	return fmt.Sprintf("redisconn.Config{Mode:%s Nodes:%v SentinelAddrs:%v SentinelMaster:%q Username:%q Password:%s SentinelPassword:%s DB:%d TLS:%v TLSServerName:%q TLSInsecure:%v}",
		c.mode(), addrs(c.Nodes), addrs(c.SentinelAddrs), c.SentinelMaster, c.Username, red(c.Password), red(c.SentinelPassword), c.DB, c.TLS, c.TLSServerName, c.TLSInsecure)
}

// GoString keeps secrets out of %#v too.
func (c Config) GoString() string { return c.String() }

func (c Config) mode() Mode {
	if c.Mode == "" {
		return ModeAuto
	}
	return c.Mode
}

type parser struct{ lookup func(string) (string, bool) }

func (p parser) value(name string) (string, bool) {
	v, ok := p.lookup(name)
	v = strings.TrimSpace(v)
	return v, ok && v != ""
}

// secret reads NAME or NAME_FILE (not both); the value never appears in
// errors.
func (p parser) secret(name string) (string, bool, error) {
	v, ok := p.lookup(name)
	file, fok := p.value(name + "_FILE")
	if ok && v != "" && fok {
		return "", false, &ConfigError{Var: name, Want: "either " + name + " or " + name + "_FILE, not both"}
	}
	if fok {
		b, err := os.ReadFile(file)
		if err != nil {
			var pe *os.PathError
			if errors.As(err, &pe) {
				err = pe.Err // the path is in Value; do not repeat it
			}
			return "", false, &ConfigError{Var: name + "_FILE", Value: file, Want: "a readable file holding the secret", Err: err}
		}
		return strings.TrimRight(string(b), "\r\n"), true, nil
	}
	return v, ok && v != "", nil
}

func (p parser) boolean(name string) (bool, bool, error) {
	v, ok := p.value(name)
	if !ok {
		return false, false, nil
	}
	switch strings.ToLower(v) {
	case "1", "true", "yes", "on":
		return true, true, nil
	case "0", "false", "no", "off":
		return false, true, nil
	}
	return false, false, &ConfigError{Var: name, Value: v, Want: "a boolean (true/false, 1/0, yes/no, on/off)"}
}

func (p parser) duration(name string) (time.Duration, error) {
	v, ok := p.value(name)
	if !ok {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		if ms, e := strconv.Atoi(v); e == nil {
			d, err = time.Duration(ms)*time.Millisecond, nil
		}
	}
	if err != nil || d <= 0 {
		return 0, &ConfigError{Var: name, Value: v, Want: "a positive duration like 500ms or 2s (a bare number is milliseconds)"}
	}
	return d, nil
}

func (p parser) integer(name string, lo, hi int) (int, bool, error) {
	v, ok := p.value(name)
	if !ok {
		return 0, false, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, false, &ConfigError{Var: name, Value: v, Want: fmt.Sprintf("an integer from %d to %d", lo, hi)}
	}
	return n, true, nil
}

// listCreds are what the URL entries of one node list carry.
type listCreds struct {
	// list is the variable's name once an entry carried userinfo, else "".
	list       string
	user, pass string
	// scheme is "redis" or "rediss" once an entry was a URL, else "".
	scheme string
}

func isListSep(b byte) bool {
	return b == ',' || b == ';' || b == ' ' || b == '\t' || b == '\n' || b == '\r'
}

// parseAddrs splits a node list (REDIS_NODES, REDIS_SENTINEL_ADDRS) into
// host:port entries. An entry may also be an ioredis-style URL
// redis://[user[:password]@]host[:port] or rediss://...: the port
// defaults to defPort, the userinfo becomes the list's credentials (every
// entry that has one must carry the same), rediss turns TLS on. Errors
// never echo anything that stands before the last '@' of v: that is
// where a password is.
func parseAddrs(name, v, defPort string) ([]string, listCreds, error) {
	var out []string
	var cr listCreds
	lastAt := strings.LastIndexByte(v, '@')
	for start, n := 0, 1; start < len(v); n++ {
		for start < len(v) && isListSep(v[start]) {
			start++
		}
		if start == len(v) {
			break
		}
		end := start
		for end < len(v) && !isListSep(v[end]) {
			end++
		}
		shown := shownPart(v, start, end, lastAt)
		addr, err := parseEntry(name, v[start:end], shown, defPort, n, &cr)
		if err != nil {
			return nil, listCreds{}, err
		}
		out = append(out, addr)
		start = end
	}
	if len(out) == 0 {
		return nil, listCreds{}, &ConfigError{Var: name, Value: redactValue(v), Want: "a comma-separated list of host:port"}
	}
	return out, cr, nil
}

// unescapedUserinfo reports whether the userinfo of a URL (up to its
// last '@') holds a '/', '?' or '#': url.Parse would end the host there
// and read the rest of the password as host, path or fragment, which
// would then be dialled and printed. Such a password must be escaped.
func unescapedUserinfo(raw string) bool {
	_, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return false
	}
	at := strings.LastIndexByte(rest, '@')
	return at >= 0 && strings.ContainsAny(rest[:at], "/?#")
}

// shownPart is v[start:end] as an error may show it: whatever stands
// before the last '@' of v (lastAt) is replaced by [redacted].
func shownPart(v string, start, end, lastAt int) string {
	switch {
	case lastAt < start:
		return v[start:end]
	case lastAt >= end:
		return "[redacted]"
	default:
		return "[redacted]" + v[lastAt:end]
	}
}

// redactValue hides whatever stands before the last '@' of v.
func redactValue(v string) string {
	if i := strings.LastIndexByte(v, '@'); i >= 0 {
		return "[redacted]" + v[i:]
	}
	return v
}

// parseEntry parses entry n of a node list; shown is the entry as errors
// may echo it.
func parseEntry(name, tok, shown, defPort string, n int, cr *listCreds) (string, error) {
	bad := func(want string) error {
		return &ConfigError{Var: name, Value: shown, Want: fmt.Sprintf("entry %d: %s", n, want)}
	}
	if !strings.Contains(tok, "://") {
		if strings.Contains(tok, "@") {
			return "", bad("host:port, or redis://user:password@host:port to give credentials in the list")
		}
		return tok, checkAddr(name, tok, shown)
	}
	u, err := url.Parse(tok)
	if err != nil || unescapedUserinfo(tok) {
		return "", bad("a URL like redis://user:password@host:6379 (it did not parse; escape special characters of the password with %XX)")
	}
	if u.Scheme != "redis" && u.Scheme != "rediss" {
		return "", bad("scheme redis:// or rediss://")
	}
	if cr.scheme != "" && cr.scheme != u.Scheme {
		return "", bad("the same scheme (redis:// or rediss://) in every entry")
	}
	cr.scheme = u.Scheme
	if u.Host == "" || u.Opaque != "" {
		return "", bad("a host after redis://")
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery {
		return "", bad("no database, query or fragment in a node list entry (set REDIS_DB)")
	}
	addr := u.Host
	if u.Port() == "" && !strings.HasSuffix(u.Host, ":") {
		addr = net.JoinHostPort(u.Hostname(), defPort)
	}
	if err := checkAddr(name, addr, shown); err != nil {
		return "", err
	}
	if u.User != nil {
		user := u.User.Username()
		pw, ok := u.User.Password()
		if !ok {
			// redis://pw@host is a password alone, as in REDIS_URL.
			user, pw = "", user
		}
		if cr.list != "" && (cr.user != user || cr.pass != pw) {
			return "", bad("the same user and password in every entry that has them")
		}
		cr.list, cr.user, cr.pass = name, user, pw
	}
	return addr, nil
}

// checkAddr checks a host:port; shown is a as errors may echo it.
func checkAddr(name, a, shown string) error {
	host, port, err := net.SplitHostPort(a)
	if err != nil || host == "" {
		return &ConfigError{Var: name, Value: shown, Want: "host:port (IPv6 as [::1]:6379)"}
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return &ConfigError{Var: name, Value: shown, Want: "a port from 1 to 65535"}
	}
	return nil
}

// applyURL parses redis://[user[:pass]@]host:port[,host:port...][/db] and
// rediss:// (TLS). The URL is never echoed in errors (it may hold a password).
func applyURL(c *Config, raw string) error {
	bad := func(want string) error { return &ConfigError{Var: "REDIS_URL", Want: want} }
	u, err := url.Parse(raw)
	if err != nil {
		return bad("a URL like redis://user:password@host:6379/0 (it did not parse)")
	}
	if unescapedUserinfo(raw) {
		return bad("a URL whose password has its '/', '?' and '#' escaped as %2F, %3F, %23")
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return bad("no #fragment in the URL")
	}
	if u.RawQuery != "" || u.ForceQuery {
		return bad("no ?query in the URL (set REDIS_DB, REDIS_TLS, ... instead)")
	}
	switch u.Scheme {
	case "redis":
	case "rediss":
		c.TLS = true
	default:
		return bad("scheme redis:// or rediss://")
	}
	if u.User != nil {
		c.Username = u.User.Username()
		if pw, ok := u.User.Password(); ok {
			c.Password = pw
		} else if c.Username != "" {
			// redis://:pw@ has empty user; redis://pw@ is a password alone.
			c.Password, c.Username = c.Username, ""
		}
	}
	if u.Host == "" {
		return bad("at least one host:port")
	}
	for h := range strings.SplitSeq(u.Host, ",") {
		if !strings.Contains(h, ":") || strings.HasSuffix(h, "]") {
			h = net.JoinHostPort(strings.Trim(h, "[]"), "6379")
		}
		if err := checkAddr("REDIS_URL", h, ""); err != nil {
			return bad("host:port entries (the host list did not parse)")
		}
		c.Nodes = append(c.Nodes, h)
	}
	if p := strings.Trim(u.Path, "/"); p != "" {
		db, err := strconv.Atoi(p)
		if err != nil || db < 0 {
			return bad("a database number after the host, like /0")
		}
		c.DB = db
	}
	return nil
}
