package payments_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"

	"github.com/rediskit/rediskit/internal/pgtest"
	"github.com/rediskit/rediskit/internal/redistest"
	"github.com/rediskit/rediskit/payments"
	"github.com/rediskit/rediskit/payments/postgres"
)

// The service over PostgreSQL and a Redis deployment; a double click (the
// same idempotency key twice) charges once.
func ExampleService_Pay() {
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
	svc, err := payments.New(store, client, payments.Options{
		QueueName: "example-payments",
		Logger:    slog.New(slog.DiscardHandler),
	})
	if err != nil {
		log.Fatal(err)
	}
	defer svc.Close()
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- svc.Run(runCtx) }() // confirmations and receipts
	defer func() { stop(); <-done }()

	order, err := svc.CreateOrder(ctx, 1, 1, 2)
	if err != nil {
		log.Fatal(err)
	}
	first, err1 := svc.Pay(ctx, 1, order.ID, "key-1")
	again, err2 := svc.Pay(ctx, 1, order.ID, "key-1")
	fmt.Println(err1, err2, first.Charge.ID == again.Charge.ID, again.Replayed)
	_, err = svc.Pay(ctx, 1, order.ID, "key-2")
	fmt.Println(errors.Is(err, payments.ErrAlreadyPaid))
	// Output:
	// <nil> <nil> true true
	// true
}
