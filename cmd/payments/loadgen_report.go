package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/rediskit/rediskit/payments"
	"github.com/rediskit/rediskit/payments/postgres"
)

// nestStats is the part of the NestJS example's /stats the report reads.
type nestStats struct {
	Instance string `json:"instance"`
	Charges  int64  `json:"charges"`
	JobRuns  int64  `json:"job_runs"`
	Cache    struct {
		Hits   int64 `json:"hits"`
		Misses int64 `json:"misses"`
	} `json:"cache"`
}

type instanceStats struct {
	t     target
	stats payments.Stats // Go instances
	nest  nestStats      // Nest instances
	err   error
}

func fetchStats(ctx context.Context, ts []target) []instanceStats {
	out := make([]instanceStats, len(ts))
	for i, t := range ts {
		out[i].t = t
		req, _ := http.NewRequestWithContext(ctx, "GET", t.url+"/stats", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			out[i].err = err
			continue
		}
		var dst any = &out[i].stats
		if t.side == sideNest {
			dst = &out[i].nest
		}
		out[i].err = json.NewDecoder(resp.Body).Decode(dst)
		resp.Body.Close()
	}
	return out
}

// sideOf tells which side an instance name (charges.instance,
// charges.confirmed_by) belongs to: the Nest app's names start with
// "nest-"; "" is a confirmation not made yet.
func sideOf(instance string) string {
	switch {
	case instance == "":
		return ""
	case strings.HasPrefix(instance, "nest-"):
		return sideNest
	}
	return sideGo
}

// chargeSides counts charges by (side that charged, side that ran the
// confirmation job).
type chargeSides map[[2]string]int64

// sideCharges reads chargeSides from PostgreSQL (whole database).
func sideCharges(ctx context.Context, db *pgxpool.Pool) (chargeSides, error) {
	rows, err := db.Query(ctx, `SELECT instance, coalesce(confirmed_by, ''), count(*) FROM charges GROUP BY 1, 2`)
	if err != nil {
		return nil, fmt.Errorf("charges by side: %w", err)
	}
	defer rows.Close()
	out := chargeSides{}
	for rows.Next() {
		var inst, by string
		var n int64
		if err := rows.Scan(&inst, &by, &n); err != nil {
			return nil, fmt.Errorf("charges by side: %w", err)
		}
		out[[2]string{sideOf(inst), sideOf(by)}] += n
	}
	return out, rows.Err()
}

// minus returns the counts of cs not in before.
func (cs chargeSides) minus(before chargeSides) chargeSides {
	out := chargeSides{}
	for k, v := range cs {
		if d := v - before[k]; d != 0 {
			out[k] = d
		}
	}
	return out
}

// charged returns the charges made by side; confirmed those whose
// confirmation job ran on side.
func (cs chargeSides) charged(side string) (n int64) {
	for k, v := range cs {
		if k[0] == side {
			n += v
		}
	}
	return n
}

func (cs chargeSides) confirmed(side string) (n int64) {
	for k, v := range cs {
		if k[1] == side {
			n += v
		}
	}
	return n
}

type report struct {
	c           loadConfig
	rec         *recorder
	elapsed     time.Duration
	before      []instanceStats
	after       []instanceStats
	audited     bool
	audit       postgres.Audit
	auditErr    error
	drained     bool
	sidesBefore chargeSides
	sidesAfter  chargeSides
	sidesErr    error
	cache       cacheCheck
}

func pct(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	i := int(math.Ceil(p*float64(len(ds)))) - 1
	return ds[max(0, min(i, len(ds)-1))]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1fms", float64(d.Microseconds())/1000) }

// instanceTotals sums the instances' counters over the run.
type instanceTotals struct {
	near, hit, miss, charges, fenced, lost, jobs, completed int64
	nestHits, nestMisses                                    int64
	jobsBySide                                              map[string]int64
	instances                                               map[string]int
}

func (r *report) totals(w io.Writer) instanceTotals {
	t := instanceTotals{jobsBySide: map[string]int64{}, instances: map[string]int{}}
	for i, a := range r.after {
		if a.err != nil {
			fmt.Fprintf(w, "  (stats of %s unavailable: %v)\n", a.t.url, a.err)
			continue
		}
		t.instances[a.t.side]++
		var bOK bool
		if i < len(r.before) && r.before[i].err == nil {
			bOK = r.before[i].stats.Instance == a.stats.Instance && r.before[i].nest.Instance == a.nest.Instance
		}
		if a.t.side == sideNest {
			b := nestStats{}
			if bOK {
				b = r.before[i].nest
			}
			t.nestHits += a.nest.Cache.Hits - b.Cache.Hits
			t.nestMisses += a.nest.Cache.Misses - b.Cache.Misses
			t.jobsBySide[sideNest] += a.nest.JobRuns - b.JobRuns
			t.charges += a.nest.Charges - b.Charges
			continue
		}
		b := payments.Stats{}
		if bOK {
			b = r.before[i].stats
		}
		t.near += a.stats.Cache.NearHits - b.Cache.NearHits
		t.hit += a.stats.Cache.RedisHits - b.Cache.RedisHits
		t.miss += a.stats.Cache.Misses - b.Cache.Misses
		t.charges += a.stats.Charges - b.Charges
		t.fenced += a.stats.Fenced - b.Fenced
		t.lost += a.stats.LockLost - b.LockLost
		t.jobs += a.stats.JobRuns - b.JobRuns
		t.jobsBySide[sideGo] += a.stats.JobRuns - b.JobRuns
		t.completed += a.stats.Worker.Completed - b.Worker.Completed
	}
	return t
}

func (r *report) print(w io.Writer) {
	fmt.Fprintf(w, "\n=== report: %v, %d users, %d Go + %d NestJS instances ===\n", r.elapsed.Round(time.Second), r.c.users, len(r.c.urls), len(r.c.nestURLs))
	fmt.Fprintf(w, "%-18s %8s %7s %9s %9s  %s\n", "requests", "count", "errors", "p50", "p99", "statuses")
	var total int64
	for _, k := range kinds {
		ks := r.rec.kinds[k]
		if len(ks.latencies) == 0 {
			continue
		}
		slices.Sort(ks.latencies)
		var sts []string
		for _, s := range slices.Sorted(maps.Keys(ks.statuses)) {
			sts = append(sts, fmt.Sprintf("%d:%d", s, ks.statuses[s]))
		}
		total += int64(len(ks.latencies))
		fmt.Fprintf(w, "  %-16s %8d %7d %9s %9s  %s\n", k, len(ks.latencies), ks.errors, ms(pct(ks.latencies, .5)), ms(pct(ks.latencies, .99)), strings.Join(sts, " "))
	}
	fmt.Fprintf(w, "  %-16s %8d %7d   (%.0f requests/s)\n", "total", total, r.rec.errs.Load(), float64(total)/r.elapsed.Seconds())

	t := r.totals(w)
	reads := t.near + t.hit + t.miss
	rate := 0.0
	if reads > 0 {
		rate = 100 * float64(t.near+t.hit) / float64(reads)
	}
	fmt.Fprintf(w, "cache (products)     hit rate %.1f%%  (near %d, redis %d, misses %d)\n", rate, t.near, t.hit, t.miss)
	if len(r.c.nestURLs) > 0 {
		fmt.Fprintf(w, "cache (Nest, Keyv)   hits %d, misses %d\n", t.nestHits, t.nestMisses)
	}
	fmt.Fprintf(w, "payments             orders %d, charged %d, replayed %d (same key), refused %d (other key), 503 retried %d\n",
		r.rec.orders.Load(), r.rec.charged.Load(), r.rec.replayed.Load(), r.rec.conflict.Load(), r.rec.retries.Load())
	fmt.Fprintf(w, "instances            charges %d, fenced %d, lock lost %d, jobs run %d (completed %d)\n", t.charges, t.fenced, t.lost, t.jobs+t.jobsBySide[sideNest], t.completed)
	if len(r.c.nestURLs) > 0 {
		r.printSides(w, t)
	}
	r.printAudit(w)
}

// printSides writes the per-side counts and the cross-side steps.
func (r *report) printSides(w io.Writer, t instanceTotals) {
	var cs chargeSides
	if r.sidesErr == nil && r.sidesAfter != nil {
		cs = r.sidesAfter.minus(r.sidesBefore)
	}
	fmt.Fprintf(w, "%-20s %12s %12s\n", "per side", "go", "nest")
	row := func(name string, f func(side string) string) {
		fmt.Fprintf(w, "  %-18s %12s %12s\n", name, f(sideGo), f(sideNest))
	}
	num := func(n int64) string { return fmt.Sprint(n) }
	row("instances", func(s string) string { return fmt.Sprint(t.instances[s]) })
	row("requests", func(s string) string { return num(r.rec.sides[s].requests.Load()) })
	row("errors", func(s string) string { return num(r.rec.sides[s].errors.Load()) })
	row("logins", func(s string) string { return num(r.rec.sides[s].logins.Load()) })
	row("payments (201)", func(s string) string { return num(r.rec.sides[s].charged.Load()) })
	if cs != nil {
		row("charges (PG)", func(s string) string { return num(cs.charged(s)) })
		row("confirmations run", func(s string) string { return num(cs.confirmed(s)) })
	}
	row("jobs run", func(s string) string { return num(t.jobsBySide[s]) })
	c := &r.rec.cross
	sessions := "shared (connect-redis format, one secret)"
	if !r.c.sharedSessions {
		sessions = "NOT shared: each side logs in on its own (Go instances not in PAYMENTS_SESSION_FORMAT=connect-redis)"
	}
	fmt.Fprintf(w, "cross-side           sessions %s\n", sessions)
	fmt.Fprintf(w, "                     logins used on the other side %d, payments charged on the other side than the order %d\n", c.logins.Load(), c.payments.Load())
	fmt.Fprintf(w, "                     same key on both sides: retries %d, double clicks %d\n", c.retries.Load(), c.doubleClicks.Load())
	switch {
	case r.sidesErr != nil:
		fmt.Fprintf(w, "                     jobs across sides unavailable: %v\n", r.sidesErr)
	case cs != nil:
		fmt.Fprintf(w, "                     jobs: Nest charges confirmed by Go %d, Go charges confirmed by Nest %d\n",
			cs[[2]string{sideNest, sideGo}], cs[[2]string{sideGo, sideNest}])
	}
	r.cache.print(w)
}

func (r *report) printAudit(w io.Writer) {
	switch {
	case r.auditErr != nil:
		fmt.Fprintf(w, "audit                unavailable: %v\n", r.auditErr)
	case !r.audited:
		fmt.Fprintln(w, "audit                skipped (no -database / DATABASE_URL)")
	default:
		a := r.audit
		verdict := "OK"
		if a.DoubleCharges != 0 || a.PaidWithoutOneCharge != 0 || a.DuplicateEffects != 0 {
			verdict = "FAILED"
		}
		fmt.Fprintf(w, "PostgreSQL audit     paid orders %d, charges %d, ledger rows %d (whole database)\n", a.PaidOrders, a.Charges, a.LedgerRows)
		fmt.Fprintf(w, "                     DOUBLE CHARGES %d, paid orders without exactly one charge %d  -> %s\n", a.DoubleCharges, a.PaidWithoutOneCharge, verdict)
		drained := "all done"
		if !r.drained {
			drained = "still running"
		}
		fmt.Fprintf(w, "jobs                 confirmations %d, receipts %d of %d charges (%s), job runs %d, duplicate effects %d\n",
			a.Confirmed, a.Receipts, a.Charges, drained, a.JobRuns, a.DuplicateEffects)
	}
}
