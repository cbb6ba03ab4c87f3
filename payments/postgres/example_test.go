package postgres_test

import (
	"context"
	"fmt"
	"log"

	"github.com/rediskit/rediskit/internal/pgtest"
	"github.com/rediskit/rediskit/payments/postgres"
)

// Open migrates the schema; Audit checks the no-double-charge invariants.
func ExampleOpen() {
	ctx := context.Background()
	dsn, drop := pgtest.ExampleDatabase() // in a service: DATABASE_URL
	defer drop()
	store, err := postgres.Open(ctx, dsn)
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	if err := store.Seed(ctx, 3, 2, "demo-password"); err != nil { // demo data
		log.Fatal(err)
	}
	p, err := store.Product(ctx, 1)
	fmt.Println(p.ID, err)
	a, err := store.Audit(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("orders:", a.Orders, "double charges:", a.DoubleCharges)
	// Output:
	// 1 <nil>
	// orders: 0 double charges: 0
}
