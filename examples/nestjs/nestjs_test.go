package nestjs

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rediskit/rediskit/internal/pgtest"
	"github.com/rediskit/rediskit/internal/redisproc"
	"github.com/rediskit/rediskit/internal/redistest"
	"github.com/rediskit/rediskit/lock"
	"github.com/rediskit/rediskit/payments"
	"github.com/rediskit/rediskit/payments/postgres"
	"github.com/rediskit/rediskit/queue"
)

func TestMain(m *testing.M) {
	code := m.Run()
	redistest.Shutdown()
	pgtest.Shutdown()
	os.Exit(code)
}

// client is a browser: one cookie jar (the connect.sid session cookie).
type client struct {
	t    *testing.T
	base string
	http *http.Client
}

func newClient(t *testing.T, base string) *client {
	jar, _ := cookiejar.New(nil)
	return &client{t: t, base: base, http: &http.Client{Jar: jar, Timeout: 60 * time.Second}}
}

type reply struct {
	status int
	header http.Header
	body   []byte
}

func (r reply) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %q: %v", r.body, err)
	}
}

// do sends a request; it is safe for concurrent use (it never calls
// t.Fatal: callers check the status).
func (c *client) do(method, path string, body any, hdr map[string]string) (reply, error) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		return reply{}, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return reply{status: resp.StatusCode, header: resp.Header, body: b}, err
}

// must sends a request and fails the test unless the status is want.
func (c *client) must(want int, method, path string, body any, hdr map[string]string) reply {
	c.t.Helper()
	r, err := c.do(method, path, body, hdr)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	if r.status != want {
		c.t.Fatalf("%s %s: status %d, want %d: %s", method, path, r.status, want, r.body)
	}
	return r
}

type order struct {
	ID          int64  `json:"id"`
	AccountID   int64  `json:"account_id"`
	AmountCents int64  `json:"amount_cents"`
	Status      string `json:"status"`
	Fence       int64  `json:"fence"`
}

type payReply struct {
	Charge   payments.Charge `json:"charge"`
	Replayed bool            `json:"replayed"`
}

func (c *client) order(productID int64) order {
	c.t.Helper()
	var o order
	c.must(http.StatusCreated, "POST", "/orders", map[string]any{"product_id": productID, "quantity": 1}, nil).decode(c.t, &o)
	return o
}

func (c *client) pay(orderID int64, key string) (reply, error) {
	return c.do("POST", "/orders/"+strconv.FormatInt(orderID, 10)+"/pay", nil, map[string]string{"Idempotency-Key": key})
}

// TestNestJS runs the NestJS example against a private 3+3 cluster and a
// fresh PostgreSQL database, alone and then beside the Go payments service:
// logins, cached products, orders, payments with replays and double
// clicks, payments raced across the two sides (one charge per order,
// checked in PostgreSQL), a Go lock that a Nest payment waits for, the
// PostgreSQL fence refusing a stale Nest token, and jobs enqueued by one
// side run by the other's worker.
func TestNestJS(t *testing.T) {
	start := time.Now()
	dir := buildApp(t)
	built := time.Now()
	ctx := context.Background()
	// The private 3+3 cluster starts while PostgreSQL is prepared (what
	// redistest.NewCluster does, in the background).
	type started struct {
		c   *redisproc.Cluster
		err error
	}
	cch := make(chan started, 1)
	go func() {
		sctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
		c, err := redisproc.StartCluster(sctx, redisproc.ClusterOptions{Args: []string{"maxmemory-policy noeviction"}})
		cch <- started{c, err}
	}()
	// recv takes the start's result once: the cleanup must not wait again
	// for a result the test already took (a failed start hung the test).
	var cres started
	taken := false
	recv := func() started {
		if !taken {
			cres, taken = <-cch, true
		}
		return cres
	}
	t.Cleanup(func() {
		if c := recv().c; c != nil {
			_ = c.Close()
		}
	})
	dsn := pgtest.NewDatabase(t)
	st, err := postgres.Open(ctx, dsn) // applies the payments migrations
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Seed(ctx, 10, 2, "demo"); err != nil {
		t.Fatal(err)
	}
	acct, err := st.Authenticate(ctx, "user1@example.com", "demo")
	if err != nil {
		t.Fatal(err)
	}
	r0 := recv()
	if r0.err != nil {
		t.Fatalf("start cluster: %v", r0.err)
	}
	cl := r0.c
	rc := cl.Client()
	t.Logf("cluster and database ready after %s", time.Since(built).Round(time.Millisecond))
	env := map[string]string{
		"REDIS_NODES": strings.Join(cl.Addrs(), ","), "DATABASE_URL": dsn, "PORT": "0", "HOST": "127.0.0.1",
		"SESSION_SECRET": "test-secret-2,test-secret-1", "JOBS_WORKER": "1", "INSTANCE": "nest-a",
	}
	nest := startNest(t, dir, "nest-a", env)
	t.Logf("nest-a listening on %s after %s", nest.base, time.Since(built).Round(time.Millisecond))
	c := newClient(t, nest.base)

	// Login (PBKDF2 hash written by the Go seed), session in Redis.
	c.must(http.StatusUnauthorized, "GET", "/me", nil, nil)
	c.must(http.StatusUnauthorized, "POST", "/login", map[string]string{"email": "user1@example.com", "password": "wrong"}, nil)
	c.must(http.StatusBadRequest, "POST", "/login", "not an object", nil)
	var me payments.Account
	c.must(http.StatusOK, "POST", "/login", map[string]string{"email": "user1@example.com", "password": "demo"}, nil).decode(t, &me)
	if me.ID != acct.ID {
		t.Fatalf("login: %+v, want account %d", me, acct.ID)
	}
	c.must(http.StatusOK, "GET", "/me", nil, nil)
	if n, err := countKeys(ctx, rc, "sess:*"); err != nil || n != 1 {
		t.Fatalf("connect-redis sessions in the cluster: %d, %v", n, err)
	}
	sid := sessionID(t, c)
	var blob struct {
		Cookie map[string]any `json:"cookie"`
		UserID int64          `json:"userId"`
	}
	if raw, err := rc.Get(ctx, "sess:"+sid).Bytes(); err != nil || json.Unmarshal(raw, &blob) != nil || blob.UserID != acct.ID || blob.Cookie == nil {
		t.Fatalf("connect-redis session sess:%s: %q, %v", sid, raw, err)
	}

	// Products: cache-aside, the second read from Redis.
	for i, want := range []string{"miss", "hit"} {
		r := c.must(http.StatusOK, "GET", "/products?limit=5", nil, nil)
		var ps []payments.Product
		r.decode(t, &ps)
		if len(ps) != 5 || ps[0].ID != 1 || r.header.Get("X-Cache") != want {
			t.Fatalf("list %d: X-Cache %q, want %q; %d products", i, r.header.Get("X-Cache"), want, len(ps))
		}
	}
	for _, want := range []string{"miss", "hit"} {
		r := c.must(http.StatusOK, "GET", "/products/3", nil, nil)
		var p payments.Product
		r.decode(t, &p)
		db, _ := st.Product(ctx, 3)
		if r.header.Get("X-Cache") != want || p.ID != 3 || p.PriceCents != db.PriceCents || p.Name != db.Name {
			t.Fatalf("product 3: X-Cache %q (want %q), %+v, db %+v", r.header.Get("X-Cache"), want, p, db)
		}
	}
	// The Keyv entry Nest's cache wrote (for the Go cache's Keyv codec):
	// Keyv prefixes "<namespace>:", @keyv/redis "<namespace>::" again.
	if n, err := countKeys(ctx, rc, "products::products:product:3"); err != nil || n != 1 {
		t.Fatalf("Keyv entry products::products:product:3: %d keys, %v", n, err)
	}
	if raw, err := rc.Get(ctx, "products::products:product:3").Result(); err != nil || !strings.Contains(raw, `"value"`) {
		t.Fatalf("Keyv entry products::products:product:3: %q, %v", raw, err)
	} else {
		t.Logf("Keyv entry products::products:product:3 = %s (PTTL %s)", raw, rc.PTTL(ctx, "products::products:product:3").Val())
	}
	c.must(http.StatusNotFound, "GET", "/products/999", nil, nil)
	c.must(http.StatusBadRequest, "GET", "/products/x", nil, nil)

	// An order, paid, replayed, refused under another key.
	o1 := c.order(3)
	if p, _ := st.Product(ctx, 3); o1.AmountCents != p.PriceCents || o1.Status != "pending" {
		t.Fatalf("order %+v", o1)
	}
	c.must(http.StatusBadRequest, "POST", fmt.Sprintf("/orders/%d/pay", o1.ID), nil, nil)
	var first, again payReply
	c.must(http.StatusCreated, "POST", fmt.Sprintf("/orders/%d/pay", o1.ID), nil, map[string]string{"Idempotency-Key": "k1"}).decode(t, &first)
	r := c.must(http.StatusOK, "POST", fmt.Sprintf("/orders/%d/pay", o1.ID), nil, map[string]string{"Idempotency-Key": "k1"})
	r.decode(t, &again)
	if !again.Replayed || again.Charge.ID != first.Charge.ID || r.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("replay: %+v, first %+v", again, first)
	}
	var conflict struct {
		ChargeID string `json:"charge_id"`
	}
	c.must(http.StatusConflict, "POST", fmt.Sprintf("/orders/%d/pay", o1.ID), nil, map[string]string{"Idempotency-Key": "k2"}).decode(t, &conflict)
	if conflict.ChargeID != first.Charge.ID {
		t.Fatalf("409 names charge %q, want %q", conflict.ChargeID, first.Charge.ID)
	}
	o1b := c.order(4)
	c.must(http.StatusUnprocessableEntity, "POST", fmt.Sprintf("/orders/%d/pay", o1b.ID), nil, map[string]string{"Idempotency-Key": "k1"})
	if ch, err := st.ChargeForOrder(ctx, o1.ID); err != nil || ch.Fence < 1 || ch.Instance != "nest-a" || ch.IdempotencyKey != "k1" {
		t.Fatalf("charge of order %d: %+v, %v", o1.ID, ch, err)
	}
	// The fence was drawn from the Go lock's counter of "order:<id>".
	fence, err := rc.Get(ctx, fmt.Sprintf("payments:lock:{order:%d}:fence", o1.ID)).Int64()
	if err != nil || fence != first.Charge.Fence {
		t.Fatalf("Go lock fence counter %d (%v), charge fence %d", fence, err, first.Charge.Fence)
	}

	// A double click: four concurrent requests under two keys, one charge.
	o2 := c.order(5)
	statuses := payConcurrently(t, c, o2.ID, []string{"dbl-a", "dbl-a", "dbl-b", "dbl-b"})
	if statuses[http.StatusCreated] != 1 || statuses[http.StatusCreated]+statuses[http.StatusOK]+statuses[http.StatusConflict] != 4 {
		t.Fatalf("double click statuses %v: want one 201, the rest 200 or 409", statuses)
	}

	// The PostgreSQL fence refuses a token older than one a newer holder
	// claimed (as if a Go holder with a bigger token had claimed the order).
	o3 := c.order(6)
	if _, err := st.DB().Exec(ctx, `UPDATE orders SET fence = 1000000 WHERE id = $1`, o3.ID); err != nil {
		t.Fatal(err)
	}
	r = c.must(http.StatusServiceUnavailable, "POST", fmt.Sprintf("/orders/%d/pay", o3.ID), nil, map[string]string{"Idempotency-Key": "k3"})
	if !strings.Contains(string(r.body), "fenced") {
		t.Fatalf("fenced payment: %s", r.body)
	}
	if _, err := st.ChargeForOrder(ctx, o3.ID); err == nil {
		t.Fatalf("order %d charged under a stale token", o3.ID)
	}

	// The Go service on the same cluster and database (its worker not
	// running yet: Nest's processor runs every job for now).
	svc, err := payments.New(st, rc, payments.Options{Instance: "go-1"})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()

	// Paid by Go: Nest refuses another key, replays Go's key.
	o4 := c.order(7)
	gres, err := svc.Pay(ctx, acct.ID, o4.ID, "go-k4")
	if err != nil {
		t.Fatal(err)
	}
	c.must(http.StatusConflict, "POST", fmt.Sprintf("/orders/%d/pay", o4.ID), nil, map[string]string{"Idempotency-Key": "nest-k4"})
	var rep payReply
	c.must(http.StatusOK, "POST", fmt.Sprintf("/orders/%d/pay", o4.ID), nil, map[string]string{"Idempotency-Key": "go-k4"}).decode(t, &rep)
	if !rep.Replayed || rep.Charge.ID != gres.Charge.ID {
		t.Fatalf("Nest replay of Go's charge: %+v, Go %+v", rep, gres.Charge)
	}
	// Paid by Nest: Go refuses another key, replays Nest's key.
	o5 := c.order(8)
	var nres payReply
	c.must(http.StatusCreated, "POST", fmt.Sprintf("/orders/%d/pay", o5.ID), nil, map[string]string{"Idempotency-Key": "nest-k5"}).decode(t, &nres)
	var pe *payments.PaidError
	if _, err := svc.Pay(ctx, acct.ID, o5.ID, "go-k5"); !errorsAs(err, &pe) || pe.Charge.ID != nres.Charge.ID {
		t.Fatalf("Go pay of Nest's order: %v", err)
	}
	if g, err := svc.Pay(ctx, acct.ID, o5.ID, "nest-k5"); err != nil || !g.Replayed || g.Charge.ID != nres.Charge.ID {
		t.Fatalf("Go replay of Nest's key: %+v, %v", g, err)
	}

	// A Go holder of the order's lock keeps Nest waiting: same key.
	o6 := c.order(9)
	locker := lock.New(rc, lock.Options{Prefix: "payments:lock:"})
	defer locker.Close()
	held, err := locker.TryAcquire(ctx, fmt.Sprintf("order:%d", o6.ID), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		r   reply
		err error
		at  time.Time
	}
	got := make(chan result, 1)
	go func() {
		r, err := c.pay(o6.ID, "k6")
		got <- result{r, err, time.Now()}
	}()
	// Nest's payment waits on the lock Go holds (its /stats counts it).
	redistest.Eventually(t, 20*time.Second, "the Nest payment waits for the Go-held lock", func() bool {
		var s struct {
			Lock struct{ Waiting int } `json:"lock"`
		}
		r, err := c.do("GET", "/stats", nil, nil)
		return err == nil && json.Unmarshal(r.body, &s) == nil && s.Lock.Waiting == 1
	})
	if _, err := st.ChargeForOrder(ctx, o6.ID); err == nil {
		t.Fatalf("order %d charged while Go held its lock", o6.ID)
	}
	released := time.Now()
	if err := held.Release(ctx); err != nil {
		t.Fatal(err)
	}
	res := <-got
	if res.err != nil || res.r.status != http.StatusCreated || res.at.Before(released) {
		t.Fatalf("Nest pay under a Go-held lock: status %d, err %v, answered %s before the release: %s",
			res.r.status, res.err, released.Sub(res.at), res.r.body)
	}
	var p6 payReply
	res.r.decode(t, &p6)
	if p6.Charge.Fence <= held.Token() {
		t.Fatalf("Nest token %d not after Go's %d", p6.Charge.Fence, held.Token())
	}

	// Races across the sides: per order, two Go and two Nest payments at
	// once under four keys: exactly one charge.
	const raced = 6
	var wg sync.WaitGroup
	var mu sync.Mutex
	outcomes := map[string]int{}
	for i := range raced {
		o := c.order(int64(1 + i%10))
		for j := range 2 {
			wg.Go(func() {
				_, err := svc.Pay(ctx, acct.ID, o.ID, fmt.Sprintf("go-%d-%d", o.ID, j))
				mu.Lock()
				outcomes[fmt.Sprintf("go:%v", errClass(err))]++
				mu.Unlock()
			})
			wg.Go(func() {
				r, err := c.pay(o.ID, fmt.Sprintf("nest-%d-%d", o.ID, j))
				mu.Lock()
				if err != nil {
					outcomes["nest:"+err.Error()]++
				} else {
					outcomes[fmt.Sprintf("nest:%d", r.status)]++
				}
				mu.Unlock()
			})
		}
	}
	wg.Wait()
	t.Logf("cross-side races (%d orders x 4 payments): %v", raced, outcomes)
	if outcomes["go:ok"]+outcomes["nest:201"] != raced || outcomes["go:ok"]+outcomes["go:paid"]+outcomes["nest:201"]+outcomes["nest:409"] != raced*4 {
		t.Fatalf("cross-side races: %v: want %d charges, every other payment refused as paid", outcomes, raced)
	}

	// Nest's processor ran every job so far, Go's included.
	redistest.Eventually(t, 30*time.Second, "Nest's processor confirms every charge", func() bool {
		a, err := st.Audit(ctx)
		return err == nil && a.Confirmed == a.Charges && a.Receipts == a.Charges
	})
	if s := svc.Stats(); s.Confirmed != 0 || s.Receipts != 0 {
		t.Fatalf("the Go worker is not running yet, but counted %+v", s)
	}

	// Jobs Nest's processor cannot run fail at once, unrecoverable, with
	// the reason named (a Go producer's mistakes included).
	q, err := queue.New(rc, "payments", queue.Options{Prefix: "{payments}"})
	if err != nil {
		t.Fatal(err)
	}
	bad := map[string]string{"bad-data": "bad confirm-payment job", "bad-name": "unknown job"}
	if _, err := q.Add(ctx, payments.JobConfirm, map[string]string{"chargeId": "not-a-uuid"}, queue.WithJobID("bad-data"), queue.WithAttempts(5)); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Add(ctx, "refund", map[string]int{"orderId": 1}, queue.WithJobID("bad-name"), queue.WithAttempts(5)); err != nil {
		t.Fatal(err)
	}
	for id, reason := range bad {
		redistest.Eventually(t, 20*time.Second, "job "+id+" failed", func() bool {
			s, err := q.State(ctx, id)
			return err == nil && s == queue.StateFailed
		})
		j, err := q.GetJob(ctx, id)
		if err != nil || j.AttemptsMade != 1 || !strings.Contains(j.FailedReason, reason) {
			t.Fatalf("job %s: %+v, %v: want one attempt failed with %q", id, j, err, reason)
		}
	}

	// Restart the Nest side without its processor and run the Go worker:
	// the session survives (it lives in Redis), and a job Nest enqueues is
	// run by Go.
	nest.stop(t)
	// nest-b's provider call takes 1 s: long enough to hold a lock that a
	// Go payment must wait for.
	// A 2 s lease: a Go waiter retries after the holder's remaining ttl.
	env["JOBS_WORKER"], env["INSTANCE"], env["PROVIDER_DELAY_MS"], env["LOCK_TTL_MS"] = "0", "nest-b", "1000", "2000"
	nestB := startNest(t, dir, "nest-b", env)
	c.base = nestB.base
	c.must(http.StatusOK, "GET", "/me", nil, nil)
	wctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- svc.Run(wctx) }()
	defer func() {
		stop()
		<-done
	}()
	o9 := c.order(2)
	var p9 payReply
	c.must(http.StatusCreated, "POST", fmt.Sprintf("/orders/%d/pay", o9.ID), nil, map[string]string{"Idempotency-Key": "k9"}).decode(t, &p9)
	redistest.Eventually(t, 30*time.Second, "the Go worker runs the jobs Nest enqueued", func() bool {
		s := svc.Stats()
		a, err := st.Audit(ctx)
		return s.Confirmed >= 1 && s.Receipts >= 1 && err == nil && a.JobRuns >= 2*a.Charges
	})
	if ch, err := st.ChargeForOrder(ctx, o9.ID); err != nil || ch.ConfirmedAt == nil || ch.Instance != "nest-b" {
		t.Fatalf("Nest-b's charge not confirmed by Go: %+v, %v", ch, err)
	}

	// A Nest holder keeps a Go payment of the same order waiting: Go
	// finds it paid when it gets the lock (had it not waited, its newer
	// token would have fenced Nest's commit out).
	o10 := c.order(1)
	got = make(chan result, 1)
	go func() {
		r, err := c.pay(o10.ID, "k10")
		got <- result{r, err, time.Now()}
	}()
	redistest.Eventually(t, 20*time.Second, "Nest holds the order's lock", func() bool {
		var s struct {
			Lock struct{ Held int } `json:"lock"`
		}
		r, err := c.do("GET", "/stats", nil, nil)
		return err == nil && json.Unmarshal(r.body, &s) == nil && s.Lock.Held == 1
	})
	_, gerr := svc.Pay(ctx, acct.ID, o10.ID, "go-k10")
	res = <-got
	var p10 payReply
	if res.err != nil || res.r.status != http.StatusCreated {
		t.Fatalf("Nest pay holding the lock: %d %v %s", res.r.status, res.err, res.r.body)
	}
	res.r.decode(t, &p10)
	if !errorsAs(gerr, &pe) || pe.Charge.ID != p10.Charge.ID {
		t.Fatalf("Go pay while Nest held the lock: %v, want paid by %s", gerr, p10.Charge.ID)
	}

	// One charge per paid order, no money moved twice, no job effect twice.
	a, err := st.Audit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("audit: %+v", a)
	if a.DoubleCharges != 0 || a.PaidWithoutOneCharge != 0 || a.PaidOrders != a.Charges || a.LedgerRows != a.Charges ||
		a.DuplicateEffects != 0 || a.Charges != int64(1+1+1+1+1+raced+1+1) {
		t.Fatalf("audit %+v", a)
	}
	c.must(http.StatusNoContent, "POST", "/logout", nil, nil)
	c.must(http.StatusUnauthorized, "GET", "/me", nil, nil)
	checkCrossLogin(t, c, rc, svc, strings.Split(env["SESSION_SECRET"], ","), acct.ID)
	checkCrossCache(t, c, rc, st)
	nest.checkLog(t)
	nestB.checkLog(t)
	t.Logf("e2e %s (build %s)", time.Since(start).Round(time.Millisecond), built.Sub(start).Round(time.Millisecond))
}

// payConcurrently sends one payment per key at once and counts statuses.
func payConcurrently(t *testing.T, c *client, orderID int64, keys []string) map[int]int {
	t.Helper()
	var wg sync.WaitGroup
	var mu sync.Mutex
	out := map[int]int{}
	for _, k := range keys {
		wg.Go(func() {
			r, err := c.pay(orderID, k)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				out[-1]++
				return
			}
			out[r.status]++
		})
	}
	wg.Wait()
	return out
}

// TestNestJSConfig: a malformed variable stops the app at once with an
// error naming it, and no secret in the output.
func TestNestJSConfig(t *testing.T) {
	dir := buildApp(t)
	cases := []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"REDIS_NODES": "", "DATABASE_URL": "postgres://u:hunter2@127.0.0.1/db"}, "REDIS_NODES is required"},
		{map[string]string{"REDIS_NODES": "127.0.0.1", "DATABASE_URL": "postgres://u:hunter2@127.0.0.1/db"}, "REDIS_NODES: want host:port"},
		{map[string]string{"REDIS_NODES": "127.0.0.1:7000", "DATABASE_URL": ""}, "DATABASE_URL is required"},
		{map[string]string{"REDIS_NODES": "127.0.0.1:7000", "DATABASE_URL": "postgres://u:hunter2@127.0.0.1/db", "LOCK_TTL_MS": "5s"}, "LOCK_TTL_MS: want an integer"},
		{map[string]string{"REDIS_NODES": "127.0.0.1:7000", "DATABASE_URL": "postgres://u:hunter2@127.0.0.1/db", "JOBS_WORKER": "yes"}, "JOBS_WORKER: want 0 or 1"},
	}
	var wg sync.WaitGroup
	for _, tc := range cases {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, "node", "dist/main.js")
			cmd.Dir = dir
			cmd.Env = append(os.Environ(), "SESSION_SECRET=s3cret-value")
			for k, v := range tc.env {
				cmd.Env = append(cmd.Env, k+"="+v)
			}
			out, err := cmd.CombinedOutput()
			if err == nil || !strings.Contains(string(out), tc.want) {
				t.Errorf("env %v: %v, output %q: want an exit naming %q", tc.env, err, out, tc.want)
			}
			if strings.Contains(string(out), "hunter2") || strings.Contains(string(out), "s3cret-value") {
				t.Errorf("env %v: a secret in the output %q", tc.env, out)
			}
		})
	}
	wg.Wait()
}
