package redisinfo

import (
	"testing"
)

const nodes = `07c37dfeb235213a872192d90877d0cd55635b91 127.0.0.1:30004@31004,host-a slave e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 0 1426238317239 4 connected
67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1 127.0.0.1:30002@31002 master - 0 1426238316232 2 connected 5461-10922
292f8b365bb7edb5e285caf0b7e6ddc7265d2f4f 127.0.0.1:30003@31003 master - 0 1426238318243 3 connected 10923-16383 [10923->-e7d1ee]
e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 127.0.0.1:30001@31001 myself,master - 0 0 1 connected 0-5460 5470
6ec23923021cf3ffec47632106199cb7f496ce01 127.0.0.1:30005@31005 slave,fail 67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1 0 1426238316232 5 connected
824fe116063bc5fcf9f4ffd895bc17aee7731ac3 :0@0 master,noaddr - 1426238316232 1426238316232 0 disconnected
short line`

func TestParseNodes(t *testing.T) {
	ns := ParseNodes(nodes)
	if len(ns) != 6 {
		t.Fatalf("got %d nodes", len(ns))
	}
	want := []struct {
		addr           string
		master, failed bool
		unusable       bool
		slots          int
		masterID       string
	}{
		{"127.0.0.1:30004", false, false, false, 0, "e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca"},
		{"127.0.0.1:30002", true, false, false, 5462, "-"},
		{"127.0.0.1:30003", true, false, false, 5461, "-"},
		{"127.0.0.1:30001", true, false, false, 5462, "-"},
		{"127.0.0.1:30005", false, true, false, 0, "67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1"},
		{":0", true, false, true, 0, "-"},
	}
	for i, w := range want {
		n := ns[i]
		got := []any{n.Addr, n.IsMaster(), n.Failed(), n.Unusable(), n.SlotCount(), n.MasterID}
		exp := []any{w.addr, w.master, w.failed, w.unusable, w.slots, w.masterID}
		for j := range got {
			if got[j] != exp[j] {
				t.Errorf("node %d field %d: got %v, want %v", i, j, got[j], exp[j])
			}
		}
	}
	if !ns[3].Owns(5470) || ns[3].Owns(5469) || !ns[3].Has("myself") {
		t.Error("Owns/Has on the myself node")
	}
}

func TestParseInfo(t *testing.T) {
	m := ParseInfo("# Server\r\nredis_version:7.0.15\r\nrole:master\r\n\r\ncluster_state:ok\r\nnot a field\r\n")
	if m["redis_version"] != "7.0.15" || m["role"] != "master" || m["cluster_state"] != "ok" || len(m) != 3 {
		t.Fatalf("got %v", m)
	}
}

func FuzzParse(f *testing.F) {
	f.Add(nodes)
	f.Fuzz(func(t *testing.T, s string) {
		for _, n := range ParseNodes(s) {
			if n.ID == "" || n.MasterID == "" || len(n.Flags) == 0 {
				t.Fatalf("node with an empty field from a line of 8+ fields: %+v", n)
			}
		}
		_ = ParseInfo(s)
	})
}
