package pgfence_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/rediskit/rediskit/lock"
	"github.com/rediskit/rediskit/lock/pgfence"
)

// The payments case: charge only with a token newer than the last one the
// payment row saw, in the same statement as the write.
func ExampleExec() {
	var (
		ctx    context.Context
		locker *lock.Locker
		db     *pgx.Conn
	)
	_ = locker.Do(ctx, "payment:42", 30e9, func(ctx context.Context, le *lock.Lease) error {
		err := pgfence.Exec(ctx, db,
			"UPDATE payments SET status = 'charged', fence = $1 WHERE id = $2 AND fence < $1",
			le.Token(), 42)
		if errors.Is(err, pgfence.ErrStale) {
			return fmt.Errorf("a newer holder already wrote: %w", err)
		}
		return err
	})
}

// A fence table for resources without a column of their own: Advance in
// the transaction of the write.
func ExampleAdvance() {
	var (
		ctx   context.Context
		db    *pgx.Conn
		lease *lock.Lease
	)
	tx, err := db.Begin(ctx)
	if err != nil {
		return
	}
	defer tx.Rollback(ctx)
	if err := pgfence.Advance(ctx, tx, "", "ledger:7", lease.Token()); err != nil {
		return // ErrStale: a newer holder has written
	}
	// ... the guarded writes ...
	_ = tx.Commit(ctx)
}
