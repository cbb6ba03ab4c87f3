package payments_test

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/rediskit/rediskit/payments"
	"github.com/rediskit/rediskit/payments/postgres"
	"github.com/rediskit/rediskit/redisconn"
)

// The service over PostgreSQL and a Redis deployment from the environment;
// a double click (the same idempotency key twice) charges once.
func ExampleService_Pay() {
	ctx := context.Background()
	cfg, _ := redisconn.FromEnv()
	conn, err := redisconn.Connect(ctx, cfg)
	if err != nil {
		return
	}
	defer conn.Close()
	store, err := postgres.Open(ctx, os.Getenv("DATABASE_URL"))
	if err != nil {
		return
	}
	defer store.Close()
	svc, err := payments.New(store, conn.Client, payments.Options{})
	if err != nil {
		return
	}
	defer svc.Close()
	go func() { _ = svc.Run(ctx) }() // confirmations and receipts

	first, _ := svc.Pay(ctx, 1, 42, "key-1")
	again, _ := svc.Pay(ctx, 1, 42, "key-1")
	fmt.Println(first.Charge.ID == again.Charge.ID, again.Replayed)
	_, err = svc.Pay(ctx, 1, 42, "key-2")
	fmt.Println(errors.Is(err, payments.ErrAlreadyPaid))
}
