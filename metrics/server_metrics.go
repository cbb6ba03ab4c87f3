package metrics

import (
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

// nodeLabels are on every per-node series.
var nodeLabels = []string{"addr", "role"}

// infoField maps one numeric INFO field to a series.
type infoField struct {
	field string
	name  string
	help  string
	typ   prometheus.ValueType
	scale float64
}

// infoFields are the INFO fields exported as they are (scaled).
var infoFields = []infoField{
	{"uptime_in_seconds", "uptime_seconds", "Seconds since the node started.", prometheus.GaugeValue, 1},
	{"connected_clients", "connected_clients", "Client connections (excluding replicas).", prometheus.GaugeValue, 1},
	{"blocked_clients", "blocked_clients", "Clients blocked in BLPOP, XREAD, WAIT and similar.", prometheus.GaugeValue, 1},
	{"maxclients", "max_clients", "The maxclients setting.", prometheus.GaugeValue, 1},
	{"used_memory", "memory_used_bytes", "Bytes allocated by Redis (used_memory).", prometheus.GaugeValue, 1},
	{"used_memory_rss", "memory_rss_bytes", "Resident set size of the process.", prometheus.GaugeValue, 1},
	{"used_memory_peak", "memory_peak_bytes", "Peak of used_memory.", prometheus.GaugeValue, 1},
	{"maxmemory", "memory_max_bytes", "The maxmemory setting (0 means no limit).", prometheus.GaugeValue, 1},
	{"mem_fragmentation_ratio", "memory_fragmentation_ratio", "used_memory_rss divided by used_memory.", prometheus.GaugeValue, 1},
	{"total_connections_received", "connections_received_total", "Connections accepted.", prometheus.CounterValue, 1},
	{"rejected_connections", "rejected_connections_total", "Connections rejected because of maxclients.", prometheus.CounterValue, 1},
	{"total_commands_processed", "commands_processed_total", "Commands processed.", prometheus.CounterValue, 1},
	{"instantaneous_ops_per_sec", "instantaneous_ops_per_second", "Commands per second as sampled by the server.", prometheus.GaugeValue, 1},
	{"total_net_input_bytes", "net_input_bytes_total", "Bytes read from the network.", prometheus.CounterValue, 1},
	{"total_net_output_bytes", "net_output_bytes_total", "Bytes written to the network.", prometheus.CounterValue, 1},
	{"keyspace_hits", "keyspace_hits_total", "Successful key lookups.", prometheus.CounterValue, 1},
	{"keyspace_misses", "keyspace_misses_total", "Failed key lookups.", prometheus.CounterValue, 1},
	{"evicted_keys", "evicted_keys_total", "Keys evicted because of maxmemory.", prometheus.CounterValue, 1},
	{"expired_keys", "expired_keys_total", "Keys deleted because their TTL passed.", prometheus.CounterValue, 1},
	{"total_error_replies", "error_replies_total", "Error replies sent.", prometheus.CounterValue, 1},
	{"latest_fork_usec", "latest_fork_seconds", "Duration of the latest fork.", prometheus.GaugeValue, 1e-6},
	{"connected_slaves", "connected_replicas", "Replicas connected to this node.", prometheus.GaugeValue, 1},
	{"master_repl_offset", "replication_offset", "Replication offset of this node (bytes of the replication stream).", prometheus.GaugeValue, 1},
	{"master_last_io_seconds_ago", "master_last_io_seconds", "On a replica: seconds since the last interaction with its master.", prometheus.GaugeValue, 1},
	{"master_link_down_since_seconds", "master_link_down_seconds", "On a replica: seconds the link to its master has been down.", prometheus.GaugeValue, 1},
}

type serverDescs struct {
	up, nodeScrape, scrapeDuration                        *prometheus.Desc
	fields                                                []*prometheus.Desc
	hitRatio, masterLinkUp                                *prometheus.Desc
	keys, expiring                                        *prometheus.Desc
	cmdDuration, cmdFailed, cmdRejected                   *prometheus.Desc
	dangerous, errorsByKind                               *prometheus.Desc
	clusterState, clusterSlots, clusterKnown, clusterSize *prometheus.Desc
	replicaLagBytes, replicaLagSeconds                    *prometheus.Desc
	slowLen, slowTotal, slowRecent, slowMax               *prometheus.Desc
	latencyHist                                           *prometheus.Desc
}

func name(n string) string { return "rediskit_redis_" + n }

func newServerDescs() serverDescs {
	l := nodeLabels
	with := func(extra ...string) []string { return append(append([]string(nil), l...), extra...) }
	d := serverDescs{
		up:             prometheus.NewDesc(name("up"), "1 if the node answered this scrape, 0 if it is down or timed out.", l, nil),
		nodeScrape:     prometheus.NewDesc(name("node_scrape_duration_seconds"), "Time spent scraping this node.", l, nil),
		scrapeDuration: prometheus.NewDesc(name("scrape_duration_seconds"), "Time spent scraping the whole deployment.", nil, nil),
		hitRatio:       prometheus.NewDesc(name("keyspace_hit_ratio"), "keyspace_hits / (hits + misses) since the node started.", l, nil),
		masterLinkUp:   prometheus.NewDesc(name("master_link_up"), "On a replica: 1 if the link to its master is up.", l, nil),
		keys:           prometheus.NewDesc(name("keys"), "Keys per database.", with("db"), nil),
		expiring:       prometheus.NewDesc(name("expiring_keys"), "Keys with a TTL per database.", with("db"), nil),
		cmdDuration:    prometheus.NewDesc(name("command_duration_seconds"), "Server-side command execution time from INFO commandstats (count, sum) and latencystats (quantiles).", with("cmd"), nil),
		cmdFailed:      prometheus.NewDesc(name("command_failed_calls_total"), "Calls that failed inside the command, per command.", with("cmd"), nil),
		cmdRejected:    prometheus.NewDesc(name("command_rejected_calls_total"), "Calls rejected before execution (wrong arity, OOM, ...), per command.", with("cmd"), nil),
		dangerous:      prometheus.NewDesc(name("dangerous_command_calls_total"), "Calls of O(N) or destructive commands (KEYS, FLUSHALL, SMEMBERS, HGETALL, LRANGE, ...) seen in commandstats.", with("cmd"), nil),
		errorsByKind:   prometheus.NewDesc(name("errors_total"), "Error replies by error prefix (INFO errorstats).", with("kind"), nil),
		clusterState:   prometheus.NewDesc(name("cluster_state"), "1 if this node reports cluster_state:ok.", l, nil),
		clusterSlots:   prometheus.NewDesc(name("cluster_slots"), "Hash slots by state (assigned, ok, pfail, fail) as this node sees them.", with("state"), nil),
		clusterKnown:   prometheus.NewDesc(name("cluster_known_nodes"), "Nodes this node knows.", l, nil),
		clusterSize:    prometheus.NewDesc(name("cluster_size"), "Masters serving at least one slot.", l, nil),
		replicaLagBytes: prometheus.NewDesc(name("replication_lag_bytes"),
			"Bytes of the replication stream a replica has not acknowledged (master offset - replica offset), labelled by the master and the replica.", with("replica"), nil),
		replicaLagSeconds: prometheus.NewDesc(name("replication_lag_seconds"), "Seconds since the replica last acknowledged (the lag field of INFO replication).", with("replica"), nil),
		latencyHist:       prometheus.NewDesc(name("command_latency_seconds"), "Server-side latency histogram per command from LATENCY HISTOGRAM (Redis 7), for ServerOptions.LatencyHistograms.", with("cmd"), nil),
		slowLen:           prometheus.NewDesc(name("slowlog_length"), "Entries in the slow log.", l, nil),
		slowTotal:         prometheus.NewDesc(name("slowlog_entries_total"), "Slow log entries ever recorded (highest id + 1).", l, nil),
		slowRecent:        prometheus.NewDesc(name("slowlog_recent_commands"), "Entries per command among the most recent slow log entries.", with("cmd"), nil),
		slowMax:           prometheus.NewDesc(name("slowlog_recent_max_duration_seconds"), "Longest duration per command among the most recent slow log entries.", with("cmd"), nil),
	}
	for _, f := range infoFields {
		d.fields = append(d.fields, prometheus.NewDesc(name(f.name), f.help, l, nil))
	}
	return d
}

func (d *serverDescs) describe(ch chan<- *prometheus.Desc) {
	for _, x := range []*prometheus.Desc{
		d.up, d.nodeScrape, d.scrapeDuration, d.hitRatio, d.masterLinkUp, d.keys, d.expiring,
		d.cmdDuration, d.cmdFailed, d.cmdRejected, d.dangerous, d.errorsByKind, d.clusterState,
		d.clusterSlots, d.clusterKnown, d.clusterSize, d.replicaLagBytes, d.replicaLagSeconds,
		d.slowLen, d.slowTotal, d.slowRecent, d.slowMax, d.latencyHist,
	} {
		ch <- x
	}
	for _, x := range d.fields {
		ch <- x
	}
}

// emit sends the series of one probed node.
func (s *ServerCollector) emit(ch chan<- prometheus.Metric, p *probe) {
	d := &s.descs
	lv := []string{p.addr, p.role}
	gauge := func(desc *prometheus.Desc, v float64, extra ...string) {
		send(ch, desc, prometheus.GaugeValue, v, append(lv[:2:2], extra...)...)
	}
	counter := func(desc *prometheus.Desc, v float64, extra ...string) {
		send(ch, desc, prometheus.CounterValue, v, append(lv[:2:2], extra...)...)
	}
	gauge(d.nodeScrape, p.took.Seconds())
	if p.err != nil {
		gauge(d.up, 0)
		return
	}
	gauge(d.up, 1)
	in := p.info
	for i, f := range infoFields {
		if v, ok := in.float(f.field); ok {
			send(ch, d.fields[i], f.typ, v*f.scale, lv...)
		}
	}
	hits, _ := in.float("keyspace_hits")
	misses, _ := in.float("keyspace_misses")
	if hits+misses > 0 {
		gauge(d.hitRatio, hits/(hits+misses))
	}
	if st, ok := in.fields["master_link_status"]; ok {
		v := 0.0
		if st == "up" {
			v = 1
		}
		gauge(d.masterLinkUp, v)
	}
	for db, k := range in.keyspace {
		gauge(d.keys, k.keys, db)
		gauge(d.expiring, k.expires, db)
	}
	for cmd, cs := range in.commands {
		if cs.calls == 0 && cs.usec == 0 && cs.quantiles == nil {
			continue
		}
		q := map[float64]float64{}
		for k, v := range cs.quantiles {
			q[k] = v / 1e6
		}
		if m, err := prometheus.NewConstSummary(d.cmdDuration, uint64(cs.calls), cs.usec/1e6, q, p.addr, p.role, cmd); err == nil {
			ch <- m
		}
		counter(d.cmdFailed, cs.failed, cmd)
		counter(d.cmdRejected, cs.rejected, cmd)
		if s.dangerous[cmd] {
			counter(d.dangerous, cs.calls, cmd)
		}
	}
	for cmd, h := range p.histograms {
		sum := 0.0
		if cs := in.commands[cmd]; cs != nil {
			sum = cs.usec / 1e6
		}
		if m, err := prometheus.NewConstHistogram(d.latencyHist, h.calls, sum, h.fixedBuckets(), p.addr, p.role, cmd); err == nil {
			ch <- m
		}
	}
	for kind, n := range in.errors {
		counter(d.errorsByKind, n, kind)
	}
	if p.cluster != nil {
		v := 0.0
		if p.cluster["cluster_state"] == "ok" {
			v = 1
		}
		gauge(d.clusterState, v)
		for _, st := range []string{"assigned", "ok", "pfail", "fail"} {
			if x, ok := parseNum(p.cluster["cluster_slots_"+st]); ok {
				gauge(d.clusterSlots, x, st)
			}
		}
		if x, ok := parseNum(p.cluster["cluster_known_nodes"]); ok {
			gauge(d.clusterKnown, x)
		}
		if x, ok := parseNum(p.cluster["cluster_size"]); ok {
			gauge(d.clusterSize, x)
		}
	}
	gauge(d.slowLen, float64(p.slowLen))
	if len(p.slowlog) > 0 {
		var maxID int64
		count := map[string]float64{}
		longest := map[string]float64{}
		for _, e := range p.slowlog {
			maxID = max(maxID, e.ID)
			cmd := "other"
			if len(e.Args) > 0 {
				cmd = boundedCommand(strings.ToLower(e.Args[0]))
			}
			count[cmd]++
			longest[cmd] = max(longest[cmd], e.Duration.Seconds())
		}
		counter(d.slowTotal, float64(maxID+1))
		for cmd, n := range count {
			gauge(d.slowRecent, n, cmd)
			gauge(d.slowMax, longest[cmd], cmd)
		}
	}
}

// emitReplicationLag sends, for each master that answered, the lag of
// each of its replicas in bytes and seconds.
func emitReplicationLag(ch chan<- prometheus.Metric, d *serverDescs, probes []*probe) {
	for _, p := range probes {
		if p.err != nil || p.role != "master" {
			continue
		}
		off, ok := p.info.float("master_repl_offset")
		if !ok {
			continue
		}
		seen := map[string]bool{}
		for _, r := range p.info.replicas {
			if r.addr == "" || seen[r.addr] {
				continue
			}
			seen[r.addr] = true
			send(ch, d.replicaLagBytes, prometheus.GaugeValue, max(0, off-r.offset), p.addr, p.role, r.addr)
			send(ch, d.replicaLagSeconds, prometheus.GaugeValue, r.lag, p.addr, p.role, r.addr)
		}
	}
}

// send emits one const metric; a value the client library rejects (a
// label that is not valid UTF-8 in a server reply) is dropped rather
// than panicking inside a scrape.
func send(ch chan<- prometheus.Metric, d *prometheus.Desc, typ prometheus.ValueType, v float64, labels ...string) {
	if m, err := prometheus.NewConstMetric(d, typ, v, labels...); err == nil {
		ch <- m
	}
}
