package queue

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// State is where a job is.
type State string

// The job states BullMQ knows (v6 keeps paused jobs in wait).
const (
	StateWaiting     State = "waiting"
	StateActive      State = "active"
	StatePrioritized State = "prioritized"
	StateDelayed     State = "delayed"
	StateCompleted   State = "completed"
	StateFailed      State = "failed"
	// StateWaitingChildren is a flow parent waiting for its children.
	StateWaitingChildren State = "waiting-children"
)

// Job is one job as stored in its hash. A Job given to a handler is owned
// by that handler's goroutine; its methods that do I/O are safe for
// concurrent use.
type Job struct {
	ID   string
	Name string
	// Data is the job's JSON payload; see Decode.
	Data json.RawMessage
	Opts JobOptions
	// RawOpts is the stored opts JSON as written by the producer.
	RawOpts      string
	Timestamp    time.Time
	Delay        time.Duration
	Priority     int
	AttemptsMade int
	// AttemptsStarted counts fetches (BullMQ "ats").
	AttemptsStarted int
	StalledCounter  int
	ProcessedOn     time.Time
	FinishedOn      time.Time
	ProcessedBy     string
	FailedReason    string
	Stacktrace      []string
	// ReturnValue is the stored returnvalue JSON.
	ReturnValue json.RawMessage
	// Progress is the stored progress JSON.
	Progress json.RawMessage
	// DeferredFailure, when set, makes the worker fail the job at once.
	DeferredFailure string
	// Fields holds every field of the hash, including ones this package
	// does not interpret (parentKey, rjk, deid, ...).
	Fields map[string]string

	q     *Queue
	token string
	// waiting is set by MoveToWaitingChildren once it moved the job (read
	// by the worker after the handler returned).
	waiting bool
	// stall is set when the worker must neither run nor finish the job
	// but leave it to the stalled check (a scheduler's next run could not
	// be added).
	stall bool
}

// Decode decodes the job's data into v.
func (j *Job) Decode(v any) error {
	if err := json.Unmarshal(j.Data, v); err != nil {
		return fmt.Errorf("queue: job %s data: %w", j.ID, err)
	}
	return nil
}

// parseJob builds a Job from its hash fields. A missing or undecodable
// required field returns an error wrapping ErrCorruptJob, together with the
// partially filled job (so the worker can fail it with the reason).
func parseJob(q *Queue, id string, f map[string]string) (*Job, error) {
	j := &Job{ID: id, Fields: f, q: q, Name: f["name"], RawOpts: f["opts"], FailedReason: f["failedReason"],
		ProcessedBy: f["pb"], DeferredFailure: f["defa"]}
	var bad []string
	ms := func(k string) time.Time {
		v, ok := f[k]
		if !ok || v == "" {
			return time.Time{}
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			bad = append(bad, k)
			return time.Time{}
		}
		return time.UnixMilli(n)
	}
	num := func(k string) int64 {
		v, ok := f[k]
		if !ok || v == "" {
			return 0
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			if fl, ferr := strconv.ParseFloat(v, 64); ferr == nil {
				return int64(fl)
			}
			bad = append(bad, k)
		}
		return n
	}
	j.Timestamp = ms("timestamp")
	j.ProcessedOn = ms("processedOn")
	j.FinishedOn = ms("finishedOn")
	j.Delay = time.Duration(num("delay")) * time.Millisecond
	j.Priority = int(num("priority"))
	j.AttemptsMade = int(num("atm"))
	if _, ok := f["attemptsMade"]; ok && j.AttemptsMade == 0 {
		j.AttemptsMade = int(num("attemptsMade"))
	}
	j.AttemptsStarted = int(num("ats"))
	j.StalledCounter = int(num("stc"))
	if v, ok := f["returnvalue"]; ok {
		j.ReturnValue = json.RawMessage(v)
	}
	if v, ok := f["progress"]; ok {
		j.Progress = json.RawMessage(v)
	}
	if v, ok := f["stacktrace"]; ok && v != "" {
		if err := json.Unmarshal([]byte(v), &j.Stacktrace); err != nil {
			bad = append(bad, "stacktrace")
		}
	}
	o, err := decodeOpts(f["opts"])
	if err != nil {
		bad = append(bad, "opts")
	}
	j.Opts = o
	data, ok := f["data"]
	switch {
	case !ok:
		bad = append(bad, "data (missing)")
	case !json.Valid([]byte(data)):
		bad = append(bad, "data (not JSON)")
	default:
		j.Data = json.RawMessage(data)
	}
	if _, ok := f["name"]; !ok {
		bad = append(bad, "name (missing)")
	}
	if len(bad) > 0 {
		return j, fmt.Errorf("%w: job %s: bad fields %v", ErrCorruptJob, id, bad)
	}
	return j, nil
}

// UpdateProgress stores progress (any JSON value) and emits "progress".
func (j *Job) UpdateProgress(ctx context.Context, progress any) error {
	b, err := json.Marshal(progress)
	if err != nil {
		return fmt.Errorf("queue: progress: %w", err)
	}
	k := j.q.k
	_, err = progressScript.Run(ctx, j.q.rdb, []string{k.job(j.ID), k.events, k.meta}, j.ID, string(b)).Result()
	if err != nil {
		return fmt.Errorf("queue: job %s progress: %w", j.ID, progressScript.Err(err))
	}
	j.Progress = b
	return nil
}

// Log appends a line to the job's log list (BullMQ "<id>:logs"), keeping
// the newest Opts.KeepLogs lines when set. It fails with ErrJobNotFound
// when the job no longer exists (nothing is written).
func (j *Job) Log(ctx context.Context, line string) error {
	args, set := argv(argLogSize)
	set(argLogLine, line)
	set(argLogKeep, j.Opts.KeepLogs)
	n, err := logScript.Run(ctx, j.q.rdb, []string{j.q.k.job(j.ID), j.q.k.logs(j.ID)}, args...).Int64()
	if err != nil {
		return fmt.Errorf("queue: job %s log: %w", j.ID, logScript.Err(err))
	}
	if n < 0 {
		return fmt.Errorf("%w: %s (log)", ErrJobNotFound, j.ID)
	}
	return nil
}

// Logs returns the job's log lines, oldest first.
func (j *Job) Logs(ctx context.Context) ([]string, error) { return j.q.Logs(ctx, j.ID) }

// ChildrenValues returns the return values (JSON) of the job's completed
// children in a flow, keyed by child job key ("<prefix>:<queue>:<id>"),
// as Node's job.getChildrenValues(); children run by Go or Node workers
// alike.
func (j *Job) ChildrenValues(ctx context.Context) (map[string]json.RawMessage, error) {
	m, err := j.q.rdb.HGetAll(ctx, j.q.k.deps(j.ID).processed).Result()
	if err != nil {
		return nil, fmt.Errorf("queue: job %s children values: %w", j.ID, err)
	}
	out := make(map[string]json.RawMessage, len(m))
	for k, v := range m {
		out[k] = json.RawMessage(v)
	}
	return out, nil
}

// Ref names the job for JobOptions.Parent: its id and its queue's
// qualified name.
func (j *Job) Ref() JobRef { return JobRef{ID: j.ID, Queue: strings.TrimSuffix(j.q.k.base, ":")} }

// MoveToWaitingChildren moves the job a handler runs to waiting-children
// when it has pending flow children (child != nil: when that child is
// still pending), as Node's job.moveToWaitingChildren(token, {child}):
// the typical handler adds children with WithParent(j.Ref()), calls it,
// and when it returns true returns ErrWaitingChildren, so the worker
// leaves the job alone; it runs again, on any worker, Go or Node, after
// its last child finished. It returns false, leaving the job active,
// when nothing is pending. It fails with ErrJobNotFound for a job that
// is gone, a *FinishError (wrapping ErrLockLost) when the worker no
// longer holds the job, ErrJobState when a child failed under
// FailParentOnFailure or when the job was not taken by a worker.
func (j *Job) MoveToWaitingChildren(ctx context.Context, child *JobRef) (bool, error) {
	if j.token == "" {
		return false, fmt.Errorf("%w: job %s was not taken by a worker (no lock token)", ErrJobState, j.ID)
	}
	k := j.q.k
	jk := k.job(j.ID)
	args, set := argv(argWaitSize)
	set(argWaitToken, j.token)
	set(argWaitChild, "")
	if child != nil {
		set(argWaitChild, child.key())
	}
	set(argWaitNow, j.q.now().UnixMilli())
	set(argWaitID, j.ID)
	dk := k.deps(j.ID)
	c, err := waitScript.Run(ctx, j.q.rdb, []string{k.active, k.waitingChildren, jk, dk.dependencies,
		dk.unsuccessful, k.stalled, k.events}, args...).Int64()
	if err != nil {
		return false, fmt.Errorf("queue: job %s to waiting-children: %w", j.ID, waitScript.Err(err))
	}
	switch c {
	case 0:
		j.waiting = true
		return true, nil
	case 1:
		return false, nil
	case -1:
		return false, fmt.Errorf("%w: %s (to waiting-children)", ErrJobNotFound, j.ID)
	case -9:
		return false, fmt.Errorf("%w: job %s has a child that failed under failParentOnFailure", ErrJobState, j.ID)
	}
	return false, &FinishError{JobID: j.ID, Code: c}
}
