package payments

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rediskit/rediskit/cache"
	"github.com/rediskit/rediskit/lock"
	"github.com/rediskit/rediskit/queue"
)

// Job names on the payments queue.
const (
	// JobConfirm confirms a charge (priority 1: first).
	JobConfirm = "confirm-payment"
	// JobReceipt sends the receipt of a charge (priority 100: after every
	// confirmation waiting).
	JobReceipt = "send-receipt"
	// JobCharge asks the service to pay an order (what the Node producer
	// example enqueues): data {"orderId": n, "idempotencyKey": "..."}.
	JobCharge = "charge-order"
)

// Priorities of the jobs (BullMQ: 1 is the most urgent).
const (
	PriorityPayment = 1
	PriorityReceipt = 100
)

// ProductNamespace is the cache namespace of products; the PostgreSQL
// outbox trigger on products names keys in it.
const ProductNamespace = "products"

// Options configure a Service. The zero value of every field means its
// default.
type Options struct {
	// Instance names this process in charges and logs. Default the
	// hostname and pid.
	Instance string
	// LockTTL is the lease of an order's payment lock (extended while the
	// charge runs). Default 5 s.
	LockTTL time.Duration
	// LockWait bounds how long a payment waits for the order's lock held
	// by a concurrent request. Default 15 s.
	LockWait time.Duration
	// ProviderDelay simulates the payment provider's latency inside the
	// lock. Default 20 ms; negative means none.
	ProviderDelay time.Duration
	// QueueName and QueuePrefix name the BullMQ queue of payment jobs.
	// Defaults "payments" and "{payments}" (hash-tagged for a cluster).
	QueueName, QueuePrefix string
	// WorkerConcurrency is how many jobs the worker runs at once. Default 8.
	WorkerConcurrency int
	// JobLockDuration is the queue's job lock. Default 30 s.
	JobLockDuration time.Duration
	// ProductTTL is how long products stay cached. Default 1 minute.
	ProductTTL time.Duration
	// NearEntries bounds the near cache of products. Default 10,000.
	NearEntries int
	// ProductCacheFormat is the layout of the product cache in Redis.
	// Zero is the cache package's own. cache.FormatKeyv shares the
	// entries of the NestJS example's @nestjs/cache-manager (Keyv
	// namespace "products", keys "product:<id>"): Go reads what Nest
	// cached, and a Go price change replaces the entry Nest reads at once.
	// An outbox relay of raw SQL writes needs the same format
	// (pgcache.RelayOptions.Formats) and key ('product:' || id).
	ProductCacheFormat cache.Format
	// ProviderIgnoresLoss makes the charge go on to its commit when the
	// order's lock is lost during the provider call, as a provider SDK that
	// ignores cancellation would: PostgreSQL's fence is then what refuses a
	// stale holder (ErrFenced). For demonstrations and tests of the fence.
	// Default false: the charge stops when the lock is lost.
	ProviderIgnoresLoss bool
	// ReconcileEvery is how often charges whose jobs have not finished
	// are queued again (and how old they must be). Default 10 s.
	ReconcileEvery time.Duration
	// Logger receives warnings. Default slog.Default().
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.Instance == "" {
		h, _ := hostname()
		o.Instance = h
	}
	if o.LockTTL <= 0 {
		o.LockTTL = 5 * time.Second
	}
	if o.LockWait <= 0 {
		o.LockWait = 15 * time.Second
	}
	if o.ProviderDelay == 0 {
		o.ProviderDelay = 20 * time.Millisecond
	}
	if o.QueueName == "" {
		o.QueueName = "payments"
	}
	if o.QueuePrefix == "" {
		o.QueuePrefix = "{payments}"
	}
	if o.WorkerConcurrency <= 0 {
		o.WorkerConcurrency = 8
	}
	if o.JobLockDuration <= 0 {
		o.JobLockDuration = 30 * time.Second
	}
	if o.ProductTTL <= 0 {
		o.ProductTTL = time.Minute
	}
	if o.NearEntries <= 0 {
		o.NearEntries = 10_000
	}
	if o.ReconcileEvery <= 0 {
		o.ReconcileEvery = 10 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// Service is the payments domain over a Store and Redis: products through
// the cache, payments under a fenced lock, jobs through the queue. Safe for
// concurrent use. Run drives its worker; Close releases its resources.
type Service struct {
	store    Store
	opts     Options
	products *cache.Cache[Product]
	locker   *lock.Locker
	queue    *queue.Queue
	worker   *queue.Worker
	log      *slog.Logger

	charges, replays, alreadyPaid, fenced, lockLost   atomic.Int64
	unknown                                           atomic.Int64
	confirmed, receipts, jobRuns, jobErrors, requeued atomic.Int64
}

// New builds the service. It does no I/O.
func New(store Store, client redis.UniversalClient, o Options) (*Service, error) {
	o = o.withDefaults()
	s := &Service{store: store, opts: o, log: o.Logger.With("instance", o.Instance)}
	var err error
	s.products, err = cache.New[Product](client, cache.Options{
		Namespace: ProductNamespace, TTL: o.ProductTTL, NearEntries: o.NearEntries, Logger: o.Logger,
		Format: o.ProductCacheFormat,
	})
	if err != nil {
		return nil, fmt.Errorf("payments: product cache: %w", err)
	}
	// One lock per order: Stats by name would list arbitrary orders, so
	// every name is summed under lock.OtherNames.
	s.locker = lock.New(client, lock.Options{Prefix: "payments:lock:", Holder: o.Instance, MaxWait: o.LockWait,
		StatsNames: -1, Logger: o.Logger})
	s.queue, err = queue.New(client, o.QueueName, queue.Options{Prefix: o.QueuePrefix})
	if err != nil {
		s.close()
		return nil, fmt.Errorf("payments: queue: %w", err)
	}
	s.worker, err = queue.NewWorker(client, o.QueueName, s.handle, queue.WorkerOptions{
		Options:          queue.Options{Prefix: o.QueuePrefix},
		Name:             o.Instance,
		Concurrency:      o.WorkerConcurrency,
		LockDuration:     o.JobLockDuration,
		DrainDelay:       2 * time.Second,
		ShutdownTimeout:  10 * time.Second,
		RemoveOnComplete: &queue.Removal{Count: 10_000},
		Logger:           o.Logger,
	})
	if err != nil {
		s.close()
		return nil, fmt.Errorf("payments: worker: %w", err)
	}
	return s, nil
}

func (s *Service) close() {
	_ = s.products.Close()
	_ = s.locker.Close()
}

// Close stops the cache's tracking and the locker's subscriptions. Call it
// after Run returned.
func (s *Service) Close() error {
	s.close()
	return nil
}

// Run runs the payment worker and the job reconciler until ctx ends;
// in-flight jobs finish first (up to 10 s). It returns ctx's error,
// wrapped.
func (s *Service) Run(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.reconcile(ctx)
	}()
	err := s.worker.Run(ctx)
	<-done
	return err
}

// reconcile queues again, every ReconcileEvery, the jobs of charges whose
// confirmation or receipt is still missing after that long: it repairs a
// crash between a charge's commit and its jobs' add. Adding a job that
// exists is a no-op; the handlers are idempotent.
func (s *Service) reconcile(ctx context.Context) {
	t := time.NewTicker(s.opts.ReconcileEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		cs, err := s.store.PendingCharges(ctx, s.opts.ReconcileEvery, 500)
		if err != nil {
			if ctx.Err() == nil {
				s.log.Warn("reconcile: list pending charges", "err", err)
			}
			continue
		}
		for _, c := range cs {
			if err := s.enqueue(ctx, c); err != nil {
				s.log.Warn("reconcile: queue jobs", "charge", c.ID, "err", err)
				break
			}
			s.requeued.Add(1)
		}
	}
}

// WorkerHealthy reports whether the worker reached Redis within maxAge.
func (s *Service) WorkerHealthy(maxAge time.Duration) bool { return s.worker.Healthy(maxAge) }

// Queue is the payments queue (for depth and inspection).
func (s *Service) Queue() *queue.Queue { return s.queue }

// Store is the service's store.
func (s *Service) Store() Store { return s.store }

// productKey is a product's cache key: its id, or with FormatKeyv the
// Nest app's key "product:<id>".
func (s *Service) productKey(id int64) string {
	if s.opts.ProductCacheFormat == cache.FormatKeyv {
		return "product:" + strconv.FormatInt(id, 10)
	}
	return strconv.FormatInt(id, 10)
}

// Product returns a product through the cache (near cache, then Redis,
// then PostgreSQL, loaded once across instances).
func (s *Service) Product(ctx context.Context, id int64) (Product, error) {
	p, err := s.products.Get(ctx, s.productKey(id), func(ctx context.Context) (Product, error) {
		p, err := s.store.Product(ctx, id)
		if errors.Is(err, ErrNotFound) {
			return p, fmt.Errorf("product %d: %w", id, cache.ErrNotFound)
		}
		return p, err
	})
	if errors.Is(err, cache.ErrNotFound) {
		return p, ErrNotFound
	}
	return p, err
}

// UpdateProduct writes a product through the cache: PostgreSQL first,
// then the cache made consistent; the outbox relay invalidates every
// other instance's near cache (and covers writes made by raw SQL).
func (s *Service) UpdateProduct(ctx context.Context, p Product) (Product, error) {
	if p.Name == "" || p.PriceCents < 0 {
		return Product{}, ErrInvalid
	}
	out, err := s.products.Write(ctx, s.productKey(p.ID), func(ctx context.Context) (Product, error) {
		return s.store.UpdateProduct(ctx, p)
	})
	if errors.Is(err, cache.ErrNotInvalidated) {
		s.log.Warn("product written, cache not invalidated (the outbox relay will)", "id", p.ID, "err", err)
		return out, nil
	}
	return out, err
}

// CreateOrder creates a pending order of an account.
func (s *Service) CreateOrder(ctx context.Context, accountID, productID int64, quantity int) (Order, error) {
	if quantity <= 0 || quantity > 100 {
		return Order{}, ErrInvalid
	}
	return s.store.CreateOrder(ctx, accountID, productID, quantity)
}

// Order returns an order of accountID.
func (s *Service) Order(ctx context.Context, accountID, orderID int64) (Order, error) {
	o, err := s.store.Order(ctx, orderID)
	if err != nil {
		return o, err
	}
	if o.AccountID != accountID {
		return Order{}, ErrNotFound
	}
	return o, nil
}

// PayResult is the outcome of a successful Pay.
type PayResult struct {
	Charge Charge
	// Replayed is true when the charge was made earlier under the same
	// idempotency key (a retry or a double click): nothing was charged now.
	Replayed bool
}

// Pay charges an order of accountID once. key is the client's idempotency
// key: a request with a key already used for this order returns the
// original charge (Replayed); a key used for another order fails with
// ErrKeyReused; an order paid under another key fails with *PaidError.
//
// The charge runs under the order's lock; the lock's fencing token is
// claimed in PostgreSQL before the provider call and checked again in the
// transaction that commits the charge, so a holder whose lease ended
// (paused process, expiry, Redis failover) cannot commit: ErrFenced.
func (s *Service) Pay(ctx context.Context, accountID, orderID int64, key string) (PayResult, error) {
	if key == "" || len(key) > 200 {
		return PayResult{}, ErrNoKey
	}
	// A client that goes away must not abandon a charge half-way (say,
	// committed but its jobs not queued): the payment runs to its end,
	// bounded by the lock wait and a fixed allowance.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.opts.LockWait+30*time.Second)
	defer cancel()
	o, err := s.Order(ctx, accountID, orderID)
	if err != nil {
		return PayResult{}, err
	}
	if r, done, err := s.settled(ctx, o, key); done || err != nil {
		return s.finish(ctx, r, err)
	}
	var res PayResult
	err = s.locker.Do(ctx, "order:"+strconv.FormatInt(orderID, 10), s.opts.LockTTL, func(ctx context.Context, lease *lock.Lease) error {
		// Inside the lock: a request that held it before us may have paid.
		if r, done, err := s.settled(ctx, o, key); done || err != nil {
			res = r
			return err
		}
		token := lease.Token()
		if err := s.store.ClaimFence(ctx, orderID, token); err != nil {
			return err
		}
		if s.opts.ProviderIgnoresLoss {
			// Carry on whatever happens to the lease: only the fence
			// stands between a stale holder and the ledger now.
			ctx = context.WithoutCancel(ctx)
		}
		if err := s.provider(ctx); err != nil {
			return err
		}
		c, err := s.store.CommitCharge(ctx, NewCharge{
			OrderID: orderID, AccountID: accountID, AmountCents: o.AmountCents,
			Fence: token, IdempotencyKey: key, Instance: s.opts.Instance,
		})
		if err != nil {
			var pe *PaidError
			if errors.As(err, &pe) && pe.Charge.IdempotencyKey == key {
				res = PayResult{Charge: pe.Charge, Replayed: true}
				return nil
			}
			return err
		}
		s.charges.Add(1)
		res = PayResult{Charge: c}
		return nil
	})
	if errors.Is(err, ErrOutcomeUnknown) {
		res, err = s.resolve(ctx, orderID, key, err)
	}
	return s.finish(ctx, res, err)
}

// resolve reads from PostgreSQL what a charge whose COMMIT answer was
// lost did (cause says why it was lost), and returns that as Pay's
// outcome: the charge when it committed, *PaidError when another key paid
// the order, ErrNotCharged when nothing committed, and ErrOutcomeUnknown
// only when the database cannot tell either.
func (s *Service) resolve(ctx context.Context, orderID int64, key string, cause error) (PayResult, error) {
	s.unknown.Add(1)
	c, err := s.store.ResolveCharge(ctx, orderID)
	switch {
	case err == nil && c.IdempotencyKey == key:
		s.log.Info("charge committed, its answer was lost", "order", orderID, "charge", c.ID, "cause", cause)
		s.charges.Add(1)
		return PayResult{Charge: c}, nil
	case err == nil:
		return PayResult{}, &PaidError{Charge: c}
	case errors.Is(err, ErrNotFound):
		if errors.Is(cause, lock.ErrLost) {
			return PayResult{}, fmt.Errorf("payments: order %d: the commit did not land: %w: %w", orderID, ErrNotCharged, lock.ErrLost)
		}
		return PayResult{}, fmt.Errorf("payments: order %d: the commit did not land: %w", orderID, ErrNotCharged)
	}
	return PayResult{}, fmt.Errorf("payments: order %d: %w (reading it again failed: %w)", orderID, cause, err)
}

// finish counts the outcome of Pay and queues the charge's jobs.
func (s *Service) finish(ctx context.Context, res PayResult, err error) (PayResult, error) {
	switch {
	case err == nil:
	case errors.Is(err, ErrFenced):
		s.fenced.Add(1)
		return PayResult{}, err
	case errors.Is(err, lock.ErrLost):
		s.lockLost.Add(1)
		return PayResult{}, err
	case errors.Is(err, ErrAlreadyPaid):
		s.alreadyPaid.Add(1)
		return PayResult{}, err
	default:
		return PayResult{}, err
	}
	if res.Replayed {
		s.replays.Add(1)
	}
	// Jobs are added with ids derived from the charge: a replay adds them
	// again, which is a no-op when they exist, and repairs a crash between
	// the commit and the first add.
	if err := s.enqueue(ctx, res.Charge); err != nil {
		s.log.Warn("charge committed, jobs not queued", "charge", res.Charge.ID, "err", err)
	}
	return res, nil
}

// settled reports a payment that needs no charge: the key was used (a
// replay) or the order is paid (under another key).
func (s *Service) settled(ctx context.Context, o Order, key string) (PayResult, bool, error) {
	c, err := s.store.IdempotentCharge(ctx, o.AccountID, key)
	switch {
	case err == nil && c.OrderID != o.ID:
		return PayResult{}, true, ErrKeyReused
	case err == nil:
		return PayResult{Charge: c, Replayed: true}, true, nil
	case !errors.Is(err, ErrNotFound):
		return PayResult{}, true, err
	}
	c, err = s.store.ChargeForOrder(ctx, o.ID)
	switch {
	case err == nil && c.IdempotencyKey == key:
		// Committed between the two reads by a request with this key.
		return PayResult{Charge: c, Replayed: true}, true, nil
	case err == nil:
		return PayResult{}, true, &PaidError{Charge: c}
	case !errors.Is(err, ErrNotFound):
		return PayResult{}, true, err
	}
	return PayResult{}, false, nil
}

// provider simulates the payment provider's latency.
func (s *Service) provider(ctx context.Context) error {
	if s.opts.ProviderDelay <= 0 {
		return nil
	}
	t := time.NewTimer(s.opts.ProviderDelay)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("payments: provider call: %w", context.Cause(ctx))
	}
}

type chargeJob struct {
	ChargeID    string `json:"chargeId"`
	OrderID     int64  `json:"orderId"`
	AmountCents int64  `json:"amountCents"`
}

func (s *Service) enqueue(ctx context.Context, c Charge) error {
	data := chargeJob{ChargeID: c.ID, OrderID: c.OrderID, AmountCents: c.AmountCents}
	_, err := s.queue.AddBulk(ctx, []queue.BulkJob{
		{Name: JobConfirm, Data: data, Opts: queue.JobOptions{JobID: "confirm-" + c.ID, Priority: PriorityPayment, Attempts: 5,
			Backoff: &queue.Backoff{Type: "exponential", Delay: 200}}},
		{Name: JobReceipt, Data: data, Opts: queue.JobOptions{JobID: "receipt-" + c.ID, Priority: PriorityReceipt, Attempts: 5,
			Backoff: &queue.Backoff{Type: "exponential", Delay: 500}}},
	})
	return err
}

// Enqueue adds the confirmation and receipt jobs of a charge (no-ops when
// they exist).
func (s *Service) Enqueue(ctx context.Context, c Charge) error { return s.enqueue(ctx, c) }

type chargeRequest struct {
	OrderID        int64  `json:"orderId"`
	IdempotencyKey string `json:"idempotencyKey"`
}

// handle runs one job of the payments queue.
func (s *Service) handle(ctx context.Context, job *queue.Job) (any, error) {
	s.jobRuns.Add(1)
	res, err := s.runJob(ctx, job)
	if err != nil {
		s.jobErrors.Add(1)
	}
	return res, err
}

func (s *Service) runJob(ctx context.Context, job *queue.Job) (any, error) {
	switch job.Name {
	case JobConfirm, JobReceipt:
		var d chargeJob
		if err := job.Decode(&d); err != nil || d.ChargeID == "" {
			return nil, fmt.Errorf("bad %s job %s: %v: %w", job.Name, job.ID, err, queue.ErrUnrecoverable)
		}
		var did bool
		var err error
		if job.Name == JobConfirm {
			did, err = s.store.ConfirmCharge(ctx, d.ChargeID, s.opts.Instance)
			if did {
				s.confirmed.Add(1)
			}
		} else {
			did, err = s.store.RecordReceipt(ctx, d.ChargeID)
			if did {
				s.receipts.Add(1)
			}
		}
		if err != nil {
			return nil, err
		}
		if err := s.store.RecordJobRun(ctx, job.ID, job.Name, did); err != nil {
			return nil, err
		}
		return map[string]any{"chargeId": d.ChargeID, "applied": did}, nil
	case JobCharge:
		var d chargeRequest
		if err := job.Decode(&d); err != nil || d.OrderID == 0 {
			return nil, fmt.Errorf("bad %s job %s: %v: %w", job.Name, job.ID, err, queue.ErrUnrecoverable)
		}
		if d.IdempotencyKey == "" {
			d.IdempotencyKey = "job-" + job.ID
		}
		o, err := s.store.Order(ctx, d.OrderID)
		if errors.Is(err, ErrNotFound) {
			return nil, fmt.Errorf("order %d: %w", d.OrderID, queue.ErrUnrecoverable)
		}
		if err != nil {
			return nil, err
		}
		r, err := s.Pay(ctx, o.AccountID, o.ID, d.IdempotencyKey)
		var pe *PaidError
		if errors.As(err, &pe) {
			return map[string]any{"chargeId": pe.Charge.ID, "alreadyPaid": true}, nil
		}
		if err != nil {
			return nil, err
		}
		if err := s.store.RecordJobRun(ctx, job.ID, job.Name, !r.Replayed); err != nil {
			return nil, err
		}
		return map[string]any{"chargeId": r.Charge.ID, "replayed": r.Replayed}, nil
	default:
		return nil, fmt.Errorf("unknown job %q: %w", job.Name, queue.ErrUnrecoverable)
	}
}

// Stats are the service's counters (this process) and its parts'.
type Stats struct {
	Instance string `json:"instance"`
	// Charges counts charges this instance committed; Replays requests
	// answered from an earlier charge with the same key; AlreadyPaid
	// requests refused because another key paid; Fenced charges refused
	// by PostgreSQL for a stale token; LockLost payments abandoned because
	// the lock was lost.
	Charges     int64 `json:"charges"`
	Replays     int64 `json:"replays"`
	AlreadyPaid int64 `json:"already_paid"`
	Fenced      int64 `json:"fenced"`
	LockLost    int64 `json:"lock_lost"`
	// OutcomeUnknown counts charges whose COMMIT answer was lost and whose
	// outcome was then read from the database.
	OutcomeUnknown int64 `json:"outcome_unknown"`
	// Confirmed and Receipts count job effects applied here; JobRuns and
	// JobErrors count handler runs.
	Confirmed int64 `json:"confirmed"`
	Receipts  int64 `json:"receipts"`
	JobRuns   int64 `json:"job_runs"`
	// Requeued counts charges whose jobs the reconciler queued again.
	Requeued  int64             `json:"requeued"`
	JobErrors int64             `json:"job_errors"`
	Cache     cache.Stats       `json:"cache"`
	Lock      lock.Counters     `json:"lock"`
	Worker    queue.WorkerStats `json:"worker"`
}

// Stats returns a snapshot of the counters. It does no I/O.
func (s *Service) Stats() Stats {
	return Stats{
		Instance: s.opts.Instance,
		Charges:  s.charges.Load(), Replays: s.replays.Load(), AlreadyPaid: s.alreadyPaid.Load(),
		Fenced: s.fenced.Load(), LockLost: s.lockLost.Load(), OutcomeUnknown: s.unknown.Load(),
		Confirmed: s.confirmed.Load(), Receipts: s.receipts.Load(),
		JobRuns: s.jobRuns.Load(), JobErrors: s.jobErrors.Load(), Requeued: s.requeued.Load(),
		Cache: s.products.Stats(), Lock: s.locker.Stats().Counters, Worker: s.worker.Stats(),
	}
}

// ProductCache returns the product cache (for metrics.PatternCollector).
func (s *Service) ProductCache() *cache.Cache[Product] { return s.products }

// Locker returns the order locker (for metrics.PatternCollector).
func (s *Service) Locker() *lock.Locker { return s.locker }

// Worker returns the payments worker (for metrics.PatternCollector).
func (s *Service) Worker() *queue.Worker { return s.worker }

// WaitReady waits until the product cache tracks every master.
func (s *Service) WaitReady(ctx context.Context) error { return s.products.WaitReady(ctx) }
