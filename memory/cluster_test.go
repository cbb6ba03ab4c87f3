package memory

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rediskit/rediskit/internal/redisproc"
	"github.com/rediskit/rediskit/internal/redistest"
)

// scanCalls returns INFO commandstats' SCAN call count of every running
// node, by address.
func scanCalls(t *testing.T, c *redisproc.Cluster) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, s := range c.Nodes {
		if !s.Running() {
			continue
		}
		cl := s.Client()
		info, err := cl.Info(context.Background(), "commandstats").Result()
		_ = cl.Close()
		if err != nil {
			t.Fatalf("commandstats of %s: %v", s.Addr(), err)
		}
		n := 0
		if _, rest, ok := strings.Cut(info, "cmdstat_scan:calls="); ok {
			n, _ = strconv.Atoi(rest[:strings.IndexByte(rest, ',')])
		}
		out[s.Addr()] = n
	}
	return out
}

func resetStats(t *testing.T, c *redisproc.Cluster) {
	t.Helper()
	for _, s := range c.Nodes {
		if s.Running() {
			cl := s.Client()
			if err := cl.ConfigResetStat(context.Background()).Err(); err != nil {
				t.Fatal(err)
			}
			_ = cl.Close()
		}
	}
}

// checkCoverage fails unless the report's nodes cover every slot exactly
// once and their keys add up to want.
func checkCoverage(t *testing.T, r *Report, want int64) {
	t.Helper()
	var covered [16384]int
	var keys int64
	for _, n := range r.Nodes {
		keys += n.Keys
		for _, rg := range strings.Split(n.Slots, ",") {
			lo, hi, _ := strings.Cut(rg, "-")
			a, _ := strconv.Atoi(lo)
			b := a
			if hi != "" {
				b, _ = strconv.Atoi(hi)
			}
			for s := a; s <= b; s++ {
				covered[s]++
			}
		}
	}
	for s, n := range covered {
		if n != 1 {
			t.Fatalf("slot %d covered %d times by %+v", s, n, r.Nodes)
		}
	}
	if keys != want || r.Keys != want {
		t.Fatalf("nodes saw %d keys, report %d, want %d", keys, r.Keys, want)
	}
}

// TestAnalyzeClusterCoverage scans a private cluster three ways: the
// masters, the replicas, and the masters while one of them is killed
// mid-scan. Each time every shard must be counted exactly once, and SCAN
// must reach only the nodes the report names.
func TestAnalyzeClusterCoverage(t *testing.T) {
	cl := redistest.NewCluster(t, redisproc.ClusterOptions{})
	c := cl.Client()
	t.Cleanup(func() { _ = c.Close() })
	ctx := context.Background()
	const total = 60000
	pipe := c.Pipeline()
	for i := range total {
		pipe.Set(ctx, fmt.Sprintf("item:%d", i), "v", 0)
		if pipe.Len() == 2000 {
			if _, err := pipe.Exec(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	masters, err := cl.Masters(ctx)
	if err != nil {
		t.Fatal(err)
	}
	isMaster := map[string]bool{}
	for _, m := range masters {
		isMaster[m.Addr()] = true
	}

	t.Run("masters", func(t *testing.T) {
		resetStats(t, cl)
		r, err := Analyze(ctx, c, AnalyzeOptions{SampleRatio: 0.01, KeysPerSecond: -1})
		if err != nil {
			t.Fatal(err)
		}
		checkCoverage(t, r, total)
		calls := scanCalls(t, cl)
		for _, n := range r.Nodes {
			if !isMaster[n.Addr] || n.Role != "master" || n.Attempts != 1 {
				t.Errorf("node %+v: want a master scanned in one attempt", n)
			}
		}
		for addr, n := range calls {
			if isMaster[addr] != (n > 0) {
				t.Errorf("%s (master %v) got %d SCANs", addr, isMaster[addr], n)
			}
		}
		if p := byPattern(r)["item:*"]; p.Keys != total {
			t.Errorf("item:* has %d keys, want %d", p.Keys, total)
		}
	})

	t.Run("replicas", func(t *testing.T) {
		resetStats(t, cl)
		r, err := Analyze(ctx, c, AnalyzeOptions{SampleRatio: 0.01, KeysPerSecond: -1, Replicas: true})
		if err != nil {
			t.Fatal(err)
		}
		checkCoverage(t, r, total)
		for _, n := range r.Nodes {
			if isMaster[n.Addr] || n.Role != "replica" {
				t.Errorf("node %+v: want a replica", n)
			}
		}
		for addr, n := range scanCalls(t, cl) {
			if isMaster[addr] && n > 0 {
				t.Errorf("master %s got %d SCANs in replica mode", addr, n)
			}
		}
		if r.Sampled == 0 || byPattern(r)["item:*"].Bytes == 0 {
			t.Errorf("no samples on replicas (READONLY?): %+v", r.Patterns)
		}
	})

	t.Run("failover", func(t *testing.T) {
		resetStats(t, cl)
		victim := masters[0]
		var (
			once     sync.Once
			promoted = make(chan string, 1)
			killErr  = make(chan error, 1)
		)
		r, err := Analyze(ctx, c, AnalyzeOptions{SampleRatio: 0.01, KeysPerSecond: 15000, ScanCount: 200, Progress: func(p Progress) {
			if p.Keys >= total/4 {
				once.Do(func() {
					go func() {
						ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
						defer cancel()
						s, err := cl.KillMaster(ctx, victim)
						if err != nil {
							killErr <- err
							return
						}
						promoted <- s.Addr()
					}()
				})
			}
		}})
		if err != nil {
			t.Fatal(err)
		}
		var newMaster string
		select {
		case newMaster = <-promoted:
		case err := <-killErr:
			t.Fatal(err)
		}
		checkCoverage(t, r, total)
		if r.Restarts != 1 {
			t.Errorf("restarts = %d, want 1", r.Restarts)
		}
		scanned := map[string]bool{}
		for _, n := range r.Nodes {
			scanned[n.Addr] = true
			if n.Addr == newMaster {
				if n.Attempts != 2 || !slices.Equal(n.Abandoned, []string{victim.Addr()}) {
					t.Errorf("promoted node %+v: want 2 attempts, abandoned %s", n, victim.Addr())
				}
			} else if n.Attempts != 1 || !isMaster[n.Addr] {
				t.Errorf("node %+v: want an original master in one attempt", n)
			}
		}
		if !scanned[newMaster] {
			t.Errorf("promoted master %s not in the report %+v", newMaster, r.Nodes)
		}
		for addr, n := range scanCalls(t, cl) {
			if scanned[addr] != (n > 0) {
				t.Errorf("%s (in report %v) got %d SCANs", addr, scanned[addr], n)
			}
		}
		t.Logf("failover scan: %d keys in %v, %d commands, nodes %+v", r.Keys, r.Duration, r.Commands, r.Nodes)
	})
}
