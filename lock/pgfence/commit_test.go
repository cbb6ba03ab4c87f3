package pgfence_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/rediskit/rediskit/internal/pgtest"
	"github.com/rediskit/rediskit/internal/redistest"
	"github.com/rediskit/rediskit/lock/pgfence"
)

func dial(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}

// The commit of a row of table t blocks on advisory lock 4242 (a deferred
// constraint trigger takes it), so a test can hold a COMMIT in flight.
// The trigger swallows the cancel request pgx sends when the context
// ends and waits on, as a COMMIT past its point of no return does.
const gateSQL = `
CREATE TABLE t (id int PRIMARY KEY);
CREATE FUNCTION gate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  BEGIN PERFORM pg_advisory_xact_lock(4242);
  EXCEPTION WHEN query_canceled THEN PERFORM pg_advisory_xact_lock(4242);
  END;
  RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER gate AFTER INSERT ON t DEFERRABLE INITIALLY DEFERRED
FOR EACH ROW EXECUTE FUNCTION gate();`

func TestCommitOutcome(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.NewDatabase(t)
	judge := dial(t, dsn) // holds the gate and inspects
	if _, err := judge.Exec(ctx, gateSQL); err != nil {
		t.Fatal(err)
	}
	rows := func(id int) int {
		var n int
		if err := judge.QueryRow(ctx, "SELECT count(*) FROM t WHERE id = $1", id).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	// The context ends while COMMIT runs on the server: the answer is
	// lost, the server commits anyway.
	t.Run("AnswerLost", func(t *testing.T) {
		db := dial(t, dsn)
		var pid int
		if err := db.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&pid); err != nil {
			t.Fatal(err)
		}
		if _, err := judge.Exec(ctx, "SELECT pg_advisory_lock(4242)"); err != nil {
			t.Fatal(err)
		}
		tx, err := db.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(ctx, "INSERT INTO t VALUES (1)"); err != nil {
			t.Fatal(err)
		}
		cctx, cancel := context.WithCancel(ctx)
		defer cancel()
		errc := make(chan error, 1)
		go func() { errc <- pgfence.Commit(cctx, tx) }()
		redistest.Eventually(t, 10*time.Second, "COMMIT waiting on the gate", func() bool {
			var waiting bool
			err := judge.QueryRow(ctx, "SELECT coalesce(wait_event_type = 'Lock', false) FROM pg_stat_activity WHERE pid = $1", pid).Scan(&waiting)
			return err == nil && waiting
		})
		cancel()
		err = <-errc
		if !errors.Is(err, pgfence.ErrOutcomeUnknown) || !errors.Is(err, context.Canceled) {
			t.Fatalf("Commit = %v, want ErrOutcomeUnknown wrapping context.Canceled", err)
		}
		if _, err := judge.Exec(ctx, "SELECT pg_advisory_unlock(4242)"); err != nil {
			t.Fatal(err)
		}
		// Why "unknown" and not "failed": the transaction did commit.
		redistest.Eventually(t, 10*time.Second, "the row committed after the answer was lost", func() bool { return rows(1) == 1 })
	})

	// A context that ended before COMMIT: nothing was sent, nothing
	// committed, the outcome is known.
	t.Run("NotSent", func(t *testing.T) {
		db := dial(t, dsn)
		tx, err := db.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(ctx, "INSERT INTO t VALUES (2)"); err != nil {
			t.Fatal(err)
		}
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		err = pgfence.Commit(cctx, tx)
		if err == nil || errors.Is(err, pgfence.ErrOutcomeUnknown) {
			t.Fatalf("Commit = %v, want a known failure", err)
		}
		if rows(2) != 0 {
			t.Fatal("row 2 committed")
		}
	})

	// A transaction that failed earlier rolls back at COMMIT: known.
	t.Run("RolledBack", func(t *testing.T) {
		db := dial(t, dsn)
		err := pgfence.BeginFunc(ctx, db, func(tx pgx.Tx) error {
			_, _ = tx.Exec(ctx, "INSERT INTO t VALUES (3)")
			_, _ = tx.Exec(ctx, "SELECT 1/0")
			return nil
		})
		if !errors.Is(err, pgx.ErrTxCommitRollback) || errors.Is(err, pgfence.ErrOutcomeUnknown) {
			t.Fatalf("BeginFunc = %v, want ErrTxCommitRollback, not unknown", err)
		}
		if rows(3) != 0 {
			t.Fatal("row 3 committed")
		}
	})

	// BeginFunc commits, and rolls back when fn fails.
	t.Run("BeginFunc", func(t *testing.T) {
		db := dial(t, dsn)
		if err := pgfence.BeginFunc(ctx, db, func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, "INSERT INTO t VALUES (4)")
			return err
		}); err != nil {
			t.Fatal(err)
		}
		boom := errors.New("boom")
		if err := pgfence.BeginFunc(ctx, db, func(tx pgx.Tx) error {
			_, _ = tx.Exec(ctx, "INSERT INTO t VALUES (5)")
			return boom
		}); !errors.Is(err, boom) {
			t.Fatalf("BeginFunc = %v, want boom", err)
		}
		if rows(4) != 1 || rows(5) != 0 {
			t.Fatalf("rows 4, 5 = %d, %d; want 1, 0", rows(4), rows(5))
		}
	})
}
