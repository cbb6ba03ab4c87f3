// Package pgfence makes PostgreSQL the judge of lock.Lease fencing tokens,
// so a holder that lost its lock without noticing (a long GC pause, a
// SIGSTOP, a network partition, a Redis failover) cannot write after the
// next holder did.
//
// Two ways, both inside the transaction of the guarded write:
//
//   - Advance records the token per resource in a table (CreateTable) and
//     fails with ErrStale unless the token is newer than any seen; its row
//     lock serialises competing writers until commit.
//   - Exec runs your own statement that carries the check, e.g.
//     UPDATE payments SET status = $1, fence = $2 WHERE id = $3 AND fence < $2,
//     and turns "no row changed" into ErrStale.
//
// This is the only place in rediskit's lock that imports pgx.
package pgfence

import (
	"context"
	"errors"
	"fmt"
	"regexp"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// ErrStale means the token is not newer than the last one the resource saw; the
// write was not made. Roll the transaction back.
var ErrStale = errors.New("pgfence: stale fencing token")

// DefaultTable is the table CreateTable and Advance use when given "".
const DefaultTable = "rediskit_lock_fences"

// Execer is what runs statements: *pgx.Conn, *pgxpool.Pool and pgx.Tx all
// do.
type Execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

var identRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$`)

func tableName(t string) (string, error) {
	if t == "" {
		return DefaultTable, nil
	}
	if !identRe.MatchString(t) {
		return "", fmt.Errorf("pgfence: invalid table name %q", t)
	}
	return t, nil
}

// CreateTable creates the fence table (resource text primary key, token
// bigint) if it does not exist. table "" means DefaultTable.
func CreateTable(ctx context.Context, db Execer, table string) error {
	t, err := tableName(table)
	if err != nil {
		return err
	}
	_, err = db.Exec(ctx, "CREATE TABLE IF NOT EXISTS "+t+" (resource text PRIMARY KEY, token bigint NOT NULL)")
	if err != nil {
		return fmt.Errorf("pgfence: create table: %w", err)
	}
	return nil
}

// Advance records token for resource if it is newer than the last one
// recorded, and returns ErrStale (changing nothing) otherwise. Run it in
// the transaction of the guarded write, before the write: the row stays
// locked until commit, so a competing holder waits, then sees the newer
// token. table "" means DefaultTable.
func Advance(ctx context.Context, db Execer, table, resource string, token int64) error {
	t, err := tableName(table)
	if err != nil {
		return err
	}
	tag, err := db.Exec(ctx, "INSERT INTO "+t+" AS f (resource, token) VALUES ($1, $2) "+
		"ON CONFLICT (resource) DO UPDATE SET token = EXCLUDED.token WHERE f.token < EXCLUDED.token",
		resource, token)
	if err != nil {
		return fmt.Errorf("pgfence: advance %q: %w", resource, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%w: %q token %d", ErrStale, resource, token)
	}
	return nil
}

// Exec runs a statement that carries its own fence condition (for example
// "... WHERE id = $3 AND fence < $2") and returns ErrStale when it changed
// no row. A statement that matches no row for another reason (a wrong id)
// is reported the same way: include only the fence in what can fail.
func Exec(ctx context.Context, db Execer, sql string, args ...any) error {
	tag, err := db.Exec(ctx, sql, args...)
	if err != nil {
		return fmt.Errorf("pgfence: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return ErrStale
	}
	return nil
}

// ErrOutcomeUnknown means COMMIT was sent but its answer never came back
// (the context ended, say because lock.Do's lease was lost, or the
// connection broke): PostgreSQL may have committed the transaction or
// not, and the client cannot tell. The error wraps the cause. Do not
// retry blindly and do not report a failure: read the guarded rows again
// (waiting for the row locks the transaction took, e.g. SELECT ... FOR
// SHARE) to learn what happened. Commit and BeginFunc return it.
var ErrOutcomeUnknown = errors.New("pgfence: commit outcome unknown")

// Committer is a transaction: pgx.Tx.
type Committer interface {
	Commit(ctx context.Context) error
}

// Commit commits tx and sorts a failure into a known or an unknown
// outcome. It returns nil when the transaction committed; an error
// wrapping ErrOutcomeUnknown (and the cause) when COMMIT may have run on
// the server but its answer was lost; any other error when the
// transaction certainly did not commit: COMMIT was never sent (a context
// that had already ended), the server refused it (a deferred constraint,
// a serialization failure), or it rolled back (a transaction that had
// failed earlier).
func Commit(ctx context.Context, tx Committer) error {
	err := tx.Commit(ctx)
	if err == nil {
		return nil
	}
	var pe *pgconn.PgError
	switch {
	case errors.Is(err, pgx.ErrTxCommitRollback), errors.As(err, &pe), pgconn.SafeToRetry(err):
		return fmt.Errorf("pgfence: commit: %w", err)
	}
	return fmt.Errorf("%w: %w", ErrOutcomeUnknown, err)
}

// Beginner starts transactions: *pgx.Conn, *pgxpool.Pool and pgx.Tx (a
// savepoint) all do.
type Beginner interface {
	Begin(ctx context.Context) (pgx.Tx, error)
}

// BeginFunc runs fn in a transaction of db and commits it with Commit, so
// a lost COMMIT answer is reported as ErrOutcomeUnknown; it rolls back
// when fn fails (returning fn's error) or panics.
func BeginFunc(ctx context.Context, db Beginner, fn func(pgx.Tx) error) (err error) {
	tx, err := db.Begin(ctx)
	if err != nil {
		return fmt.Errorf("pgfence: begin: %w", err)
	}
	defer func() {
		// Rollback after Commit is a no-op; with an ended ctx pgx closes
		// the connection, which rolls back on the server.
		if p := recover(); p != nil {
			_ = tx.Rollback(ctx)
			panic(p)
		}
		if err != nil {
			_ = tx.Rollback(ctx)
		}
	}()
	if err := fn(tx); err != nil {
		return err
	}
	return Commit(ctx, tx)
}
