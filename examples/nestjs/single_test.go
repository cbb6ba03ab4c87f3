package nestjs

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/rediskit/rediskit/internal/pgtest"
	"github.com/rediskit/rediskit/internal/redisproc"
	"github.com/rediskit/rediskit/internal/redistest"
	"github.com/rediskit/rediskit/payments/postgres"
)

// TestNestJSSingleNode runs the app on one Redis node (REDIS_URL): login
// (connect-redis), a cached product (Keyv), an order paid once under the
// lock (redlock) with its jobs run by the app's processor (BullMQ).
func TestNestJSSingleNode(t *testing.T) {
	dir := buildApp(t)
	ctx := context.Background()
	srv, err := redisproc.StartServer(ctx, redisproc.ServerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// A cleanup registered before startNest's: it runs after the app stopped.
	t.Cleanup(func() { _ = srv.Close() })
	dsn := pgtest.NewDatabase(t)
	st, err := postgres.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Seed(ctx, 5, 1, "demo"); err != nil {
		t.Fatal(err)
	}
	nest := startNest(t, dir, "nest-single", map[string]string{
		"REDIS_URL": "redis://" + srv.Addr(), "DATABASE_URL": dsn, "PORT": "0", "HOST": "127.0.0.1",
		"SESSION_SECRET": "single-secret", "INSTANCE": "nest-single",
	})
	c := newClient(t, nest.base)
	c.must(http.StatusOK, "POST", "/login", map[string]string{"email": "user1@example.com", "password": "demo"}, nil)
	c.must(http.StatusOK, "GET", "/me", nil, nil)
	for _, want := range []string{"miss", "hit"} {
		if r := c.must(http.StatusOK, "GET", "/products/2", nil, nil); r.header.Get("X-Cache") != want {
			t.Fatalf("X-Cache %q, want %q", r.header.Get("X-Cache"), want)
		}
	}
	o := c.order(2)
	var first, again payReply
	c.must(http.StatusCreated, "POST", fmt.Sprintf("/orders/%d/pay", o.ID), nil, map[string]string{"Idempotency-Key": "s1"}).decode(t, &first)
	c.must(http.StatusOK, "POST", fmt.Sprintf("/orders/%d/pay", o.ID), nil, map[string]string{"Idempotency-Key": "s1"}).decode(t, &again)
	if again.Charge.ID != first.Charge.ID {
		t.Fatalf("replay %+v, first %+v", again, first)
	}
	rc := srv.Client()
	defer rc.Close()
	for _, k := range []string{"sess:" + sessionID(t, c), "products::products:product:2", "payments:lock:{order:" + fmt.Sprint(o.ID) + "}:fence"} {
		if n, err := rc.Exists(ctx, k).Result(); err != nil || n != 1 {
			t.Errorf("key %s on the single node: exists %d, %v", k, n, err)
		}
	}
	redistest.Eventually(t, 30*time.Second, "the app's processor confirms the charge", func() bool {
		ch, err := st.ChargeForOrder(ctx, o.ID)
		return err == nil && ch.ConfirmedAt != nil && ch.Instance == "nest-single"
	})
	nest.checkLog(t)
}
