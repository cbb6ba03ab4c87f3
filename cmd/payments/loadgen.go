package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"math"
	mrand "math/rand/v2"
	"net/http"
	"net/http/cookiejar"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rediskit/rediskit/payments"
	"github.com/rediskit/rediskit/payments/postgres"
)

type loadConfig struct {
	urls      []string
	duration  time.Duration
	users     int
	accounts  int
	products  int
	password  string
	progress  time.Duration
	dsn       string
	drainWait time.Duration
	readyWait time.Duration
}

func runLoadgen(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	urls := fs.String("urls", "http://127.0.0.1:8081,http://127.0.0.1:8082", "comma-separated base URLs of the instances")
	var c loadConfig
	fs.DurationVar(&c.duration, "duration", time.Minute, "how long to run")
	fs.IntVar(&c.users, "users", 16, "concurrent virtual users")
	fs.IntVar(&c.accounts, "accounts", 100, "accounts user1..N@example.com to log in as")
	fs.IntVar(&c.products, "products", 200, "product ids 1..N to browse")
	fs.StringVar(&c.password, "password", "demo", "password of the accounts")
	fs.DurationVar(&c.progress, "progress", 5*time.Second, "progress line interval")
	fs.StringVar(&c.dsn, "database", os.Getenv("DATABASE_URL"), "PostgreSQL DSN for the double-charge audit (default $DATABASE_URL; empty skips it)")
	fs.DurationVar(&c.readyWait, "wait", 0, "wait this long for every instance's /readyz before starting")
	fs.DurationVar(&c.drainWait, "drain-wait", 30*time.Second, "how long to wait for the payment jobs to finish after the load")
	if err := fs.Parse(args); err != nil {
		return err
	}
	for _, u := range strings.Split(*urls, ",") {
		if u = strings.TrimRight(strings.TrimSpace(u), "/"); u != "" {
			c.urls = append(c.urls, u)
		}
	}
	if len(c.urls) == 0 || c.users <= 0 || c.accounts <= 0 || c.products <= 0 {
		return errors.New("loadgen: need -urls, and positive -users, -accounts, -products")
	}
	rep, err := loadgen(ctx, c, stdout)
	if err != nil {
		return err
	}
	rep.print(stdout)
	if rep.audited && (rep.audit.DoubleCharges != 0 || rep.audit.PaidWithoutOneCharge != 0 || rep.audit.DuplicateEffects != 0) {
		return errors.New("loadgen: the audit found double charges or duplicate job effects")
	}
	return nil
}

// Request kinds, in report order.
var kinds = []string{"browse", "update-product", "me", "login", "logout", "logout-all", "order", "pay", "pay-retry", "pay-double-click", "pay-other-key"}

type kindStats struct {
	mu        sync.Mutex
	latencies []time.Duration
	errors    int64
	statuses  map[int]int64
}

type recorder struct {
	kinds    map[string]*kindStats
	total    atomic.Int64
	errs     atomic.Int64
	charged  atomic.Int64 // 201 on pay
	replayed atomic.Int64 // 200 on pay (same key)
	conflict atomic.Int64 // 409 on pay (other key)
	retries  atomic.Int64 // 503 answers retried
	orders   atomic.Int64
}

func newRecorder() *recorder {
	r := &recorder{kinds: map[string]*kindStats{}}
	for _, k := range kinds {
		r.kinds[k] = &kindStats{statuses: map[int]int64{}}
	}
	return r
}

func (r *recorder) add(kind string, d time.Duration, status int, ok bool) {
	ks := r.kinds[kind]
	ks.mu.Lock()
	ks.latencies = append(ks.latencies, d)
	ks.statuses[status]++
	if !ok {
		ks.errors++
	}
	ks.mu.Unlock()
	r.total.Add(1)
	if !ok {
		r.errs.Add(1)
	}
}

// vuser is one virtual user: a browser with its own cookie jar that sends
// each request to any instance.
type vuser struct {
	c        loadConfig
	rec      *recorder
	hc       *http.Client
	rng      *mrand.Rand
	account  int
	loggedIn bool
	n        int
}

type result struct {
	status int
	body   []byte
	hdr    http.Header
}

func (u *vuser) base() string {
	u.n++
	return u.c.urls[u.n%len(u.c.urls)]
}

func (u *vuser) send(ctx context.Context, base, method, path string, body any, hdr map[string]string) (result, time.Duration, error) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, base+path, rd)
	if err != nil {
		return result{}, 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	start := time.Now()
	resp, err := u.hc.Do(req)
	if err != nil {
		return result{}, time.Since(start), err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return result{status: resp.StatusCode, body: b, hdr: resp.Header}, time.Since(start), err
}

// call sends one request and records it under kind; ok tells which
// statuses are expected.
func (u *vuser) call(ctx context.Context, kind, method, path string, body any, hdr map[string]string, ok ...int) (result, bool) {
	res, d, err := u.send(ctx, u.base(), method, path, body, hdr)
	if err != nil {
		if ctx.Err() == nil {
			u.rec.add(kind, d, 0, false)
		}
		return res, false
	}
	good := slices.Contains(ok, res.status)
	u.rec.add(kind, d, res.status, good)
	if res.status == 401 {
		u.loggedIn = false
	}
	return res, good
}

func (u *vuser) login(ctx context.Context) bool {
	_, ok := u.call(ctx, "login", "POST", "/login", map[string]string{
		"email": fmt.Sprintf("user%d@example.com", u.account), "password": u.c.password,
	}, nil, 200)
	u.loggedIn = ok
	return ok
}

// pay pays with key on one instance, retrying 503 (nothing was charged)
// with the same key, as a well-behaved client does.
func (u *vuser) pay(ctx context.Context, kind, base string, id int64, key string) result {
	for attempt := 0; ; attempt++ {
		res, d, err := u.send(ctx, base, "POST", fmt.Sprintf("/orders/%d/pay", id), nil, map[string]string{"Idempotency-Key": key})
		if ctx.Err() != nil {
			return res
		}
		if err == nil && res.status != 503 {
			good := res.status == 200 || res.status == 201 || res.status == 409
			u.rec.add(kind, d, res.status, good)
			switch res.status {
			case 201:
				u.rec.charged.Add(1)
			case 200:
				u.rec.replayed.Add(1)
			case 409:
				u.rec.conflict.Add(1)
			case 401:
				u.loggedIn = false
			}
			return res
		}
		u.rec.retries.Add(1)
		if attempt >= 20 {
			u.rec.add(kind, d, res.status, false)
			return res
		}
		select {
		case <-ctx.Done():
			return res
		case <-time.After(time.Duration(50*(attempt+1)) * time.Millisecond):
		}
	}
}

func newKey() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// product picks a product id with a skew: most reads hit a few hot items.
func (u *vuser) product() int64 {
	x := math.Pow(u.rng.Float64(), 3)
	return 1 + int64(x*float64(u.c.products))
}

func (u *vuser) orderAndPay(ctx context.Context) {
	res, ok := u.call(ctx, "order", "POST", "/orders", map[string]any{"product_id": u.product(), "quantity": 1 + u.rng.IntN(3)}, nil, 201)
	if !ok {
		return
	}
	u.rec.orders.Add(1)
	var o payments.Order
	if json.Unmarshal(res.body, &o) != nil {
		return
	}
	key := newKey()
	a, b := u.base(), u.base()
	switch p := u.rng.IntN(100); {
	case p < 60: // a plain payment
		u.pay(ctx, "pay", a, o.ID, key)
	case p < 80: // the client retries after a lost response: same key
		u.pay(ctx, "pay", a, o.ID, key)
		u.pay(ctx, "pay-retry", b, o.ID, key)
	case p < 95: // a double click: the same key twice at once, on two instances
		var wg sync.WaitGroup
		wg.Go(func() { u.pay(ctx, "pay-double-click", a, o.ID, key) })
		wg.Go(func() { u.pay(ctx, "pay-double-click", b, o.ID, key) })
		wg.Wait()
	default: // a second tab submits again with a fresh key: must be refused
		u.pay(ctx, "pay", a, o.ID, key)
		u.pay(ctx, "pay-other-key", b, o.ID, newKey())
	}
}

// run starts actions until load ends; requests run under ctx, so those in
// flight at the end finish (a client that gives up would leave charges its
// report does not count).
func (u *vuser) run(ctx, load context.Context) {
	for load.Err() == nil && ctx.Err() == nil {
		if !u.loggedIn && !u.login(ctx) {
			select {
			case <-ctx.Done():
			case <-time.After(200 * time.Millisecond):
			}
			continue
		}
		switch p := u.rng.IntN(1000); {
		case p < 700:
			u.call(ctx, "browse", "GET", fmt.Sprintf("/products/%d", u.product()), nil, nil, 200)
		case p < 760:
			u.call(ctx, "me", "GET", "/me", nil, nil, 200)
		case p < 770:
			id := u.product()
			u.call(ctx, "update-product", "PUT", fmt.Sprintf("/products/%d", id), map[string]any{
				"name": fmt.Sprintf("Product %d", id), "price_cents": 100 + u.rng.IntN(9900),
			}, nil, 200)
		case p < 970:
			u.orderAndPay(ctx)
		case p < 997:
			if _, ok := u.call(ctx, "logout", "POST", "/logout", nil, nil, 204); ok {
				u.loggedIn = false
			}
		default:
			if _, ok := u.call(ctx, "logout-all", "POST", "/logout-all", nil, nil, 200); ok {
				u.loggedIn = false
			}
		}
	}
}

type instanceStats struct {
	url   string
	stats payments.Stats
	err   error
}

type report struct {
	c        loadConfig
	rec      *recorder
	elapsed  time.Duration
	before   []instanceStats
	after    []instanceStats
	audited  bool
	audit    postgres.Audit
	auditErr error
	drained  bool
}

func fetchStats(ctx context.Context, urls []string) []instanceStats {
	out := make([]instanceStats, len(urls))
	for i, u := range urls {
		out[i].url = u
		req, _ := http.NewRequestWithContext(ctx, "GET", u+"/stats", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			out[i].err = err
			continue
		}
		out[i].err = json.NewDecoder(resp.Body).Decode(&out[i].stats)
		resp.Body.Close()
	}
	return out
}

func loadgen(ctx context.Context, c loadConfig, stdout io.Writer) (*report, error) {
	rep := &report{c: c, rec: newRecorder()}
	for _, u := range c.urls {
		if err := waitReady(ctx, u, c.readyWait); err != nil {
			return nil, err
		}
	}
	rep.before = fetchStats(ctx, c.urls)
	fmt.Fprintf(stdout, "load: %d users on %s for %v\n", c.users, strings.Join(c.urls, ", "), c.duration)
	lctx, cancel := context.WithTimeout(ctx, c.duration)
	defer cancel()
	transport := &http.Transport{MaxIdleConnsPerHost: 4 * c.users, IdleConnTimeout: 30 * time.Second}
	defer transport.CloseIdleConnections()
	start := time.Now()
	var wg sync.WaitGroup
	for i := range c.users {
		jar, _ := cookiejar.New(nil)
		u := &vuser{c: c, rec: rep.rec, hc: &http.Client{Jar: jar, Transport: transport, Timeout: 30 * time.Second},
			rng: mrand.New(mrand.NewPCG(uint64(i), uint64(time.Now().UnixNano()))), account: 1 + i%c.accounts, n: i}
		wg.Go(func() { u.run(ctx, lctx) })
	}
	// Progress until the load ends.
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	tick := time.NewTicker(c.progress)
	var last int64
	lastT := start
	for running := true; running; {
		select {
		case <-done:
			running = false
		case now := <-tick.C:
			n := rep.rec.total.Load()
			fmt.Fprintf(stdout, "  %4.0fs  %7d requests  %6.0f/s  orders %5d  charges %5d  replays %5d  refused %4d  errors %d\n",
				now.Sub(start).Seconds(), n, float64(n-last)/now.Sub(lastT).Seconds(), rep.rec.orders.Load(),
				rep.rec.charged.Load(), rep.rec.replayed.Load(), rep.rec.conflict.Load(), rep.rec.errs.Load())
			last, lastT = n, now
		}
	}
	tick.Stop()
	rep.elapsed = time.Since(start)
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	// Let the workers finish the confirmation and receipt jobs, then audit.
	var st *postgres.Store
	if c.dsn != "" {
		var err error
		st, err = postgres.Open(ctx, c.dsn)
		if err != nil {
			rep.auditErr = err
		} else {
			defer st.Close()
		}
	}
	deadline := time.Now().Add(c.drainWait)
	for {
		rep.after = fetchStats(ctx, c.urls)
		if st != nil {
			rep.audit, rep.auditErr = st.Audit(ctx)
			rep.audited = rep.auditErr == nil
			if rep.audited && rep.audit.Confirmed == rep.audit.Charges && rep.audit.Receipts == rep.audit.Charges {
				rep.drained = true
				break
			}
		} else {
			break
		}
		if time.Now().After(deadline) {
			break
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
	return rep, nil
}

func pct(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	i := int(math.Ceil(p*float64(len(ds)))) - 1
	return ds[max(0, min(i, len(ds)-1))]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1fms", float64(d.Microseconds())/1000) }

func (r *report) print(w io.Writer) {
	fmt.Fprintf(w, "\n=== report: %v, %d users, %d instances ===\n", r.elapsed.Round(time.Second), r.c.users, len(r.c.urls))
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

	var near, hit, miss, charges, fenced, lost, jobs, completed int64
	for i, a := range r.after {
		if a.err != nil {
			fmt.Fprintf(w, "  (stats of %s unavailable: %v)\n", a.url, a.err)
			continue
		}
		b := payments.Stats{}
		if i < len(r.before) && r.before[i].err == nil && r.before[i].stats.Instance == a.stats.Instance {
			b = r.before[i].stats
		}
		near += a.stats.Cache.NearHits - b.Cache.NearHits
		hit += a.stats.Cache.RedisHits - b.Cache.RedisHits
		miss += a.stats.Cache.Misses - b.Cache.Misses
		charges += a.stats.Charges - b.Charges
		fenced += a.stats.Fenced - b.Fenced
		lost += a.stats.LockLost - b.LockLost
		jobs += a.stats.JobRuns - b.JobRuns
		completed += a.stats.Worker.Completed - b.Worker.Completed
	}
	reads := near + hit + miss
	rate := 0.0
	if reads > 0 {
		rate = 100 * float64(near+hit) / float64(reads)
	}
	fmt.Fprintf(w, "cache (products)     hit rate %.1f%%  (near %d, redis %d, misses %d)\n", rate, near, hit, miss)
	fmt.Fprintf(w, "payments             orders %d, charged %d, replayed %d (same key), refused %d (other key), 503 retried %d\n",
		r.rec.orders.Load(), r.rec.charged.Load(), r.rec.replayed.Load(), r.rec.conflict.Load(), r.rec.retries.Load())
	fmt.Fprintf(w, "instances            charges %d, fenced %d, lock lost %d, jobs run %d (completed %d)\n", charges, fenced, lost, jobs, completed)
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

// waitReady polls base's /readyz until it answers 200 or wait passes.
func waitReady(ctx context.Context, base string, wait time.Duration) error {
	deadline := time.Now().Add(wait)
	for {
		req, _ := http.NewRequestWithContext(ctx, "GET", base+"/readyz", nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("loadgen: %s is not ready: %w", base, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}
