package metrics

import (
	"reflect"
	"strings"
	"testing"
)

const sampleInfo = "# Server\r\nredis_version:7.0.15\r\nuptime_in_seconds:42\r\n\r\n# Memory\r\nused_memory:1000\r\nmem_fragmentation_ratio:1.25\r\n" +
	"# Replication\r\nrole:master\r\nconnected_slaves:2\r\nslave0:ip=127.0.0.1,port=7003,state=online,offset=900,lag=0\r\n" +
	"slave1:ip=127.0.0.1,port=7004,state=wait_bgsave,offset=0,lag=3\r\nmaster_repl_offset:1000\r\n" +
	"# Commandstats\r\ncmdstat_get:calls=10,usec=50,usec_per_call=5.00,rejected_calls=1,failed_calls=2\r\n" +
	"cmdstat_client|setname:calls=3,usec=3,usec_per_call=1.00,rejected_calls=0,failed_calls=0\r\n" +
	"# Errorstats\r\nerrorstat_WRONGTYPE:count=4\r\n" +
	"# Latencystats\r\nlatency_percentiles_usec_get:p50=4.007,p99=12.031,p99.9=20.095\r\n" +
	"# Keyspace\r\ndb0:keys=5,expires=2,avg_ttl=100\r\n"

func TestParseInfo(t *testing.T) {
	in := parseInfo(sampleInfo)
	if v, ok := in.float("mem_fragmentation_ratio"); !ok || v != 1.25 {
		t.Errorf("mem_fragmentation_ratio = %v, %v", v, ok)
	}
	if in.fields["role"] != "master" {
		t.Errorf("role = %q", in.fields["role"])
	}
	wantReplicas := []replicaLine{{addr: "127.0.0.1:7003", state: "online", offset: 900}, {addr: "127.0.0.1:7004", state: "wait_bgsave", lag: 3}}
	if !reflect.DeepEqual(in.replicas, wantReplicas) {
		t.Errorf("replicas:\n got %+v\nwant %+v", in.replicas, wantReplicas)
	}
	get := in.commands["get"]
	wantGet := &commandStat{calls: 10, usec: 50, rejected: 1, failed: 2, quantiles: map[float64]float64{0.5: 4.007, 0.99: 12.031, 0.999: 20.095}}
	if !reflect.DeepEqual(get, wantGet) {
		t.Errorf("get:\n got %+v\nwant %+v", get, wantGet)
	}
	if in.commands["client|setname"].calls != 3 {
		t.Errorf("subcommand stats missing: %+v", in.commands)
	}
	if in.errors["WRONGTYPE"] != 4 {
		t.Errorf("errorstats = %v", in.errors)
	}
	if in.keyspace["db0"] != (keyspaceDB{keys: 5, expires: 2}) {
		t.Errorf("keyspace = %v", in.keyspace)
	}
}

func TestParseClusterNodes(t *testing.T) {
	text := strings.Join([]string{
		"a1 127.0.0.1:7000@17000 myself,master - 0 0 1 connected 0-5460",
		"b2 127.0.0.1:7001@17001,host.example master,fail - 0 0 2 connected",
		"c3 127.0.0.1:7003@17003 slave a1 0 0 1 connected",
		"d4 :0@0 master,noaddr - 0 0 3 disconnected",
		"e5 127.0.0.1:7009@17009 handshake - 0 0 0 connected",
		"short line",
	}, "\n")
	got := parseClusterNodes(text)
	want := []clusterNode{
		{addr: "127.0.0.1:7000", master: true, myself: true},
		{addr: "127.0.0.1:7001", master: true, failed: true},
		{addr: "127.0.0.1:7003"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("parseClusterNodes:\n got %+v\nwant %+v", got, want)
	}
}

func TestBoundedCommand(t *testing.T) {
	for in, want := range map[string]string{"get": "get", "client|setname": "client|setname", "nosuch": "other", "nosuch|x": "other", "": "other"} {
		if got := boundedCommand(in); got != want {
			t.Errorf("boundedCommand(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzParseInfo(f *testing.F) {
	f.Add(sampleInfo)
	f.Add("slave0:ip=,port=\r\nlatency_percentiles_usec_x:p=1,pNaN=2,p-1=3\r\ndb:keys=1\r\ncmdstat_:calls=x")
	f.Fuzz(func(t *testing.T, s string) {
		in := parseInfo(s)
		for _, cs := range in.commands {
			for q := range cs.quantiles {
				if q < 0 || q > 1 || q != q {
					t.Fatalf("quantile %v out of [0,1]", q)
				}
			}
		}
	})
}

func FuzzParseClusterNodes(f *testing.F) {
	f.Add("a1 127.0.0.1:7000@17000 myself,master - 0 0 1 connected 0-5460\n")
	f.Fuzz(func(t *testing.T, s string) {
		for _, n := range parseClusterNodes(s) {
			if n.addr == "" {
				t.Fatalf("node without address from %q", s)
			}
		}
	})
}

func TestParseLatencyHistogram(t *testing.T) {
	reply := []any{
		"get", []any{"calls", int64(3), "histogram_usec", []any{int64(4), int64(3)}},
		"SET", []any{"calls", int64(3), "histogram_usec", []any{int64(4), int64(2), int64(16), int64(3)}},
		int64(7), "junk",
	}
	got := parseLatencyHistogram(reply)
	want := map[string]latencyHistogram{
		"get": {calls: 3, buckets: map[uint64]uint64{4: 3}},
		"set": {calls: 3, buckets: map[uint64]uint64{4: 2, 16: 3}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("parseLatencyHistogram:\n got %+v\nwant %+v", got, want)
	}
	fixed := got["set"].fixedBuckets()
	for bound, wantCount := range map[float64]uint64{1e-6: 0, 2e-6: 0, 4e-6: 2, 8e-6: 2, 16e-6: 3, 1 << 23 / 1e6: 3} {
		if fixed[bound] != wantCount {
			t.Errorf("bucket %v = %d, want %d", bound, fixed[bound], wantCount)
		}
	}
	if len(fixed) != 24 {
		t.Errorf("%d buckets, want 24", len(fixed))
	}
}
