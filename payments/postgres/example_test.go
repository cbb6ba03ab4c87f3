package postgres_test

import (
	"context"
	"fmt"
	"os"

	"github.com/rediskit/rediskit/payments/postgres"
)

// Open migrates the schema; Audit checks the no-double-charge invariants.
func ExampleOpen() {
	ctx := context.Background()
	store, err := postgres.Open(ctx, os.Getenv("DATABASE_URL"))
	if err != nil {
		return
	}
	defer store.Close()
	a, err := store.Audit(ctx)
	if err != nil {
		return
	}
	fmt.Println("double charges:", a.DoubleCharges)
}
