package main

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/rediskit/rediskit/cache"
	"github.com/rediskit/rediskit/redisconn"
	"github.com/rediskit/rediskit/session"
)

// config is the service's configuration, read from the environment only.
type config struct {
	Redis         redisconn.Config
	DatabaseURL   string        // DATABASE_URL (required)
	Addr          string        // PAYMENTS_ADDR, default ":8080"
	Instance      string        // PAYMENTS_INSTANCE, default hostname:pid
	LockTTL       time.Duration // PAYMENTS_LOCK_TTL, default 5s
	ProviderDelay time.Duration // PAYMENTS_PROVIDER_DELAY, default 20ms
	QueuePrefix   string        // PAYMENTS_QUEUE_PREFIX, default "{payments}"
	JobLock       time.Duration // PAYMENTS_JOB_LOCK, default 30s
	Shutdown      time.Duration // PAYMENTS_SHUTDOWN_TIMEOUT, default 15s
	Seed          bool          // PAYMENTS_SEED=1 seeds the demo catalogue and accounts
	SeedProducts  int           // PAYMENTS_SEED_PRODUCTS, default 200
	SeedAccounts  int           // PAYMENTS_SEED_ACCOUNTS, default 100
	LogLevel      string        // PAYMENTS_LOG_LEVEL: debug, info (default), warn, error
	IgnoreLoss    bool          // PAYMENTS_PROVIDER_IGNORES_LOSS=1: see payments.Options.ProviderIgnoresLoss
	Sessions      sessionConfig
	ProductCache  cache.Format // PAYMENTS_PRODUCT_CACHE: native (default) or keyv (shared with the Nest app)
}

// sessionConfig chooses the session format. In connect-redis format the
// service shares its logins with an express-session + connect-redis app
// (examples/nestjs) given the same SESSION_SECRET, SESSION_PREFIX and
// SESSION_TTL.
type sessionConfig struct {
	Format  session.Format // PAYMENTS_SESSION_FORMAT: native (default) or connect-redis
	Secrets secretList     // SESSION_SECRET: comma list, newest first (connect-redis only, required)
	Prefix  string         // SESSION_PREFIX (connect-redis default "sess:")
	TTL     time.Duration  // SESSION_TTL in seconds (connect-redis default 86400, as the Nest app)
}

// secretList never prints its values.
type secretList []string

func (s secretList) String() string { return fmt.Sprintf("[%d secrets]", len(s)) }

// GoString is String, so %#v hides the values too.
func (s secretList) GoString() string { return s.String() }

const envHelp = `Environment:
  REDIS_NODES, REDIS_URL, REDIS_MODE, REDIS_*   the Redis deployment (see redisconn)
  DATABASE_URL                 PostgreSQL DSN (required)
  PAYMENTS_ADDR                listen address (default :8080)
  PAYMENTS_INSTANCE            instance name in charges and logs (default hostname:pid)
  PAYMENTS_LOCK_TTL            order lock lease (default 5s)
  PAYMENTS_PROVIDER_DELAY      simulated payment provider latency (default 20ms; -1ms: none)
  PAYMENTS_QUEUE_PREFIX        BullMQ prefix of the payments queue (default {payments})
  PAYMENTS_JOB_LOCK            job lock of the payments worker (default 30s)
  PAYMENTS_SHUTDOWN_TIMEOUT    graceful shutdown bound (default 15s)
  PAYMENTS_SEED=1              seed products and accounts user<N>@example.com / "demo"
  PAYMENTS_SEED_PRODUCTS, PAYMENTS_SEED_ACCOUNTS   how many (default 200, 100)
  PAYMENTS_LOG_LEVEL           debug, info, warn, error (default info)
  PAYMENTS_PROVIDER_IGNORES_LOSS=1   charges go on when the lock is lost (the fence alone refuses them)
  PAYMENTS_SESSION_FORMAT      native (default) or connect-redis: share logins with an
                               express-session + connect-redis app (examples/nestjs)
  SESSION_SECRET               connect-redis: express-session's secrets, comma-separated,
                               newest first (required; never printed)
  SESSION_PREFIX, SESSION_TTL  connect-redis: key prefix (sess:) and TTL in seconds (86400)
  PAYMENTS_PRODUCT_CACHE       native (default) or keyv: the product cache in the Keyv entries
                               of the Nest app's @nestjs/cache-manager (namespace products)
`

func configFromEnv(lookup func(string) (string, bool)) (config, error) {
	rc, err := redisconn.FromLookup(lookup)
	if err != nil {
		return config{}, err
	}
	c := config{Redis: rc, Addr: ":8080", QueuePrefix: "{payments}", Shutdown: 15 * time.Second,
		SeedProducts: 200, SeedAccounts: 100, LogLevel: "info"}
	get := func(k string) string { v, _ := lookup(k); return v }
	c.DatabaseURL = get("DATABASE_URL")
	if c.DatabaseURL == "" {
		return c, fmt.Errorf("DATABASE_URL is required (a PostgreSQL DSN)")
	}
	if v := get("PAYMENTS_ADDR"); v != "" {
		c.Addr = v
	}
	c.Instance = get("PAYMENTS_INSTANCE")
	if v := get("PAYMENTS_QUEUE_PREFIX"); v != "" {
		c.QueuePrefix = v
	}
	if v := get("PAYMENTS_LOG_LEVEL"); v != "" {
		c.LogLevel = v
	}
	durs := []struct {
		name string
		dst  *time.Duration
	}{
		{"PAYMENTS_LOCK_TTL", &c.LockTTL}, {"PAYMENTS_PROVIDER_DELAY", &c.ProviderDelay},
		{"PAYMENTS_JOB_LOCK", &c.JobLock}, {"PAYMENTS_SHUTDOWN_TIMEOUT", &c.Shutdown},
	}
	for _, d := range durs {
		if v := get(d.name); v != "" {
			x, err := time.ParseDuration(v)
			if err != nil {
				return c, fmt.Errorf("%s: %w", d.name, err)
			}
			*d.dst = x
		}
	}
	ints := []struct {
		name string
		dst  *int
	}{{"PAYMENTS_SEED_PRODUCTS", &c.SeedProducts}, {"PAYMENTS_SEED_ACCOUNTS", &c.SeedAccounts}}
	for _, d := range ints {
		if v := get(d.name); v != "" {
			x, err := strconv.Atoi(v)
			if err != nil || x < 0 {
				return c, fmt.Errorf("%s: want a count, got %q", d.name, v)
			}
			*d.dst = x
		}
	}
	c.IgnoreLoss = get("PAYMENTS_PROVIDER_IGNORES_LOSS") == "1"
	if c.Sessions, err = sessionsFromEnv(get); err != nil {
		return c, err
	}
	switch v := get("PAYMENTS_PRODUCT_CACHE"); v {
	case "", "native":
	case "keyv":
		c.ProductCache = cache.FormatKeyv
	default:
		return c, fmt.Errorf("PAYMENTS_PRODUCT_CACHE: want native or keyv, got %q", v)
	}
	switch get("PAYMENTS_SEED") {
	case "", "0", "false":
	case "1", "true":
		c.Seed = true
	default:
		return c, fmt.Errorf("PAYMENTS_SEED: want 1 or 0")
	}
	return c, nil
}

func sessionsFromEnv(get func(string) string) (sessionConfig, error) {
	var s sessionConfig
	switch v := get("PAYMENTS_SESSION_FORMAT"); v {
	case "", "native":
		return s, nil
	case "connect-redis":
		s.Format = session.FormatConnectRedis
	default:
		return s, fmt.Errorf("PAYMENTS_SESSION_FORMAT: want native or connect-redis, got %q", v)
	}
	for _, x := range strings.Split(get("SESSION_SECRET"), ",") {
		if x != "" {
			s.Secrets = append(s.Secrets, x)
		}
	}
	if len(s.Secrets) == 0 {
		return s, errors.New("SESSION_SECRET is required with PAYMENTS_SESSION_FORMAT=connect-redis (the express-session secrets, comma-separated, newest first)")
	}
	s.Prefix = get("SESSION_PREFIX")
	s.TTL = 86400 * time.Second
	if v := get("SESSION_TTL"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return s, fmt.Errorf("SESSION_TTL: want seconds >= 1, got %q", v)
		}
		s.TTL = time.Duration(n) * time.Second
	}
	return s, nil
}

func osLookup(k string) (string, bool) { return os.LookupEnv(k) }
