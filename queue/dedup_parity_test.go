package queue

import (
	"context"
	"fmt"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/rediskit/rediskit/internal/redistest"
)

// TestDedupRescheduleSameAsNode: deduplication's reschedule option moves a
// delayed holder to the delay of the deduplicated add (from now), keeps
// its id and data, leaves a holder in wait alone and gives way to
// replace, leaving Redis as Node's add does. Each case has its own dedup
// id in one queue: Go adds the holders, then the second adds come from Go
// or from Node (one Node run).
func TestDedupRescheduleSameAsNode(t *testing.T) {
	rs := func(id string, more map[string]any) map[string]any {
		m := map[string]any{"reschedule": true}
		for k, v := range more {
			m[k] = v
		}
		return de(id, m)
	}
	type rsCase struct {
		id          string
		first, then map[string]any
		// due is the holder's delay (ms from the second add) to check; -1 none
		due int64
	}
	ext := map[string]any{"ttl": 60000, "extend": true}
	cases := []rsCase{
		{"later", withDelay(rs("later", nil), 60000), withDelay(rs("later", nil), 120000), 120000},
		{"now", withDelay(rs("now", nil), 60000), rs("now", nil), 0},
		{"waiting", rs("waiting", nil), withDelay(rs("waiting", nil), 60000), -1},
		{"ttl-extend", withDelay(rs("ttl-extend", ext), 30000), withDelay(rs("ttl-extend", ext), 90000), 90000},
		{"replace-wins", withDelay(rs("replace-wins", map[string]any{"replace": true}), 60000),
			withDelay(rs("replace-wins", map[string]any{"replace": true}), 90000), -1},
	}
	var firsts, thens []spec
	for i, c := range cases {
		firsts = append(firsts, spec{Name: c.id, Data: map[string]any{"n": i}, Opts: c.first})
		thens = append(thens, spec{Name: c.id + "-2", Data: map[string]any{"n": 10 + i}, Opts: c.then})
	}
	redistest.ForEach(t, func(t *testing.T, tg redistest.Target) {
		ctx := context.Background()
		dumps := map[string]map[string]any{}
		for _, by := range sides {
			e := newEnv(t, tg)
			k := e.q.k
			e.addDedupSpecs(t, "go", firsts)
			start := time.Now()
			e.addDedupSpecs(t, by, thens)
			d := map[string]any{}
			n, _ := e.rdb.Get(ctx, k.id).Int()
			for i := 1; i <= n; i++ {
				h, _ := e.rdb.HGetAll(ctx, k.job(strconv.Itoa(i))).Result()
				delete(h, "timestamp")
				delete(h, "opts") // the adds' own options: wire-tested elsewhere
				d[fmt.Sprint("job ", i)] = h
			}
			for i, c := range cases {
				v, _ := e.rdb.Get(ctx, k.base+"de:"+c.id).Result()
				ttl, _ := e.rdb.PTTL(ctx, k.base+"de:"+c.id).Result()
				d["de "+c.id] = fmt.Sprint(v, " ttl:", ttl > 0)
				if c.due < 0 {
					continue
				}
				holder := strconv.Itoa(i + 1)
				sc, err := e.rdb.ZScore(ctx, k.delayed, holder).Result()
				if err != nil {
					t.Fatalf("%s: %s: holder not delayed: %v", by, c.id, err)
				}
				if due, want := int64(sc)/4096, start.UnixMilli()+c.due; due < want || due > want+5000 {
					t.Errorf("%s: %s: holder due %d, want about %d", by, c.id, due, want)
				}
			}
			d["wait"], _ = e.rdb.LRange(ctx, k.wait, 0, -1).Result()
			d["delayed"], _ = e.rdb.ZRange(ctx, k.delayed, 0, -1).Result()
			d["events"] = e.eventsNoDelay(t)
			dumps[by] = d
		}
		for key, nv := range dumps["node"] {
			if !reflect.DeepEqual(nv, dumps["go"][key]) {
				t.Errorf("%s:\n node %v\n go   %v", key, nv, dumps["go"][key])
			}
		}
	})
}
