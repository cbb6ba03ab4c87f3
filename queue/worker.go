package queue

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	mrand "math/rand/v2"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
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

	mu       sync.Mutex
	free     int
	held     map[string]*heldJob
	draining bool

	results chan result
	running atomic.Bool
	st      counters
}

type heldJob struct {
	token  string
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
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return &Worker{q: q, h: h, o: opts, id: hex.EncodeToString(b), log: opts.Logger.With("queue", name),
		slots: make(chan struct{}, 1), free: opts.Concurrency, held: map[string]*heldJob{},
		results: make(chan result, opts.Concurrency)}, nil
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
// and returns ctx's error wrapped. Run may be called once.
func (w *Worker) Run(ctx context.Context) error {
	if !w.running.CompareAndSwap(false, true) {
		return errors.New("queue: Worker.Run called twice")
	}
	bc := w.blockingClient()
	// work outlives ctx: it carries the in-flight jobs through shutdown.
	work, stopWork := context.WithCancelCause(context.WithoutCancel(ctx))
	defer stopWork(nil)

	var wg sync.WaitGroup
	finDone := make(chan struct{})
	go func() {
		defer close(finDone)
		// Two finishers: one batch is in Redis while the next one forms.
		var fw sync.WaitGroup
		for range finishers {
			fw.Go(func() { w.finisher(work) })
		}
		fw.Wait()
	}()
	wg.Go(func() { w.fetcher(ctx, work, bc) })
	wg.Go(func() { w.timers(ctx, work) })
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
	close(w.results)
	<-finDone
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

// fetched is what take/finish return about new jobs.
type fetched struct {
	ttl     int64 // rate limit: wait this long (ms)
	nextDue int64 // next delayed job (ms since epoch), 0 = none
	n       int
}

func (w *Worker) parseFetched(work context.Context, v any) (fetched, error) {
	arr, ok := v.([]any)
	if !ok || len(arr) < 2 {
		return fetched{}, fmt.Errorf("queue: unexpected fetch reply %T", v)
	}
	f := fetched{}
	f.ttl, _ = arr[0].(int64)
	f.nextDue, _ = arr[1].(int64)
	for i := 2; i+2 < len(arr); i += 3 {
		id, _ := arr[i].(string)
		token, _ := arr[i+1].(string)
		fl, _ := arr[i+2].([]any)
		fields := make(map[string]string, len(fl)/2)
		for j := 0; j+1 < len(fl); j += 2 {
			k, _ := fl[j].(string)
			s, _ := fl[j+1].(string)
			fields[k] = s
		}
		w.start(work, id, token, fields)
		f.n++
	}
	return f, nil
}

// start runs one fetched job in its own goroutine.
func (w *Worker) start(work context.Context, id, token string, fields map[string]string) {
	job, perr := parseJob(w.q, id, fields)
	job.token = token
	jctx, cancel := context.WithCancelCause(work)
	now := time.Now()
	w.mu.Lock()
	w.held[id] = &heldJob{token: token, cancel: cancel, start: now}
	w.mu.Unlock()
	w.st.started.Add(1)
	go func() {
		r := result{job: job, token: token}
		defer func() {
			if p := recover(); p != nil {
				r.err = fmt.Errorf("panic: %v\n\n%s", p, debug.Stack())
				r.panic = true
			}
			r.took = time.Since(now)
			w.results <- r
		}()
		w.q.advanceOnTake(jctx, w.log, job) // h-sched: add a job scheduler's next run on take, before the handler (as BullMQ's worker)
		switch {
		case perr != nil:
			r.err = fmt.Errorf("%w: %w", ErrUnrecoverable, perr)
		case job.DeferredFailure != "":
			r.err = unrecoverableMsg(job.DeferredFailure)
		default:
			r.val, r.err = w.h(jctx, job)
		}
	}()
}

// fetcher takes jobs when slots are free and blocks on the marker when the
// queue has none ready.
func (w *Worker) fetcher(ctx, work context.Context, bc redis.UniversalClient) {
	k := w.q.k
	backoff := 50 * time.Millisecond
	for ctx.Err() == nil {
		n := w.reserve(w.o.Concurrency)
		if n == 0 {
			select {
			case <-w.slots:
			case <-ctx.Done():
			}
			continue
		}
		t0 := time.Now()
		base := w.tokenBase()
		lm, ld := w.limiter()
		v, err := takeScript.Run(work, w.q.rdb, []string{k.wait, k.active, k.prioritized, k.events, k.stalled, k.limiter, k.delayed, k.meta, k.pc, k.marker},
			k.base, time.Now().UnixMilli(), n, base, 0, w.o.LockDuration.Milliseconds(), w.o.Name, lm, ld).Result()
		var f fetched
		if err == nil {
			f, err = w.parseFetched(work, v)
		}
		w.release(n - f.n)
		if err != nil {
			w.st.errors.Add(1)
			w.log.Warn("queue: fetch failed", "err", takeScript.Err(err))
			reload(ctx, w.q.rdb, bc)
			sleepCtx(ctx, backoff)
			backoff = min(backoff*2, 2*time.Second)
			continue
		}
		backoff = 50 * time.Millisecond
		w.st.fetches.Add(1)
		w.st.fetchNanos.Add(int64(time.Since(t0)))
		w.st.lastOK.Store(time.Now().UnixNano())
		if f.n > 0 {
			continue
		}
		if f.ttl > 0 {
			sleepCtx(ctx, time.Duration(f.ttl)*time.Millisecond)
			continue
		}
		block := w.o.DrainDelay
		if f.nextDue > 0 {
			d := time.Until(time.UnixMilli(f.nextDue))
			if d <= 0 {
				continue
			}
			block = min(max(d, time.Millisecond), maxBlock)
		}
		if bc == nil {
			sleepCtx(ctx, min(block, 100*time.Millisecond))
			continue
		}
		err = bc.Do(work, "BZPOPMIN", k.marker, strconv.FormatFloat(block.Seconds(), 'f', 3, 64)).Err()
		if err != nil && !errors.Is(err, redis.Nil) {
			if ctx.Err() != nil {
				return
			}
			w.st.errors.Add(1)
			w.log.Warn("queue: waiting for jobs failed", "err", err)
			reload(ctx, w.q.rdb, bc)
			sleepCtx(ctx, backoff)
			backoff = min(backoff*2, 2*time.Second)
			continue
		}
		w.st.lastOK.Store(time.Now().UnixNano())
	}
}

// reload asks cluster clients to reload the slot map: go-redis does not
// do it on "connection refused" after a master died, so a worker would
// keep dialling the dead node until its periodic reload.
func reload(ctx context.Context, cs ...redis.UniversalClient) {
	for _, c := range cs {
		if cc, ok := c.(*redis.ClusterClient); ok {
			cc.ReloadState(ctx)
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// timers renews held locks and runs the stalled check.
func (w *Worker) timers(ctx, work context.Context) {
	renew := time.NewTicker(w.o.LockRenewTime)
	defer renew.Stop()
	stalled := time.NewTicker(w.o.StalledInterval)
	defer stalled.Stop()
	w.checkStalled(work)
	for {
		select {
		case <-ctx.Done():
			// keep renewing while in-flight jobs drain
			go w.renewUntilIdle(work)
			return
		case <-renew.C:
			w.renew(work)
		case <-stalled.C:
			w.checkStalled(work)
		}
	}
}

func (w *Worker) renewUntilIdle(work context.Context) {
	t := time.NewTicker(w.o.LockRenewTime)
	defer t.Stop()
	for w.inFlight() > 0 {
		select {
		case <-t.C:
			w.renew(work)
		case <-work.Done():
			return
		}
	}
}

// renew extends every held lock in one call and cancels the jobs whose
// lock is gone.
func (w *Worker) renew(ctx context.Context) {
	w.mu.Lock()
	args := make([]any, 0, 2+2*len(w.held))
	args = append(args, w.q.k.base, w.o.LockDuration.Milliseconds())
	sent := make(map[string]string, len(w.held))
	for id, h := range w.held {
		args = append(args, id, h.token)
		sent[id] = h.token
	}
	w.mu.Unlock()
	if len(args) == 2 {
		return
	}
	res, err := extendScript.Run(ctx, w.q.rdb, []string{w.q.k.stalled}, args...).StringSlice()
	if err != nil {
		w.st.errors.Add(1)
		w.log.Warn("queue: lock renewal failed", "err", err)
		reload(ctx, w.q.rdb)
		return
	}
	var lost []string
	w.mu.Lock()
	for _, id := range res {
		// a job finished meanwhile released its lock itself: not lost
		if h, ok := w.held[id]; ok && h.token == sent[id] {
			h.cancel(ErrLockLost)
			lost = append(lost, id)
		}
	}
	w.mu.Unlock()
	if len(lost) > 0 {
		w.st.lostLocks.Add(int64(len(lost)))
		w.log.Warn("queue: lost job locks", "jobs", lost)
	}
}

func (w *Worker) checkStalled(ctx context.Context) {
	k := w.q.k
	moved, err := stalledScript.Run(ctx, w.q.rdb, []string{k.stalled, k.wait, k.active, k.stalledCheck, k.meta, k.marker, k.events, k.repeat},
		w.o.MaxStalledCount, k.base, time.Now().UnixMilli(), w.o.StalledInterval.Milliseconds()).StringSlice()
	if err != nil {
		w.st.errors.Add(1)
		w.log.Warn("queue: stalled check failed", "err", err)
		return
	}
	if len(moved) > 0 {
		w.st.stalled.Add(int64(len(moved)))
		w.log.Warn("queue: recovered stalled jobs", "jobs", moved)
	}
}

// finisher sends finished jobs in batches, fetching new ones in the same
// call while slots are free.
func (w *Worker) finisher(work context.Context) {
	batch := make([]result, 0, w.o.MaxBatch)
	for r := range w.results {
		batch = append(batch[:0], r)
	more:
		for len(batch) < w.o.MaxBatch {
			select {
			case r, ok := <-w.results:
				if !ok {
					break more
				}
				batch = append(batch, r)
			default:
				break more
			}
		}
		w.finish(work, batch)
	}
}

func (w *Worker) finish(work context.Context, batch []result) {
	k := w.q.k
	w.mu.Lock()
	draining := w.draining
	for _, r := range batch {
		if h, ok := w.held[r.job.ID]; ok && h.token == r.token {
			delete(w.held, r.job.ID)
			h.cancel(nil)
		}
	}
	w.free += len(batch)
	n := 0
	if !draining {
		n, w.free = w.free, 0
	}
	w.mu.Unlock()

	base := w.tokenBase()
	lm, ld := w.limiter()
	now := time.Now()
	// removal settings are sent once per batch and referred to by index
	type keepTuple struct {
		count int
		age   int64
		limit int
	}
	var tuples []keepTuple
	idx := map[keepTuple]int{}
	keepIndex := func(r *Removal) int {
		c, a, l := r.keep()
		t := keepTuple{c, a, l}
		i, ok := idx[t]
		if !ok {
			tuples = append(tuples, t)
			i = len(tuples)
			idx[t] = i
		}
		return i
	}
	entries := make([]any, 0, 10*len(batch))
	kinds := make([]string, len(batch))
	for i, r := range batch {
		e := w.entry(r, draining, keepIndex)
		kinds[i] = e[0].(string)
		entries = append(entries, e...)
	}
	args := make([]any, 0, 11+3*len(tuples)+len(entries))
	args = append(args, k.base, now.UnixMilli(), len(batch), n, base, 0, w.o.LockDuration.Milliseconds(), w.o.Name, lm, ld, len(tuples))
	for _, t := range tuples {
		args = append(args, t.count, t.age, t.limit)
	}
	args = append(args, entries...)
	keys := []string{k.wait, k.active, k.prioritized, k.events, k.stalled, k.limiter, k.delayed, k.meta, k.pc, k.marker, k.completed, k.failed}
	var v []any
	var err error
	for attempt := 0; ; attempt++ {
		v, err = finishScript.Run(work, w.q.rdb, keys, args...).Slice()
		if err == nil || attempt >= 20 || work.Err() != nil {
			break
		}
		w.st.errors.Add(1)
		w.log.Warn("queue: finishing jobs failed, retrying", "err", err, "jobs", len(batch))
		reload(work, w.q.rdb)
		sleepCtx(work, time.Duration(min(50<<attempt, 2000))*time.Millisecond)
	}
	if err != nil {
		w.release(n)
		w.log.Error("queue: finishing jobs failed; the stalled check will recover them", "err", err, "jobs", len(batch))
		return
	}
	codes, _ := v[0].([]any)
	for i, r := range batch {
		var c int64
		if i < len(codes) {
			c, _ = codes[i].(int64)
		}
		w.st.processNanos.Add(int64(r.took))
		if c != 0 {
			w.st.lostLocks.Add(1)
			w.log.Warn("queue: job finished after losing its lock; not retried", "err", &FinishError{JobID: r.job.ID, Code: c})
			continue
		}
		switch kinds[i] {
		case "c":
			w.st.completed.Add(1)
		case "f":
			w.st.failed.Add(1)
		case "d", "w":
			w.st.retried.Add(1)
		case "r":
			w.st.returned.Add(1)
		}
	}
	var f fetched
	if len(v) > 1 {
		f, err = w.parseFetched(work, v[1])
		if err != nil {
			w.log.Warn("queue: bad fetch reply", "err", err)
		}
	}
	w.st.lastOK.Store(time.Now().UnixNano())
	w.release(n - f.n)
}

// entry builds the script arguments of one finished job (see
// finish-12.lua), deciding between completion, retry and failure as
// BullMQ's worker does.
func (w *Worker) entry(r result, draining bool, keepIndex func(*Removal) int) []any {
	j := r.job
	keepC, keepF := j.Opts.RemoveOnComplete, j.Opts.RemoveOnFail
	if keepC == nil {
		keepC = w.o.RemoveOnComplete
	}
	if keepF == nil {
		keepF = w.o.RemoveOnFail
	}
	lifo := "0"
	if j.Opts.LIFO {
		lifo = "1"
	}
	atm := j.AttemptsMade + 1
	mk := func(kind, value, stack string, delay int64, keep *Removal) []any {
		if kind == "c" {
			return []any{kind, j.ID, r.token, value, atm, keepIndex(keep)}
		}
		return []any{kind, j.ID, r.token, value, stack, delay, keepIndex(keep), j.Opts.Attempts, lifo, atm}
	}
	if r.err == nil {
		b, err := json.Marshal(r.val)
		if err == nil {
			return mk("c", string(b), "", 0, keepC)
		}
		r.err = fmt.Errorf("%w: return value: %w", ErrUnrecoverable, err)
	}
	if draining && !r.panic && errors.Is(r.err, context.Canceled) && !errors.Is(r.err, ErrLockLost) {
		return mk("r", "", "", 0, nil)
	}
	reason := r.err.Error()
	trace := append([]string(nil), j.Stacktrace...)
	trace = append(trace, fmt.Sprintf("%+v", r.err))
	if lim := j.Opts.StackTraceLimit; lim > 0 && len(trace) > lim {
		trace = trace[len(trace)-lim:]
	}
	st, _ := json.Marshal(trace)
	if j.AttemptsMade+1 < j.Opts.Attempts && !unrecoverable(r.err) {
		if d, ok := w.backoff(j, r.err); ok {
			if d > 0 {
				return mk("d", reason, string(st), d.Milliseconds(), keepF)
			}
			return mk("w", reason, string(st), 0, keepF)
		}
	}
	return mk("f", reason, string(st), 0, keepF)
}

// backoff returns the retry delay of j after err (BullMQ's Backoffs).
func (w *Worker) backoff(j *Job, err error) (time.Duration, bool) {
	b := j.Opts.Backoff
	if b == nil {
		return 0, true
	}
	attempt := j.AttemptsMade + 1
	delay := float64(b.Delay)
	switch b.Type {
	case "fixed":
	case "exponential":
		delay = math.Round(math.Pow(2, float64(attempt-1)) * delay)
	default:
		if w.o.Backoff == nil {
			return 0, true
		}
		return w.o.Backoff(attempt, b.Type, err, j)
	}
	if b.Jitter > 0 {
		delay = math.Floor(mrand.Float64()*delay*b.Jitter + delay*(1-b.Jitter))
	}
	return time.Duration(delay) * time.Millisecond, true
}
