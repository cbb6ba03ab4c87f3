package httpapi

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rediskit/rediskit/payments"
)

// Metrics are the service's Prometheus series: HTTP requests by route and
// status, and the service's Stats (charges, fencing, cache, lock, worker)
// read at each scrape. Safe for concurrent use.
type Metrics struct {
	requests *prometheus.HistogramVec
	svc      *payments.Service
	descs    map[string]*prometheus.Desc
}

// NewMetrics registers the service's series on reg.
func NewMetrics(reg prometheus.Registerer, svc *payments.Service) (*Metrics, error) {
	m := &Metrics{
		svc: svc,
		requests: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "payments_http_request_duration_seconds",
			Help:    "HTTP requests by route pattern and status code.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route", "code"}),
		descs: map[string]*prometheus.Desc{},
	}
	for name, help := range counterHelp {
		m.descs[name] = prometheus.NewDesc(name, help, nil, nil)
	}
	if err := reg.Register(m.requests); err != nil {
		return nil, err
	}
	if err := reg.Register(m); err != nil {
		return nil, err
	}
	return m, nil
}

// Observe records one request (use as Options.Observe).
func (m *Metrics) Observe(route string, status int, d time.Duration) {
	m.requests.WithLabelValues(route, strconv.Itoa(status)).Observe(d.Seconds())
}

var counterHelp = map[string]string{
	"payments_charges_total":             "Charges committed by this instance.",
	"payments_replays_total":             "Payments answered from an earlier charge with the same idempotency key.",
	"payments_already_paid_total":        "Payments refused because another key paid the order.",
	"payments_fenced_total":              "Charges refused by PostgreSQL because a newer lock holder claimed the order.",
	"payments_lock_lost_total":           "Payments abandoned because the order's lock was lost.",
	"payments_jobs_run_total":            "Payment queue job runs.",
	"payments_job_errors_total":          "Payment queue job runs that failed.",
	"payments_cache_near_hits_total":     "Product reads answered by the near cache.",
	"payments_cache_redis_hits_total":    "Product reads answered by Redis.",
	"payments_cache_misses_total":        "Product reads that went to PostgreSQL (or waited for a loader).",
	"payments_cache_invalidations_total": "Product keys invalidated by tracking pushes.",
	"payments_lock_acquired_total":       "Order locks acquired.",
	"payments_lock_contended_total":      "Order lock attempts that found the lock held.",
	"payments_queue_completed_total":     "Jobs this instance's worker completed.",
	"payments_queue_failed_total":        "Jobs this instance's worker failed for good.",
	"payments_queue_in_flight":           "Jobs running now in this instance's worker.",
	"payments_cache_near_entries":        "Entries in the product near cache.",
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range m.descs {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	s := m.svc.Stats()
	c := func(name string, v float64) {
		ch <- prometheus.MustNewConstMetric(m.descs[name], prometheus.CounterValue, v)
	}
	g := func(name string, v float64) {
		ch <- prometheus.MustNewConstMetric(m.descs[name], prometheus.GaugeValue, v)
	}
	c("payments_charges_total", float64(s.Charges))
	c("payments_replays_total", float64(s.Replays))
	c("payments_already_paid_total", float64(s.AlreadyPaid))
	c("payments_fenced_total", float64(s.Fenced))
	c("payments_lock_lost_total", float64(s.LockLost))
	c("payments_jobs_run_total", float64(s.JobRuns))
	c("payments_job_errors_total", float64(s.JobErrors))
	c("payments_cache_near_hits_total", float64(s.Cache.NearHits))
	c("payments_cache_redis_hits_total", float64(s.Cache.RedisHits))
	c("payments_cache_misses_total", float64(s.Cache.Misses))
	c("payments_cache_invalidations_total", float64(s.Cache.InvalidationsReceived))
	c("payments_lock_acquired_total", float64(s.Lock.Acquired))
	c("payments_lock_contended_total", float64(s.Lock.Contended))
	c("payments_queue_completed_total", float64(s.Worker.Completed))
	c("payments_queue_failed_total", float64(s.Worker.Failed))
	g("payments_queue_in_flight", float64(s.Worker.InFlight))
	g("payments_cache_near_entries", float64(s.Cache.NearEntries))
}
