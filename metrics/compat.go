package metrics

import (
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// The redis_exporter compatibility mode (ServerOptions.RedisExporterNames)
// exports, next to rediskit_redis_*, the redis_* families of
// oliver006/redis_exporter v1.x that Grafana dashboard 763 and the common
// alert rules read: same names, label names and units. redis_exporter
// scrapes one node per target and leaves the node's identity to
// Prometheus's instance label; the /metrics of this exporter covers every
// node in one scrape, so its redis_* series carry one more label, addr
// (the node, as in redis_exporter before v1.0). The multi-target /scrape
// endpoint (ExporterOptions.RedisExporter) serves one node without addr,
// exactly as redis_exporter v1.x does.

// compatField maps one numeric INFO field to a redis_* family.
type compatField struct {
	field, name string
	typ         prometheus.ValueType
}

// compatFields follow redis_exporter's INFO maps (gauges and counters).
var compatFields = []compatField{
	{"uptime_in_seconds", "uptime_in_seconds", prometheus.GaugeValue},
	{"process_id", "process_id", prometheus.GaugeValue},
	{"connected_clients", "connected_clients", prometheus.GaugeValue},
	{"blocked_clients", "blocked_clients", prometheus.GaugeValue},
	{"tracking_clients", "tracking_clients", prometheus.GaugeValue},
	{"used_memory", "memory_used_bytes", prometheus.GaugeValue},
	{"used_memory_rss", "memory_used_rss_bytes", prometheus.GaugeValue},
	{"used_memory_peak", "memory_used_peak_bytes", prometheus.GaugeValue},
	{"used_memory_lua", "memory_used_lua_bytes", prometheus.GaugeValue},
	{"used_memory_overhead", "memory_used_overhead_bytes", prometheus.GaugeValue},
	{"used_memory_dataset", "memory_used_dataset_bytes", prometheus.GaugeValue},
	{"maxmemory", "memory_max_bytes", prometheus.GaugeValue},
	{"total_system_memory", "total_system_memory_bytes", prometheus.GaugeValue},
	{"mem_fragmentation_ratio", "mem_fragmentation_ratio", prometheus.GaugeValue},
	{"mem_fragmentation_bytes", "mem_fragmentation_bytes", prometheus.GaugeValue},
	{"loading", "loading_dump_file", prometheus.GaugeValue},
	{"rdb_changes_since_last_save", "rdb_changes_since_last_save", prometheus.GaugeValue},
	{"rdb_bgsave_in_progress", "rdb_bgsave_in_progress", prometheus.GaugeValue},
	{"rdb_last_save_time", "rdb_last_save_timestamp_seconds", prometheus.GaugeValue},
	{"rdb_last_bgsave_time_sec", "rdb_last_bgsave_duration_sec", prometheus.GaugeValue},
	{"aof_enabled", "aof_enabled", prometheus.GaugeValue},
	{"aof_rewrite_in_progress", "aof_rewrite_in_progress", prometheus.GaugeValue},
	{"pubsub_channels", "pubsub_channels", prometheus.GaugeValue},
	{"pubsub_patterns", "pubsub_patterns", prometheus.GaugeValue},
	{"latest_fork_usec", "latest_fork_usec", prometheus.GaugeValue},
	{"connected_slaves", "connected_slaves", prometheus.GaugeValue},
	{"repl_backlog_size", "replication_backlog_bytes", prometheus.GaugeValue},
	{"master_repl_offset", "master_repl_offset", prometheus.GaugeValue},
	{"cluster_enabled", "cluster_enabled", prometheus.GaugeValue},
	{"total_connections_received", "connections_received_total", prometheus.CounterValue},
	{"total_commands_processed", "commands_processed_total", prometheus.CounterValue},
	{"rejected_connections", "rejected_connections_total", prometheus.CounterValue},
	{"total_net_input_bytes", "net_input_bytes_total", prometheus.CounterValue},
	{"total_net_output_bytes", "net_output_bytes_total", prometheus.CounterValue},
	{"expired_keys", "expired_keys_total", prometheus.CounterValue},
	{"evicted_keys", "evicted_keys_total", prometheus.CounterValue},
	{"keyspace_hits", "keyspace_hits_total", prometheus.CounterValue},
	{"keyspace_misses", "keyspace_misses_total", prometheus.CounterValue},
	{"used_cpu_sys", "cpu_sys_seconds_total", prometheus.CounterValue},
	{"used_cpu_user", "cpu_user_seconds_total", prometheus.CounterValue},
	{"used_cpu_sys_children", "cpu_sys_children_seconds_total", prometheus.CounterValue},
	{"used_cpu_user_children", "cpu_user_children_seconds_total", prometheus.CounterValue},
}

// compatClusterFields are CLUSTER INFO fields (cluster_state: ok -> 1).
var compatClusterFields = []string{
	"cluster_state", "cluster_slots_assigned", "cluster_slots_ok", "cluster_slots_pfail", "cluster_slots_fail",
	"cluster_known_nodes", "cluster_size", "cluster_current_epoch", "cluster_my_epoch",
}

// instanceInfoFields are the labels of redis_instance_info, in order.
var instanceInfoFields = []string{"role", "redis_version", "redis_build_id", "redis_mode", "os", "maxmemory_policy", "tcp_port", "run_id", "process_id", "master_replid"}

type compatDescs struct {
	up, startTime, configMaxmemory, configMaxclients *prometheus.Desc
	fields                                           []*prometheus.Desc
	cluster                                          []*prometheus.Desc
	dbKeys, dbExpiring                               *prometheus.Desc
	cmdCalls, cmdSeconds, cmdRejected, cmdFailed     *prometheus.Desc
	errors                                           *prometheus.Desc
	slaveOffset, slaveLag                            *prometheus.Desc
	linkUp, lastIO, syncing, slaveReplOffset         *prometheus.Desc
	instanceInfo, slaveInfo                          *prometheus.Desc
	slowLen, slowLastID                              *prometheus.Desc
}

// newCompatDescs builds the redis_* descriptors; extra label names
// ("addr" on the whole-deployment /metrics) come first on every series.
func newCompatDescs(extra ...string) *compatDescs {
	l := func(names ...string) []string { return append(append([]string(nil), extra...), names...) }
	nd := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("redis_"+name, help, l(labels...), nil)
	}
	d := &compatDescs{
		up:               nd("up", "Information about the Redis instance (1 if it answered the scrape)."),
		startTime:        nd("start_time_seconds", "Start time of the Redis instance since unix epoch in seconds."),
		configMaxmemory:  nd("config_maxmemory", "maxmemory setting."),
		configMaxclients: nd("config_maxclients", "maxclients setting."),
		dbKeys:           nd("db_keys", "Total number of keys by DB", "db"),
		dbExpiring:       nd("db_keys_expiring", "Total number of expiring keys by DB", "db"),
		cmdCalls:         nd("commands_total", "Total number of calls per command", "cmd"),
		cmdSeconds:       nd("commands_duration_seconds_total", "Total amount of time in seconds spent per command", "cmd"),
		cmdRejected:      nd("commands_rejected_calls_total", "Total number of errors prior command execution per command", "cmd"),
		cmdFailed:        nd("commands_failed_calls_total", "Total number of errors within command execution per command", "cmd"),
		errors:           nd("errors_total", "Total number of errors per error type", "err"),
		slaveOffset:      nd("connected_slave_offset_bytes", "Offset of connected slave", "slave_ip", "slave_port", "slave_state"),
		slaveLag:         nd("connected_slave_lag_seconds", "Lag of connected slave", "slave_ip", "slave_port", "slave_state"),
		linkUp:           nd("master_link_up", "Master link status on Redis slave", "master_host", "master_port"),
		lastIO:           nd("master_last_io_seconds_ago", "Master last io seconds ago", "master_host", "master_port"),
		syncing:          nd("master_sync_in_progress", "Master sync in progress", "master_host", "master_port"),
		slaveReplOffset:  nd("slave_repl_offset", "Slave replication offset", "master_host", "master_port"),
		instanceInfo:     nd("instance_info", "Information about the Redis instance", instanceInfoFields...),
		slaveInfo:        nd("slave_info", "Information about the Redis slave", "master_host", "master_port", "read_only"),
		slowLen:          nd("slowlog_length", "Total slowlog"),
		slowLastID:       nd("slowlog_last_id", "Last id of slowlog"),
	}
	for _, f := range compatFields {
		d.fields = append(d.fields, nd(f.name, f.name+" metric"))
	}
	for _, f := range compatClusterFields {
		d.cluster = append(d.cluster, nd(f, f+" metric"))
	}
	return d
}

func (d *compatDescs) describe(ch chan<- *prometheus.Desc) {
	for _, x := range []*prometheus.Desc{d.up, d.startTime, d.configMaxmemory, d.configMaxclients, d.dbKeys, d.dbExpiring,
		d.cmdCalls, d.cmdSeconds, d.cmdRejected, d.cmdFailed, d.errors, d.slaveOffset, d.slaveLag, d.linkUp, d.lastIO,
		d.syncing, d.slaveReplOffset, d.instanceInfo, d.slaveInfo, d.slowLen, d.slowLastID} {
		ch <- x
	}
	for _, x := range d.fields {
		ch <- x
	}
	for _, x := range d.cluster {
		ch <- x
	}
}

// emit sends the redis_* series of one probed node; extra are the values
// of the extra labels.
func (d *compatDescs) emit(ch chan<- prometheus.Metric, p *probe, extra ...string) {
	lv := func(v ...string) []string { return append(append([]string(nil), extra...), v...) }
	gauge := func(desc *prometheus.Desc, v float64, labels ...string) {
		send(ch, desc, prometheus.GaugeValue, v, lv(labels...)...)
	}
	counter := func(desc *prometheus.Desc, v float64, labels ...string) {
		send(ch, desc, prometheus.CounterValue, v, lv(labels...)...)
	}
	if p.err != nil {
		gauge(d.up, 0)
		return
	}
	gauge(d.up, 1)
	in := p.info
	for i, f := range compatFields {
		if v, ok := in.float(f.field); ok {
			send(ch, d.fields[i], f.typ, v, lv()...)
		}
	}
	if up, ok := in.float("uptime_in_seconds"); ok {
		gauge(d.startTime, float64(time.Now().Unix())-up)
	}
	if v, ok := in.float("maxmemory"); ok {
		gauge(d.configMaxmemory, v)
	}
	if v, ok := in.float("maxclients"); ok {
		gauge(d.configMaxclients, v)
	}
	for db, k := range in.keyspace {
		gauge(d.dbKeys, k.keys, db)
		gauge(d.dbExpiring, k.expires, db)
	}
	for cmd, cs := range in.commands {
		if cs.calls == 0 && cs.usec == 0 {
			continue
		}
		counter(d.cmdCalls, cs.calls, cmd)
		counter(d.cmdSeconds, cs.usec/1e6, cmd)
		counter(d.cmdRejected, cs.rejected, cmd)
		counter(d.cmdFailed, cs.failed, cmd)
	}
	for kind, n := range in.errors {
		counter(d.errors, n, kind)
	}
	for _, r := range in.replicas {
		host, port, err := net.SplitHostPort(r.addr)
		if err != nil {
			continue
		}
		gauge(d.slaveOffset, r.offset, host, port, r.state)
		gauge(d.slaveLag, r.lag, host, port, r.state)
	}
	f := in.fields
	if st, ok := f["master_link_status"]; ok {
		h, pt := f["master_host"], f["master_port"]
		gauge(d.linkUp, b2f(st == "up"), h, pt)
		if v, ok := in.float("master_last_io_seconds_ago"); ok {
			gauge(d.lastIO, v, h, pt)
		}
		if v, ok := in.float("master_sync_in_progress"); ok {
			gauge(d.syncing, v, h, pt)
		}
		if v, ok := in.float("slave_repl_offset"); ok {
			gauge(d.slaveReplOffset, v, h, pt)
		}
		gauge(d.slaveInfo, 1, h, pt, f["slave_read_only"])
	}
	vals := make([]string, len(instanceInfoFields))
	for i, k := range instanceInfoFields {
		vals[i] = f[k]
	}
	gauge(d.instanceInfo, 1, vals...)
	for i, k := range compatClusterFields {
		v, ok := p.cluster[k]
		if !ok {
			continue
		}
		if k == "cluster_state" {
			gauge(d.cluster[i], b2f(v == "ok"))
			continue
		}
		if x, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
			gauge(d.cluster[i], x)
		}
	}
	gauge(d.slowLen, float64(p.slowLen))
	if len(p.slowlog) > 0 {
		gauge(d.slowLastID, float64(p.slowlog[0].ID))
	}
}
