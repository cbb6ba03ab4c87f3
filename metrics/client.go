package metrics

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
)

// DefaultLatencyBuckets are the client latency histogram buckets in
// seconds: 50 µs to 2.5 s.
var DefaultLatencyBuckets = []float64{
	0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
}

// ClientOptions configure InstrumentClient. The zero value is ready to use.
type ClientOptions struct {
	// Name is the value of the "client" label on every series, to tell
	// several instrumented clients apart in one registry. Empty means
	// "default".
	Name string
	// Buckets are the command latency histogram buckets in seconds. Nil
	// means DefaultLatencyBuckets.
	Buckets []float64
	// Commands are extra lower-case command names kept as their own
	// "command" label value besides KnownCommands. Nil adds none.
	Commands []string
}

// ClientMetrics is the instrumentation InstrumentClient installed: a
// go-redis hook on the client (and, for a cluster client, on each node
// client) plus a pool statistics collector. Safe for concurrent use.
//
// Series (all with the label client):
//
//	rediskit_client_command_duration_seconds{command}    histogram, per command as the caller sees it (retries and redirects included)
//	rediskit_client_command_errors_total{command,kind}   final errors by ErrorKind; redis.Nil is not an error
//	rediskit_client_redirects_total{type}                MOVED and ASK replies seen on node connections (cluster)
//	rediskit_client_retries_total{kind}                  node attempts that failed with an error the cluster client retries
//	rediskit_client_pipeline_commands                    histogram of commands per pipeline or transaction
//	rediskit_client_pipeline_duration_seconds            histogram of pipeline round trips
//	rediskit_client_dials_total{result}                  new connections, "ok" or "error"
//	rediskit_client_pool_*                               go-redis PoolStats
type ClientMetrics struct {
	latency     *prometheus.HistogramVec
	byCmd       map[string]prometheus.Observer // read-only after construction
	other       prometheus.Observer
	errs        *prometheus.CounterVec
	redirects   *prometheus.CounterVec
	retries     *prometheus.CounterVec
	pipeSize    prometheus.Histogram
	pipeLatency prometheus.Histogram
	dialOK      prometheus.Counter
	dialErr     prometheus.Counter
}

// InstrumentClient adds the metrics hook to c and registers its series
// and a pool collector with reg. For a *redis.ClusterClient, node
// clients created after the call also get a hook that counts MOVED/ASK
// redirects, retried attempts and dials: call it right after creating
// the client, before the first command. On a plain or failover client
// go-redis retries inside the hook chain, so retries are not visible.
// Instrumenting two clients in one registry needs distinct Names.
func InstrumentClient(c redis.UniversalClient, reg prometheus.Registerer, opts ClientOptions) (*ClientMetrics, error) {
	name := opts.Name
	if name == "" {
		name = "default"
	}
	buckets := opts.Buckets
	if buckets == nil {
		buckets = DefaultLatencyBuckets
	}
	wrapped := prometheus.WrapRegistererWith(prometheus.Labels{"client": name}, reg)
	m := &ClientMetrics{
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "rediskit_client_command_duration_seconds", Help: "Command latency as the caller sees it, retries and redirects included.", Buckets: buckets,
		}, []string{"command"}),
		errs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rediskit_client_command_errors_total", Help: "Commands that returned an error, by command and error kind (a nil reply is not an error).",
		}, []string{"command", "kind"}),
		redirects: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rediskit_client_redirects_total", Help: "MOVED and ASK replies seen on node connections of a cluster client.",
		}, []string{"type"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rediskit_client_retries_total", Help: "Node attempts of a cluster client that failed with an error it retries, by error kind.",
		}, []string{"kind"}),
		pipeSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "rediskit_client_pipeline_commands", Help: "Commands per pipeline or transaction.", Buckets: prometheus.ExponentialBuckets(1, 4, 7),
		}),
		pipeLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "rediskit_client_pipeline_duration_seconds", Help: "Pipeline and transaction round trip time.", Buckets: buckets,
		}),
	}
	dials := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "rediskit_client_dials_total", Help: "New connections by result (ok, error).",
	}, []string{"result"})
	m.dialOK, m.dialErr = dials.WithLabelValues("ok"), dials.WithLabelValues("error")
	for _, k := range []string{"moved", "ask"} {
		m.redirects.WithLabelValues(k)
	}
	m.byCmd = map[string]prometheus.Observer{}
	for _, cmd := range append(append([]string(nil), KnownCommands...), opts.Commands...) {
		m.byCmd[cmd] = m.latency.WithLabelValues(cmd)
	}
	m.other = m.latency.WithLabelValues("other")
	var done []prometheus.Collector
	for _, col := range []prometheus.Collector{m.latency, m.errs, m.redirects, m.retries, m.pipeSize, m.pipeLatency, dials, newPoolCollector(c)} {
		if err := wrapped.Register(col); err != nil {
			for _, d := range done {
				wrapped.Unregister(d)
			}
			return nil, fmt.Errorf("metrics: register client %q: %w", name, err)
		}
		done = append(done, col)
	}
	cc, isCluster := c.(*redis.ClusterClient)
	c.AddHook(&clientHook{m: m, dials: !isCluster})
	if isCluster {
		nh := &nodeHook{m: m}
		cc.OnNewNode(func(n *redis.Client) { n.AddHook(nh) })
	}
	return m, nil
}

func (m *ClientMetrics) observer(cmd string) prometheus.Observer {
	if o, ok := m.byCmd[cmd]; ok {
		return o
	}
	return m.other
}

func (m *ClientMetrics) label(cmd string) string {
	if _, ok := m.byCmd[cmd]; ok {
		return cmd
	}
	return "other"
}

func (m *ClientMetrics) countErr(cmd string, err error) {
	if kind := ErrorKind(err); kind != "" {
		m.errs.WithLabelValues(m.label(cmd), kind).Inc()
	}
}

// connSetup are the commands go-redis pipelines when it opens a
// connection.
var connSetup = map[string]bool{"hello": true, "auth": true, "client": true, "select": true, "readonly": true}

// handshakeProbe reports the probes go-redis sends on every new connection
// (CLIENT SETINFO, and CLIENT MAINT_NOTIFICATIONS in its auto mode), which
// older servers (Redis 7.0 here) reject: not a caller's command, and their
// errors must not feed an error-rate alert.
func handshakeProbe(c redis.Cmder) bool {
	if c.Name() != "client" {
		return false
	}
	args := c.Args()
	if len(args) < 2 {
		return false
	}
	sub, _ := args[1].(string)
	return strings.EqualFold(sub, "setinfo") || strings.EqualFold(sub, "maint_notifications")
}

// clientHook measures commands on the client the caller uses.
type clientHook struct {
	m     *ClientMetrics
	dials bool // count dials here (not on a cluster client: its nodes dial)
}

var _ redis.Hook = (*clientHook)(nil)

func (h *clientHook) DialHook(next redis.DialHook) redis.DialHook {
	if !h.dials {
		return next
	}
	return h.m.dialHook(next)
}

func (h *clientHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	m := h.m
	return func(ctx context.Context, cmd redis.Cmder) error {
		start := time.Now()
		err := next(ctx, cmd)
		name := cmd.Name()
		m.observer(name).Observe(time.Since(start).Seconds())
		if err != nil && !errors.Is(err, redis.Nil) && !handshakeProbe(cmd) {
			m.countErr(name, err)
		}
		return err
	}
}

func (h *clientHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	m := h.m
	return func(ctx context.Context, cmds []redis.Cmder) error {
		start := time.Now()
		err := next(ctx, cmds)
		if len(cmds) > 0 && connSetup[cmds[0].Name()] {
			return err // go-redis' own connection handshake, not the caller's
		}
		m.pipeLatency.Observe(time.Since(start).Seconds())
		m.pipeSize.Observe(float64(len(cmds)))
		for _, c := range cmds {
			if e := c.Err(); e != nil && !errors.Is(e, redis.Nil) && !handshakeProbe(c) {
				m.countErr(c.Name(), e)
			}
		}
		return err
	}
}

func (m *ClientMetrics) dialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := next(ctx, network, addr)
		if err != nil {
			m.dialErr.Inc()
		} else {
			m.dialOK.Inc()
		}
		return conn, err
	}
}

// nodeHook sees every attempt a cluster client sends to one node.
type nodeHook struct{ m *ClientMetrics }

var _ redis.Hook = (*nodeHook)(nil)

func (h *nodeHook) DialHook(next redis.DialHook) redis.DialHook { return h.m.dialHook(next) }

func (h *nodeHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		if err != nil {
			h.attempt(err)
		}
		return err
	}
}

func (h *nodeHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		for _, c := range cmds {
			if e := c.Err(); e != nil {
				h.attempt(e)
			}
		}
		return err
	}
}

func (h *nodeHook) attempt(err error) {
	kind := ErrorKind(err)
	switch kind {
	case "":
		return
	case "moved", "ask":
		h.m.redirects.WithLabelValues(kind).Inc()
	}
	if retryableKind(kind) {
		h.m.retries.WithLabelValues(kind).Inc()
	}
}

// poolCollector exports go-redis PoolStats on each collection.
type poolCollector struct {
	c                                                                    redis.UniversalClient
	hits, misses, timeouts, waits, waitSecs, total, idle, stale, pending *prometheus.Desc
}

func newPoolCollector(c redis.UniversalClient) *poolCollector {
	d := func(n, help string) *prometheus.Desc {
		return prometheus.NewDesc("rediskit_client_pool_"+n, help, nil, nil)
	}
	return &poolCollector{
		c:        c,
		hits:     d("hits_total", "Times a free connection was found in the pool."),
		misses:   d("misses_total", "Times no free connection was found in the pool."),
		timeouts: d("timeouts_total", "Times waiting for a connection timed out."),
		waits:    d("waits_total", "Times a caller waited for a connection."),
		waitSecs: d("wait_seconds_total", "Time spent waiting for a connection."),
		total:    d("connections", "Connections in the pool."),
		idle:     d("idle_connections", "Idle connections in the pool."),
		stale:    d("stale_connections_total", "Stale connections removed from the pool."),
		pending:  d("pending_requests", "Requests waiting for a connection."),
	}
}

func (p *poolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{p.hits, p.misses, p.timeouts, p.waits, p.waitSecs, p.total, p.idle, p.stale, p.pending} {
		ch <- d
	}
}

func (p *poolCollector) Collect(ch chan<- prometheus.Metric) {
	s := p.c.PoolStats()
	if s == nil {
		return
	}
	c := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v)
	}
	g := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v)
	}
	c(p.hits, float64(s.Hits))
	c(p.misses, float64(s.Misses))
	c(p.timeouts, float64(s.Timeouts))
	c(p.waits, float64(s.WaitCount))
	c(p.waitSecs, time.Duration(s.WaitDurationNs).Seconds())
	g(p.total, float64(s.TotalConns))
	g(p.idle, float64(s.IdleConns))
	c(p.stale, float64(s.StaleConns))
	g(p.pending, float64(s.PendingRequests))
}
