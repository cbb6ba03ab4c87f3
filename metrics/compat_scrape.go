package metrics

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// ErrUnknownTarget is the error of a /scrape?target= naming a server that
// is not a node of the exporter's deployment (see
// ExporterOptions.ScrapeAnyTarget).
var ErrUnknownTarget = errors.New("metrics: target is not a node of this deployment")

// parseTarget turns a redis_exporter target ("redis://host:port",
// "rediss://host:port", "host:port" or "host") into host:port.
func parseTarget(t string) (string, error) {
	if t == "" {
		return "", errors.New("metrics: 'target' parameter must be specified")
	}
	hostport := t
	if strings.Contains(t, "://") {
		u, err := url.Parse(t)
		if err != nil || u.Host == "" {
			return "", fmt.Errorf("metrics: invalid target %q", t)
		}
		if u.Scheme != "redis" && u.Scheme != "rediss" {
			return "", fmt.Errorf("metrics: invalid target %q: scheme must be redis or rediss", t)
		}
		hostport = u.Host
	}
	if _, _, err := net.SplitHostPort(hostport); err != nil {
		hostport = net.JoinHostPort(hostport, "6379")
	}
	if _, _, err := net.SplitHostPort(hostport); err != nil {
		return "", fmt.Errorf("metrics: invalid target %q", t)
	}
	return hostport, nil
}

// findNode returns the known node whose address is addr.
func (s *ServerCollector) findNode(addr string) *node {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n, ok := s.nodes[addr]; ok {
		return n
	}
	for _, n := range s.nodes {
		if n.addr() == addr {
			return n
		}
	}
	return nil
}

// probeTarget probes one node named by a /scrape target: a node of the
// deployment (discovered by a scrape when not known yet) or, with
// anyTarget, any server, with the deployment's credentials.
func (s *ServerCollector) probeTarget(ctx context.Context, target string, anyTarget bool) (*probe, error) {
	addr, err := parseTarget(target)
	if err != nil {
		return nil, err
	}
	n := s.findNode(addr)
	if n == nil {
		s.scrape(ctx)
		n = s.findNode(addr)
	}
	if n == nil {
		if !anyTarget {
			return nil, fmt.Errorf("%w: %s", ErrUnknownTarget, addr)
		}
		n = s.newNode(addr, nil, false)
		defer n.client.Close()
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, errors.New("metrics: exporter closed")
	}
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()
	p := s.probe(ctx, n)
	if p.err == nil {
		p.role = "master"
		if r := p.info.fields["role"]; r == "slave" || r == "replica" {
			p.role = "replica"
		}
	}
	return p, nil
}

// targetCollector emits the redis_* series of one probed target.
type targetCollector struct {
	d *compatDescs
	p *probe
}

func (t targetCollector) Describe(ch chan<- *prometheus.Desc) { t.d.describe(ch) }
func (t targetCollector) Collect(ch chan<- prometheus.Metric) { t.d.emit(ch, t.p) }

// timedCollector collects a ServerCollector within a timeout of its own.
type timedCollector struct {
	s       *ServerCollector
	timeout time.Duration
}

func (t timedCollector) Describe(ch chan<- *prometheus.Desc) { t.s.Describe(ch) }
func (t timedCollector) Collect(ch chan<- prometheus.Metric) { t.s.collectWithin(ch, t.timeout) }

// scrapeTimeoutHeader is the header Prometheus sends with its scrape
// timeout in seconds.
const scrapeTimeoutHeader = "X-Prometheus-Scrape-Timeout-Seconds"

// requestTimeout returns def, or less when the scraper's header leaves
// less time: 90% of the header's value, so the answer arrives in time.
// ok is false when the header is absent or malformed.
func requestTimeout(r *http.Request, def time.Duration) (d time.Duration, ok bool) {
	h := r.Header.Get(scrapeTimeoutHeader)
	if h == "" {
		return def, false
	}
	secs, err := strconv.ParseFloat(h, 64)
	if err != nil || !(secs > 0) {
		return def, false
	}
	budget := time.Duration(secs * 0.9 * float64(time.Second))
	return max(min(def, budget), 50*time.Millisecond), true
}

// metricsHandler serves /metrics: the application's registry and the
// server collector, within the scraper's timeout when it sends one.
func (e *Exporter) metricsHandler(w http.ResponseWriter, r *http.Request) {
	timeout, ok := requestTimeout(r, e.collector.opts.ScrapeTimeout)
	if !ok {
		e.metrics.ServeHTTP(w, r)
		return
	}
	tmp := prometheus.NewRegistry()
	if err := tmp.Register(timedCollector{e.collector, timeout}); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	promhttp.HandlerFor(prometheus.Gatherers{e.reg, tmp}, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}).ServeHTTP(w, r)
}

// scrapeHandler serves redis_exporter's multi-target /scrape?target=:
// the redis_* series of one node, without an addr label (Prometheus
// relabels instance to the target), within the scraper's timeout.
func (e *Exporter) scrapeHandler(w http.ResponseWriter, r *http.Request) {
	timeout, _ := requestTimeout(r, e.collector.opts.ScrapeTimeout)
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	p, err := e.collector.probeTarget(ctx, r.URL.Query().Get("target"), e.anyTarget)
	if err != nil {
		code := http.StatusBadRequest
		if errors.Is(err, ErrUnknownTarget) {
			code = http.StatusForbidden
		}
		http.Error(w, err.Error(), code)
		return
	}
	reg := prometheus.NewRegistry()
	if err := reg.Register(targetCollector{e.collector.target, p}); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}).ServeHTTP(w, r)
}
