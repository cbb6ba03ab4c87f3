package nestjs

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/rediskit/rediskit/cache"
	"github.com/rediskit/rediskit/payments"
	"github.com/rediskit/rediskit/payments/httpapi"
	"github.com/rediskit/rediskit/payments/postgres"
	"github.com/rediskit/rediskit/session"
)

// checkCrossLogin serves the Go HTTP API over svc with sessions in
// connect-redis format (the Nest app's secrets) and moves c, a browser
// logged out on Nest, between the two sides: a login on either side is a
// login on the other, a logout on either ends both.
func checkCrossLogin(t *testing.T, c *client, rc redis.UniversalClient, svc *payments.Service, secrets []string, want int64) {
	t.Helper()
	m, err := session.New(rc, session.Options{
		Format: session.FormatConnectRedis, Secrets: secrets, Cookie: session.CookieOptions{Insecure: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	goSrv := httptest.NewServer(httpapi.New(svc, httpapi.Options{Sessions: m, UserKey: "userId"}))
	defer goSrv.Close()
	nestBase := c.base
	defer func() { c.base = nestBase }()
	on := func(base string) *client { c.base = base; return c }
	me := func(base string) {
		t.Helper()
		var a payments.Account
		on(base).must(http.StatusOK, "GET", "/me", nil, nil).decode(t, &a)
		if a.ID != want {
			t.Fatalf("%s /me: account %d, want %d", base, a.ID, want)
		}
	}
	login := map[string]string{"email": "user1@example.com", "password": "demo"}

	// Login on Nest: Go sees the user and takes an order; logout on Go
	// ends the session for Nest too.
	on(nestBase).must(http.StatusOK, "POST", "/login", login, nil)
	me(goSrv.URL)
	var o order
	on(goSrv.URL).must(http.StatusCreated, "POST", "/orders", map[string]any{"product_id": 2, "quantity": 1}, nil).decode(t, &o)
	on(nestBase).must(http.StatusOK, "GET", "/orders/"+strconv.FormatInt(o.ID, 10), nil, nil)
	on(goSrv.URL).must(http.StatusNoContent, "POST", "/logout", nil, nil)
	on(nestBase).must(http.StatusUnauthorized, "GET", "/me", nil, nil)
	on(goSrv.URL).must(http.StatusUnauthorized, "GET", "/me", nil, nil)

	// The reverse: login on Go, Nest sees it; logout on Nest ends it for Go.
	on(goSrv.URL).must(http.StatusOK, "POST", "/login", login, nil)
	me(nestBase)
	on(nestBase).must(http.StatusNoContent, "POST", "/logout", nil, nil)
	on(goSrv.URL).must(http.StatusUnauthorized, "GET", "/me", nil, nil)
	// No per-user index in connect-redis: Go says so instead of pretending.
	on(goSrv.URL).must(http.StatusOK, "POST", "/login", login, nil)
	on(goSrv.URL).must(http.StatusNotImplemented, "POST", "/logout-all", nil, nil)
	on(goSrv.URL).must(http.StatusNoContent, "POST", "/logout", nil, nil)
}

// checkCrossCache runs a Go product cache in Keyv format beside Nest's
// @nestjs/cache-manager: Go reads the entry Nest cached without loading,
// and Nest's next read after a Go price change serves the new price from
// its cache.
func checkCrossCache(t *testing.T, c *client, rc redis.UniversalClient, st *postgres.Store) {
	t.Helper()
	ctx := context.Background()
	svc, err := payments.New(st, rc, payments.Options{Instance: "go-keyv", ProductCacheFormat: cache.FormatKeyv})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	const id = 6
	path := "/products/" + strconv.Itoa(id)
	var p payments.Product
	c.must(http.StatusOK, "GET", path, nil, nil) // Nest caches it
	if r := c.must(http.StatusOK, "GET", path, nil, nil); r.header.Get("X-Cache") != "hit" {
		t.Fatalf("Nest did not cache product %d: X-Cache %q", id, r.header.Get("X-Cache"))
	}
	got, err := svc.Product(ctx, id)
	if s := svc.ProductCache().Stats(); err != nil || s.Loads != 0 || s.RedisHits != 1 {
		t.Fatalf("Go read of Nest's entry: %+v, %v; stats %+v (want a Redis hit, no load)", got, err, s)
	}
	got.PriceCents++
	if _, err := svc.UpdateProduct(ctx, got); err != nil {
		t.Fatal(err)
	}
	r := c.must(http.StatusOK, "GET", path, nil, nil)
	r.decode(t, &p)
	if p.PriceCents != got.PriceCents {
		t.Fatalf("Nest after a Go price change: %d cents (X-Cache %s), want %d", p.PriceCents, r.header.Get("X-Cache"), got.PriceCents)
	}
	t.Logf("Go price change seen by Nest at once: %d cents, X-Cache %s", p.PriceCents, r.header.Get("X-Cache"))
}
