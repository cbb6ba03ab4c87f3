package metrics

import (
	"math"
	"strconv"
	"strings"

	"github.com/rediskit/rediskit/internal/redisinfo"
)

// info is a parsed INFO reply: field name to raw value, plus the
// structured sections the collector needs.
type info struct {
	fields   map[string]string
	keyspace map[string]keyspaceDB   // "db0" -> counts
	commands map[string]*commandStat // "get", "client|setname" -> stats
	replicas []replicaLine           // slaveN lines of a master
	errors   map[string]float64      // errorstat_ERR -> count
}

type keyspaceDB struct {
	keys, expires float64
}

type commandStat struct {
	calls, usec, rejected, failed float64
	// quantiles from latencystats in microseconds, keyed "0.5", "0.99", ...
	quantiles map[float64]float64
}

type replicaLine struct {
	addr   string
	state  string
	offset float64
	lag    float64
}

// parseInfo parses the text of INFO ALL. Unknown lines are ignored, so a
// newer or older server never breaks a scrape.
func parseInfo(text string) info {
	in := info{
		fields:   map[string]string{},
		keyspace: map[string]keyspaceDB{},
		commands: map[string]*commandStat{},
		errors:   map[string]float64{},
	}
	for line := range strings.SplitSeq(text, "\n") {
		line = strings.TrimRight(line, "\r")
		if line == "" || line[0] == '#' {
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		switch {
		case strings.HasPrefix(k, "cmdstat_"):
			cs := in.command(k[len("cmdstat_"):])
			kv := parseKV(v)
			cs.calls = kv["calls"]
			cs.usec = kv["usec"]
			cs.rejected = kv["rejected_calls"]
			cs.failed = kv["failed_calls"]
		case strings.HasPrefix(k, "latency_percentiles_usec_"):
			cs := in.command(k[len("latency_percentiles_usec_"):])
			for name, val := range parseKV(v) {
				// "p50", "p99", "p99.9"
				if !strings.HasPrefix(name, "p") {
					continue
				}
				p, err := strconv.ParseFloat(name[1:], 64)
				if err != nil || !(p >= 0 && p <= 100) { // also drops NaN
					continue
				}
				if cs.quantiles == nil {
					cs.quantiles = map[float64]float64{}
				}
				cs.quantiles[math.Round(p*1000)/100000] = val // 99.9 -> 0.999 exactly
			}
		case strings.HasPrefix(k, "errorstat_"):
			in.errors[k[len("errorstat_"):]] = parseKV(v)["count"]
		case strings.HasPrefix(k, "db") && isDigits(k[2:]):
			kv := parseKV(v)
			in.keyspace[k] = keyspaceDB{keys: kv["keys"], expires: kv["expires"]}
		case strings.HasPrefix(k, "slave") && isDigits(k[5:]) && strings.Contains(v, "="):
			in.replicas = append(in.replicas, parseReplica(v))
		default:
			in.fields[k] = v
		}
	}
	return in
}

func (in *info) command(name string) *commandStat {
	cs := in.commands[name]
	if cs == nil {
		cs = &commandStat{}
		in.commands[name] = cs
	}
	return cs
}

// float returns a numeric field and whether it was present and numeric.
func (in info) float(name string) (float64, bool) {
	v, ok := in.fields[name]
	if !ok {
		return 0, false
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return 0, false
	}
	return f, true
}

// parseKV parses "a=1,b=2.5,c=x" into the numeric pairs; non-numeric
// values are dropped.
func parseKV(s string) map[string]float64 {
	out := map[string]float64{}
	for part := range strings.SplitSeq(s, ",") {
		k, v, ok := strings.Cut(part, "=")
		if !ok {
			continue
		}
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			continue
		}
		out[k] = f
	}
	return out
}

// parseReplica parses "ip=127.0.0.1,port=7001,state=online,offset=42,lag=0".
func parseReplica(s string) replicaLine {
	var r replicaLine
	var ip, port string
	for part := range strings.SplitSeq(s, ",") {
		k, v, _ := strings.Cut(part, "=")
		switch k {
		case "ip":
			ip = v
		case "port":
			port = v
		case "state":
			r.state = v
		case "offset":
			r.offset, _ = strconv.ParseFloat(v, 64)
		case "lag":
			r.lag, _ = strconv.ParseFloat(v, 64)
		}
	}
	if ip != "" || port != "" {
		r.addr = ip + ":" + port
	}
	return r
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// clusterNode is one line of CLUSTER NODES, reduced to what discovery needs.
type clusterNode struct {
	addr   string
	master bool
	failed bool // fail or fail? flag
	myself bool
}

// parseClusterNodes parses CLUSTER NODES output. Nodes without an address
// (noaddr, handshake) are skipped.
func parseClusterNodes(text string) []clusterNode {
	var out []clusterNode
	for _, n := range redisinfo.ParseNodes(text) {
		if !n.Unusable() {
			out = append(out, clusterNode{addr: n.Addr, master: n.IsMaster(), failed: n.Failed(), myself: n.Has("myself")})
		}
	}
	return out
}

// latencyHistogram is one command of LATENCY HISTOGRAM: the calls and
// the cumulative count at each reported power-of-two bound (µs).
type latencyHistogram struct {
	calls   uint64
	buckets map[uint64]uint64
}

// parseLatencyHistogram parses a RESP2 LATENCY HISTOGRAM reply:
// [name, [calls, n, histogram_usec, [bound, cumulative, ...]], ...].
// Malformed parts are skipped.
func parseLatencyHistogram(v any) map[string]latencyHistogram {
	out := map[string]latencyHistogram{}
	top, _ := v.([]any)
	for i := 0; i+1 < len(top); i += 2 {
		name, ok := top[i].(string)
		fields, ok2 := top[i+1].([]any)
		if !ok || !ok2 {
			continue
		}
		h := latencyHistogram{buckets: map[uint64]uint64{}}
		for j := 0; j+1 < len(fields); j += 2 {
			switch k, _ := fields[j].(string); k {
			case "calls":
				if n, ok := fields[j+1].(int64); ok && n >= 0 {
					h.calls = uint64(n)
				}
			case "histogram_usec":
				pairs, _ := fields[j+1].([]any)
				for b := 0; b+1 < len(pairs); b += 2 {
					bound, ok1 := pairs[b].(int64)
					count, ok2 := pairs[b+1].(int64)
					if ok1 && ok2 && bound > 0 && count >= 0 {
						h.buckets[uint64(bound)] = uint64(count)
					}
				}
			}
		}
		out[strings.ToLower(name)] = h
	}
	return out
}

// histogramBounds are the exported bucket bounds in µs: 1, 2, 4, ...
// 2^23 (about 8.4 s).
var histogramBounds = func() []uint64 {
	b := make([]uint64, 24)
	for i := range b {
		b[i] = 1 << i
	}
	return b
}()

// fixedBuckets maps the sparse reported bounds onto histogramBounds
// (cumulative counts carry forward), in seconds.
func (h latencyHistogram) fixedBuckets() map[float64]uint64 {
	out := make(map[float64]uint64, len(histogramBounds))
	var last uint64
	for _, b := range histogramBounds {
		if c, ok := h.buckets[b]; ok {
			last = c
		} else {
			// A bound Redis did not report: the largest reported bound
			// below it holds the cumulative count.
			for rb, c := range h.buckets {
				if rb <= b && c > last {
					last = c
				}
			}
		}
		out[float64(b)/1e6] = min(last, h.calls)
	}
	return out
}
