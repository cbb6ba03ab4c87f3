// Package postgres is the PostgreSQL store of the reference payments
// service (pgx v5). Open connects and applies the embedded migrations; the
// Store implements payments.Store, including the fencing-token check that
// keeps a stale lock holder from charging an order.
package postgres

import (
	"context"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/rediskit/rediskit/lock/pgfence"
	"github.com/rediskit/rediskit/payments"
)

//go:embed migrations/*.sql
var migrations embed.FS

// migrateLock is the advisory lock key that serialises migrations of
// several instances starting at once.
const migrateLock = 7_384_211_001

// Store is the PostgreSQL payments.Store. Safe for concurrent use.
type Store struct {
	db *pgxpool.Pool
}

var _ payments.Store = (*Store)(nil)

// Open connects to dsn, applies pending migrations and returns the store.
func Open(ctx context.Context, dsn string) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if cfg.MaxConns < 20 {
		cfg.MaxConns = 20
	}
	db, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if err := Migrate(ctx, db); err != nil {
		db.Close()
		return nil, err
	}
	return &Store{db: db}, nil
}

// New returns a store over an open pool whose schema is migrated.
func New(db *pgxpool.Pool) *Store { return &Store{db: db} }

// DB returns the pool (for the cache invalidation relay).
func (s *Store) DB() *pgxpool.Pool { return s.db }

// Close closes the pool.
func (s *Store) Close() { s.db.Close() }

// Migrate applies the embedded migrations not applied yet, in name order,
// each in its own transaction, under an advisory lock.
func Migrate(ctx context.Context, db *pgxpool.Pool) error {
	conn, err := db.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", migrateLock); err != nil {
		return fmt.Errorf("postgres: migrate lock: %w", err)
	}
	defer func() { _, _ = conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", migrateLock) }()
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS payments_migrations (
		name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	for _, name := range names {
		base := strings.TrimPrefix(name, "migrations/")
		var done bool
		if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM payments_migrations WHERE name = $1)", base).Scan(&done); err != nil {
			return fmt.Errorf("postgres: migrate: %w", err)
		}
		if done {
			continue
		}
		sql, err := migrations.ReadFile(name)
		if err != nil {
			return err
		}
		err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, string(sql)); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, "INSERT INTO payments_migrations (name) VALUES ($1)", base)
			return err
		})
		if err != nil {
			return fmt.Errorf("postgres: migration %s: %w", base, err)
		}
	}
	return nil
}

// Ping checks the database answers.
func (s *Store) Ping(ctx context.Context) error { return s.db.Ping(ctx) }

func notFound(err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return payments.ErrNotFound
	}
	return err
}

// Product implements payments.Store.
func (s *Store) Product(ctx context.Context, id int64) (payments.Product, error) {
	var p payments.Product
	err := s.db.QueryRow(ctx, `SELECT id, name, price_cents, stock, version, updated_at FROM products WHERE id = $1`, id).
		Scan(&p.ID, &p.Name, &p.PriceCents, &p.Stock, &p.Version, &p.UpdatedAt)
	return p, notFound(err)
}

// UpdateProduct implements payments.Store.
func (s *Store) UpdateProduct(ctx context.Context, p payments.Product) (payments.Product, error) {
	var out payments.Product
	err := s.db.QueryRow(ctx, `UPDATE products SET name = $2, price_cents = $3, version = version + 1, updated_at = now()
		WHERE id = $1 RETURNING id, name, price_cents, stock, version, updated_at`, p.ID, p.Name, p.PriceCents).
		Scan(&out.ID, &out.Name, &out.PriceCents, &out.Stock, &out.Version, &out.UpdatedAt)
	return out, notFound(err)
}

// HashPassword derives the stored hash of a password (PBKDF2-SHA256; a
// low iteration count keeps the demo's logins cheap on small machines).
func HashPassword(password string, salt []byte) ([]byte, error) {
	return pbkdf2.Key(sha256.New, password, salt, 4096, 32)
}

// Authenticate implements payments.Store.
func (s *Store) Authenticate(ctx context.Context, email, password string) (payments.Account, error) {
	var a payments.Account
	var salt, hash []byte
	err := s.db.QueryRow(ctx, `SELECT id, email, name, password_salt, password_hash FROM accounts WHERE email = $1`, email).
		Scan(&a.ID, &a.Email, &a.Name, &salt, &hash)
	if errors.Is(err, pgx.ErrNoRows) {
		return payments.Account{}, payments.ErrBadCredentials
	}
	if err != nil {
		return payments.Account{}, err
	}
	got, err := HashPassword(password, salt)
	if err != nil {
		return payments.Account{}, err
	}
	if subtle.ConstantTimeCompare(got, hash) != 1 {
		return payments.Account{}, payments.ErrBadCredentials
	}
	return a, nil
}

// Account implements payments.Store.
func (s *Store) Account(ctx context.Context, id int64) (payments.Account, error) {
	var a payments.Account
	err := s.db.QueryRow(ctx, `SELECT id, email, name FROM accounts WHERE id = $1`, id).Scan(&a.ID, &a.Email, &a.Name)
	return a, notFound(err)
}

// CreateOrder implements payments.Store.
func (s *Store) CreateOrder(ctx context.Context, accountID, productID int64, quantity int) (payments.Order, error) {
	var o payments.Order
	err := s.db.QueryRow(ctx, `INSERT INTO orders (account_id, product_id, quantity, amount_cents)
		SELECT $1, p.id, $3::int, p.price_cents * $3::int FROM products p WHERE p.id = $2
		RETURNING id, account_id, product_id, quantity, amount_cents, status, fence, created_at, paid_at`,
		accountID, productID, quantity).
		Scan(&o.ID, &o.AccountID, &o.ProductID, &o.Quantity, &o.AmountCents, &o.Status, &o.Fence, &o.CreatedAt, &o.PaidAt)
	return o, notFound(err)
}

// Order implements payments.Store.
func (s *Store) Order(ctx context.Context, id int64) (payments.Order, error) {
	var o payments.Order
	err := s.db.QueryRow(ctx, `SELECT id, account_id, product_id, quantity, amount_cents, status, fence, created_at, paid_at
		FROM orders WHERE id = $1`, id).
		Scan(&o.ID, &o.AccountID, &o.ProductID, &o.Quantity, &o.AmountCents, &o.Status, &o.Fence, &o.CreatedAt, &o.PaidAt)
	return o, notFound(err)
}

const chargeCols = `id::text, order_id, account_id, amount_cents, fence, idempotency_key, instance, created_at, confirmed_at`

func scanCharge(row pgx.Row) (payments.Charge, error) {
	var c payments.Charge
	err := row.Scan(&c.ID, &c.OrderID, &c.AccountID, &c.AmountCents, &c.Fence, &c.IdempotencyKey, &c.Instance, &c.CreatedAt, &c.ConfirmedAt)
	return c, notFound(err)
}

// IdempotentCharge implements payments.Store.
func (s *Store) IdempotentCharge(ctx context.Context, accountID int64, key string) (payments.Charge, error) {
	return scanCharge(s.db.QueryRow(ctx, `SELECT `+prefixed("c.", chargeCols)+` FROM idempotency_keys k
		JOIN charges c ON c.id = k.charge_id WHERE k.account_id = $1 AND k.key = $2`, accountID, key))
}

func prefixed(p, cols string) string {
	parts := strings.Split(cols, ", ")
	for i := range parts {
		parts[i] = p + parts[i]
	}
	return strings.Join(parts, ", ")
}

// ChargeForOrder implements payments.Store.
func (s *Store) ChargeForOrder(ctx context.Context, orderID int64) (payments.Charge, error) {
	return scanCharge(s.db.QueryRow(ctx, `SELECT `+chargeCols+` FROM charges WHERE order_id = $1`, orderID))
}

// ClaimFence implements payments.Store: the token becomes the order's
// fence only if it is newer than every token seen before.
func (s *Store) ClaimFence(ctx context.Context, orderID, token int64) error {
	err := pgfence.Exec(ctx, s.db, `UPDATE orders SET fence = $2 WHERE id = $1 AND fence < $2`, orderID, token)
	if errors.Is(err, pgfence.ErrStale) {
		if _, err := s.Order(ctx, orderID); err != nil {
			return err
		}
		return fmt.Errorf("order %d, token %d: %w: %w", orderID, token, payments.ErrFenced, err)
	}
	return err
}

// CommitCharge implements payments.Store.
func (s *Store) CommitCharge(ctx context.Context, nc payments.NewCharge) (payments.Charge, error) {
	var out payments.Charge
	// pgfence.BeginFunc tells a COMMIT whose answer was lost (fn's ctx
	// cancelled by a lock loss during the commit) from a failed one.
	err := pgfence.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		// The fence check and the state change are one statement: the row
		// lock it takes orders it against every other claim and commit.
		tag, err := tx.Exec(ctx, `UPDATE orders SET status = 'paid', paid_at = now()
			WHERE id = $1 AND fence = $2 AND status = 'pending'`, nc.OrderID, nc.Fence)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			var status string
			var fence int64
			if err := tx.QueryRow(ctx, `SELECT status, fence FROM orders WHERE id = $1`, nc.OrderID).Scan(&status, &fence); err != nil {
				return notFound(err)
			}
			if fence != nc.Fence {
				// A newer holder claimed the order: whatever it did, this
				// holder's charge must not land.
				return fmt.Errorf("order %d, token %d, newest %d: %w", nc.OrderID, nc.Fence, fence, payments.ErrFenced)
			}
			return errPaid
		}
		c, err := scanCharge(tx.QueryRow(ctx, `INSERT INTO charges (order_id, account_id, amount_cents, fence, idempotency_key, instance)
			VALUES ($1, $2, $3, $4, $5, $6) RETURNING `+chargeCols,
			nc.OrderID, nc.AccountID, nc.AmountCents, nc.Fence, nc.IdempotencyKey, nc.Instance))
		if err != nil {
			return err
		}
		// The "payment provider": the money moves in the same transaction.
		if _, err := tx.Exec(ctx, `INSERT INTO ledger (order_id, charge_id, amount_cents, fence) VALUES ($1, $2, $3, $4)`,
			nc.OrderID, c.ID, nc.AmountCents, nc.Fence); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO idempotency_keys (account_id, key, order_id, charge_id) VALUES ($1, $2, $3, $4)`,
			nc.AccountID, nc.IdempotencyKey, nc.OrderID, c.ID); err != nil {
			var pe *pgconn.PgError
			if errors.As(err, &pe) && pe.Code == "23505" {
				return payments.ErrKeyReused
			}
			return err
		}
		out = c
		return nil
	})
	if errors.Is(err, errPaid) {
		c, err := s.ChargeForOrder(ctx, nc.OrderID)
		if err != nil {
			return payments.Charge{}, err
		}
		return payments.Charge{}, &payments.PaidError{Charge: c}
	}
	if errors.Is(err, pgfence.ErrOutcomeUnknown) {
		return payments.Charge{}, fmt.Errorf("postgres: commit charge: %w: %w", payments.ErrOutcomeUnknown, err)
	}
	if err != nil {
		return payments.Charge{}, fmt.Errorf("postgres: commit charge: %w", err)
	}
	return out, nil
}

// ResolveCharge implements payments.Store. FOR SHARE on the order waits
// for the row lock that CommitCharge's UPDATE holds until its
// transaction ends, so a commit still running on the server (its client
// gone) is seen committed or rolled back, never in between.
func (s *Store) ResolveCharge(ctx context.Context, orderID int64) (payments.Charge, error) {
	var out payments.Charge
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		var id int64
		if err := tx.QueryRow(ctx, `SELECT id FROM orders WHERE id = $1 FOR SHARE`, orderID).Scan(&id); err != nil {
			return notFound(err)
		}
		c, err := scanCharge(tx.QueryRow(ctx, `SELECT `+chargeCols+` FROM charges WHERE order_id = $1`, orderID))
		if err != nil {
			return notFound(err)
		}
		out = c
		return nil
	})
	if err != nil {
		return payments.Charge{}, fmt.Errorf("postgres: resolve charge of order %d: %w", orderID, err)
	}
	return out, nil
}

var errPaid = errors.New("paid")

// ConfirmCharge implements payments.Store.
func (s *Store) ConfirmCharge(ctx context.Context, chargeID, by string) (bool, error) {
	tag, err := s.db.Exec(ctx, `UPDATE charges SET confirmed_at = now(), confirm_runs = confirm_runs + 1, confirmed_by = $2
		WHERE id = $1::uuid AND confirmed_at IS NULL`, chargeID, by)
	if err != nil {
		return false, err
	}
	if tag.RowsAffected() == 0 {
		if _, err := s.db.Exec(ctx, `UPDATE charges SET confirm_runs = confirm_runs + 1 WHERE id = $1::uuid`, chargeID); err != nil {
			return false, err
		}
		return false, nil
	}
	return true, nil
}

// RecordReceipt implements payments.Store.
func (s *Store) RecordReceipt(ctx context.Context, chargeID string) (bool, error) {
	var inserted bool
	err := s.db.QueryRow(ctx, `INSERT INTO receipts (charge_id) VALUES ($1::uuid)
		ON CONFLICT (charge_id) DO UPDATE SET send_runs = receipts.send_runs + 1
		RETURNING xmax = 0`, chargeID).Scan(&inserted)
	return inserted, err
}

// PendingCharges implements payments.Store.
func (s *Store) PendingCharges(ctx context.Context, age time.Duration, limit int) ([]payments.Charge, error) {
	rows, err := s.db.Query(ctx, `SELECT `+prefixed("c.", chargeCols)+` FROM charges c
		LEFT JOIN receipts r ON r.charge_id = c.id
		WHERE (c.confirmed_at IS NULL OR r.charge_id IS NULL) AND c.created_at < now() - $1::interval
		ORDER BY c.created_at LIMIT $2`, age.String(), limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (payments.Charge, error) { return scanCharge(row) })
}

// RecordJobRun implements payments.Store.
func (s *Store) RecordJobRun(ctx context.Context, jobID, name string, effect bool) error {
	e := 0
	if effect {
		e = 1
	}
	_, err := s.db.Exec(ctx, `INSERT INTO job_runs (job_id, name, effects) VALUES ($1, $2, $3)
		ON CONFLICT (job_id) DO UPDATE SET runs = job_runs.runs + 1, effects = job_runs.effects + $3, last_run = now()`,
		jobID, name, e)
	return err
}

// Seed inserts the demo catalogue (products 1..products) and accounts
// user1..userN@example.com with the given password, skipping rows that
// exist.
func (s *Store) Seed(ctx context.Context, products, accounts int, password string) error {
	if _, err := s.db.Exec(ctx, `INSERT INTO products (id, name, price_cents, stock)
		SELECT g, 'Product ' || g, 100 + (g * 37) % 9900, 1000 FROM generate_series(1, $1::int) g
		ON CONFLICT (id) DO NOTHING`, products); err != nil {
		return fmt.Errorf("postgres: seed products: %w", err)
	}
	salt := make([]byte, 16)
	_, _ = rand.Read(salt)
	hash, err := HashPassword(password, salt)
	if err != nil {
		return err
	}
	if _, err := s.db.Exec(ctx, `INSERT INTO accounts (email, name, password_salt, password_hash)
		SELECT 'user' || g || '@example.com', 'User ' || g, $2, $3 FROM generate_series(1, $1::int) g
		ON CONFLICT (email) DO NOTHING`, accounts, salt, hash); err != nil {
		return fmt.Errorf("postgres: seed accounts: %w", err)
	}
	return nil
}

// Audit is what the verification queries found.
type Audit struct {
	Orders, PaidOrders, Charges, LedgerRows int64
	// DoubleCharges counts orders with more than one ledger row (money
	// moved twice). Must be 0.
	DoubleCharges int64
	// PaidWithoutOneCharge counts paid orders without exactly one charge
	// and one ledger row, plus charges of orders not marked paid.
	PaidWithoutOneCharge int64
	// Confirmed and Receipts count charges confirmed and receipts sent;
	// ConfirmEffects and ReceiptEffects over 1 for a charge would be
	// duplicates (counted in DuplicateEffects).
	Confirmed, Receipts, DuplicateEffects int64
	// JobRuns and JobsRerun count job runs and jobs that ran more than once.
	JobRuns, JobsRerun int64
}

// Audit checks the invariants over the whole database.
func (s *Store) Audit(ctx context.Context) (Audit, error) {
	var a Audit
	err := s.db.QueryRow(ctx, `SELECT
		(SELECT count(*) FROM orders),
		(SELECT count(*) FROM orders WHERE status = 'paid'),
		(SELECT count(*) FROM charges),
		(SELECT count(*) FROM ledger),
		(SELECT count(*) FROM (SELECT order_id FROM ledger GROUP BY order_id HAVING count(*) > 1) d),
		(SELECT count(*) FROM orders o WHERE o.status = 'paid' AND (
			(SELECT count(*) FROM charges c WHERE c.order_id = o.id) <> 1 OR
			(SELECT count(*) FROM ledger l WHERE l.order_id = o.id) <> 1))
		 + (SELECT count(*) FROM charges c JOIN orders o ON o.id = c.order_id WHERE o.status <> 'paid'),
		(SELECT count(*) FROM charges WHERE confirmed_at IS NOT NULL),
		(SELECT count(*) FROM receipts),
		(SELECT count(*) FROM job_runs WHERE effects > 1),
		(SELECT coalesce(sum(runs), 0) FROM job_runs),
		(SELECT count(*) FROM job_runs WHERE runs > 1)`).
		Scan(&a.Orders, &a.PaidOrders, &a.Charges, &a.LedgerRows, &a.DoubleCharges, &a.PaidWithoutOneCharge,
			&a.Confirmed, &a.Receipts, &a.DuplicateEffects, &a.JobRuns, &a.JobsRerun)
	if err != nil {
		return a, fmt.Errorf("postgres: audit: %w", err)
	}
	return a, nil
}
