package pgcache

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
	"github.com/rediskit/rediskit/cache"
	"github.com/rediskit/rediskit/internal/retry"
)

// RelayOptions configure a Relay. The zero value of every field means its
// default.
type RelayOptions struct {
	// Batch is how many outbox rows one transaction takes. Default 500.
	Batch int
	// PollInterval is how often the outbox is read when no notification
	// arrives (notifications are lost while a relay is away; the rows are
	// not). Default 1 s.
	PollInterval time.Duration
	// Logger receives warnings. Default slog.Default().
	Logger *slog.Logger
	// Formats names the cache.Format of the namespaces whose Caches do
	// not use cache.FormatRediskit (absent: FormatRediskit), e.g.
	// {"products": cache.FormatKeyv} for a cache shared with a NestJS
	// service; the Watch's Key expression then gives the Keyv key
	// ('product:' || id).
	Formats map[string]cache.Format
}

// Relay drains the outbox into Redis: it deletes the rows' keys and tags
// of their namespace (which invalidates every near cache through
// tracking) and then the rows. Several relays may run at once (rows are
// taken with FOR UPDATE SKIP LOCKED); a relay that starts after downtime
// catches up on every row committed meanwhile. A row is deleted only after
// Redis accepted its invalidation, so it is relayed at least once. Safe
// for concurrent use.
type Relay struct {
	db      *pgxpool.Pool
	client  redis.UniversalClient
	o       RelayOptions
	channel string // Channel; tests make LISTEN fail with a bad one

	relayed, batches, errs atomic.Int64
	listenErrs             atomic.Int64
	listening              atomic.Bool
	lastLag, maxLag        atomic.Int64
	lagMu                  sync.Mutex
	lags                   []time.Duration // recent lags, ring
	lagNext                int
	perNS                  map[string]*NamespaceStats
}

// NamespaceStats are a relay's counters for one cache namespace.
type NamespaceStats struct {
	// Relayed counts outbox rows of the namespace.
	Relayed int64
	// LastLag and MaxLag are its invalidation lags (see RelayStats).
	LastLag, MaxLag time.Duration
}

// RelayStats are a relay's counters since it was created.
type RelayStats struct {
	// Relayed counts outbox rows invalidated in Redis and deleted.
	Relayed int64
	// Batches counts committed drain transactions; Errors failed ones.
	Batches, Errors int64
	// LastLag and MaxLag are the invalidation lag (from the row's insert in
	// the writer's transaction to its keys' deletion in Redis) of the last
	// row relayed and the largest seen. P50Lag and P99Lag cover the last
	// 1,024 rows.
	LastLag, MaxLag, P50Lag, P99Lag time.Duration
	// ListenErrors counts failures to open the LISTEN connection (the
	// relay then polls every PollInterval); Listening reports whether it
	// listens now.
	ListenErrors int64
	Listening    bool
	// Namespaces breaks Relayed and the lags down per cache namespace.
	Namespaces map[string]NamespaceStats
}

// NewRelay returns a relay from the outbox of db to client.
func NewRelay(db *pgxpool.Pool, client redis.UniversalClient, o RelayOptions) *Relay {
	if o.Batch <= 0 {
		o.Batch = 500
	}
	if o.PollInterval <= 0 {
		o.PollInterval = time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return &Relay{db: db, client: client, o: o, channel: Channel, lags: make([]time.Duration, 0, 1024), perNS: map[string]*NamespaceStats{}}
}

// Run relays until ctx is done, then returns ctx's error (wrapped). It
// listens on Channel for wake-ups and polls every PollInterval; errors of
// one pass (database or Redis down) are logged (rate-limited), counted in
// RelayStats.Errors and retried with a growing pause (internal/retry). A
// LISTEN that fails is logged and counted (RelayStats.ListenErrors); the
// relay then polls.
func (r *Relay) Run(ctx context.Context) error {
	var listen *pgxpool.Conn
	defer func() {
		if listen != nil {
			listen.Release()
		}
	}()
	loop := retry.Loop{Name: "pgcache relay", Log: r.o.Logger, Policy: retry.Policy{Min: 50 * time.Millisecond, Max: r.o.PollInterval}}
	_ = loop.Run(ctx, func(ctx context.Context) error {
		if listen == nil {
			var err error
			if listen, err = r.listen(ctx); err != nil && ctx.Err() == nil {
				// Warn on the first failure after a success (or ever), not on
				// every poll while it keeps failing.
				if r.listenErrs.Add(1) == 1 || r.listening.Load() {
					r.o.Logger.Warn("pgcache: relay: LISTEN failed, polling every PollInterval", "channel", r.channel, "err", err)
				}
			}
			r.listening.Store(listen != nil)
		}
		if _, err := r.Drain(ctx); err != nil {
			return err
		}
		if listen == nil {
			t := time.NewTimer(r.o.PollInterval)
			defer t.Stop()
			select {
			case <-ctx.Done():
			case <-t.C:
			}
			return nil
		}
		wctx, cancel := context.WithTimeout(ctx, r.o.PollInterval)
		_, err := listen.Conn().WaitForNotification(wctx)
		cancel()
		if err != nil && wctx.Err() == nil {
			// The listening connection broke: drop it and open another.
			listen.Conn().Close(context.Background())
			listen.Release()
			listen = nil
			r.listening.Store(false)
		}
		return nil
	})
	return fmt.Errorf("pgcache: relay: %w", ctx.Err())
}

// listen returns a pool connection that listens on the channel.
func (r *Relay) listen(ctx context.Context) (*pgxpool.Conn, error) {
	c, err := r.db.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("pgcache: relay: LISTEN: %w", err)
	}
	if _, err := c.Exec(ctx, "LISTEN "+r.channel); err != nil {
		c.Release()
		return nil, fmt.Errorf("pgcache: relay: LISTEN: %w", err)
	}
	return c, nil
}

// Drain relays outbox rows until none is left (rows locked by another
// relay are skipped) and returns how many it relayed.
func (r *Relay) Drain(ctx context.Context) (int, error) {
	total := 0
	for {
		n, err := r.pass(ctx)
		total += n
		if err != nil {
			r.errs.Add(1)
			return total, err
		}
		if n < r.o.Batch {
			return total, nil
		}
	}
}

// pass relays one batch in one transaction, in two round trips to the
// database (BEGIN and the locking SELECT sent together, then DELETE and
// COMMIT together), so a change reaches Redis one round trip after the
// relay wakes.
func (r *Relay) pass(ctx context.Context) (int, error) {
	conn, err := r.db.Acquire(ctx)
	if err != nil {
		return 0, fmt.Errorf("pgcache: relay: %w", err)
	}
	committed := false
	defer func() {
		if !committed {
			// Roll back; a connection in an unknown state is not reused.
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			if _, err := conn.Exec(rctx, "ROLLBACK"); err != nil {
				_ = conn.Conn().Close(rctx)
			}
			cancel()
		}
		conn.Release()
	}()
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	b.Queue(`SELECT id, namespace, keys, tags,
		extract(epoch FROM clock_timestamp() - created_at)::float8
		FROM `+Table+` ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED`, r.o.Batch)
	br := conn.SendBatch(ctx, b)
	if _, err := br.Exec(); err != nil {
		_ = br.Close()
		return 0, fmt.Errorf("pgcache: relay: begin: %w", err)
	}
	rows, err := br.Query()
	if err != nil {
		_ = br.Close()
		return 0, fmt.Errorf("pgcache: relay: select: %w", err)
	}
	type group struct{ keys, tags []string }
	groups := map[string]*group{}
	var ids []int64
	var ages []float64
	var nss []string
	for rows.Next() {
		var (
			id        int64
			ns        string
			keys, tgs []string
			age       float64
		)
		if err := rows.Scan(&id, &ns, &keys, &tgs, &age); err != nil {
			rows.Close()
			return 0, fmt.Errorf("pgcache: relay: scan: %w", err)
		}
		g := groups[ns]
		if g == nil {
			g = &group{}
			groups[ns] = g
		}
		g.keys = append(g.keys, keys...)
		g.tags = append(g.tags, tgs...)
		ids = append(ids, id)
		ages = append(ages, age)
		nss = append(nss, ns)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		_ = br.Close()
		return 0, fmt.Errorf("pgcache: relay: select: %w", err)
	}
	if err := br.Close(); err != nil {
		return 0, fmt.Errorf("pgcache: relay: select: %w", err)
	}
	if len(ids) == 0 {
		return 0, nil
	}
	read := time.Now()
	for ns, g := range groups {
		f := r.o.Formats[ns]
		if err := cache.InvalidateFormat(ctx, r.client, f, ns, dedupe(g.keys)...); err != nil {
			return 0, fmt.Errorf("pgcache: relay: namespace %s: %w", ns, err)
		}
		if len(g.tags) > 0 {
			if _, err := cache.InvalidateTagsFormat(ctx, r.client, f, ns, dedupe(g.tags)...); err != nil {
				return 0, fmt.Errorf("pgcache: relay: namespace %s: %w", ns, err)
			}
		}
	}
	done := time.Since(read)
	b = &pgx.Batch{}
	b.Queue("DELETE FROM "+Table+" WHERE id = ANY($1)", ids)
	b.Queue("COMMIT")
	if err := conn.SendBatch(ctx, b).Close(); err != nil {
		return 0, fmt.Errorf("pgcache: relay: delete and commit: %w", err)
	}
	committed = true
	r.batches.Add(1)
	r.relayed.Add(int64(len(ids)))
	r.recordLags(nss, ages, done)
	return len(ids), nil
}

func (r *Relay) recordLags(nss []string, ages []float64, extra time.Duration) {
	r.lagMu.Lock()
	defer r.lagMu.Unlock()
	for i, a := range ages {
		l := time.Duration(a*float64(time.Second)) + extra
		ns := r.perNS[nss[i]]
		if ns == nil {
			ns = &NamespaceStats{}
			r.perNS[nss[i]] = ns
		}
		ns.Relayed++
		ns.LastLag = l
		ns.MaxLag = max(ns.MaxLag, l)
		r.lastLag.Store(int64(l))
		if int64(l) > r.maxLag.Load() {
			r.maxLag.Store(int64(l))
		}
		if len(r.lags) < cap(r.lags) {
			r.lags = append(r.lags, l)
		} else {
			r.lags[r.lagNext] = l
			r.lagNext = (r.lagNext + 1) % len(r.lags)
		}
	}
}

// Stats returns the relay's counters.
func (r *Relay) Stats() RelayStats {
	s := RelayStats{
		Relayed: r.relayed.Load(), Batches: r.batches.Load(), Errors: r.errs.Load(),
		ListenErrors: r.listenErrs.Load(), Listening: r.listening.Load(),
		LastLag: time.Duration(r.lastLag.Load()), MaxLag: time.Duration(r.maxLag.Load()),
	}
	r.lagMu.Lock()
	ls := append([]time.Duration(nil), r.lags...)
	s.Namespaces = make(map[string]NamespaceStats, len(r.perNS))
	for k, v := range r.perNS {
		s.Namespaces[k] = *v
	}
	r.lagMu.Unlock()
	if len(ls) > 0 {
		sort.Slice(ls, func(i, j int) bool { return ls[i] < ls[j] })
		s.P50Lag = ls[(len(ls)-1)*50/100]
		s.P99Lag = ls[(len(ls)-1)*99/100]
	}
	return s
}

// Backlog returns how many outbox rows wait to be relayed.
func Backlog(ctx context.Context, db *pgxpool.Pool) (int64, error) {
	var n int64
	if err := db.QueryRow(ctx, "SELECT count(*) FROM "+Table).Scan(&n); err != nil {
		return 0, fmt.Errorf("pgcache: backlog: %w", err)
	}
	return n, nil
}

func dedupe(s []string) []string {
	seen := make(map[string]bool, len(s))
	out := s[:0]
	for _, x := range s {
		if x != "" && !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}
