package dashboard

import (
	"testing"

	"github.com/rediskit/rediskit/internal/redistest"
)

func TestClusterPage(t *testing.T) {
	redistest.ForEach(t, func(t *testing.T, tg redistest.Target) {
		e := newEnv(t, tg.Client(t), Options{ReadOnly: true})
		var c ClusterView
		e.get("api/cluster", &c)
		want := 1
		if tg.Cluster {
			want = 6
		}
		if len(c.Nodes) != want {
			t.Fatalf("%d nodes, want %d: %+v", len(c.Nodes), want, c.Nodes)
		}
		slots := 0
		for _, n := range c.Nodes {
			if !n.Up || n.Err != "" || n.Version == "" || n.UsedMemory == 0 {
				t.Errorf("node %+v", n)
			}
			slots += n.Slots
			if n.Role == "replica" && (!n.LinkUp || n.Master == "") {
				t.Errorf("replica %s: link %v master %q", n.Addr, n.LinkUp, n.Master)
			}
		}
		if tg.Cluster && (slots != 16384 || c.ClusterState != "ok" || c.SlotsOK != 16384 || c.Nodes[0].Role != "master") {
			t.Errorf("slots %d state %q ok %d first %s", slots, c.ClusterState, c.SlotsOK, c.Nodes[0].Role)
		}
		fits := map[string]string{}
		for _, p := range c.Policy {
			fits[p.Role] = p.Fit
		}
		// the harness runs noeviction: fit for queues, unfit for caches
		if fits["queue"] != "fits" || fits["cache"] != "unfit" {
			t.Errorf("policy fit %v", fits)
		}
	})
}
