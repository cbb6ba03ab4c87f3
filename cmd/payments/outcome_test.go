package main

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/rediskit/rediskit/internal/pgtest"
	"github.com/rediskit/rediskit/internal/redistest"
	"github.com/rediskit/rediskit/lock"
	"github.com/rediskit/rediskit/payments"
	"github.com/rediskit/rediskit/payments/postgres"
)

// A charge's COMMIT waits for advisory lock 4242 (a deferred trigger on
// charges takes it). The plain gate lets pgx's cancel request (sent when
// fn's ctx is cancelled) abort the wait: the commit rolls back. The
// stubborn gate swallows the cancel and waits on, as a COMMIT past the
// point of no return does: the commit lands although its answer is lost.
// It swallows only a cancel that arrives while it waits, so it marks the
// swallowing by taking advisory lock 4243: pgx sends the cancel request
// asynchronously (after fn already got its error), and a gate opened
// before it arrived would let it abort the COMMIT after all. One cancel
// request can interrupt twice (the postmaster signals the backend's pid,
// then its process group), the second time in the first handler: a
// second block swallows that one.
const (
	plainGate = `CREATE OR REPLACE FUNCTION test_gate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN PERFORM pg_advisory_xact_lock(4242); RETURN NULL; END $$`
	stubbornGate = `CREATE OR REPLACE FUNCTION test_gate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  BEGIN
    BEGIN PERFORM pg_advisory_xact_lock(4242);
    EXCEPTION WHEN query_canceled THEN
      PERFORM pg_advisory_xact_lock(4243);
      PERFORM pg_advisory_xact_lock(4242);
    END;
  EXCEPTION WHEN query_canceled THEN
    PERFORM pg_advisory_xact_lock(4243);
    PERFORM pg_advisory_xact_lock(4242);
  END;
  RETURN NULL;
END $$`
)

// TestCommitOutcomeResolved: the order's lock is lost while the charge's
// COMMIT runs in PostgreSQL, so fn's ctx is cancelled and the commit's
// answer is lost. Pay must report what happened, read from the database:
// the charge when it landed, ErrNotCharged when it did not; never a bare
// failure for a charge that landed.
func TestCommitOutcomeResolved(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dsn := pgtest.NewDatabase(t)
	st, err := postgres.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	if err := st.Seed(ctx, 2, 1, "pw"); err != nil {
		t.Fatal(err)
	}
	judge, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = judge.Close(context.Background()) })
	if _, err := judge.Exec(ctx, plainGate+`;
CREATE CONSTRAINT TRIGGER test_gate AFTER INSERT ON charges DEFERRABLE INITIALLY DEFERRED
FOR EACH ROW EXECUTE FUNCTION test_gate()`); err != nil {
		t.Fatal(err)
	}
	rdb := redistest.SingleTarget(t).Client(t)
	prefix := redistest.Unique(t)
	svc, err := payments.New(st, rdb, payments.Options{
		Instance: "outcome", LockTTL: 400 * time.Millisecond, ProviderDelay: -1,
		QueueName: prefix, QueuePrefix: "{" + prefix + "}", Logger: discardLogger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Close() })
	acct, err := st.Authenticate(ctx, "user1@example.com", "pw")
	if err != nil {
		t.Fatal(err)
	}
	waiting := func(query string) bool {
		var n int
		err := judge.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE wait_event_type = 'Lock' AND query ILIKE $1`, query).Scan(&n)
		return err == nil && n > 0
	}
	// swallowed: the stubborn gate caught the cancel request and waits on.
	swallowed := func() bool {
		var n int
		err := judge.QueryRow(ctx, `SELECT count(*) FROM pg_locks
			WHERE locktype = 'advisory' AND classid = 0 AND objid = 4243 AND granted`).Scan(&n)
		return err == nil && n > 0
	}
	// pay pays a new order while its lock is lost during the COMMIT.
	// landed chooses the gate: stubborn (the commit lands) or plain.
	pay := func(t *testing.T, landed bool) (payments.Order, payments.PayResult, error) {
		t.Helper()
		gate := plainGate
		if landed {
			gate = stubbornGate
		}
		if _, err := judge.Exec(ctx, gate); err != nil {
			t.Fatal(err)
		}
		if _, err := judge.Exec(ctx, "SELECT pg_advisory_lock(4242)"); err != nil {
			t.Fatal(err)
		}
		locked := true
		unlock := func() {
			if locked {
				locked = false
				if _, err := judge.Exec(ctx, "SELECT pg_advisory_unlock(4242)"); err != nil {
					t.Error(err)
				}
			}
		}
		defer unlock()
		o, err := st.CreateOrder(ctx, acct.ID, 1, 1)
		if err != nil {
			t.Fatal(err)
		}
		type result struct {
			res payments.PayResult
			err error
		}
		done := make(chan result, 1)
		go func() {
			r, err := svc.Pay(ctx, acct.ID, o.ID, "key-"+strconv.FormatInt(o.ID, 10))
			done <- result{r, err}
		}()
		redistest.Eventually(t, 10*time.Second, "the charge's COMMIT waiting on the gate", func() bool { return waiting("commit") })
		// The lock is lost (deleted behind the holder's back): the next
		// extend notices, and fn's ctx is cancelled during the COMMIT.
		if err := rdb.Del(ctx, "payments:lock:{order:"+strconv.FormatInt(o.ID, 10)+"}").Err(); err != nil {
			t.Fatal(err)
		}
		if landed {
			// Pay is reading the outcome, waiting for the transaction in
			// flight to end, and pgx's cancel request reached the COMMIT
			// and was swallowed: the COMMIT may go on now.
			redistest.Eventually(t, 10*time.Second, "Pay resolving, the cancel swallowed", func() bool {
				return len(done) > 0 || waiting("%FOR SHARE%") && swallowed()
			})
		} else {
			// pgx's cancel request reached the COMMIT: it rolled back.
			redistest.Eventually(t, 10*time.Second, "the COMMIT cancelled", func() bool {
				return len(done) > 0 || !waiting("commit")
			})
		}
		unlock()
		r := <-done
		return o, r.res, r.err
	}

	t.Run("Landed", func(t *testing.T) {
		before := svc.Stats()
		o, res, err := pay(t, true)
		if err != nil {
			t.Fatalf("Pay = %v; the charge committed, want it returned", err)
		}
		c, err := st.ChargeForOrder(ctx, o.ID)
		if err != nil {
			t.Fatalf("no charge in the database: %v", err)
		}
		if res.Charge.ID != c.ID || res.Replayed {
			t.Errorf("Pay returned charge %q (replayed %v), the database has %q", res.Charge.ID, res.Replayed, c.ID)
		}
		after := svc.Stats()
		if d := after.OutcomeUnknown - before.OutcomeUnknown; d != 1 {
			t.Errorf("OutcomeUnknown grew by %d, want 1", d)
		}
		if d := after.Charges - before.Charges; d != 1 {
			t.Errorf("Charges grew by %d, want 1", d)
		}
	})

	t.Run("RolledBack", func(t *testing.T) {
		o, _, err := pay(t, false)
		if !errors.Is(err, payments.ErrNotCharged) || !errors.Is(err, lock.ErrLost) || errors.Is(err, payments.ErrOutcomeUnknown) {
			t.Fatalf("Pay = %v, want ErrNotCharged and lock.ErrLost (resolved, not unknown)", err)
		}
		if _, err := st.ChargeForOrder(ctx, o.ID); !errors.Is(err, payments.ErrNotFound) {
			t.Fatalf("charge of order %d: %v, want none", o.ID, err)
		}
	})
}
