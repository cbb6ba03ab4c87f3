// Package payments is the domain of the reference payments service: the
// article's system, built from the rediskit packages.
//
//   - Products are read cache-aside through cache (near cache, one loader
//     across instances) and written through it; a PostgreSQL outbox
//     trigger (cache/pgcache) invalidates every instance on any write.
//   - Pay charges an order at most once: an idempotency key per request,
//     the order's lock (lock.Do) around the charge, and the lock's fencing
//     token claimed and checked in PostgreSQL so that a holder whose lease
//     ended (paused, expired, Redis failover) cannot commit.
//   - Confirmation and receipt jobs go through a BullMQ-compatible queue
//     (confirmations at priority 1, receipts at 100); their handlers are
//     idempotent and record every run.
//
// The HTTP API is in payments/httpapi, the PostgreSQL store in
// payments/postgres, the process in cmd/payments.
//
//	store, _ := postgres.Open(ctx, os.Getenv("DATABASE_URL"))
//	svc, _ := payments.New(store, conn.Client, payments.Options{})
//	go svc.Run(ctx) // the payment worker
//	res, err := svc.Pay(ctx, accountID, orderID, idempotencyKey)
package payments
