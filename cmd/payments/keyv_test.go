package main

import (
	"context"
	"testing"
	"time"

	"github.com/rediskit/rediskit/internal/redistest"
)

// TestMixedModeInstances runs two instances as the mixed demo does
// (sessions in connect-redis format, products in Keyv entries): a login
// on one is a login on the other, products live in the Nest app's Keyv
// entries, and a raw SQL write reaches them through the outbox relay.
func TestMixedModeInstances(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a private cluster")
	}
	e := newEnv(t)
	e.vars["PAYMENTS_SESSION_FORMAT"], e.vars["SESSION_SECRET"], e.vars["PAYMENTS_PRODUCT_CACHE"] = "connect-redis", "mixed-secret", "keyv"
	a, b := e.start("go-a"), e.start("go-b")
	ctx := context.Background()
	c := newClient(t)
	c.login(t, a.url, 3)
	var me struct{ Email string }
	c.must(t, 200, b.url, "GET", "/me", nil, nil).decode(t, &me)
	if me.Email != "user3@example.com" {
		t.Fatalf("b /me after a login on a: %+v", me)
	}
	var p struct {
		PriceCents int64 `json:"price_cents"`
	}
	for _, base := range []string{a.url, b.url} {
		c.must(t, 200, base, "GET", "/products/7", nil, nil)
	}
	rc := e.cluster.Client()
	if n, err := rc.Exists(ctx, "products::products:product:7").Result(); err != nil || n != 1 {
		t.Fatalf("Keyv entry of product 7: exists %d, %v", n, err)
	}
	if _, err := e.store.DB().Exec(ctx, "UPDATE products SET price_cents = 778 WHERE id = 7"); err != nil {
		t.Fatal(err)
	}
	for _, base := range []string{a.url, b.url} {
		redistest.Eventually(t, 10*time.Second, "raw SQL write relayed to the Keyv entry", func() bool {
			c.must(t, 200, base, "GET", "/products/7", nil, nil).decode(t, &p)
			return p.PriceCents == 778
		})
	}
	c.must(t, 501, a.url, "POST", "/logout-all", nil, nil)
	c.must(t, 204, b.url, "POST", "/logout", nil, nil)
	c.must(t, 401, a.url, "GET", "/me", nil, nil)
}
