package metrics

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"
)

// ExporterOptions configure ExporterHandler. The zero value is ready to use.
type ExporterOptions struct {
	// Server configures the server collector. Zero value: its defaults.
	Server ServerOptions
	// Username and Password, when Username is not empty, protect every
	// path with HTTP basic auth. Empty means no auth.
	Username, Password string
	// Registry receives the collectors and is served on /metrics, so an
	// application can add its own (client and pattern metrics). Nil
	// means a new registry with the Go and process collectors.
	Registry *prometheus.Registry
	// ScrapeAnyTarget lets /scrape?target= (served when
	// Server.RedisExporterNames is set) probe any server, with this
	// deployment's credentials. False means only nodes of the
	// deployment (others get 403): a scraper cannot make the exporter
	// send its credentials elsewhere.
	ScrapeAnyTarget bool
}

// Exporter serves /metrics for one Redis deployment (a standalone
// redis_exporter that covers a whole cluster per scrape, within the
// X-Prometheus-Scrape-Timeout-Seconds of the scraper), /healthz, a short
// index on /, and with Server.RedisExporterNames redis_exporter's
// /scrape?target=<node>. Safe for concurrent use; Close releases the node
// connections.
type Exporter struct {
	mux       *http.ServeMux
	collector *ServerCollector
	reg       prometheus.Gatherer // the application's registry
	metrics   http.Handler        // reg and the collector
	anyTarget bool
	user, pw  [32]byte // sha256 of the basic-auth credentials
	auth      bool
}

var _ http.Handler = (*Exporter)(nil)

// ExporterHandler returns an exporter over the deployment behind client
// (a cluster, single-node or failover client; auth and TLS are the
// client's). It does no I/O. The caller still owns client.
func ExporterHandler(client redis.UniversalClient, opts ExporterOptions) (*Exporter, error) {
	sc, err := NewServerCollector(client, opts.Server)
	if err != nil {
		return nil, err
	}
	reg := opts.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	// The server collector has a registry of its own, so that a scrape
	// with a timeout header can collect it within that timeout.
	scReg := prometheus.NewRegistry()
	if err := scReg.Register(sc); err != nil {
		_ = sc.Close()
		return nil, fmt.Errorf("metrics: register server collector: %w", err)
	}
	e := &Exporter{mux: http.NewServeMux(), collector: sc, reg: reg, anyTarget: opts.ScrapeAnyTarget}
	e.metrics = promhttp.HandlerFor(prometheus.Gatherers{reg, scReg}, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
	if opts.Username != "" {
		e.auth = true
		e.user, e.pw = sha256.Sum256([]byte(opts.Username)), sha256.Sum256([]byte(opts.Password))
	}
	e.mux.HandleFunc("/metrics", e.metricsHandler)
	if sc.target != nil {
		e.mux.HandleFunc("/scrape", e.scrapeHandler)
	}
	e.mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	e.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(`<html><head><title>rediskit exporter</title></head><body><h1>rediskit exporter</h1><p><a href="/metrics">Metrics</a></p></body></html>`))
	})
	return e, nil
}

// ServeHTTP checks basic auth (when configured) and serves the request.
func (e *Exporter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if e.auth {
		u, p, ok := r.BasicAuth()
		uh, ph := sha256.Sum256([]byte(u)), sha256.Sum256([]byte(p))
		if !ok || subtle.ConstantTimeCompare(uh[:], e.user[:])&subtle.ConstantTimeCompare(ph[:], e.pw[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Basic realm="rediskit exporter", charset="UTF-8"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
	}
	e.mux.ServeHTTP(w, r)
}

// Collector returns the exporter's server collector.
func (e *Exporter) Collector() *ServerCollector { return e.collector }

// Close releases the collector's node connections.
func (e *Exporter) Close() error { return e.collector.Close() }
