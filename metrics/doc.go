// Package metrics turns rediskit into Prometheus series: the go-redis
// client, every node of the deployment, and the Stats() of the pattern
// packages. It is the only rediskit package that imports Prometheus.
//
// # Client
//
// One call adds a go-redis hook to any UniversalClient:
//
//	m, err := metrics.InstrumentClient(client, prometheus.DefaultRegisterer, metrics.ClientOptions{Name: "api"})
//
// It records a latency histogram per command (the command label is
// bounded by KnownCommands; other names are "other"), errors by
// ErrorKind (a nil reply is not an error), MOVED/ASK redirects and
// retried attempts seen on the node clients of a cluster client,
// pipeline sizes and durations, dials, and go-redis PoolStats. The
// overhead is about 0.3 µs and no allocation per command
// (BenchmarkHookOverhead), under 1% of a loopback GET; `cd bench && go
// run . metrics` compares GET throughput with a plain client.
//
// # Server
//
// NewServerCollector scrapes every node behind one client on each
// collection: all masters and replicas of a cluster (membership from
// CLUSTER NODES, so failed nodes are still reported, with up 0), a
// single node and its replicas, or the master and replicas of a sentinel
// deployment. Each series is labelled addr and role. It exports INFO
// (memory, fragmentation, hits/misses and hit ratio, evictions, clients,
// ops/s, replication offsets and lag), INFO commandstats and latencystats
// as a summary per command, CLUSTER INFO (state, slots by state), the
// slow log (length and the most recent entries per command), a counter
// of dangerous commands (KEYS, FLUSHALL, SMEMBERS, HGETALL, ...) and, for
// the commands named in ServerOptions.LatencyHistograms, LATENCY
// HISTOGRAM as a real Prometheus histogram.
// Every node has its own timeout and the whole scrape is bounded: a
// dead or paused node shows up 0 and never hangs the scrape.
//
// # Exporter
//
// ExporterHandler wraps the server collector in an http.Handler with
// optional basic auth; `rediskit exporter` serves it for a deployment
// given by the redisconn environment. Dashboards and alerts that read
// these series are in deploy/grafana and deploy/prometheus. A scrape
// honours the scraper's X-Prometheus-Scrape-Timeout-Seconds.
//
// # redis_exporter compatibility
//
// ServerOptions.RedisExporterNames (`rediskit exporter -compat
// redis_exporter`) also exports redis_exporter v1.x's redis_* families,
// with an addr label per node, and the exporter then serves its
// multi-target /scrape?target=<node> (one node, no addr: Prometheus
// relabels instance), limited to the deployment's nodes unless
// ExporterOptions.ScrapeAnyTarget. testdata/redis_exporter_compat.txt
// lists the Grafana 763 and alert-rule expressions proven against it.
//
// # Patterns
//
// The pattern collectors read Stats() snapshots of the cache, lock,
// queue and session packages through small interfaces, so those
// packages never import Prometheus (see patterns.go).
package metrics
