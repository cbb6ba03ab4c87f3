package httpapi_test

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"

	"github.com/rediskit/rediskit/internal/pgtest"
	"github.com/rediskit/rediskit/internal/redistest"
	"github.com/rediskit/rediskit/payments"
	"github.com/rediskit/rediskit/payments/httpapi"
	"github.com/rediskit/rediskit/payments/postgres"
	"github.com/rediskit/rediskit/session"
)

// Mounting the API: sessions in Redis, errors of the session store
// answered with 503.
func ExampleNew() {
	ctx := context.Background()
	client := redistest.ExampleClient() // in a service: conn.Client from redisconn.Connect
	defer client.Close()
	dsn, drop := pgtest.ExampleDatabase() // in a service: DATABASE_URL
	defer drop()
	store, err := postgres.Open(ctx, dsn)
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	if err := store.Seed(ctx, 3, 2, "demo-password"); err != nil {
		log.Fatal(err)
	}
	quiet := slog.New(slog.DiscardHandler)
	svc, err := payments.New(store, client, payments.Options{QueueName: "example-api", Logger: quiet})
	if err != nil {
		log.Fatal(err)
	}
	defer svc.Close()

	sessions, err := session.New(client, session.Options{ErrorFunc: httpapi.SessionError})
	if err != nil {
		log.Fatal(err)
	}
	api := httpapi.New(svc, httpapi.Options{Sessions: sessions, Logger: quiet})
	srv := httptest.NewServer(api) // in a service: http.ListenAndServe(":8080", api)
	defer srv.Close()

	for _, path := range []string{"/healthz", "/me", "/products/1"} {
		res, err := http.Get(srv.URL + path)
		if err != nil {
			log.Fatal(err)
		}
		res.Body.Close()
		fmt.Println(path, res.StatusCode) // /me needs a login first (POST /login)
	}
	// Output:
	// /healthz 200
	// /me 401
	// /products/1 200
}
