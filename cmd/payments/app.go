package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rediskit/rediskit/cache"
	"github.com/rediskit/rediskit/cache/pgcache"
	"github.com/rediskit/rediskit/dashboard"
	"github.com/rediskit/rediskit/metrics"
	"github.com/rediskit/rediskit/payments"
	"github.com/rediskit/rediskit/payments/httpapi"
	"github.com/rediskit/rediskit/payments/postgres"
	"github.com/rediskit/rediskit/redisconn"
	"github.com/rediskit/rediskit/session"
)

// app is one service instance: its clients, the domain service, the cache
// invalidation relay and the HTTP handler. Run drives the background work;
// close releases everything after Run returned.
type app struct {
	cfg      config
	log      *slog.Logger
	conn     *redisconn.Conn
	store    *postgres.Store
	svc      *payments.Service
	relay    *pgcache.Relay
	sessions *session.Manager
	handler  http.Handler
	admin    *dashboard.Dashboard
}

// setupLock serialises the outbox installation of instances starting
// together.
const setupLock = 7_384_211_002

func newApp(ctx context.Context, cfg config, log *slog.Logger) (a *app, err error) {
	a = &app{cfg: cfg, log: log}
	defer func() {
		if err != nil {
			a.close()
		}
	}()
	a.conn, err = redisconn.Connect(ctx, cfg.Redis)
	if err != nil {
		return a, fmt.Errorf("redis: %w", err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if _, err := metrics.InstrumentClient(a.conn.Client, reg, metrics.ClientOptions{Name: "payments"}); err != nil {
		return a, fmt.Errorf("metrics: %w", err)
	}
	a.store, err = postgres.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return a, err
	}
	if err := a.setupOutbox(ctx); err != nil {
		return a, err
	}
	if cfg.Seed {
		if err := a.store.Seed(ctx, cfg.SeedProducts, cfg.SeedAccounts, "demo"); err != nil {
			return a, err
		}
	}
	a.svc, err = payments.New(a.store, a.conn.Client, payments.Options{
		Instance: cfg.Instance, LockTTL: cfg.LockTTL, ProviderDelay: cfg.ProviderDelay,
		QueuePrefix: cfg.QueuePrefix, JobLockDuration: cfg.JobLock, Logger: log,
		ProviderIgnoresLoss: cfg.IgnoreLoss, ProductCacheFormat: cfg.ProductCache,
	})
	if err != nil {
		return a, err
	}
	a.relay = pgcache.NewRelay(a.store.DB(), a.conn.Client, pgcache.RelayOptions{Logger: log,
		Formats: map[string]cache.Format{payments.ProductNamespace: cfg.ProductCache}})
	a.sessions, err = session.New(a.conn.Client, sessionOptions(cfg.Sessions, log))
	if err != nil {
		return a, err
	}
	relay := a.relay
	reg.MustRegister(metrics.NewPatternCollector(metrics.PatternOptions{}).
		AddCache(a.svc.ProductCache()).
		AddInvalidationLag(payments.ProductNamespace, func() (last, p99, highest time.Duration) {
			s := relay.Stats()
			return s.LastLag, s.P99Lag, s.MaxLag
		}).
		AddLocker(a.svc.Locker()).
		AddQueue(a.svc.Queue()).
		AddWorker(a.svc.Queue().Name(), a.svc.Worker()).
		AddSessions("payments", a.sessions))
	m, err := httpapi.NewMetrics(reg, a.svc)
	if err != nil {
		return a, err
	}
	admin, err := a.dashboard()
	if err != nil {
		return a, err
	}
	userKey := ""
	if cfg.Sessions.Format == session.FormatConnectRedis {
		userKey = nestUserKey
	}
	a.handler = httpapi.New(a.svc, httpapi.Options{
		Admin:    admin,
		Sessions: a.sessions,
		UserKey:  userKey,
		Ready:    a.ready,
		Metrics:  promhttp.HandlerFor(reg, promhttp.HandlerOpts{}),
		Observe:  m.Observe,
		Logger:   log,
	})
	return a, nil
}

// nestUserKey is where the NestJS example keeps the logged-in account id
// (req.session.userId).
const nestUserKey = "userId"

// sessionOptions configures the sessions: the service's own format, or
// connect-redis's shared with the NestJS example (cookie connect.sid, the
// same secrets, prefix and TTL).
func sessionOptions(c sessionConfig, log *slog.Logger) session.Options {
	o := session.Options{
		Prefix: "payments:session:", Cookie: session.CookieOptions{Insecure: true}, Logger: log,
		ErrorFunc: httpapi.SessionError,
	}
	if c.Format == session.FormatConnectRedis {
		o.Format, o.Secrets, o.Prefix = c.Format, c.Secrets, c.Prefix
		o.IdleTimeout, o.StoreTTL = c.TTL, c.TTL
	}
	return o
}

// dashboard is the rediskit dashboard mounted at /admin/: read-only,
// unless DASHBOARD_USER and DASHBOARD_PASSWORD(_FILE) are set, then
// writable behind basic auth.
func (a *app) dashboard() (*dashboard.Dashboard, error) {
	user, pw, err := dashboard.CredentialsFromEnv(os.LookupEnv)
	if err != nil {
		return nil, err
	}
	relay := a.relay
	o := dashboard.Options{Prefix: "/admin", ReadOnly: user == "", Logger: a.log, Services: dashboard.Services{
		Sessions: map[string]dashboard.SessionStore{"payments": a.sessions},
		Caches:   []dashboard.CacheStatser{a.svc.ProductCache()},
		InvalidationLag: map[string]func() (last, p99, highest time.Duration){payments.ProductNamespace: func() (last, p99, highest time.Duration) {
			s := relay.Stats()
			return s.LastLag, s.P99Lag, s.MaxLag
		}},
		Lockers:      []dashboard.LockStatser{a.svc.Locker()},
		LockPrefixes: []string{"payments:lock:"},
	}}
	if user != "" {
		o.Authorize = dashboard.BasicAuth(user, pw)
	}
	d, err := dashboard.New(a.conn.Client, o)
	if err != nil {
		return nil, err
	}
	a.admin = d
	return d, nil
}

func (a *app) setupOutbox(ctx context.Context) error {
	db := a.store.DB()
	conn, err := db.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", setupLock); err != nil {
		return err
	}
	defer func() { _, _ = conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", setupLock) }()
	if err := pgcache.Install(ctx, db); err != nil {
		return fmt.Errorf("cache outbox: %w", err)
	}
	// The relay's key is the product cache's: the id, or in Keyv format
	// the Nest app's "product:<id>" (payments.Service.productKey).
	key := "id::text"
	if a.cfg.ProductCache == cache.FormatKeyv {
		key = "'product:' || id::text"
	}
	if err := pgcache.WatchTable(ctx, db, pgcache.Watch{Table: "products", Namespace: payments.ProductNamespace, Key: key}); err != nil {
		return fmt.Errorf("cache outbox: %w", err)
	}
	return nil
}

// ready reports whether Redis and PostgreSQL answer.
func (a *app) ready(ctx context.Context) error {
	var errs []error
	if err := a.conn.Client.Ping(ctx).Err(); err != nil {
		errs = append(errs, fmt.Errorf("redis: %w", err))
	}
	if err := a.store.Ping(ctx); err != nil {
		errs = append(errs, fmt.Errorf("postgres: %w", err))
	}
	if !a.svc.WorkerHealthy(30 * time.Second) {
		errs = append(errs, errors.New("payments worker: no contact with Redis for 30s"))
	}
	return errors.Join(errs...)
}

// run drives the payment worker and the cache invalidation relay until ctx
// ends; the worker finishes its in-flight jobs first.
func (a *app) run(ctx context.Context) error {
	var wg sync.WaitGroup
	errs := make([]error, 2)
	wg.Go(func() { errs[0] = a.svc.Run(ctx) })
	wg.Go(func() { errs[1] = a.relay.Run(ctx) })
	wg.Wait()
	for _, err := range errs {
		if err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
			return err
		}
	}
	return nil
}

func (a *app) close() {
	if a.admin != nil {
		_ = a.admin.Close()
	}
	if a.svc != nil {
		_ = a.svc.Close()
	}
	if a.store != nil {
		a.store.Close()
	}
	if a.conn != nil {
		_ = a.conn.Close()
	}
}
