package queue

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Options configure a Queue (and the queue part of a Worker).
type Options struct {
	// Prefix is the first part of every key; default "bull" (BullMQ's).
	// On a cluster, put a hash tag in it ("{bull}") or in the queue name.
	Prefix string
}

func (o Options) prefix() string {
	if o.Prefix == "" {
		return "bull"
	}
	return o.Prefix
}

// Queue adds jobs to a BullMQ queue and inspects it. Safe for concurrent use.
type Queue struct {
	rdb  redis.UniversalClient
	name string
	opts Options
	k    keys
	now  func() time.Time
}

// New returns the queue called name. It does no I/O. It fails with
// ErrInvalidName for a name containing ':' and, on a cluster client, with
// ErrCrossSlot when the keys would not share one hash slot.
func New(rdb redis.UniversalClient, name string, opts Options) (*Queue, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	if _, ok := rdb.(*redis.ClusterClient); ok {
		if err := checkSlot(opts.prefix(), name); err != nil {
			return nil, err
		}
	}
	return &Queue{rdb: rdb, name: name, opts: opts, k: newKeys(opts.prefix(), name), now: time.Now}, nil
}

// Name is the queue name.
func (q *Queue) Name() string { return q.name }

// Backoff is a retry backoff (BullMQ's {type, delay, jitter}).
type Backoff struct {
	// Type is "fixed", "exponential", or a custom name handled by
	// WorkerOptions.Backoff.
	Type string `json:"type"`
	// Delay is the base delay in milliseconds (fixed: every retry;
	// exponential: 2^(attempt-1) * Delay).
	Delay int64 `json:"delay,omitempty"`
	// Jitter in [0,1] randomises the delay down by up to that fraction.
	Jitter float64 `json:"jitter,omitempty"`
}

// Removal says which finished jobs to delete (BullMQ removeOnComplete /
// removeOnFail). The zero value keeps every job.
type Removal struct {
	// Remove deletes the job as soon as it finishes (BullMQ `true`).
	Remove bool
	// Count keeps at most the newest Count jobs (0 = no count limit).
	Count int
	// Age deletes jobs finished more than Age ago (0 = no age limit).
	Age time.Duration
	// Limit bounds how many old jobs one finish deletes (default 1000).
	Limit int
}

// MarshalJSON encodes r the way BullMQ stores it: true, a count, or
// {count, age}.
func (r Removal) MarshalJSON() ([]byte, error) {
	switch {
	case r.Remove:
		return []byte("true"), nil
	case r.Age == 0 && r.Limit == 0 && r.Count > 0:
		return []byte(strconv.Itoa(r.Count)), nil
	case r.Age == 0 && r.Count == 0:
		return []byte("false"), nil
	}
	m := map[string]any{"age": int64(r.Age / time.Second)}
	if r.Count > 0 {
		m["count"] = r.Count
	}
	if r.Limit > 0 {
		m["limit"] = r.Limit
	}
	return json.Marshal(m)
}

// UnmarshalJSON decodes every form BullMQ accepts (bool, number, object).
func (r *Removal) UnmarshalJSON(b []byte) error {
	*r = Removal{}
	s := strings.TrimSpace(string(b))
	switch {
	case s == "true":
		r.Remove = true
		return nil
	case s == "false" || s == "null":
		return nil
	case strings.HasPrefix(s, "{"):
		var o struct {
			Count *float64 `json:"count"`
			Age   *float64 `json:"age"`
			Limit *float64 `json:"limit"`
		}
		if err := json.Unmarshal(b, &o); err != nil {
			return err
		}
		if o.Count != nil {
			r.Count = int(*o.Count)
			if r.Count == 0 && o.Age == nil {
				r.Remove = true
			}
		}
		if o.Age != nil {
			r.Age = time.Duration(*o.Age * float64(time.Second))
		}
		if o.Limit != nil {
			r.Limit = int(*o.Limit)
		}
		return nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return fmt.Errorf("queue: removal %s: %w", s, err)
	}
	if f <= 0 {
		r.Remove = f == 0
		return nil
	}
	r.Count = int(f)
	return nil
}

// keep returns the script's (count, age seconds, limit): count -1 keeps all,
// 0 removes at once.
func (r *Removal) keep() (count int, age int64, limit int) {
	if r == nil {
		return -1, 0, 1000
	}
	limit = r.Limit
	if limit <= 0 {
		limit = 1000
	}
	if r.Remove {
		return 0, 0, limit
	}
	count = r.Count
	if count == 0 {
		count = -1
	}
	return count, int64(r.Age / time.Second), limit
}

// JobOptions are the per-job options, stored in the job's `opts` JSON under
// BullMQ's names so Node reads them.
type JobOptions struct {
	// JobID is a custom id: not an integer, no ':'. Adding an id that exists
	// is a no-op (event "duplicated"). Default: the queue's counter.
	JobID string `json:"jobId,omitempty"`
	// Priority 1..2^21-1 runs before jobs without one; lower runs first.
	Priority int `json:"priority,omitempty"`
	// Delay postpones the job.
	Delay time.Duration `json:"-"`
	// LIFO puts the job at the front of the wait list.
	LIFO bool `json:"lifo,omitempty"`
	// Attempts is how many times the job may run (default 1).
	Attempts int `json:"attempts"`
	// Backoff spaces retries; nil retries at once.
	Backoff *Backoff `json:"backoff,omitempty"`
	// RemoveOnComplete and RemoveOnFail; nil keeps the jobs (or uses the
	// worker's defaults).
	RemoveOnComplete *Removal `json:"removeOnComplete,omitempty"`
	RemoveOnFail     *Removal `json:"removeOnFail,omitempty"`
	// StackTraceLimit bounds the stored stack traces (0 = unbounded).
	StackTraceLimit int `json:"stackTraceLimit,omitempty"`
	// FailParentOnFailure, ContinueParentOnFailure,
	// IgnoreDependencyOnFailure and RemoveDependencyOnFailure say what a
	// flow child's final failure does to its parent (BullMQ's fpof, cpof,
	// idof, rdof): fail it, move it on at once, move it on when the other
	// children are done (failure recorded), or drop the dependency. None
	// set: the parent keeps waiting.
	FailParentOnFailure       bool `json:"fpof,omitempty"`
	ContinueParentOnFailure   bool `json:"cpof,omitempty"`
	IgnoreDependencyOnFailure bool `json:"idof,omitempty"`
	RemoveDependencyOnFailure bool `json:"rdof,omitempty"`
	// KeepLogs bounds the job's log to its newest KeepLogs lines (BullMQ
	// keepLogs, stored as "kl"); 0 keeps all.
	KeepLogs int `json:"kl,omitempty"`
	// Deduplication absorbs adds with the same dedup id while a job holds
	// it (BullMQ's deduplication option, stored as "de"); nil = none.
	Deduplication *Deduplication `json:"de,omitempty"`
	// Parent makes the job a flow child of an existing job (Node's
	// opts.parent), typically the job a handler runs, which then waits
	// for it with Job.MoveToWaitingChildren. The parent's queue must share
	// this queue's prefix hash tag on a cluster. Add fails with
	// ErrParent when the parent does not exist. nil = none.
	Parent *JobRef `json:"parent,omitempty"`
}

// JobRef names a job of any queue: its id and its queue's qualified name
// "<prefix>:<name>" (Node's job.queueQualifiedName).
type JobRef struct {
	ID    string `json:"id"`
	Queue string `json:"queue"`
}

// key is the job's key, "<prefix>:<name>:<id>".
func (r JobRef) key() string { return r.Queue + ":" + r.ID }

// Deduplication is BullMQ's deduplication option. While the job that
// took the dedup id exists (simple mode) or for TTL (throttle mode), later
// adds with the same ID add nothing and return that job's id
// (Added.Deduplicated). The id is released when the job completes or
// fails for good, is removed or cleaned.
type Deduplication struct {
	// ID is the dedup id (required).
	ID string `json:"id"`
	// TTL makes the dedup id expire (throttle); 0 holds it until the job
	// finishes. Stored in milliseconds.
	TTL time.Duration `json:"-"`
	// Extend restarts the TTL on every deduplicated add.
	Extend bool `json:"extend,omitempty"`
	// Replace makes a new add replace the holder while it is delayed
	// (debounce: with Extend and a delay, only the last add runs).
	Replace bool `json:"replace,omitempty"`
	// KeepLastIfActive keeps the newest add while the holder is active
	// and adds it when the holder finishes (at most one active and one
	// waiting job per dedup id). TTL is not applied.
	KeepLastIfActive bool `json:"keepLastIfActive,omitempty"`
	// Reschedule moves a delayed holder to this add's delay, counted from
	// now (no delay: due now), keeping its id and data; a holder in any
	// other state is left alone. Ignored with Replace (BullMQ's
	// reschedule).
	Reschedule bool `json:"reschedule,omitempty"`
}

type dedupWire struct {
	ID               string  `json:"id"`
	TTL              float64 `json:"ttl,omitempty"`
	Extend           bool    `json:"extend,omitempty"`
	Replace          bool    `json:"replace,omitempty"`
	KeepLastIfActive bool    `json:"keepLastIfActive,omitempty"`
	Reschedule       bool    `json:"reschedule,omitempty"`
}

// MarshalJSON writes the option as Node stores it (ttl in ms).
func (d Deduplication) MarshalJSON() ([]byte, error) {
	return json.Marshal(dedupWire{ID: d.ID, TTL: float64(d.TTL.Milliseconds()), Extend: d.Extend, Replace: d.Replace,
		KeepLastIfActive: d.KeepLastIfActive, Reschedule: d.Reschedule})
}

// UnmarshalJSON reads the option as Node stores it.
func (d *Deduplication) UnmarshalJSON(b []byte) error {
	var w dedupWire
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*d = Deduplication{ID: w.ID, TTL: time.Duration(w.TTL * float64(time.Millisecond)), Extend: w.Extend, Replace: w.Replace,
		KeepLastIfActive: w.KeepLastIfActive, Reschedule: w.Reschedule}
	return nil
}

// wireOpts is JobOptions plus everything Node may have stored that we carry
// through untouched.
type wireOpts struct {
	JobOptions
	DelayMS int64 `json:"delay,omitempty"`
}

// parentField is a child's "parent" hash field as Node writes it: the
// parent's id and queue key, and the child's failure policy.
func parentField(o *JobOptions) string {
	p := map[string]any{"id": o.Parent.ID, "queueKey": o.Parent.Queue}
	for k, on := range map[string]bool{"fpof": o.FailParentOnFailure, "cpof": o.ContinueParentOnFailure,
		"idof": o.IgnoreDependencyOnFailure, "rdof": o.RemoveDependencyOnFailure} {
		if on {
			p[k] = true
		}
	}
	b, _ := json.Marshal(p)
	return string(b)
}

func (o JobOptions) encode() ([]byte, error) {
	return json.Marshal(wireOpts{JobOptions: o, DelayMS: o.Delay.Milliseconds()})
}

func decodeOpts(s string) (JobOptions, error) {
	var w wireOpts
	if s == "" {
		return JobOptions{}, nil
	}
	if err := json.Unmarshal([]byte(s), &w); err != nil {
		return JobOptions{}, err
	}
	w.JobOptions.Delay = time.Duration(w.DelayMS) * time.Millisecond
	return w.JobOptions, nil
}

func (o JobOptions) validate() error {
	if id := o.JobID; id != "" {
		if _, err := strconv.ParseInt(id, 10, 64); err == nil {
			return fmt.Errorf("%w: custom job id %q is an integer", ErrInvalidOption, id)
		}
		if strings.Contains(id, ":") {
			return fmt.Errorf("%w: custom job id %q contains ':'", ErrInvalidOption, id)
		}
	}
	if o.Priority < 0 || o.Priority > 1<<21-1 {
		return fmt.Errorf("%w: priority %d out of 0..2097151", ErrInvalidOption, o.Priority)
	}
	if o.Delay < 0 {
		return fmt.Errorf("%w: negative delay %v", ErrInvalidOption, o.Delay)
	}
	if o.Attempts < 0 {
		return fmt.Errorf("%w: negative attempts %d", ErrInvalidOption, o.Attempts)
	}
	if o.KeepLogs < 0 {
		return fmt.Errorf("%w: negative keepLogs %d", ErrInvalidOption, o.KeepLogs)
	}
	var policies []string
	for _, p := range []struct {
		name string
		on   bool
	}{{"removeDependencyOnFailure", o.RemoveDependencyOnFailure}, {"failParentOnFailure", o.FailParentOnFailure},
		{"continueParentOnFailure", o.ContinueParentOnFailure}, {"ignoreDependencyOnFailure", o.IgnoreDependencyOnFailure}} {
		if p.on {
			policies = append(policies, p.name)
		}
	}
	if len(policies) > 1 {
		// BullMQ 6.7.0 refuses it too: a child has one failure policy
		return fmt.Errorf("%w: the following options cannot be used together: %s", ErrInvalidOption, strings.Join(policies, ", "))
	}
	if p := o.Parent; p != nil && (p.ID == "" || p.Queue == "") {
		return fmt.Errorf("%w: parent %+v needs an id and a queue", ErrInvalidOption, *p)
	}
	if d := o.Deduplication; d != nil {
		if d.ID == "" {
			return fmt.Errorf("%w: deduplication without an id", ErrInvalidOption)
		}
		if o.Parent != nil {
			// BullMQ 6.7.0 refuses it too (a flow child is never deduplicated)
			return fmt.Errorf("%w: deduplication and parent options cannot be used together", ErrInvalidOption)
		}
		if d.TTL < 0 {
			return fmt.Errorf("%w: negative deduplication ttl %v", ErrInvalidOption, d.TTL)
		}
	}
	return nil
}

// JobOption sets one per-call job option.
type JobOption func(*JobOptions)

// WithOptions sets all options at once.
func WithOptions(o JobOptions) JobOption { return func(p *JobOptions) { *p = o } }

// WithJobID sets a custom job id.
func WithJobID(id string) JobOption { return func(o *JobOptions) { o.JobID = id } }

// WithPriority sets the priority (1 is the most urgent).
func WithPriority(p int) JobOption { return func(o *JobOptions) { o.Priority = p } }

// WithDelay delays the job.
func WithDelay(d time.Duration) JobOption { return func(o *JobOptions) { o.Delay = d } }

// WithLIFO runs the job before the jobs already waiting.
func WithLIFO() JobOption { return func(o *JobOptions) { o.LIFO = true } }

// WithAttempts allows n runs in total.
func WithAttempts(n int) JobOption { return func(o *JobOptions) { o.Attempts = n } }

// WithBackoff sets the retry backoff.
func WithBackoff(b Backoff) JobOption { return func(o *JobOptions) { o.Backoff = &b } }

// WithRemoveOnComplete sets what happens to the job once completed.
func WithRemoveOnComplete(r Removal) JobOption {
	return func(o *JobOptions) { o.RemoveOnComplete = &r }
}

// WithRemoveOnFail sets what happens to the job once failed for good.
func WithRemoveOnFail(r Removal) JobOption { return func(o *JobOptions) { o.RemoveOnFail = &r } }

// WithDeduplication sets the job's deduplication option.
func WithDeduplication(d Deduplication) JobOption {
	return func(o *JobOptions) { o.Deduplication = &d }
}

// WithParent makes the job a flow child of parent (see JobOptions.Parent).
func WithParent(parent JobRef) JobOption { return func(o *JobOptions) { o.Parent = &parent } }

// WithKeepLogs keeps only the newest n log lines of the job.
func WithKeepLogs(n int) JobOption { return func(o *JobOptions) { o.KeepLogs = n } }

// BulkJob is one job of AddBulk.
type BulkJob struct {
	Name string
	Data any
	Opts JobOptions
}

// Added is the result of adding one job.
type Added struct {
	ID string
	// Duplicated is true when a job with the custom id existed already;
	// nothing was added.
	Duplicated bool
	// Deduplicated is true when the add was absorbed by the job holding
	// its dedup id (ID is that job's id); with KeepLastIfActive it is kept
	// and added when that job finishes.
	Deduplicated bool
}

// Add adds one job and returns its id. data is encoded with encoding/json
// ([]byte and json.RawMessage are stored as given and must be JSON).
func (q *Queue) Add(ctx context.Context, name string, data any, opts ...JobOption) (Added, error) {
	var o JobOptions
	for _, f := range opts {
		f(&o)
	}
	r, err := q.AddBulk(ctx, []BulkJob{{Name: name, Data: data, Opts: o}})
	if err != nil {
		return Added{}, err
	}
	return r[0], nil
}

// maxBulk bounds the jobs of one script call.
const maxBulk = 1000

// AddBulk adds jobs atomically per batch of up to 1000, one round trip per
// batch (all keys of a queue are in one slot).
func (q *Queue) AddBulk(ctx context.Context, jobs []BulkJob) ([]Added, error) {
	out := make([]Added, 0, len(jobs))
	for len(jobs) > 0 {
		n := min(len(jobs), maxBulk)
		r, err := q.addBatch(ctx, jobs[:n])
		if err != nil {
			return out, err
		}
		out = append(out, r...)
		jobs = jobs[n:]
	}
	return out, nil
}

func (q *Queue) addBatch(ctx context.Context, jobs []BulkJob) ([]Added, error) {
	args := make([]any, argAddJobs-1+addJobSize*len(jobs))
	args[argAddPrefix-1], args[argAddNow-1], args[argAddCount-1] = q.k.base, q.now().UnixMilli(), len(jobs)
	for i := range jobs {
		j := &jobs[i]
		if err := j.Opts.validate(); err != nil {
			return nil, err
		}
		data, err := encodeData(j.Data)
		if err != nil {
			return nil, fmt.Errorf("queue: job %q data: %w", j.Name, err)
		}
		opts, err := j.Opts.encode()
		if err != nil {
			return nil, fmt.Errorf("queue: job %q options: %w", j.Name, err)
		}
		lifo := "0"
		if j.Opts.LIFO {
			lifo = "1"
		}
		de := ""
		if j.Opts.Deduplication != nil {
			b, err := json.Marshal(j.Opts.Deduplication)
			if err != nil {
				return nil, fmt.Errorf("queue: job %q deduplication: %w", j.Name, err)
			}
			de = string(b)
		}
		a := args[argAddJobs-1+i*addJobSize:]
		a[addJobID], a[addJobName], a[addJobData], a[addJobOpts] = j.Opts.JobID, j.Name, data, opts
		a[addJobDelay], a[addJobPriority], a[addJobLIFO], a[addJobDedup] = j.Opts.Delay.Milliseconds(), j.Opts.Priority, lifo, de
		a[addJobParentKey], a[addJobParent] = "", ""
		if p := j.Opts.Parent; p != nil {
			if err := q.sameSlot(p.Queue); err != nil {
				return nil, err
			}
			a[addJobParentKey], a[addJobParent] = p.key(), parentField(&j.Opts)
		}
	}
	res, err := addScript.Run(ctx, q.rdb, q.k.addKeys(), args...).Slice()
	if err != nil {
		err = addScript.Err(err)
		if isCode(err, "parent") {
			return nil, fmt.Errorf("%w: %w", ErrParent, err)
		}
		return nil, fmt.Errorf("queue: add: %w", err)
	}
	out := make([]Added, 0, len(jobs))
	for i := 0; i+1 < len(res); i += 2 {
		id, _ := res[i].(string)
		st, _ := res[i+1].(int64)
		out = append(out, Added{ID: id, Duplicated: st == 1, Deduplicated: st == 2})
	}
	return out, nil
}

func encodeData(v any) (string, error) {
	switch d := v.(type) {
	case nil:
		return "{}", nil
	case json.RawMessage:
		if !json.Valid(d) {
			return "", fmt.Errorf("%w: data is not valid JSON", ErrInvalidOption)
		}
		return string(d), nil
	case []byte:
		if !json.Valid(d) {
			return "", fmt.Errorf("%w: data is not valid JSON", ErrInvalidOption)
		}
		return string(d), nil
	}
	b, err := json.Marshal(v)
	return string(b), err
}
