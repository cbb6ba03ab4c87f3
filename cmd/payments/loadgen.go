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

// The two sides of a mixed deployment: Go payments instances and the
// NestJS example's instances (examples/nestjs).
const (
	sideGo   = "go"
	sideNest = "nest"
)

// target is one instance the load is sent to.
type target struct {
	url  string
	side string
}

type loadConfig struct {
	urls     []string // Go instances
	nestURLs []string // NestJS instances (may be empty)
	// sharedSessions: both sides read and write one session format (Go in
	// connect-redis format with Nest's secret), so a login on one side is
	// a login on the other.
	sharedSessions bool
	duration       time.Duration
	users          int
	accounts       int
	products       int
	password       string
	progress       time.Duration
	dsn            string
	drainWait      time.Duration
	readyWait      time.Duration
}

// targets lists the Go instances, then the Nest ones.
func (c loadConfig) targets() []target {
	var ts []target
	for _, u := range c.urls {
		ts = append(ts, target{url: u, side: sideGo})
	}
	for _, u := range c.nestURLs {
		ts = append(ts, target{url: u, side: sideNest})
	}
	return ts
}

func splitURLs(v string) []string {
	var out []string
	for _, u := range strings.Split(v, ",") {
		if u = strings.TrimRight(strings.TrimSpace(u), "/"); u != "" {
			out = append(out, u)
		}
	}
	return out
}

func runLoadgen(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	urls := fs.String("urls", "http://127.0.0.1:8081,http://127.0.0.1:8082", "comma-separated base URLs of the Go instances")
	nestURLs := fs.String("nest-urls", "", "comma-separated base URLs of NestJS instances (examples/nestjs) to load beside the Go ones")
	var c loadConfig
	fs.BoolVar(&c.sharedSessions, "shared-sessions", false, "the Go instances share the NestJS session format and secret: log in on one side, order and pay on the other")
	fs.DurationVar(&c.duration, "duration", time.Minute, "how long to run")
	fs.IntVar(&c.users, "users", 16, "concurrent virtual users")
	fs.IntVar(&c.accounts, "accounts", 100, "accounts user1..N@example.com to log in as")
	fs.IntVar(&c.products, "products", 200, "product ids 1..N to browse")
	fs.StringVar(&c.password, "password", "demo", "password of the accounts")
	fs.DurationVar(&c.progress, "progress", 5*time.Second, "progress line interval")
	fs.StringVar(&c.dsn, "database", os.Getenv("DATABASE_URL"), "PostgreSQL DSN for the double-charge audit (default $DATABASE_URL; empty skips it)")
	fs.DurationVar(&c.readyWait, "wait", 0, "wait this long for every instance's /readyz (Nest: /healthz) before starting")
	fs.DurationVar(&c.drainWait, "drain-wait", 30*time.Second, "how long to wait for the payment jobs to finish after the load")
	if err := fs.Parse(args); err != nil {
		return err
	}
	c.urls, c.nestURLs = splitURLs(*urls), splitURLs(*nestURLs)
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

// sideCounts are one side's counts as the clients saw them.
type sideCounts struct {
	requests, errors, logins, charged atomic.Int64
}

// crossCounts count the steps that crossed sides.
type crossCounts struct {
	// logins: sessions created by a login on one side and then used
	// (an authenticated 2xx) on the other; counted once per login.
	logins atomic.Int64
	// payments: charges (201) made on the other side than the order.
	payments atomic.Int64
	// retries and doubleClicks: the same key sent to both sides, one after
	// the other and at once.
	retries, doubleClicks atomic.Int64
}

type recorder struct {
	kinds    map[string]*kindStats
	sides    map[string]*sideCounts
	cross    crossCounts
	total    atomic.Int64
	errs     atomic.Int64
	charged  atomic.Int64 // 201 on pay
	replayed atomic.Int64 // 200 on pay (same key)
	conflict atomic.Int64 // 409 on pay (other key)
	retries  atomic.Int64 // 503 answers retried
	orders   atomic.Int64
}

func newRecorder() *recorder {
	r := &recorder{kinds: map[string]*kindStats{}, sides: map[string]*sideCounts{sideGo: {}, sideNest: {}}}
	for _, k := range kinds {
		r.kinds[k] = &kindStats{statuses: map[int]int64{}}
	}
	return r
}

func (r *recorder) add(kind, side string, d time.Duration, status int, ok bool) {
	ks := r.kinds[kind]
	ks.mu.Lock()
	ks.latencies = append(ks.latencies, d)
	ks.statuses[status]++
	if !ok {
		ks.errors++
	}
	ks.mu.Unlock()
	r.total.Add(1)
	sc := r.sides[side]
	sc.requests.Add(1)
	if !ok {
		r.errs.Add(1)
		sc.errors.Add(1)
	}
}

// vuser is one virtual user: a browser with its own cookie jar that sends
// each request to any instance of either side.
type vuser struct {
	c       loadConfig
	ts      []target
	rec     *recorder
	hc      *http.Client
	rng     *mrand.Rand
	account int
	n       int
	// mu guards the login state (a double click runs two requests at once).
	mu sync.Mutex
	// authed tells, per side, whether the user holds a live session there
	// (with shared sessions both sides change together).
	authed map[string]bool
	// loginSide is the side of the last login; used, once the session
	// served an authenticated request on the other side.
	loginSide string
	used      bool
}

func newVuser(c loadConfig, ts []target, rec *recorder, hc *http.Client, rng *mrand.Rand, account, n int) *vuser {
	return &vuser{c: c, ts: ts, rec: rec, hc: hc, rng: rng, account: account, n: n, authed: map[string]bool{}}
}

type result struct {
	status int
	body   []byte
	hdr    http.Header
}

// pick returns the next instance, round robin over both sides.
func (u *vuser) pick() target {
	u.n++
	return u.ts[u.n%len(u.ts)]
}

// pickSide returns an instance of side (any instance when side has none).
func (u *vuser) pickSide(side string) target {
	var of []target
	for _, t := range u.ts {
		if t.side == side {
			of = append(of, t)
		}
	}
	if len(of) == 0 {
		return u.pick()
	}
	return of[u.rng.IntN(len(of))]
}

// other returns an instance of the other side than t when there is one,
// else another instance of t's side, else t.
func (u *vuser) other(t target) target {
	var diff, same []target
	for _, x := range u.ts {
		switch {
		case x.side != t.side:
			diff = append(diff, x)
		case x.url != t.url:
			same = append(same, x)
		}
	}
	switch {
	case len(diff) > 0:
		return diff[u.rng.IntN(len(diff))]
	case len(same) > 0:
		return same[u.rng.IntN(len(same))]
	}
	return t
}

func (u *vuser) send(ctx context.Context, t target, method, path string, body any, hdr map[string]string) (result, time.Duration, error) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, t.url+path, rd)
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

// call sends one request to t and records it under kind; ok tells which
// statuses are expected.
func (u *vuser) call(ctx context.Context, t target, kind, method, path string, body any, hdr map[string]string, ok ...int) (result, bool) {
	res, d, err := u.send(ctx, t, method, path, body, hdr)
	if err != nil {
		if ctx.Err() == nil {
			u.rec.add(kind, t.side, d, 0, false)
		}
		return res, false
	}
	good := slices.Contains(ok, res.status)
	u.rec.add(kind, t.side, d, res.status, good)
	u.observe(t.side, kind, res.status, good)
	return res, good
}

// observe updates the login state after an answer from side.
func (u *vuser) observe(side, kind string, status int, good bool) {
	if kind == "login" || kind == "browse" {
		return
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	switch {
	case status == http.StatusUnauthorized:
		u.dropLocked(side)
	case good && status < 300 && kind != "logout" && kind != "logout-all":
		if u.c.sharedSessions && !u.used && u.loginSide != "" && side != u.loginSide {
			u.used = true
			u.rec.cross.logins.Add(1)
		}
	}
}

// dropLocked forgets the session on side (on both with shared sessions).
func (u *vuser) dropLocked(side string) {
	if u.c.sharedSessions {
		clear(u.authed)
		return
	}
	delete(u.authed, side)
}

func (u *vuser) loggedIn(side string) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.authed[side]
}

// ensure makes the user logged in for requests to t. With shared
// sessions it logs in on either side, the other one half of the time:
// those logins are the cross-side ones.
func (u *vuser) ensure(ctx context.Context, t target) bool {
	if u.loggedIn(t.side) {
		return true
	}
	at := t
	if u.c.sharedSessions && u.rng.IntN(2) == 0 {
		at = u.other(t)
	}
	_, ok := u.call(ctx, at, "login", "POST", "/login", map[string]string{
		"email": fmt.Sprintf("user%d@example.com", u.account), "password": u.c.password,
	}, nil, 200)
	if !ok {
		return false
	}
	u.rec.sides[at.side].logins.Add(1)
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.c.sharedSessions {
		for _, x := range u.ts {
			u.authed[x.side] = true
		}
	} else {
		u.authed[at.side] = true
	}
	u.loginSide, u.used = at.side, false
	return at.side == t.side || u.authed[t.side]
}

// pay pays with key on one instance, retrying 503 (nothing was charged)
// with the same key, as a well-behaved client does. orderSide is the side
// that created the order.
func (u *vuser) pay(ctx context.Context, kind string, t target, orderSide string, id int64, key string) result {
	for attempt := 0; ; attempt++ {
		res, d, err := u.send(ctx, t, "POST", fmt.Sprintf("/orders/%d/pay", id), nil, map[string]string{"Idempotency-Key": key})
		if ctx.Err() != nil {
			return res
		}
		if err == nil && res.status != 503 {
			good := res.status == 200 || res.status == 201 || res.status == 409
			u.rec.add(kind, t.side, d, res.status, good)
			u.observe(t.side, kind, res.status, good)
			switch res.status {
			case 201:
				u.rec.charged.Add(1)
				u.rec.sides[t.side].charged.Add(1)
				if t.side != orderSide {
					u.rec.cross.payments.Add(1)
				}
			case 200:
				u.rec.replayed.Add(1)
			case 409:
				u.rec.conflict.Add(1)
			}
			return res
		}
		u.rec.retries.Add(1)
		if attempt >= 20 {
			u.rec.add(kind, t.side, d, res.status, false)
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

// orderAndPay orders on t, then pays on t or on the other side.
func (u *vuser) orderAndPay(ctx context.Context, t target) {
	res, ok := u.call(ctx, t, "order", "POST", "/orders", map[string]any{"product_id": u.product(), "quantity": 1 + u.rng.IntN(3)}, nil, 201)
	if !ok {
		return
	}
	u.rec.orders.Add(1)
	var o payments.Order
	if json.Unmarshal(res.body, &o) != nil {
		return
	}
	key := newKey()
	a := t
	if u.rng.IntN(2) == 0 {
		a = u.other(t)
	}
	b := u.other(a)
	if !u.ensure(ctx, a) || !u.ensure(ctx, b) {
		return
	}
	crossed := a.side != b.side
	switch p := u.rng.IntN(100); {
	case p < 60: // a plain payment
		u.pay(ctx, "pay", a, t.side, o.ID, key)
	case p < 80: // the client retries after a lost response: same key
		u.pay(ctx, "pay", a, t.side, o.ID, key)
		u.pay(ctx, "pay-retry", b, t.side, o.ID, key)
		if crossed {
			u.rec.cross.retries.Add(1)
		}
	case p < 95: // a double click: the same key twice at once, on two instances
		var wg sync.WaitGroup
		wg.Go(func() { u.pay(ctx, "pay-double-click", a, t.side, o.ID, key) })
		wg.Go(func() { u.pay(ctx, "pay-double-click", b, t.side, o.ID, key) })
		wg.Wait()
		if crossed {
			u.rec.cross.doubleClicks.Add(1)
		}
	default: // a second tab submits again with a fresh key: must be refused
		u.pay(ctx, "pay", a, t.side, o.ID, key)
		u.pay(ctx, "pay-other-key", b, t.side, o.ID, newKey())
	}
}

// backoff waits a little after a failed login.
func backoff(ctx context.Context) {
	select {
	case <-ctx.Done():
	case <-time.After(200 * time.Millisecond):
	}
}

// run starts actions until load ends; requests run under ctx, so those in
// flight at the end finish (a client that gives up would leave charges its
// report does not count).
func (u *vuser) run(ctx, load context.Context) {
	for load.Err() == nil && ctx.Err() == nil {
		t := u.pick()
		p := u.rng.IntN(1000)
		if p >= 997 && u.c.sharedSessions {
			// connect-redis keeps no per-user index: no /logout-all.
			p = 996
		}
		if p >= 760 && p < 770 || p >= 997 {
			// The Go API alone serves PUT /products and /logout-all.
			t = u.pickSide(sideGo)
		}
		if p >= 700 && !u.ensure(ctx, t) {
			backoff(ctx)
			continue
		}
		switch {
		case p < 700:
			u.call(ctx, t, "browse", "GET", fmt.Sprintf("/products/%d", u.product()), nil, nil, 200)
		case p < 760:
			u.call(ctx, t, "me", "GET", "/me", nil, nil, 200)
		case p < 770:
			id := u.product()
			u.call(ctx, t, "update-product", "PUT", fmt.Sprintf("/products/%d", id), map[string]any{
				"name": fmt.Sprintf("Product %d", id), "price_cents": 100 + u.rng.IntN(9900),
			}, nil, 200)
		case p < 970:
			u.orderAndPay(ctx, t)
		case p < 997:
			u.logout(ctx, t, "logout", "/logout", 204)
		default:
			u.logout(ctx, t, "logout-all", "/logout-all", 200)
		}
	}
}

func (u *vuser) logout(ctx context.Context, t target, kind, path string, status int) {
	if _, ok := u.call(ctx, t, kind, "POST", path, nil, nil, status); ok {
		u.mu.Lock()
		u.dropLocked(t.side)
		u.mu.Unlock()
	}
}

func loadgen(ctx context.Context, c loadConfig, stdout io.Writer) (*report, error) {
	rep := &report{c: c, rec: newRecorder()}
	ts := c.targets()
	for _, t := range ts {
		if err := waitReady(ctx, t, c.readyWait); err != nil {
			return nil, err
		}
	}
	rep.before = fetchStats(ctx, ts)
	var st *postgres.Store
	if c.dsn != "" {
		var err error
		st, err = postgres.Open(ctx, c.dsn)
		if err != nil {
			rep.auditErr = err
		} else {
			defer st.Close()
			rep.sidesBefore, rep.sidesErr = sideCharges(ctx, st.DB())
		}
	}
	names := make([]string, len(ts))
	for i, t := range ts {
		names[i] = t.side + " " + t.url
	}
	fmt.Fprintf(stdout, "load: %d users on %s for %v\n", c.users, strings.Join(names, ", "), c.duration)
	lctx, cancel := context.WithTimeout(ctx, c.duration)
	defer cancel()
	transport := &http.Transport{MaxIdleConnsPerHost: 4 * c.users, IdleConnTimeout: 30 * time.Second}
	defer transport.CloseIdleConnections()
	start := time.Now()
	var wg sync.WaitGroup
	for i := range c.users {
		jar, _ := cookiejar.New(nil)
		u := newVuser(c, ts, rep.rec, &http.Client{Jar: jar, Transport: transport, Timeout: 30 * time.Second},
			mrand.New(mrand.NewPCG(uint64(i), uint64(time.Now().UnixNano()))), 1+i%c.accounts, i)
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
	rep.cache = crossCacheCheck(ctx, c, 1)
	// Let the workers finish the confirmation and receipt jobs, then audit.
	deadline := time.Now().Add(c.drainWait)
	for {
		rep.after = fetchStats(ctx, ts)
		if st == nil {
			break
		}
		rep.audit, rep.auditErr = st.Audit(ctx)
		rep.audited = rep.auditErr == nil
		if rep.audited && rep.audit.Confirmed == rep.audit.Charges && rep.audit.Receipts == rep.audit.Charges {
			rep.drained = true
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
	if st != nil && rep.sidesErr == nil {
		rep.sidesAfter, rep.sidesErr = sideCharges(ctx, st.DB())
	}
	return rep, nil
}

// waitReady polls t's readiness (Go: /readyz; Nest: /healthz) until it
// answers 200 or wait passes.
func waitReady(ctx context.Context, t target, wait time.Duration) error {
	path := "/readyz"
	if t.side == sideNest {
		path = "/healthz"
	}
	deadline := time.Now().Add(wait)
	for {
		req, _ := http.NewRequestWithContext(ctx, "GET", t.url+path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("loadgen: %s (%s) is not ready: %w", t.url, t.side, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}
