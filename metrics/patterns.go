package metrics

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rediskit/rediskit/cache"
	"github.com/rediskit/rediskit/lock"
	"github.com/rediskit/rediskit/queue"
	"github.com/rediskit/rediskit/redisconn"
	"github.com/rediskit/rediskit/session"
)

// CacheStatser is what the pattern collector reads from a cache: any
// *cache.Cache[T].
type CacheStatser interface{ Stats() cache.Stats }

// LockStatser is what the pattern collector reads from a *lock.Locker.
type LockStatser interface{ Stats() lock.Stats }

// QueueCounter is what the pattern collector reads from a *queue.Queue:
// its depth per state (one round trip per collection).
type QueueCounter interface {
	Name() string
	Counts(ctx context.Context) (queue.Counts, error)
}

// WorkerStatser is what the pattern collector reads from a *queue.Worker.
type WorkerStatser interface{ Stats() queue.WorkerStats }

// SessionStatser is what the pattern collector reads from a
// *session.Manager. When it also has Active(ctx) (int64, error), the
// number of active sessions is exported too (one round trip).
type SessionStatser interface{ Stats() session.Stats }

// ConnStatser is what the pattern collector reads from a
// *redisconn.Conn: the retries and topology reloads of its resilience
// layer (which go-redis hooks cannot see on a plain client).
type ConnStatser interface{ Stats() redisconn.Stats }

type activeCounter interface {
	Active(ctx context.Context) (int64, error)
}

// LagFunc reports invalidation lags of one namespace, e.g. from a
// pgcache relay (per-namespace last and max, relay-wide p99):
//
//	func() (last, p99, highest time.Duration) {
//		s := relay.Stats()
//		ns := s.Namespaces["users"]
//		return ns.LastLag, s.P99Lag, ns.MaxLag
//	}
//
// (metrics does not import pgcache, so it never pulls in pgx).
type LagFunc func() (last, p99, highest time.Duration)

// PatternOptions configure a PatternCollector. The zero value is ready
// to use.
type PatternOptions struct {
	// Timeout bounds the round trips one collection makes (queue counts,
	// active sessions). Zero means 2 s.
	Timeout time.Duration
}

// PatternCollector turns the Stats() of cache, lock, queue and session
// objects into Prometheus series. Add sources with the Add methods (at
// any time); sources of the same namespace, lock name, queue or session
// name are summed. Safe for concurrent use.
//
// Series:
//
//	rediskit_cache_hits_total{namespace,tier}  tier "near" or "redis"; misses, loads, load errors, stale served,
//	rediskit_cache_*_total{namespace}          early refreshes, corrupt, stale sets rejected, lease waits/timeouts,
//	                                           near evictions/flushes, invalidations, tracking drops;
//	rediskit_cache_near_entries/near_bytes/tracking_up, rediskit_cache_invalidation_lag_seconds{namespace,stat}
//	rediskit_lock_*_total{name}                acquired, contended, waits, wait seconds, timeouts, errors,
//	                                           extended, extend failed, lost, released, hold seconds
//	rediskit_queue_jobs{queue,state}           wait, active, prioritized, delayed, completed, failed
//	rediskit_queue_*_total{queue}              processed, completed, failed, retried, returned, stalled,
//	                                           lost locks, errors; in_flight, mean fetch and processing seconds
//	rediskit_session_*{name}                   created, renewed, destroyed, expired, rejected, loads, saves,
//	                                           touches, gone, store calls/errors/seconds; active
//	rediskit_client_conn_*_total{client}       redisconn retries and topology reloads
type PatternCollector struct {
	timeout time.Duration

	mu       sync.Mutex
	caches   []CacheStatser
	lags     map[string]LagFunc
	lockers  []LockStatser
	queues   []QueueCounter
	workers  []namedWorker
	sessions []namedSessions
	conns    []namedConn
}

type namedConn struct {
	name string
	c    ConnStatser
}

type namedWorker struct {
	queue string
	w     WorkerStatser
}

type namedSessions struct {
	name string
	m    SessionStatser
}

var _ prometheus.Collector = (*PatternCollector)(nil)

// NewPatternCollector returns an empty collector; register it once and
// add sources.
func NewPatternCollector(opts PatternOptions) *PatternCollector {
	if opts.Timeout <= 0 {
		opts.Timeout = 2 * time.Second
	}
	return &PatternCollector{timeout: opts.Timeout, lags: map[string]LagFunc{}}
}

// AddCache adds caches (their namespace comes from Stats).
func (p *PatternCollector) AddCache(caches ...CacheStatser) *PatternCollector {
	p.mu.Lock()
	p.caches = append(p.caches, caches...)
	p.mu.Unlock()
	return p
}

// AddInvalidationLag exports lag for namespace as
// rediskit_cache_invalidation_lag_seconds{namespace,stat="last|p99|max"}.
func (p *PatternCollector) AddInvalidationLag(namespace string, lag LagFunc) *PatternCollector {
	p.mu.Lock()
	p.lags[namespace] = lag
	p.mu.Unlock()
	return p
}

// AddLocker adds lockers; series are per lock name (lock.Stats.ByName).
func (p *PatternCollector) AddLocker(lockers ...LockStatser) *PatternCollector {
	p.mu.Lock()
	p.lockers = append(p.lockers, lockers...)
	p.mu.Unlock()
	return p
}

// AddQueue adds queues whose depth per state is read on each collection.
func (p *PatternCollector) AddQueue(queues ...QueueCounter) *PatternCollector {
	p.mu.Lock()
	p.queues = append(p.queues, queues...)
	p.mu.Unlock()
	return p
}

// AddWorker adds a worker of the named queue.
func (p *PatternCollector) AddWorker(queueName string, w WorkerStatser) *PatternCollector {
	p.mu.Lock()
	p.workers = append(p.workers, namedWorker{queueName, w})
	p.mu.Unlock()
	return p
}

// AddSessions adds a session manager under name (the "name" label).
func (p *PatternCollector) AddSessions(name string, m SessionStatser) *PatternCollector {
	p.mu.Lock()
	p.sessions = append(p.sessions, namedSessions{name, m})
	p.mu.Unlock()
	return p
}

// AddConn adds a redisconn connection under name (the "client" label).
func (p *PatternCollector) AddConn(name string, c ConnStatser) *PatternCollector {
	p.mu.Lock()
	p.conns = append(p.conns, namedConn{name, c})
	p.mu.Unlock()
	return p
}

type patternField struct {
	name, help string
	typ        prometheus.ValueType
}

var (
	cacheFields = []patternField{
		{"misses_total", "Reads that found nothing usable and went to the loader.", prometheus.CounterValue},
		{"loads_total", "Loader calls made by this process.", prometheus.CounterValue},
		{"load_errors_total", "Loader calls that failed.", prometheus.CounterValue},
		{"stale_served_total", "Values served after their expiry (stale-while-revalidate).", prometheus.CounterValue},
		{"early_refreshes_total", "Background reloads (XFetch or stale).", prometheus.CounterValue},
		{"corrupt_total", "Cached values that could not be decoded.", prometheus.CounterValue},
		{"stale_sets_rejected_total", "Loads not stored because a write or an invalidation took the lease.", prometheus.CounterValue},
		{"lease_waits_total", "Reads that waited for another loader.", prometheus.CounterValue},
		{"lease_timeouts_total", "Reads that gave up waiting and loaded themselves.", prometheus.CounterValue},
		{"near_evictions_total", "Near-cache entries dropped to stay in bounds.", prometheus.CounterValue},
		{"invalidations_total", "Keys named by tracking invalidation pushes.", prometheus.CounterValue},
		{"near_flushes_total", "Whole near-cache flushes (tracking lost, topology change, FLUSHALL).", prometheus.CounterValue},
		{"tracking_drops_total", "Lost tracking connections.", prometheus.CounterValue},
		{"near_entries", "Entries in the near cache.", prometheus.GaugeValue},
		{"near_bytes", "Bytes in the near cache.", prometheus.GaugeValue},
		{"tracking_up", "1 if every master is tracked (the near cache is in use), else 0.", prometheus.GaugeValue},
	}
	lockFields = []patternField{
		{"acquired_total", "Leases obtained.", prometheus.CounterValue},
		{"contended_total", "Acquire attempts that found the lock held by another owner.", prometheus.CounterValue},
		{"waits_total", "Acquisitions that had to wait.", prometheus.CounterValue},
		{"wait_seconds_total", "Time spent waiting for locks.", prometheus.CounterValue},
		{"timeouts_total", "Waits that ended without the lock.", prometheus.CounterValue},
		{"errors_total", "Attempts that failed for lack of quorum or replication.", prometheus.CounterValue},
		{"extended_total", "Lease extensions.", prometheus.CounterValue},
		{"extend_failed_total", "Failed lease extensions.", prometheus.CounterValue},
		{"lost_total", "Leases that ended without Release (expired or taken while held).", prometheus.CounterValue},
		{"released_total", "Leases released.", prometheus.CounterValue},
		{"hold_seconds_total", "Total time leases were held.", prometheus.CounterValue},
	}
	workerFields = []patternField{
		{"processed_total", "Jobs handed to a handler.", prometheus.CounterValue},
		{"completed_total", "Jobs completed.", prometheus.CounterValue},
		{"failed_total", "Jobs failed for good.", prometheus.CounterValue},
		{"retried_total", "Failed attempts that will run again.", prometheus.CounterValue},
		{"returned_total", "Unfinished jobs put back to wait at shutdown.", prometheus.CounterValue},
		{"stalled_total", "Stalled jobs moved back to wait by stall checks.", prometheus.CounterValue},
		{"lost_locks_total", "Jobs whose lock a worker lost.", prometheus.CounterValue},
		{"errors_total", "Failed Redis calls of workers (retried).", prometheus.CounterValue},
		{"in_flight", "Jobs being processed now.", prometheus.GaugeValue},
		{"fetch_latency_seconds", "Mean time of a fetch call (since the worker started; max over workers).", prometheus.GaugeValue},
		{"processing_seconds", "Mean handler time (since the worker started; max over workers).", prometheus.GaugeValue},
		{"last_ok_timestamp_seconds", "Last successful fetch or wait of any worker (Unix time).", prometheus.GaugeValue},
	}
	sessionFields = []patternField{
		{"created_total", "Sessions written for the first time.", prometheus.CounterValue},
		{"renewed_total", "Sessions moved to a new token.", prometheus.CounterValue},
		{"destroyed_total", "Sessions deleted.", prometheus.CounterValue},
		{"expired_total", "Tokens whose session was past a deadline at load.", prometheus.CounterValue},
		{"rejected_total", "Malformed tokens ignored.", prometheus.CounterValue},
		{"loads_total", "Sessions read from Redis.", prometheus.CounterValue},
		{"saves_total", "Writes of changes.", prometheus.CounterValue},
		{"touches_total", "Saves that moved the idle deadline.", prometheus.CounterValue},
		{"gone_total", "Saves dropped because another request ended the session.", prometheus.CounterValue},
		{"store_calls_total", "Redis round trips of the session store.", prometheus.CounterValue},
		{"store_errors_total", "Failed round trips of the session store.", prometheus.CounterValue},
		{"store_seconds_total", "Time spent in Redis round trips of the session store.", prometheus.CounterValue},
	}
)

type patternDescs struct {
	cacheHits, cacheLag, queueJobs, sessionActive *prometheus.Desc
	connRetries, connReloads                      *prometheus.Desc
	cache, lock, worker, session                  []*prometheus.Desc
}

var pdescs = func() patternDescs {
	mk := func(prefix string, fs []patternField, label string) []*prometheus.Desc {
		out := make([]*prometheus.Desc, len(fs))
		for i, f := range fs {
			out[i] = prometheus.NewDesc(prefix+f.name, f.help, []string{label}, nil)
		}
		return out
	}
	return patternDescs{
		cacheHits:     prometheus.NewDesc("rediskit_cache_hits_total", "Reads answered by the near cache (tier near) or by Redis (tier redis).", []string{"namespace", "tier"}, nil),
		cacheLag:      prometheus.NewDesc("rediskit_cache_invalidation_lag_seconds", "Invalidation lag from the database commit to the Redis delete (stat last, p99 or max).", []string{"namespace", "stat"}, nil),
		queueJobs:     prometheus.NewDesc("rediskit_queue_jobs", "Jobs per state (wait, active, prioritized, delayed, completed, failed).", []string{"queue", "state"}, nil),
		sessionActive: prometheus.NewDesc("rediskit_session_active", "Sessions active within the idle timeout (HyperLogLog estimate).", []string{"name"}, nil),
		connRetries:   prometheus.NewDesc("rediskit_client_conn_retries_total", "Commands redisconn sent again after a retryable failure.", []string{"client"}, nil),
		connReloads:   prometheus.NewDesc("rediskit_client_conn_topology_reloads_total", "Topology reloads redisconn requested because of an error.", []string{"client"}, nil),
		cache:         mk("rediskit_cache_", cacheFields, "namespace"),
		lock:          mk("rediskit_lock_", lockFields, "name"),
		worker:        mk("rediskit_queue_", workerFields, "queue"),
		session:       mk("rediskit_session_", sessionFields, "name"),
	}
}()

// Describe sends every descriptor the collector may emit.
func (p *PatternCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{pdescs.cacheHits, pdescs.cacheLag, pdescs.queueJobs, pdescs.sessionActive, pdescs.connRetries, pdescs.connReloads} {
		ch <- d
	}
	for _, ds := range [][]*prometheus.Desc{pdescs.cache, pdescs.lock, pdescs.worker, pdescs.session} {
		for _, d := range ds {
			ch <- d
		}
	}
}

// Collect reads every source; round trips are bounded by the timeout.
func (p *PatternCollector) Collect(ch chan<- prometheus.Metric) {
	p.mu.Lock()
	caches, lockers, queues := append([]CacheStatser(nil), p.caches...), append([]LockStatser(nil), p.lockers...), append([]QueueCounter(nil), p.queues...)
	workers, sessions := append([]namedWorker(nil), p.workers...), append([]namedSessions(nil), p.sessions...)
	conns := append([]namedConn(nil), p.conns...)
	lags := make(map[string]LagFunc, len(p.lags))
	for k, v := range p.lags {
		lags[k] = v
	}
	p.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), p.timeout)
	defer cancel()
	collectCaches(ch, caches)
	for ns, lag := range lags {
		last, p99, mx := lag()
		send(ch, pdescs.cacheLag, prometheus.GaugeValue, last.Seconds(), ns, "last")
		send(ch, pdescs.cacheLag, prometheus.GaugeValue, p99.Seconds(), ns, "p99")
		send(ch, pdescs.cacheLag, prometheus.GaugeValue, mx.Seconds(), ns, "max")
	}
	collectLocks(ch, lockers)
	collectQueues(ctx, ch, queues, workers)
	collectSessions(ctx, ch, sessions)
	cs := sums{}
	for _, nc := range conns {
		st := nc.c.Stats()
		cs.add(nc.name, float64(st.Retries), float64(st.TopologyReloads))
	}
	for name, v := range cs {
		send(ch, pdescs.connRetries, prometheus.CounterValue, v[0], name)
		send(ch, pdescs.connReloads, prometheus.CounterValue, v[1], name)
	}
}

// sums adds up the values of sources that share a label value.
type sums map[string][]float64

func (s sums) add(key string, vals ...float64) {
	cur := s[key]
	if cur == nil {
		cur = make([]float64, len(vals))
		s[key] = cur
	}
	for i, v := range vals {
		cur[i] += v
	}
}

func emitSums(ch chan<- prometheus.Metric, s sums, descs []*prometheus.Desc, fields []patternField) {
	for key, vals := range s {
		for i, v := range vals {
			send(ch, descs[i], fields[i].typ, v, key)
		}
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func collectCaches(ch chan<- prometheus.Metric, caches []CacheStatser) {
	s := sums{}
	hits := map[string][2]float64{}
	tracking := map[string]float64{}
	for _, c := range caches {
		st := c.Stats()
		h := hits[st.Namespace]
		h[0] += float64(st.NearHits)
		h[1] += float64(st.RedisHits)
		hits[st.Namespace] = h
		s.add(st.Namespace, float64(st.Misses), float64(st.Loads), float64(st.LoadErrors), float64(st.StaleServed),
			float64(st.EarlyRefreshes), float64(st.Corrupt), float64(st.StaleSetsRejected), float64(st.LeaseWaits),
			float64(st.LeaseTimeouts), float64(st.Evictions), float64(st.InvalidationsReceived), float64(st.NearFlushes),
			float64(st.TrackingDrops), float64(st.NearEntries), float64(st.NearBytes), 0)
		// tracking_up is the minimum over the caches of a namespace.
		if t, ok := tracking[st.Namespace]; !ok || b2f(st.TrackingUp) < t {
			tracking[st.Namespace] = b2f(st.TrackingUp)
		}
	}
	for ns, v := range tracking {
		s[ns][len(cacheFields)-1] = v
	}
	emitSums(ch, s, pdescs.cache, cacheFields)
	for ns, h := range hits {
		send(ch, pdescs.cacheHits, prometheus.CounterValue, h[0], ns, "near")
		send(ch, pdescs.cacheHits, prometheus.CounterValue, h[1], ns, "redis")
	}
}

func collectLocks(ch chan<- prometheus.Metric, lockers []LockStatser) {
	s := sums{}
	for _, l := range lockers {
		for name, c := range l.Stats().ByName {
			s.add(name, float64(c.Acquired), float64(c.Contended), float64(c.Waits), c.WaitTime.Seconds(),
				float64(c.Timeouts), float64(c.Errors), float64(c.Extended), float64(c.ExtendFailed),
				float64(c.Lost), float64(c.Released), c.HoldTime.Seconds())
		}
	}
	emitSums(ch, s, pdescs.lock, lockFields)
}

func collectQueues(ctx context.Context, ch chan<- prometheus.Metric, queues []QueueCounter, workers []namedWorker) {
	type res struct {
		name string
		c    queue.Counts
		err  error
	}
	out := make(chan res, len(queues))
	for _, q := range queues {
		go func() {
			c, err := q.Counts(ctx)
			out <- res{q.Name(), c, err}
		}()
	}
	depth := sums{}
wait:
	for range queues {
		select {
		case r := <-out:
			if r.err == nil {
				depth.add(r.name, float64(r.c.Waiting), float64(r.c.Active), float64(r.c.Prioritized),
					float64(r.c.Delayed), float64(r.c.Completed), float64(r.c.Failed))
			}
		case <-ctx.Done():
			// A queue whose Redis does not answer is left out; its
			// goroutine ends with the client's own timeout (out is
			// buffered).
			break wait
		}
	}
	states := []string{"wait", "active", "prioritized", "delayed", "completed", "failed"}
	for name, vals := range depth {
		for i, v := range vals {
			send(ch, pdescs.queueJobs, prometheus.GaugeValue, v, name, states[i])
		}
	}
	s := sums{}
	means := map[string][3]float64{} // fetch, processing: max over workers; last ok: latest
	for _, nw := range workers {
		st := nw.w.Stats()
		s.add(nw.queue, float64(st.Processed), float64(st.Completed), float64(st.Failed), float64(st.Retried),
			float64(st.Returned), float64(st.Stalled), float64(st.LostLocks), float64(st.Errors), float64(st.InFlight), 0, 0, 0)
		m := means[nw.queue]
		m[0] = max(m[0], st.FetchLatency.Seconds())
		m[1] = max(m[1], st.ProcessingTime.Seconds())
		if !st.LastOK.IsZero() {
			m[2] = max(m[2], float64(st.LastOK.UnixNano())/1e9)
		}
		means[nw.queue] = m
	}
	for q, m := range means {
		n := len(workerFields)
		s[q][n-3], s[q][n-2], s[q][n-1] = m[0], m[1], m[2]
	}
	emitSums(ch, s, pdescs.worker, workerFields)
}

func collectSessions(ctx context.Context, ch chan<- prometheus.Metric, managers []namedSessions) {
	s := sums{}
	active := map[string]float64{}
	for _, nm := range managers {
		st := nm.m.Stats()
		s.add(nm.name, float64(st.Created), float64(st.Renewed), float64(st.Destroyed), float64(st.Expired),
			float64(st.Rejected), float64(st.Loads), float64(st.Saves), float64(st.Touches), float64(st.Gone),
			float64(st.StoreCalls), float64(st.StoreErrors), st.StoreTime.Seconds())
		if a, ok := nm.m.(activeCounter); ok {
			// Managers of one name share their Redis keys: count once.
			if _, done := active[nm.name]; !done {
				if n, err := a.Active(ctx); err == nil {
					active[nm.name] = float64(n)
				}
			}
		}
	}
	emitSums(ch, s, pdescs.session, sessionFields)
	for name, n := range active {
		send(ch, pdescs.sessionActive, prometheus.GaugeValue, n, name)
	}
}
