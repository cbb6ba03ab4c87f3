package postgres_test

import (
	"context"
	"errors"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/rediskit/rediskit/internal/pgtest"
	"github.com/rediskit/rediskit/payments"
	"github.com/rediskit/rediskit/payments/postgres"
)

func TestMain(m *testing.M) {
	code := m.Run()
	pgtest.Shutdown()
	os.Exit(code)
}

func open(t *testing.T) *postgres.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := postgres.Open(ctx, pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	if err := st.Seed(ctx, 3, 2, "pw"); err != nil {
		t.Fatal(err)
	}
	return st
}

// TestFence is the paused-holder story without Redis: a holder that
// claimed the order with token 5 is overtaken by token 6; its commit is
// refused by the fence itself (before the unique constraint is reached),
// and no money moves.
func TestFence(t *testing.T) {
	st := open(t)
	ctx := context.Background()
	acct, err := st.Authenticate(ctx, "user1@example.com", "pw")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Authenticate(ctx, "user1@example.com", "nope"); !errors.Is(err, payments.ErrBadCredentials) {
		t.Fatalf("wrong password: %v", err)
	}
	o, err := st.CreateOrder(ctx, acct.ID, 2, 3)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.ClaimFence(ctx, o.ID, 5); err != nil {
		t.Fatal(err)
	}
	if err := st.ClaimFence(ctx, o.ID, 5); !errors.Is(err, payments.ErrFenced) {
		t.Fatalf("same token again: %v, want ErrFenced", err)
	}
	if err := st.ClaimFence(ctx, o.ID, 6); err != nil {
		t.Fatal(err)
	}
	if err := st.ClaimFence(ctx, o.ID, 4); !errors.Is(err, payments.ErrFenced) {
		t.Fatalf("older token: %v, want ErrFenced", err)
	}
	nc := payments.NewCharge{OrderID: o.ID, AccountID: acct.ID, AmountCents: o.AmountCents, Fence: 5, IdempotencyKey: "k1", Instance: "paused"}
	if _, err := st.CommitCharge(ctx, nc); !errors.Is(err, payments.ErrFenced) {
		t.Fatalf("stale commit: %v, want ErrFenced", err)
	}
	nc.Fence, nc.IdempotencyKey, nc.Instance = 6, "k2", "current"
	c, err := st.CommitCharge(ctx, nc)
	if err != nil {
		t.Fatal(err)
	}
	// A holder with an even newer token finds the order paid.
	if err := st.ClaimFence(ctx, o.ID, 7); err != nil {
		t.Fatal(err)
	}
	nc.Fence, nc.IdempotencyKey = 7, "k3"
	var pe *payments.PaidError
	if _, err := st.CommitCharge(ctx, nc); !errors.As(err, &pe) || pe.Charge.ID != c.ID {
		t.Fatalf("commit on a paid order: %v, want PaidError(%s)", err, c.ID)
	}
	got, err := st.IdempotentCharge(ctx, acct.ID, "k2")
	if err != nil || got.ID != c.ID || got.Fence != 6 {
		t.Fatalf("IdempotentCharge = %+v, %v", got, err)
	}
	if _, err := st.IdempotentCharge(ctx, acct.ID, "k1"); !errors.Is(err, payments.ErrNotFound) {
		t.Fatalf("refused key recorded: %v", err)
	}
	a, err := st.Audit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if a.Charges != 1 || a.LedgerRows != 1 || a.DoubleCharges != 0 || a.PaidWithoutOneCharge != 0 {
		t.Fatalf("audit = %+v", a)
	}
}

// TestConcurrentCommits: many holders with increasing tokens racing to
// commit: exactly one charge.
func TestConcurrentCommits(t *testing.T) {
	st := open(t)
	ctx := context.Background()
	acct, _ := st.Authenticate(ctx, "user2@example.com", "pw")
	o, err := st.CreateOrder(ctx, acct.ID, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	for tok := int64(1); tok <= 20; tok++ {
		wg.Go(func() {
			if err := st.ClaimFence(ctx, o.ID, tok); err != nil {
				return
			}
			_, err := st.CommitCharge(ctx, payments.NewCharge{OrderID: o.ID, AccountID: acct.ID, AmountCents: o.AmountCents, Fence: tok, IdempotencyKey: "k", Instance: "x"})
			if err == nil {
				mu.Lock()
				ok++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	a, _ := st.Audit(ctx)
	if ok != 1 || a.Charges != 1 || a.LedgerRows != 1 {
		t.Fatalf("%d commits succeeded, audit %+v; want exactly 1", ok, a)
	}
}

// TestMigrateTwice: applying the migrations again is a no-op.
func TestMigrateTwice(t *testing.T) {
	st := open(t)
	if err := postgres.Migrate(context.Background(), st.DB()); err != nil {
		t.Fatal(err)
	}
}
