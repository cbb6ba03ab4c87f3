package payments

import (
	"context"
	"errors"
	"time"
)

// Errors of the domain. The HTTP layer maps each to a status code.
var (
	// ErrNotFound: no such product, account or order (or not the caller's).
	ErrNotFound = errors.New("payments: not found")
	// ErrBadCredentials: login with an unknown email or a wrong password.
	ErrBadCredentials = errors.New("payments: bad credentials")
	// ErrAlreadyPaid: the order was paid by another request (another
	// idempotency key). The error is a *PaidError carrying the charge.
	ErrAlreadyPaid = errors.New("payments: order already paid")
	// ErrFenced: PostgreSQL refused the charge because a newer lock holder
	// claimed the order (this holder's lease ended: pause, expiry,
	// failover). Nothing was charged; the request may be retried.
	ErrFenced = errors.New("payments: fenced out by a newer lock holder")
	// ErrKeyReused: the idempotency key was used for another order.
	ErrKeyReused = errors.New("payments: idempotency key already used for another order")
	// ErrNoKey: a payment without an idempotency key.
	ErrNoKey = errors.New("payments: missing idempotency key")
	// ErrInvalid: a request with invalid fields.
	ErrInvalid = errors.New("payments: invalid request")
	// ErrOutcomeUnknown: the charge's COMMIT was sent but its answer was
	// lost (the order's lock was lost during the commit, or PostgreSQL
	// became unreachable), so it may have committed or not. Store's
	// CommitCharge returns it; Pay then reads the order again and returns
	// the true outcome, and returns it only when that read failed too.
	// Retrying with the same idempotency key is safe.
	ErrOutcomeUnknown = errors.New("payments: charge outcome unknown")
	// ErrNotCharged: a charge whose commit answer was lost turned out, read
	// again from the database, not to have committed. Nothing was charged;
	// the request may be retried with the same key.
	ErrNotCharged = errors.New("payments: not charged")
)

// PaidError says which charge paid the order already.
type PaidError struct{ Charge Charge }

func (e *PaidError) Error() string {
	return "payments: order already paid by charge " + e.Charge.ID
}

// Unwrap makes errors.Is(err, ErrAlreadyPaid) true.
func (e *PaidError) Unwrap() error { return ErrAlreadyPaid }

// Product is one item of the catalogue (read through the cache).
type Product struct {
	ID         int64     `json:"id"`
	Name       string    `json:"name"`
	PriceCents int64     `json:"price_cents"`
	Stock      int64     `json:"stock"`
	Version    int64     `json:"version"`
	UpdatedAt  time.Time `json:"updated_at"`
}

// Account is a customer.
type Account struct {
	ID    int64  `json:"id"`
	Email string `json:"email"`
	Name  string `json:"name"`
}

// Order statuses.
const (
	StatusPending = "pending"
	StatusPaid    = "paid"
)

// Order is a purchase of one product.
type Order struct {
	ID          int64      `json:"id"`
	AccountID   int64      `json:"account_id"`
	ProductID   int64      `json:"product_id"`
	Quantity    int        `json:"quantity"`
	AmountCents int64      `json:"amount_cents"`
	Status      string     `json:"status"`
	Fence       int64      `json:"fence"`
	CreatedAt   time.Time  `json:"created_at"`
	PaidAt      *time.Time `json:"paid_at,omitempty"`
}

// Charge is the one payment of an order.
type Charge struct {
	ID             string     `json:"id"`
	OrderID        int64      `json:"order_id"`
	AccountID      int64      `json:"account_id"`
	AmountCents    int64      `json:"amount_cents"`
	Fence          int64      `json:"fence"`
	IdempotencyKey string     `json:"idempotency_key"`
	Instance       string     `json:"instance"`
	CreatedAt      time.Time  `json:"created_at"`
	ConfirmedAt    *time.Time `json:"confirmed_at,omitempty"`
}

// NewCharge is what CommitCharge writes.
type NewCharge struct {
	OrderID        int64
	AccountID      int64
	AmountCents    int64
	Fence          int64
	IdempotencyKey string
	Instance       string
}

// Store is the persistence the service needs (package payments/postgres
// implements it on PostgreSQL). Implementations must be safe for
// concurrent use.
type Store interface {
	Ping(ctx context.Context) error
	Product(ctx context.Context, id int64) (Product, error)
	// UpdateProduct sets name and price of an existing product and
	// returns the stored row (version incremented).
	UpdateProduct(ctx context.Context, p Product) (Product, error)
	Authenticate(ctx context.Context, email, password string) (Account, error)
	Account(ctx context.Context, id int64) (Account, error)
	CreateOrder(ctx context.Context, accountID, productID int64, quantity int) (Order, error)
	Order(ctx context.Context, id int64) (Order, error)
	// IdempotentCharge returns the charge recorded under (account, key),
	// with ErrNotFound when the key is new.
	IdempotentCharge(ctx context.Context, accountID int64, key string) (Charge, error)
	// ChargeForOrder returns the order's charge, or ErrNotFound.
	ChargeForOrder(ctx context.Context, orderID int64) (Charge, error)
	// ClaimFence records token as the order's newest fencing token. It
	// fails with ErrFenced when the order has seen a token >= token.
	ClaimFence(ctx context.Context, orderID, token int64) error
	// CommitCharge moves the money (a ledger row), inserts the charge and
	// the idempotency key and marks the order paid, in one transaction,
	// only while c.Fence is still the order's fence and the order is
	// pending. Otherwise: ErrFenced when a newer token claimed it,
	// *PaidError when it was paid under this token, an error wrapping
	// ErrOutcomeUnknown when COMMIT was sent but its answer was lost.
	CommitCharge(ctx context.Context, c NewCharge) (Charge, error)
	// ResolveCharge returns the order's charge, or ErrNotFound, after
	// waiting for any transaction still writing the order to end (a
	// commit whose answer was lost): what it returns is final.
	ResolveCharge(ctx context.Context, orderID int64) (Charge, error)
	// ConfirmCharge marks a charge confirmed by the instance named by; it
	// reports whether this call did it (false when it was already
	// confirmed).
	ConfirmCharge(ctx context.Context, chargeID, by string) (bool, error)
	// RecordReceipt records that the receipt was sent; it reports whether
	// this call did it.
	RecordReceipt(ctx context.Context, chargeID string) (bool, error)
	// PendingCharges lists up to limit charges older than age whose
	// confirmation or receipt is missing.
	PendingCharges(ctx context.Context, age time.Duration, limit int) ([]Charge, error)
	// RecordJobRun counts one run of a job and whether it had an effect.
	RecordJobRun(ctx context.Context, jobID, name string, effect bool) error
}
