package pgfence_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/rediskit/rediskit/internal/pgtest"
	"github.com/rediskit/rediskit/internal/redistest"
	"github.com/rediskit/rediskit/lock"
	"github.com/rediskit/rediskit/lock/pgfence"
)

// exampleDB opens a fresh database with a payments table (for the
// examples; a service has its own schema).
func exampleDB(ctx context.Context) (db *pgx.Conn, done func()) {
	dsn, drop := pgtest.ExampleDatabase() // in a service: DATABASE_URL
	db, err := pgx.Connect(ctx, dsn)
	if err != nil {
		log.Fatal(err)
	}
	if _, err := db.Exec(ctx, `CREATE TABLE payments (id int PRIMARY KEY, status text NOT NULL, fence bigint NOT NULL DEFAULT 0);
		INSERT INTO payments (id, status) VALUES (42, 'pending')`); err != nil {
		log.Fatal(err)
	}
	return db, func() { _ = db.Close(ctx); drop() }
}

// The payments case: charge only with a token newer than the last one the
// payment row saw, in the same statement as the write.
func ExampleExec() {
	ctx := context.Background()
	db, done := exampleDB(ctx)
	defer done()
	client := redistest.ExampleClient() // in a service: conn.Client from redisconn.Connect
	defer client.Close()
	locker := lock.New(client, lock.Options{})
	defer locker.Close()

	const charge = "UPDATE payments SET status = 'charged', fence = $1 WHERE id = $2 AND fence < $1"
	var token int64
	err := locker.Do(ctx, "payment:42", 30*time.Second, func(ctx context.Context, le *lock.Lease) error {
		token = le.Token()
		err := pgfence.Exec(ctx, db, charge, le.Token(), 42)
		if errors.Is(err, pgfence.ErrStale) {
			return fmt.Errorf("a newer holder already wrote: %w", err)
		}
		return err
	})
	fmt.Println("charged:", err)
	// A paused holder that wakes up with an older token is refused.
	err = pgfence.Exec(ctx, db, charge, token-1, 42)
	fmt.Println("stale holder refused:", errors.Is(err, pgfence.ErrStale))
	// Output:
	// charged: <nil>
	// stale holder refused: true
}

// A fence table for resources without a column of their own: Advance in
// the transaction of the write.
func ExampleAdvance() {
	ctx := context.Background()
	db, done := exampleDB(ctx)
	defer done()
	if err := pgfence.CreateTable(ctx, db, ""); err != nil { // once, at migration time
		log.Fatal(err)
	}
	write := func(token int64) error {
		tx, err := db.Begin(ctx)
		if err != nil {
			return err
		}
		defer tx.Rollback(ctx)
		if err := pgfence.Advance(ctx, tx, "", "ledger:7", token); err != nil {
			return err // ErrStale: a newer holder has written
		}
		// ... the guarded writes ...
		return tx.Commit(ctx)
	}
	fmt.Println(write(5))                              // a lease's le.Token()
	fmt.Println(errors.Is(write(4), pgfence.ErrStale)) // an older holder
	fmt.Println(write(6))                              // the next holder
	// Output:
	// <nil>
	// true
	// <nil>
}
