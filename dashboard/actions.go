package dashboard

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/rediskit/rediskit/internal/script"
	"github.com/rediskit/rediskit/queue"
)

//go:embed movejob-8.lua
var moveJobSrc string

var moveJobScript = script.New("movejob-8.lua", moveJobSrc)

// The replies of movejob-8.lua.
const (
	moveMoved      = 1
	moveNotInState = 0
	moveGone       = -1
)

func (d *Dashboard) queueRoutes() {
	d.get("/api/queues", d.apiQueues)
	d.get("/api/queue", d.apiQueue)
	d.get("/api/jobs", d.apiJobs)
	d.get("/api/search", d.apiSearch)
	d.get("/api/job", d.apiJob)
	d.get("/api/schedulers", d.apiSchedulers)
	d.get("/api/workers", func(ctx context.Context, _ *http.Request) (any, error) {
		ws, err := d.workers(ctx)
		if ws == nil {
			ws = []Worker{}
		}
		return ws, err
	})
	d.action("retry", false, d.actRetry)
	d.action("promote", false, d.actPromote)
	d.action("remove", true, d.actRemove)
	d.action("clean", true, d.actClean)
	d.action("pause", false, d.actPause)
	d.action("resume", false, d.actResume)
	d.action("add", false, d.actAdd)
	d.action("retry-all", false, d.actRetryAll)
	d.action("promote-all", false, d.actPromoteAll)
}

// actionQueue returns the queue package's handle on the body's queue,
// after checking that it exists.
func (d *Dashboard) actionQueue(ctx context.Context, b actionBody) (queueRef, *queue.Queue, error) {
	q, err := queueParam(b.Queue)
	if err != nil {
		return q, nil, err
	}
	qq, err := d.queue(q)
	if err != nil {
		return q, nil, err
	}
	n, err := d.rdb.Exists(ctx, q.key(sufMeta)).Result()
	if err != nil {
		return q, nil, fmt.Errorf("dashboard: %s: %w", q.ID(), err)
	}
	if n == 0 {
		return q, nil, fmt.Errorf("%w: queue %s", ErrNotFound, q.ID())
	}
	return q, qq, nil
}

// moveJob runs movejob-8.lua: one job from failed or delayed to wait.
func (d *Dashboard) moveJob(ctx context.Context, q queueRef, id, from string) error {
	if id == "" {
		return fmt.Errorf("%w: id missing", ErrBadRequest)
	}
	keys := []string{q.stateKey(from), q.key(sufWait), q.key(sufPrioritized), q.key(sufPC), q.key(sufMeta),
		q.key(sufMarker), q.key(sufEvents), q.key(sufActive)}
	n, err := moveJobScript.Run(ctx, d.rdb, keys, q.base(), id, from).Int()
	if err != nil {
		return fmt.Errorf("dashboard: move job %s from %s: %w", id, from, err)
	}
	switch n {
	case moveMoved:
		return nil
	case moveGone:
		return fmt.Errorf("%w: job %s was listed as %s but its hash is gone (dropped from %s)", ErrNotFound, id, from, from)
	default:
		return fmt.Errorf("%w: job %s is not %s", ErrBadRequest, id, from)
	}
}

// ActionResult is the reply of an action.
type ActionResult struct {
	OK    bool     `json:"ok"`
	Count int      `json:"count,omitempty"`
	IDs   []string `json:"ids,omitempty"`
	ID    string   `json:"id,omitempty"`
}

func (d *Dashboard) actRetry(ctx context.Context, _ *http.Request, b actionBody) (any, error) {
	q, _, err := d.actionQueue(ctx, b)
	if err != nil {
		return nil, err
	}
	if err := d.moveJob(ctx, q, b.ID, "failed"); err != nil {
		return nil, err
	}
	return ActionResult{OK: true, ID: b.ID}, nil
}

func (d *Dashboard) actPromote(ctx context.Context, _ *http.Request, b actionBody) (any, error) {
	q, _, err := d.actionQueue(ctx, b)
	if err != nil {
		return nil, err
	}
	if err := d.moveJob(ctx, q, b.ID, "delayed"); err != nil {
		return nil, err
	}
	return ActionResult{OK: true, ID: b.ID}, nil
}

func (d *Dashboard) actRemove(ctx context.Context, _ *http.Request, b actionBody) (any, error) {
	_, qq, err := d.actionQueue(ctx, b)
	if err != nil {
		return nil, err
	}
	if b.ID == "" {
		return nil, fmt.Errorf("%w: id missing", ErrBadRequest)
	}
	if err := qq.Remove(ctx, b.ID); err != nil {
		if errors.Is(err, queue.ErrJobLocked) {
			return nil, fmt.Errorf("%w: %w", ErrBadRequest, err)
		}
		return nil, err
	}
	return ActionResult{OK: true, ID: b.ID}, nil
}

func (d *Dashboard) actClean(ctx context.Context, _ *http.Request, b actionBody) (any, error) {
	_, qq, err := d.actionQueue(ctx, b)
	if err != nil {
		return nil, err
	}
	switch b.State {
	case "completed", "failed", "delayed", "prioritized", "waiting", "active":
		// active: only the jobs no worker holds (queue.Clean skips locked ones)
	default:
		return nil, fmt.Errorf("%w: cannot clean state %q (want completed, failed, delayed, prioritized, waiting or active)", ErrBadRequest, b.State)
	}
	if b.GraceMS < 0 || b.Limit < 0 {
		return nil, fmt.Errorf("%w: graceMs and limit must not be negative", ErrBadRequest)
	}
	limit := bulkLimit(b.Limit)
	ids, err := qq.Clean(ctx, queue.State(b.State), time.Duration(b.GraceMS)*time.Millisecond, limit)
	if err != nil {
		return nil, err
	}
	return ActionResult{OK: true, Count: len(ids)}, nil
}

func (d *Dashboard) actPause(ctx context.Context, _ *http.Request, b actionBody) (any, error) {
	_, qq, err := d.actionQueue(ctx, b)
	if err != nil {
		return nil, err
	}
	if err := qq.Pause(ctx); err != nil {
		return nil, err
	}
	return ActionResult{OK: true}, nil
}

func (d *Dashboard) actResume(ctx context.Context, _ *http.Request, b actionBody) (any, error) {
	_, qq, err := d.actionQueue(ctx, b)
	if err != nil {
		return nil, err
	}
	if err := qq.Resume(ctx); err != nil {
		return nil, err
	}
	return ActionResult{OK: true}, nil
}

// addOpts are the job options the add form accepts.
type addOpts struct {
	JobID    string `json:"jobId,omitempty"`
	Priority int    `json:"priority,omitempty"`
	DelayMS  int64  `json:"delay,omitempty"`
	Attempts int    `json:"attempts,omitempty"`
	LIFO     bool   `json:"lifo,omitempty"`
}

func (d *Dashboard) actAdd(ctx context.Context, _ *http.Request, b actionBody) (any, error) {
	_, qq, err := d.actionQueue(ctx, b)
	if err != nil {
		return nil, err
	}
	if b.Name == "" {
		return nil, fmt.Errorf("%w: job name missing", ErrBadRequest)
	}
	data := b.Data
	if len(data) == 0 {
		data = json.RawMessage("{}")
	}
	var o addOpts
	if len(b.Opts) > 0 {
		dec := json.NewDecoder(bytes.NewReader(b.Opts))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&o); err != nil {
			return nil, fmt.Errorf("%w: opts: %v (supported: jobId, priority, delay, attempts, lifo)", ErrBadRequest, err)
		}
	}
	var opts []queue.JobOption
	if o.JobID != "" {
		opts = append(opts, queue.WithJobID(o.JobID))
	}
	if o.Priority != 0 {
		opts = append(opts, queue.WithPriority(o.Priority))
	}
	if o.DelayMS != 0 {
		opts = append(opts, queue.WithDelay(time.Duration(o.DelayMS)*time.Millisecond))
	}
	if o.Attempts != 0 {
		opts = append(opts, queue.WithAttempts(o.Attempts))
	}
	if o.LIFO {
		opts = append(opts, queue.WithLIFO())
	}
	added, err := qq.Add(ctx, b.Name, data, opts...)
	if err != nil {
		if errors.Is(err, queue.ErrInvalidOption) {
			return nil, fmt.Errorf("%w: %w", ErrBadRequest, err)
		}
		return nil, err
	}
	return ActionResult{OK: true, ID: added.ID}, nil
}

func (d *Dashboard) actRetryAll(ctx context.Context, _ *http.Request, b actionBody) (any, error) {
	_, qq, err := d.actionQueue(ctx, b)
	if err != nil {
		return nil, err
	}
	n, err := qq.RetryFailed(ctx, bulkLimit(b.Limit))
	if err != nil {
		return nil, err
	}
	return ActionResult{OK: true, Count: n}, nil
}

func (d *Dashboard) actPromoteAll(ctx context.Context, _ *http.Request, b actionBody) (any, error) {
	_, qq, err := d.actionQueue(ctx, b)
	if err != nil {
		return nil, err
	}
	n, err := qq.PromoteDelayed(ctx, bulkLimit(b.Limit))
	if err != nil {
		return nil, err
	}
	return ActionResult{OK: true, Count: n}, nil
}

// maxBulk bounds the jobs one "all" action moves, so one click never runs
// a script long enough to stall Redis; click again for the rest.
const maxBulk = 5000

func bulkLimit(n int) int {
	if n <= 0 || n > maxBulk {
		return maxBulk
	}
	return n
}
