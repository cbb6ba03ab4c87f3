package pgfence_test

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/rediskit/rediskit/internal/pgtest"
	"github.com/rediskit/rediskit/internal/redistest"
	"github.com/rediskit/rediskit/lock/pgfence"
)

func TestMain(m *testing.M) {
	code := m.Run()
	redistest.Shutdown() // the examples' Redis node
	pgtest.Shutdown()
	os.Exit(code)
}

func connect(t *testing.T) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}

func TestAdvance(t *testing.T) {
	ctx := context.Background()
	db := connect(t)
	if err := pgfence.CreateTable(ctx, db, ""); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		resource string
		token    int64
		stale    bool
	}{
		{"a", 5, false},
		{"a", 5, true}, // equal is stale
		{"a", 4, true},
		{"a", 6, false},
		{"b", 1, false}, // per resource
		{"a", 5, true},
	}
	for _, s := range steps {
		err := pgfence.Advance(ctx, db, "", s.resource, s.token)
		if got := errors.Is(err, pgfence.ErrStale); got != s.stale || (err != nil && !got) {
			t.Errorf("Advance(%q, %d) = %v, want stale=%v", s.resource, s.token, err, s.stale)
		}
	}
	if err := pgfence.CreateTable(ctx, db, "x; drop table y"); err == nil {
		t.Error("CreateTable accepted an invalid name")
	}
}

func TestExec(t *testing.T) {
	ctx := context.Background()
	db := connect(t)
	if _, err := db.Exec(ctx, "CREATE TABLE payments (id int PRIMARY KEY, status text, fence bigint NOT NULL DEFAULT 0)"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(ctx, "INSERT INTO payments (id, status) VALUES (1, 'new')"); err != nil {
		t.Fatal(err)
	}
	const q = "UPDATE payments SET status = $1, fence = $2 WHERE id = $3 AND fence < $2"
	if err := pgfence.Exec(ctx, db, q, "charged", int64(7), 1); err != nil {
		t.Fatalf("token 7: %v", err)
	}
	if err := pgfence.Exec(ctx, db, q, "charged-again", int64(6), 1); !errors.Is(err, pgfence.ErrStale) {
		t.Fatalf("token 6 after 7: %v, want ErrStale", err)
	}
	var status string
	if err := db.QueryRow(ctx, "SELECT status FROM payments WHERE id = 1").Scan(&status); err != nil || status != "charged" {
		t.Errorf("status = %q, %v; want charged", status, err)
	}
}
