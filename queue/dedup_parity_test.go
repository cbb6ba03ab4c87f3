package queue

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/rediskit/rediskit/internal/redistest"
)

// TestDedupRescheduleSameAsNode: deduplication's reschedule option moves a
// delayed holder to the delay of the deduplicated add (from now), keeps
// its id and data, leaves a holder in wait alone and gives way to
// replace, leaving Redis as Node's add does; adds from Go and Node.
func TestDedupRescheduleSameAsNode(t *testing.T) {
	rs := func(more map[string]any) map[string]any {
		m := map[string]any{"reschedule": true}
		for k, v := range more {
			m[k] = v
		}
		return m
	}
	cases := map[string][]spec{
		"later": {{Name: "a", Data: map[string]any{"n": 1}, Opts: withDelay(de("d", rs(nil)), 60000)},
			{Name: "b", Data: map[string]any{"n": 2}, Opts: withDelay(de("d", rs(nil)), 120000)}},
		"now": {{Name: "a", Data: map[string]any{"n": 1}, Opts: withDelay(de("d", rs(nil)), 60000)},
			{Name: "b", Data: map[string]any{"n": 2}, Opts: de("d", rs(nil))}},
		"waiting": {{Name: "a", Data: map[string]any{"n": 1}, Opts: de("d", rs(nil))},
			{Name: "b", Data: map[string]any{"n": 2}, Opts: withDelay(de("d", rs(nil)), 60000)}},
		"ttl-extend": {{Name: "a", Data: map[string]any{}, Opts: withDelay(de("d", rs(map[string]any{"ttl": 60000, "extend": true})), 30000)},
			{Name: "b", Data: map[string]any{}, Opts: withDelay(de("d", rs(map[string]any{"ttl": 60000, "extend": true})), 90000)}},
		"replace-wins": {{Name: "a", Data: map[string]any{"n": 1}, Opts: withDelay(de("d", rs(map[string]any{"replace": true})), 60000)},
			{Name: "b", Data: map[string]any{"n": 2}, Opts: withDelay(de("d", rs(map[string]any{"replace": true})), 90000)}},
	}
	redistest.ForEach(t, func(t *testing.T, tg redistest.Target) {
		for name, adds := range cases {
			t.Run(name, func(t *testing.T) {
				ctx := context.Background()
				dumps := map[string]map[string]any{}
				for _, by := range sides {
					// Node's first add, then the second from each side
					e := newEnv(t, tg)
					e.addDedupSpecs(t, "node", adds[:1])
					start := time.Now()
					e.addDedupSpecs(t, by, adds[1:])
					d := e.dedupDump(t)
					dumps[by] = d
					if name != "later" && name != "now" {
						continue
					}
					// the holder's due time: the second add's delay from now
					sc, err := e.rdb.ZScore(ctx, e.q.k.delayed, "1").Result()
					if err != nil {
						t.Fatalf("%s: holder not delayed: %v", by, err)
					}
					want := start.UnixMilli()
					if v, ok := adds[1].Opts["delay"].(int); ok {
						want += int64(v)
					}
					if due := int64(sc) / 4096; due < want || due > want+2000 {
						t.Errorf("%s: holder due %d, want about %d", by, due, want)
					}
				}
				for key, nv := range dumps["node"] {
					if !reflect.DeepEqual(nv, dumps["go"][key]) {
						t.Errorf("%s:\n node %v\n go   %v", key, nv, dumps["go"][key])
					}
				}
			})
		}
	})
}
