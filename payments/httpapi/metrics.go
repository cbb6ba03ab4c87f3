package httpapi

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rediskit/rediskit/payments"
)

// Metrics are the service's own Prometheus series: HTTP requests by route
// and status, and the payment counters of Service.Stats (charges, replays,
// fencing, job runs) read at each scrape. The cache, lock, queue and session
// series come from metrics.PatternCollector. Safe for concurrent use.
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
	"payments_charges_total":      "Charges committed by this instance.",
	"payments_replays_total":      "Payments answered from an earlier charge with the same idempotency key.",
	"payments_already_paid_total": "Payments refused because another key paid the order.",
	"payments_fenced_total":       "Charges refused by PostgreSQL because a newer lock holder claimed the order.",
	"payments_lock_lost_total":    "Payments abandoned because the order's lock was lost.",
	"payments_jobs_run_total":     "Payment queue job runs.",
	"payments_job_errors_total":   "Payment queue job runs that failed.",
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
	c("payments_charges_total", float64(s.Charges))
	c("payments_replays_total", float64(s.Replays))
	c("payments_already_paid_total", float64(s.AlreadyPaid))
	c("payments_fenced_total", float64(s.Fenced))
	c("payments_lock_lost_total", float64(s.LockLost))
	c("payments_jobs_run_total", float64(s.JobRuns))
	c("payments_job_errors_total", float64(s.JobErrors))
}
