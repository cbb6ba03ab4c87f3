package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/rediskit/rediskit/internal/redistest"
	"github.com/rediskit/rediskit/payments/httpapi"
)

type order struct {
	ID     int64  `json:"id"`
	Status string `json:"status"`
	Fence  int64  `json:"fence"`
}

// retryable statuses: nothing was done, the client tries again.
func retryable(status int) bool { return status == 503 || status == 0 }

// payRetry pays until the service gives a final answer (201, 200, 409),
// retrying 503 and transport errors with the same key.
func payRetry(tb testing.TB, c *client, base string, id int64, key string, deadline time.Time) reply {
	tb.Helper()
	for {
		r, err := c.do(base, "POST", fmt.Sprintf("/orders/%d/pay", id), nil, map[string]string{"Idempotency-Key": key})
		if err == nil && !retryable(r.Status) {
			return r
		}
		if time.Now().After(deadline) {
			tb.Errorf("pay order %d: still failing at the deadline: %v %d %s", id, err, r.Status, r.Body)
			return r
		}
		time.Sleep(50 * time.Millisecond) // client backoff between retries
	}
}

func createOrderRetry(tb testing.TB, c *client, base string, product int64, deadline time.Time) (int64, int) {
	for {
		r, err := c.do(base, "POST", "/orders", map[string]any{"product_id": product, "quantity": 1}, nil)
		if err == nil && r.Status == 201 {
			var o order
			r.decode(tb, &o)
			return o.ID, 201
		}
		if err == nil && !retryable(r.Status) {
			return 0, r.Status
		}
		if time.Now().After(deadline) {
			return 0, r.Status
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestEndToEnd runs the service as the README shows it: two instances on
// one cluster and one database, then faults.
func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test: starts a private cluster and a child process")
	}
	e := newEnv(t)
	a := e.start("a")
	b := e.start("b")
	bases := []string{a.url, b.url}
	ctx := context.Background()
	var paidOrders sync.Map // order id -> true: orders the clients saw paid

	t.Run("products", func(t *testing.T) {
		c := newClient(t)
		c.login(t, a.url, 1)
		var p struct {
			ID         int64  `json:"id"`
			Name       string `json:"name"`
			PriceCents int64  `json:"price_cents"`
		}
		// Warm both near caches, then write through a and read through b.
		for range 3 {
			c.must(t, 200, a.url, "GET", "/products/7", nil, nil).decode(t, &p)
			c.must(t, 200, b.url, "GET", "/products/7", nil, nil)
		}
		c.must(t, 404, b.url, "GET", "/products/999999", nil, nil)
		c.must(t, 200, a.url, "PUT", "/products/7", map[string]any{"name": "Renamed", "price_cents": 4242}, nil)
		redistest.Eventually(t, 10*time.Second, "b sees a's write", func() bool {
			c.must(t, 200, b.url, "GET", "/products/7", nil, nil).decode(t, &p)
			return p.Name == "Renamed" && p.PriceCents == 4242
		})
		// A raw SQL write (another service) reaches every near cache
		// through the outbox relay.
		if _, err := e.store.DB().Exec(ctx, "UPDATE products SET price_cents = 777 WHERE id = 7"); err != nil {
			t.Fatal(err)
		}
		for _, base := range bases {
			redistest.Eventually(t, 10*time.Second, "raw SQL write relayed", func() bool {
				c.must(t, 200, base, "GET", "/products/7", nil, nil).decode(t, &p)
				return p.PriceCents == 777
			})
		}
		if s := a.app.svc.Stats().Cache; s.NearHits == 0 {
			t.Errorf("no near-cache hit on a: %+v", s)
		}
	})

	t.Run("sessions", func(t *testing.T) {
		c1, c2 := newClient(t), newClient(t)
		c1.must(t, 401, a.url, "GET", "/me", nil, nil)
		c1.must(t, 401, a.url, "POST", "/login", map[string]string{"email": "user2@example.com", "password": "wrong"}, nil)
		c1.login(t, a.url, 2)
		c2.login(t, b.url, 2)
		var me struct{ Email string }
		c1.must(t, 200, b.url, "GET", "/me", nil, nil).decode(t, &me) // a's login, read by b
		if me.Email != "user2@example.com" {
			t.Fatalf("me = %+v", me)
		}
		c1.must(t, 204, b.url, "POST", "/logout", nil, nil)
		c1.must(t, 401, a.url, "GET", "/me", nil, nil)
		c2.must(t, 200, a.url, "GET", "/me", nil, nil)
		c1.login(t, a.url, 2)
		c1.must(t, 200, b.url, "POST", "/logout-all", nil, nil)
		c2.must(t, 401, a.url, "GET", "/me", nil, nil)
	})

	t.Run("duplicates", func(t *testing.T) {
		deadline := time.Now().Add(60 * time.Second)
		var wg sync.WaitGroup
		for u := 3; u <= 5; u++ {
			wg.Go(func() {
				c := newClient(t)
				c.login(t, a.url, u)
				for i := range 5 {
					id, st := createOrderRetry(t, c, bases[i%2], int64(1+i), deadline)
					if st != 201 {
						t.Errorf("create order: %d", st)
						return
					}
					key, other := newKey(), newKey()
					// A double click (same key, both instances, at once)
					// racing a second submission with another key.
					replies := make([]reply, 5)
					var inner sync.WaitGroup
					for j := range replies {
						k := key
						if j == 4 {
							k = other
						}
						inner.Go(func() { replies[j] = payRetry(t, c, bases[j%2], id, k, deadline) })
					}
					inner.Wait()
					created := 0
					var winner string
					for _, r := range replies {
						if r.Status == 201 {
							created++
							var pr httpapi.PayResponse
							r.decode(t, &pr)
							winner = pr.Charge.IdempotencyKey
						}
					}
					if created != 1 {
						t.Errorf("order %d: %d requests created a charge, want 1", id, created)
						continue
					}
					for j, r := range replies {
						k := key
						if j == 4 {
							k = other
						}
						want := 200
						if k != winner {
							want = 409
						}
						if r.Status != 201 && r.Status != want {
							t.Errorf("order %d request %d: %d %s, want %d", id, j, r.Status, r.Body, want)
						}
					}
					// A late retry with the winning key replays.
					r := payRetry(t, c, bases[(i+1)%2], id, winner, deadline)
					if r.Status != 200 || r.Header.Get("Idempotent-Replayed") != "true" {
						t.Errorf("retry of order %d: %d %s", id, r.Status, r.Body)
					}
					// The same key for another order is refused.
					id2, _ := createOrderRetry(t, c, a.url, 1, deadline)
					if r := payRetry(t, c, b.url, id2, winner, deadline); r.Status != 422 {
						t.Errorf("key reused for order %d: %d %s, want 422", id2, r.Status, r.Body)
					}
					paidOrders.Store(id, true)
				}
			})
		}
		wg.Wait()
	})

	t.Run("failover", func(t *testing.T) {
		// Users keep ordering and paying (double clicks included) on both
		// instances while the master of a slot range dies.
		stop := make(chan struct{})
		deadline := time.Now().Add(90 * time.Second)
		var statuses sync.Map // status -> *atomic.Int64
		count := func(st int) {
			v, _ := statuses.LoadOrStore(st, new(atomic.Int64))
			v.(*atomic.Int64).Add(1)
		}
		var paidN atomic.Int64
		var relogins atomic.Int64
		var wg sync.WaitGroup
		for u := 6; u <= 11; u++ {
			wg.Go(func() {
				c := newClient(t)
				loggedIn := false
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					base := bases[i%2]
					if !loggedIn {
						r, err := c.do(base, "POST", "/login", map[string]string{"email": fmt.Sprintf("user%d@example.com", u), "password": "demo"}, nil)
						if err != nil || r.Status != 200 {
							count(r.Status)
							time.Sleep(50 * time.Millisecond)
							continue
						}
						loggedIn = true
					}
					r, err := c.do(base, "GET", "/me", nil, nil)
					if err == nil {
						count(r.Status)
					}
					if err == nil && r.Status == 401 {
						// The session was on the dead master and not yet
						// replicated: a clean failure, log in again.
						relogins.Add(1)
						loggedIn = false
						continue
					}
					if err != nil || r.Status != 200 {
						continue
					}
					id, st := createOrderRetry(t, c, base, int64(1+i%20), deadline)
					count(st)
					if st == 401 {
						loggedIn = false
						continue
					}
					if st != 201 {
						continue
					}
					key := newKey()
					var inner sync.WaitGroup
					replies := make([]reply, 2)
					for j := range replies {
						inner.Go(func() { replies[j] = payRetry(t, c, bases[(i+j)%2], id, key, deadline) })
					}
					inner.Wait()
					ok := true
					for _, r := range replies {
						count(r.Status)
						if r.Status == 401 {
							// Lost session: pay again after logging in.
							loggedIn, ok = false, false
						} else if r.Status != 200 && r.Status != 201 {
							t.Errorf("failover pay of order %d: %d %s", id, r.Status, r.Body)
						}
					}
					if ok {
						paidOrders.Store(id, true)
						paidN.Add(1)
					}
				}
			})
		}
		redistest.Eventually(t, 30*time.Second, "load before the fault", func() bool { return paidN.Load() >= 20 })
		masters, err := e.cluster.Masters(ctx)
		if err != nil {
			t.Fatal(err)
		}
		before := paidN.Load()
		kctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		promoted, err := e.cluster.KillMaster(kctx, masters[0])
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("killed master %s, promoted %s, %d orders paid before", masters[0].Addr(), promoted.Addr(), before)
		redistest.Eventually(t, 45*time.Second, "payments continue after the failover", func() bool { return paidN.Load() >= before+40 })
		close(stop)
		wg.Wait()
		all := map[int]int64{}
		statuses.Range(func(k, v any) bool { all[k.(int)] = v.(*atomic.Int64).Load(); return true })
		t.Logf("failover: %d orders paid, %d re-logins, statuses %v", paidN.Load(), relogins.Load(), all)
		if all[500] > 0 {
			t.Errorf("%d requests failed with 500 during the failover (want clean 503/401)", all[500])
		}
	})

	// A child instance claims an order and is frozen inside the charge (its
	// provider call takes 2 s) past its 1 s lock; instance b then takes the
	// lock with a newer token and charges. When the child resumes, either
	// the lost lock stops it, or (when it ignores the loss, as a provider
	// SDK that ignores cancellation) PostgreSQL's fence refuses its commit.
	for _, mode := range []struct {
		name   string
		ignore string
	}{{"paused-instance/lock-lost", "0"}, {"paused-instance/fenced", "1"}} {
		t.Run(mode.name, func(t *testing.T) {
			ch := e.startChild("paused-"+mode.ignore, map[string]string{
				"PAYMENTS_PROVIDER_DELAY": "2s", "PAYMENTS_PROVIDER_IGNORES_LOSS": mode.ignore,
			})
			paused(t, e, ch, b, &paidOrders, mode.ignore == "1")
		})
	}

	t.Run("graceful-shutdown", func(t *testing.T) {
		// SIGTERM while a charge is in flight: the request completes, the
		// process exits 0.
		ch := e.startChild("draining", map[string]string{"PAYMENTS_PROVIDER_DELAY": "1500ms"})
		c := newClient(t)
		c.login(t, b.url, 13)
		id, st := createOrderRetry(t, c, b.url, 4, time.Now().Add(30*time.Second))
		if st != 201 {
			t.Fatalf("create order: %d", st)
		}
		replyc := make(chan reply, 1)
		go func() {
			r, err := c.do(ch.url, "POST", fmt.Sprintf("/orders/%d/pay", id), nil, map[string]string{"Idempotency-Key": newKey()})
			if err != nil {
				r.Status, r.Body = -1, []byte(err.Error())
			}
			replyc <- r
		}()
		redistest.Eventually(t, 20*time.Second, "charge in flight", func() bool {
			var fence int64
			_ = e.store.DB().QueryRow(ctx, "SELECT fence FROM orders WHERE id = $1", id).Scan(&fence)
			return fence > 0
		})
		if err := ch.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if r := <-replyc; r.Status != 201 {
			t.Errorf("in-flight payment during shutdown: %d %s, want 201", r.Status, r.Body)
		}
		select {
		case <-ch.exited:
			if code := ch.cmd.ProcessState.ExitCode(); code != 0 {
				t.Errorf("child exit code %d after SIGTERM\n%s", code, ch.out.String())
			}
		case <-time.After(20 * time.Second):
			t.Errorf("child did not exit within 20s of SIGTERM")
		}
		paidOrders.Store(id, true)
	})

	t.Run("metrics", func(t *testing.T) {
		c := newClient(t)
		body := string(c.must(t, 200, a.url, "GET", "/metrics", nil, nil).Body)
		for _, want := range []string{
			"payments_charges_total", "payments_http_request_duration_seconds_bucket{code=\"201\",route=\"POST /orders/{id}/pay\"",
			"rediskit_cache_hits_total", "rediskit_queue_jobs", "rediskit_lock_acquired_total", "rediskit_session_",
		} {
			if !strings.Contains(body, want) {
				t.Errorf("/metrics lacks %s", want)
			}
		}
		c.must(t, 200, a.url, "GET", "/readyz", nil, nil)
		c.must(t, 200, b.url, "GET", "/healthz", nil, nil)
		// the dashboard at /admin/: read-only without DASHBOARD_USER
		if q := string(c.must(t, 200, a.url, "GET", "/admin/api/queues", nil, nil).Body); !strings.Contains(q, `"queues":[{`) {
			t.Errorf("/admin/api/queues lists no queue: %s", q)
		}
		c.must(t, 403, a.url, "POST", "/admin/api/action/pause", map[string]string{"queue": "x:y"}, nil)
	})

	t.Run("audit", func(t *testing.T) {
		n := 0
		paidOrders.Range(func(k, _ any) bool {
			n++
			var status string
			_ = e.store.DB().QueryRow(ctx, "SELECT status FROM orders WHERE id = $1", k).Scan(&status)
			if status != "paid" {
				t.Errorf("order %v seen paid by its client is %q", k, status)
			}
			return true
		})
		var au struct{ charges, confirmed, receipts int64 }
		redistest.Eventually(t, 60*time.Second, "every charge confirmed and receipted", func() bool {
			a, err := e.store.Audit(ctx)
			if err != nil {
				t.Fatal(err)
			}
			au.charges, au.confirmed, au.receipts = a.Charges, a.Confirmed, a.Receipts
			return a.Confirmed == a.Charges && a.Receipts == a.Charges
		})
		a, err := e.store.Audit(ctx)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("audit: %d client-paid orders, %+v", n, a)
		if a.DoubleCharges != 0 || a.PaidWithoutOneCharge != 0 || a.DuplicateEffects != 0 {
			t.Errorf("invariants broken: %+v", a)
		}
		if a.PaidOrders < int64(n) || a.Charges != a.PaidOrders || a.LedgerRows != a.Charges {
			t.Errorf("counts: %+v, %d orders seen paid", a, n)
		}
		// Each confirmation and receipt job ran its effect exactly once.
		var jobs, once int64
		_ = e.store.DB().QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE effects = 1) FROM job_runs
			WHERE name IN ('confirm-payment', 'send-receipt')`).Scan(&jobs, &once)
		if jobs != 2*a.Charges || once != jobs {
			t.Errorf("jobs: %d recorded, %d with one effect, want %d", jobs, once, 2*a.Charges)
		}
	})
}

// paused runs the paused-instance scenario against child ch and instance b.
func paused(t *testing.T, e *env, ch *child, b *instance, paidOrders *sync.Map, ignoresLoss bool) {
	ctx := context.Background()
	c := newClient(t)
	c.login(t, b.url, 12)
	deadline := time.Now().Add(60 * time.Second)
	id, st := createOrderRetry(t, c, b.url, 3, deadline)
	if st != 201 {
		t.Fatalf("create order: %d", st)
	}
	key := newKey()
	childReply := make(chan reply, 1)
	go func() {
		r, err := c.do(ch.url, "POST", fmt.Sprintf("/orders/%d/pay", id), nil, map[string]string{"Idempotency-Key": key})
		if err != nil {
			r.Status = -1
			r.Body = []byte(err.Error())
		}
		childReply <- r
	}()
	redistest.Eventually(t, 20*time.Second, "child claimed the order", func() bool {
		var fence int64
		_ = e.store.DB().QueryRow(ctx, "SELECT fence FROM orders WHERE id = $1", id).Scan(&fence)
		return fence > 0
	})
	if err := ch.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	r := payRetry(t, c, b.url, id, key, deadline)
	t.Logf("b charged after %v: %d %s", time.Since(start).Round(time.Millisecond), r.Status, r.Body)
	if r.Status != 201 {
		t.Errorf("b's payment: %d %s, want 201 (the frozen child must not block the order)", r.Status, r.Body)
	}
	if err := ch.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	var cr reply
	select {
	case cr = <-childReply:
	case <-time.After(30 * time.Second):
		t.Fatal("the resumed child never answered")
	}
	t.Logf("resumed child answered %d %s", cr.Status, cr.Body)
	if cr.Status != 503 && cr.Status != 200 {
		t.Errorf("resumed child: %d %s, want 503 (fenced or lock lost) or 200 (replay of b's charge)", cr.Status, cr.Body)
	}
	var charges, ledger int64
	_ = e.store.DB().QueryRow(ctx, "SELECT (SELECT count(*) FROM charges WHERE order_id = $1), (SELECT count(*) FROM ledger WHERE order_id = $1)", id).Scan(&charges, &ledger)
	if charges != 1 || ledger != 1 {
		t.Errorf("order %d: %d charges, %d ledger rows, want 1 and 1", id, charges, ledger)
	}
	paidOrders.Store(id, true)
	if ignoresLoss {
		var st struct {
			Fenced int64 `json:"fenced"`
		}
		c.must(t, 200, ch.url, "GET", "/stats", nil, nil).decode(t, &st)
		if cr.Status != 503 || st.Fenced != 1 {
			t.Errorf("the resumed child was not fenced: %d %s, fenced %d", cr.Status, cr.Body, st.Fenced)
		}
	}
}
