package queue

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
	"github.com/rediskit/rediskit/internal/retry"
)

// Handler processes one job. Its ctx is cancelled (cause ErrLockLost) when
// the worker loses the job's lock, and when a graceful shutdown runs out of
// time. The returned value is stored as the job's returnvalue (JSON); an
// error fails the attempt (retried while attempts remain, unless it is
// unrecoverable, see ErrUnrecoverable). A panic fails the job with its stack.
type Handler func(ctx context.Context, job *Job) (any, error)

// Limiter is a worker-side rate limit: at most Max jobs per Duration across
// every worker of the queue (a global limit set in meta wins for Max).
type Limiter struct {
	Max      int
	Duration time.Duration
}

// MetricsOptions are BullMQ's worker metrics option.
type MetricsOptions struct {
	// MaxDataPoints is how many one-minute points to keep (BullMQ's
	// MetricsTime.ONE_WEEK is 10080); 0 turns metrics off.
	MaxDataPoints int
}

// BackoffFunc computes a custom backoff for job types other than "fixed"
// and "exponential". attemptsMade counts the attempt that just failed
// (1 for the first). Return ok=false to stop retrying.
type BackoffFunc func(attemptsMade int, typ string, err error, job *Job) (delay time.Duration, ok bool)

// WorkerOptions configure a Worker. The zero value is valid.
type WorkerOptions struct {
	Options
	// Name is the worker name stored in jobs ("pb") and in the connection
	// name; default none (BullMQ's default).
	Name string
	// Concurrency is how many jobs run at once; default 1.
	Concurrency int
	// LockDuration is the job lock TTL; default 30s.
	LockDuration time.Duration
	// LockRenewTime is how often held locks are renewed; default
	// LockDuration/2.
	LockRenewTime time.Duration
	// StalledInterval is how often the stalled check runs; default 30s.
	StalledInterval time.Duration
	// MaxStalledCount is how many times a job may stall before it is
	// failed; default 1, negative means 0.
	MaxStalledCount int
	// Limiter rate-limits fetching; zero means none.
	Limiter Limiter
	// DrainDelay is how long an idle worker blocks on the marker before
	// looking again; default 5s (at most 10s).
	DrainDelay time.Duration
	// ShutdownTimeout is how long Run waits for in-flight jobs after its ctx
	// ends; then their contexts are cancelled and unfinished jobs go back to
	// wait. Default 30s.
	ShutdownTimeout time.Duration
	// RemoveOnComplete and RemoveOnFail apply to jobs whose options do not
	// say; nil keeps them.
	RemoveOnComplete *Removal
	RemoveOnFail     *Removal
	// Backoff computes custom backoff types; nil means only the built-ins.
	Backoff BackoffFunc
	// Metrics records per-minute completed/failed counts in the queue's
	// metrics:* keys (what Node's Queue.getMetrics and bull-board read), as
	// BullMQ's worker metrics option does; zero records none.
	Metrics MetricsOptions
	// MaxBatch bounds the finished jobs sent in one call; default 128.
	MaxBatch int
	// Logger receives warnings (lost locks, connection errors); default
	// slog.Default().
	Logger *slog.Logger
}

func (o *WorkerOptions) defaults() {
	if o.Concurrency <= 0 {
		o.Concurrency = 1
	}
	if o.LockDuration <= 0 {
		o.LockDuration = 30 * time.Second
	}
	if o.LockRenewTime <= 0 {
		o.LockRenewTime = o.LockDuration / 2
	}
	if o.StalledInterval <= 0 {
		o.StalledInterval = 30 * time.Second
	}
	if o.MaxStalledCount == 0 {
		o.MaxStalledCount = 1
	} else if o.MaxStalledCount < 0 {
		o.MaxStalledCount = 0
	}
	if o.DrainDelay <= 0 {
		o.DrainDelay = 5 * time.Second
	}
	o.DrainDelay = min(o.DrainDelay, maxBlock)
	if o.ShutdownTimeout <= 0 {
		o.ShutdownTimeout = 30 * time.Second
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = 128
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

const maxBlock = 10 * time.Second

// finishers is how many finish calls a worker may have in flight.
const finishers = 2

// Worker fetches and runs jobs of one queue. Create it with NewWorker and
// call Run once. Its methods are safe for concurrent use.
type Worker struct {
	q   *Queue
	h   Handler
	o   WorkerOptions
	id  string
	log *slog.Logger

	tokens atomic.Int64
	slots  chan struct{} // signalled when slots become free

	mu   sync.Mutex
	free int
	// held maps the lock token of every job a handler runs to its job: a
	// token is unique per fetch, so a job fetched again after a stall
	// (same id, new token) does not hide the goroutine still running it.
	held     map[string]*heldJob
	draining bool

	// results is unbuffered: a result is either taken by a finisher or,
	// once the finishers are gone, dropped; none waits in a buffer.
	results chan result
	// gone is closed when Run stops collecting results: a handler that
	// returns later drops its result (the stalled check recovers the job)
	// instead of sending on a channel nobody reads.
	gone    chan struct{}
	running atomic.Bool
	st      counters
	// fetchLoop and locksLoop own the retries of the fetch and lock loops.
	fetchLoop, locksLoop *retry.Loop
}

type heldJob struct {
	id     string
	cancel context.CancelCauseFunc
	start  time.Time
}

type result struct {
	job   *Job
	token string
	val   any
	err   error
	took  time.Duration
	panic bool
}

// NewWorker returns a worker for queue name. It does no I/O; the same name
// rules as New apply.
func NewWorker(rdb redis.UniversalClient, name string, h Handler, opts WorkerOptions) (*Worker, error) {
	q, err := New(rdb, name, opts.Options)
	if err != nil {
		return nil, err
	}
	if h == nil {
		return nil, errors.New("queue: nil handler")
	}
	opts.defaults()
	// a job left to the stalled check is not run (see advanceOnTake)
	run := h
	h = func(ctx context.Context, j *Job) (any, error) {
		if j.stall {
			return nil, errStall
		}
		return run(ctx, j)
	}
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	log := opts.Logger.With("queue", name)
	return &Worker{q: q, h: h, o: opts, id: hex.EncodeToString(b), log: log,
		fetchLoop: &retry.Loop{Name: "queue fetch " + name, Log: log},
		locksLoop: &retry.Loop{Name: "queue locks " + name, Log: log},
		slots:     make(chan struct{}, 1), free: opts.Concurrency, held: map[string]*heldJob{},
		results: make(chan result), gone: make(chan struct{})}, nil
}

// ClientName is the connection name the worker sets, the one Node's
// Queue.getWorkers() lists: "<prefix>:<base64(queue)>" plus ":w:<name>".
func (w *Worker) ClientName() string {
	n := w.q.opts.prefix() + ":" + base64.StdEncoding.EncodeToString([]byte(w.q.name))
	if w.o.Name != "" {
		n += ":w:" + w.o.Name
	}
	return n
}

// blockingClient opens the worker's own connection for BZPOPMIN, named
// with CLIENT SETNAME on every (re)connect.
func (w *Worker) blockingClient() redis.UniversalClient {
	return dedicatedClient(w.q.rdb, w.ClientName())
}

// dedicatedClient clones rdb's options into a small client of its own for
// blocking commands (closing it interrupts them), named clientName.
// It returns nil for client types it cannot clone.
func dedicatedClient(rdb redis.UniversalClient, clientName string) redis.UniversalClient {
	rt := maxBlock + 5*time.Second
	off := &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	switch c := rdb.(type) {
	case *redis.ClusterClient:
		o := *c.Options()
		o.ClientName, o.ReadTimeout, o.PoolSize, o.MinIdleConns = clientName, rt, 2, 0
		o.MaintNotificationsConfig = off
		return redis.NewClusterClient(&o)
	case *redis.Client:
		o := *c.Options()
		o.ClientName, o.ReadTimeout, o.PoolSize, o.MinIdleConns = clientName, rt, 2, 0
		o.MaintNotificationsConfig = off
		return redis.NewClient(&o)
	}
	return nil
}

// Run processes jobs until ctx ends, then stops fetching, waits up to
// ShutdownTimeout for in-flight jobs, cancels and returns the rest to wait,
// and returns ctx's error wrapped. Run may be called once. It returns an
// error wrapping ErrUnsupported at once, without fetching, when the
// queue's meta.version is not BullMQ 6's (a future major, BullMQ Pro).
func (w *Worker) Run(ctx context.Context) error {
	if !w.running.CompareAndSwap(false, true) {
		return errors.New("queue: Worker.Run called twice")
	}
	if err := w.q.checkQueue(ctx); err != nil {
		return err
	}
	bc := w.blockingClient()
	// work outlives ctx: it carries the in-flight jobs through shutdown.
	work, stopWork := context.WithCancelCause(context.WithoutCancel(ctx))
	defer stopWork(nil)

	var wg sync.WaitGroup
	// Two finishers: one batch is in Redis while the next one forms.
	var fw sync.WaitGroup
	for range finishers {
		fw.Go(func() { w.finisher(work) })
	}
	wg.Go(func() { w.fetcher(ctx, work, bc) })
	var locks sync.WaitGroup
	locks.Go(func() { w.lockLoop(ctx, work) })
	if bc != nil {
		// closing the blocking client interrupts a BZPOPMIN in flight.
		context.AfterFunc(ctx, func() { _ = bc.Close() })
	}
	<-ctx.Done()
	wg.Wait()

	// Graceful shutdown: wait for in-flight jobs.
	w.mu.Lock()
	w.draining = true
	w.mu.Unlock()
	deadline := time.NewTimer(w.o.ShutdownTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	cancelled := false
	for w.inFlight() > 0 {
		select {
		case <-deadline.C:
			if !cancelled {
				cancelled = true
				w.mu.Lock()
				for _, h := range w.held {
					h.cancel(context.Cause(ctx))
				}
				w.mu.Unlock()
				deadline.Reset(w.o.LockDuration)
				continue
			}
			w.log.Warn("queue: handlers ignore cancellation; leaving their jobs to the stalled check", "jobs", w.inFlight())
			goto out
		case <-tick.C:
		}
	}
out:
	// Results are never closed: a late handler may still send. Closing
	// gone ends the finishers (after the results already sent) and tells
	// late handlers to drop theirs.
	close(w.gone)
	fw.Wait()
	stopWork(nil)
	locks.Wait()
	return fmt.Errorf("queue: worker stopped: %w", ctx.Err())
}

func (w *Worker) inFlight() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.held)
}

// reserve takes up to n free slots.
func (w *Worker) reserve(n int) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.draining {
		return 0
	}
	n = min(n, w.free)
	w.free -= n
	return n
}

// release gives back n slots.
func (w *Worker) release(n int) {
	if n <= 0 {
		return
	}
	w.mu.Lock()
	w.free += n
	w.mu.Unlock()
	select {
	case w.slots <- struct{}{}:
	default:
	}
}

// tokenBase returns a lock-token prefix unique to one fetch call; a job's
// token is the prefix followed by its id ("<worker id>:<call>:<job id>").
func (w *Worker) tokenBase() string {
	return w.id + ":" + strconv.FormatInt(w.tokens.Add(1), 10) + ":"
}

func (w *Worker) limiter() (limit int, dur int64) {
	return w.o.Limiter.Max, w.o.Limiter.Duration.Milliseconds()
}
