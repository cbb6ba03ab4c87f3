package pgfence_test

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/rediskit/rediskit/lock"
	"github.com/rediskit/rediskit/lock/pgfence"
)

// A fenced write whose COMMIT may lose its answer when the lock is lost
// during the commit: BeginFunc says so with ErrOutcomeUnknown, and the
// caller reads the row again (FOR SHARE waits for the transaction still
// running on the server) instead of reporting a failure.
func ExampleBeginFunc() {
	var (
		ctx    context.Context
		locker *lock.Locker
		db     *pgxpool.Pool
	)
	err := locker.Do(ctx, "order:42", 30e9, func(ctx context.Context, le *lock.Lease) error {
		return pgfence.BeginFunc(ctx, db, func(tx pgx.Tx) error {
			return pgfence.Exec(ctx, tx,
				"UPDATE orders SET status = 'paid', fence = $1 WHERE id = $2 AND fence < $1", le.Token(), 42)
		})
	})
	if errors.Is(err, pgfence.ErrOutcomeUnknown) {
		var status string
		_ = db.QueryRow(context.WithoutCancel(ctx), "SELECT status FROM orders WHERE id = $1 FOR SHARE", 42).Scan(&status)
		// status tells whether the commit landed.
	}
}
