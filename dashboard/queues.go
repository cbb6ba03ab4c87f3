package dashboard

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rediskit/rediskit/internal/scan"
	"github.com/rediskit/rediskit/queue"
)

// discoveryTTL is how long one discovery of the queues is reused.
const discoveryTTL = 10 * time.Second

type discovered struct {
	at        time.Time
	queues    []queueRef
	truncated bool
}

// discover returns every BullMQ queue on every master under any prefix:
// SCAN for hashes "*:meta" (bounded by MaxQueues and the request's
// timeout), kept for discoveryTTL.
func (d *Dashboard) discover(ctx context.Context, fresh bool) ([]queueRef, bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !fresh && !d.discovery.at.IsZero() && time.Since(d.discovery.at) < discoveryTTL {
		return d.discovery.queues, d.discovery.truncated, nil
	}
	metas, truncated, err := scan.Collect(ctx, d.rdb, "*:"+sufMeta, scan.Options{Type: "hash"}, d.o.MaxQueues)
	if err != nil {
		return nil, false, fmt.Errorf("dashboard: discover queues: %w", err)
	}
	var cands []queueRef
	for _, k := range metas {
		if q, ok := queueFromMeta(k); ok {
			cands = append(cands, q)
		}
	}
	// A meta hash of BullMQ has opts.maxLenEvents or version.
	p := d.rdb.Pipeline()
	cmds := make([]*redis.SliceCmd, len(cands))
	for i, q := range cands {
		cmds[i] = p.HMGet(ctx, q.key(sufMeta), "opts.maxLenEvents", "version")
	}
	if len(cands) > 0 {
		if _, err := p.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
			return nil, false, fmt.Errorf("dashboard: discover queues: %w", err)
		}
	}
	var out []queueRef
	for i, q := range cands {
		if v := cmds[i].Val(); len(v) == 2 && (v[0] != nil || v[1] != nil) {
			out = append(out, q)
		}
	}
	slices.SortFunc(out, func(a, b queueRef) int { return strings.Compare(a.ID(), b.ID()) })
	d.discovery = discovered{at: time.Now(), queues: out, truncated: truncated}
	return out, truncated, nil
}

// QueueView is one queue on the queues page.
type QueueView struct {
	ID      string `json:"id"`
	Prefix  string `json:"prefix"`
	Name    string `json:"name"`
	Version string `json:"version,omitempty"`
	Paused  bool   `json:"paused"`
	// Counts per state: waiting, active, prioritized, delayed, completed,
	// failed, waiting-children (and paused: the legacy list).
	Counts map[string]int64 `json:"counts"`
	// Concurrency is the global concurrency (0: none); RateMax jobs per
	// RateDurationMS is the global rate limit (0: none).
	Concurrency    int64 `json:"concurrency,omitempty"`
	RateMax        int64 `json:"rateMax,omitempty"`
	RateDurationMS int64 `json:"rateDurationMs,omitempty"`
	// Err says why actions cannot run on this queue (keys that span
	// cluster slots).
	Err string `json:"err,omitempty"`
}

// QueuesView is GET /api/queues.
type QueuesView struct {
	Queues []QueueView `json:"queues"`
	// Truncated is true when more queues exist than Options.MaxQueues.
	Truncated bool `json:"truncated"`
}

var countStates = []struct {
	state, suffix string
	list          bool
}{
	{"waiting", sufWait, true}, {"active", sufActive, true}, {"paused", sufPaused, true},
	{"prioritized", sufPrioritized, false}, {"delayed", sufDelayed, false}, {"completed", sufCompleted, false},
	{"failed", sufFailed, false}, {"waiting-children", sufWaitingChildren, false},
}

// counts reads the counts and meta of qs in one pipeline.
func (d *Dashboard) counts(ctx context.Context, qs []queueRef) ([]QueueView, error) {
	p := d.rdb.Pipeline()
	type pending struct {
		counts []*redis.IntCmd
		meta   *redis.MapStringStringCmd
	}
	pend := make([]pending, len(qs))
	for i, q := range qs {
		for _, s := range countStates {
			if s.list {
				pend[i].counts = append(pend[i].counts, p.LLen(ctx, q.key(s.suffix)))
			} else {
				pend[i].counts = append(pend[i].counts, p.ZCard(ctx, q.key(s.suffix)))
			}
		}
		pend[i].meta = p.HGetAll(ctx, q.key(sufMeta))
	}
	if len(qs) > 0 {
		if _, err := p.Exec(ctx); err != nil {
			return nil, fmt.Errorf("dashboard: queue counts: %w", err)
		}
	}
	out := make([]QueueView, len(qs))
	for i, q := range qs {
		m := pend[i].meta.Val()
		v := QueueView{ID: q.ID(), Prefix: q.Prefix, Name: q.Name, Version: m["version"], Counts: map[string]int64{}}
		_, v.Paused = m["paused"]
		v.Concurrency, _ = strconv.ParseInt(m["concurrency"], 10, 64)
		v.RateMax, _ = strconv.ParseInt(m["max"], 10, 64)
		v.RateDurationMS, _ = strconv.ParseInt(m["duration"], 10, 64)
		for j, s := range countStates {
			v.Counts[s.state] = pend[i].counts[j].Val()
		}
		if _, err := d.queue(q); err != nil {
			v.Err = err.Error()
		}
		out[i] = v
	}
	return out, nil
}

// queue returns the queue package's handle on q (its actions), or why
// there is none (keys spread over cluster slots).
func (d *Dashboard) queue(q queueRef) (*queue.Queue, error) {
	return queue.New(d.rdb, q.Name, queue.Options{Prefix: q.Prefix})
}

// queueParam reads ?queue= (or the body's queue).
func queueParam(id string) (queueRef, error) {
	if id == "" {
		return queueRef{}, fmt.Errorf("%w: queue missing", ErrBadRequest)
	}
	return parseQueueID(id)
}

func (d *Dashboard) apiQueues(ctx context.Context, r *http.Request) (any, error) {
	qs, truncated, err := d.discover(ctx, r.URL.Query().Get("fresh") == "1")
	if err != nil {
		return nil, err
	}
	vs, err := d.counts(ctx, qs)
	if err != nil {
		return nil, err
	}
	return QueuesView{Queues: vs, Truncated: truncated}, nil
}

// QueueDetail is GET /api/queue: the queue, its metrics and workers.
type QueueDetail struct {
	QueueView
	// Completed and Failed are BullMQ's per-minute metrics, newest first
	// (metrics:<state>:data), when workers collect them.
	Completed []int64    `json:"completedPerMinute"`
	Failed    []int64    `json:"failedPerMinute"`
	Workers   []Worker   `json:"workers"`
	WorkerErr string     `json:"workersErr,omitempty"`
	Meta      [][]string `json:"meta"`
}

func (d *Dashboard) apiQueue(ctx context.Context, r *http.Request) (any, error) {
	q, err := queueParam(r.URL.Query().Get("queue"))
	if err != nil {
		return nil, err
	}
	vs, err := d.counts(ctx, []queueRef{q})
	if err != nil {
		return nil, err
	}
	det := QueueDetail{QueueView: vs[0]}
	p := d.rdb.Pipeline()
	done := p.LRange(ctx, q.key(sufMetricsDone)+":data", 0, 58)
	failed := p.LRange(ctx, q.key(sufMetricsFailed)+":data", 0, 58)
	doneNow := p.HMGet(ctx, q.key(sufMetricsDone), "count", "prevCount")
	failedNow := p.HMGet(ctx, q.key(sufMetricsFailed), "count", "prevCount")
	meta := p.HGetAll(ctx, q.key(sufMeta))
	if _, err := p.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("dashboard: queue %s: %w", q.ID(), err)
	}
	if len(meta.Val()) == 0 {
		return nil, fmt.Errorf("%w: queue %s", ErrNotFound, q.ID())
	}
	det.Completed = perMinute(doneNow.Val(), done.Val())
	det.Failed = perMinute(failedNow.Val(), failed.Val())
	for _, k := range slices.Sorted(mapKeys(meta.Val())) {
		det.Meta = append(det.Meta, []string{k, meta.Val()[k]})
	}
	ws, err := d.workers(ctx)
	if err != nil {
		det.WorkerErr = err.Error()
	}
	det.Workers = []Worker{}
	for _, w := range ws {
		if w.Queue == q.ID() {
			det.Workers = append(det.Workers, w)
		}
	}
	return det, nil
}

func mapKeys(m map[string]string) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// perMinute is BullMQ's metrics: the current minute so far (count -
// prevCount of the metrics hash) and the stored minutes (the :data list,
// newest first). Empty when the workers collect no metrics.
func perMinute(now []any, data []string) []int64 {
	out := []int64{}
	if len(now) == 2 && now[0] != nil {
		c, _ := strconv.ParseInt(fmt.Sprint(now[0]), 10, 64)
		var prev int64
		if now[1] != nil {
			prev, _ = strconv.ParseInt(fmt.Sprint(now[1]), 10, 64)
		}
		out = append(out, max(0, c-prev))
	}
	return append(out, ints(data)...)
}

func ints(ss []string) []int64 {
	out := make([]int64, len(ss))
	for i, s := range ss {
		out[i], _ = strconv.ParseInt(s, 10, 64)
	}
	return out
}

// Worker is one connection named as a BullMQ worker (Go or Node).
type Worker struct {
	Queue string `json:"queue"`
	// Name is the worker name after ":w:" ("" for an unnamed worker).
	Name string `json:"name"`
	Node string `json:"node"`
	Addr string `json:"addr"`
	Age  int64  `json:"ageSeconds"`
	Idle int64  `json:"idleSeconds"`
	Cmd  string `json:"cmd"`
}

// workers runs CLIENT LIST on every node and keeps the connections whose
// name is "<prefix>:<base64(queue)>[:w:<worker>]" for a known queue.
func (d *Dashboard) workers(ctx context.Context) ([]Worker, error) {
	qs, _, err := d.discover(ctx, false)
	if err != nil {
		return nil, err
	}
	names := map[string]string{} // "<prefix>:<b64>" -> queue id
	for _, q := range qs {
		names[q.Prefix+":"+base64.StdEncoding.EncodeToString([]byte(q.Name))] = q.ID()
	}
	var out []Worker
	var errs []error
	for _, a := range d.nodes.seeds() {
		c, err := d.nodes.client(a)
		if err != nil {
			return nil, err
		}
		nctx, cancel := context.WithTimeout(ctx, d.o.NodeTimeout)
		list, err := c.ClientList(nctx).Result()
		cancel()
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", a, err))
			continue
		}
		for line := range strings.SplitSeq(list, "\n") {
			f := map[string]string{}
			for kv := range strings.FieldsSeq(line) {
				k, v, _ := strings.Cut(kv, "=")
				f[k] = v
			}
			n := f["name"]
			if n == "" {
				continue
			}
			base, wname, _ := strings.Cut(n, ":w:")
			id, ok := names[base]
			if !ok {
				continue
			}
			age, _ := strconv.ParseInt(f["age"], 10, 64)
			idle, _ := strconv.ParseInt(f["idle"], 10, 64)
			out = append(out, Worker{Queue: id, Name: wname, Node: a, Addr: f["addr"], Age: age, Idle: idle, Cmd: f["cmd"]})
		}
	}
	slices.SortFunc(out, func(a, b Worker) int {
		return strings.Compare(a.Queue+" "+a.Name+" "+a.Addr, b.Queue+" "+b.Name+" "+b.Addr)
	})
	if len(errs) > 0 {
		return out, fmt.Errorf("dashboard: CLIENT LIST: %w", errors.Join(errs...))
	}
	return out, nil
}

// JobSummary is one row of a job list.
type JobSummary struct {
	ID           string          `json:"id"`
	Name         string          `json:"name"`
	State        string          `json:"state,omitempty"`
	Timestamp    int64           `json:"timestamp"`
	ProcessedOn  int64           `json:"processedOn,omitempty"`
	FinishedOn   int64           `json:"finishedOn,omitempty"`
	AttemptsMade int             `json:"attemptsMade"`
	FailedReason string          `json:"failedReason,omitempty"`
	Data         string          `json:"data"`
	Progress     json.RawMessage `json:"progress,omitempty"`
	Priority     int             `json:"priority,omitempty"`
	DelayMS      int64           `json:"delayMs,omitempty"`
}

const previewLen = 200

func preview(s string) string {
	if len(s) <= previewLen {
		return s
	}
	return s[:previewLen] + "…"
}

func summary(j *queue.Job, state string) JobSummary {
	s := JobSummary{ID: j.ID, Name: j.Name, State: state, AttemptsMade: j.AttemptsMade, FailedReason: preview(j.FailedReason),
		Data: preview(j.Fields["data"]), Priority: j.Priority, DelayMS: j.Delay.Milliseconds()}
	if len(j.Progress) > 0 && json.Valid(j.Progress) {
		s.Progress = j.Progress
	}
	s.Timestamp = ms(j.Timestamp)
	s.ProcessedOn, s.FinishedOn = ms(j.ProcessedOn), ms(j.FinishedOn)
	return s
}

func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// JobsView is GET /api/jobs.
type JobsView struct {
	State string       `json:"state"`
	Start int          `json:"start"`
	Total int64        `json:"total"`
	Jobs  []JobSummary `json:"jobs"`
}

// maxPage bounds a page of jobs.
const maxPage = 200

func intParam(r *http.Request, name string, def, lo, hi int) (int, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		return 0, fmt.Errorf("%w: %s=%q: want an integer in [%d, %d]", ErrBadRequest, name, s, lo, hi)
	}
	return n, nil
}

func stateParam(s string) (string, error) {
	if !slices.Contains(states, s) {
		return "", fmt.Errorf("%w: state %q: want one of %s", ErrBadRequest, s, strings.Join(states, ", "))
	}
	return s, nil
}

func (d *Dashboard) apiJobs(ctx context.Context, r *http.Request) (any, error) {
	q, err := queueParam(r.URL.Query().Get("queue"))
	if err != nil {
		return nil, err
	}
	state, err := stateParam(r.URL.Query().Get("state"))
	if err != nil {
		return nil, err
	}
	start, err := intParam(r, "start", 0, 0, 1<<30)
	if err != nil {
		return nil, err
	}
	count, err := intParam(r, "count", 20, 1, maxPage)
	if err != nil {
		return nil, err
	}
	total, jobs, err := d.page(ctx, q, state, start, count)
	if err != nil {
		return nil, err
	}
	v := JobsView{State: state, Start: start, Total: total, Jobs: []JobSummary{}}
	for _, j := range jobs {
		v.Jobs = append(v.Jobs, summary(j, state))
	}
	return v, nil
}

// page returns the size of a state and one page of its jobs, in the
// queue package's order (waiting-children, which it does not know,
// oldest first).
func (d *Dashboard) page(ctx context.Context, q queueRef, state string, start, count int) (int64, []*queue.Job, error) {
	key := q.stateKey(state)
	var total int64
	var err error
	if state == "waiting" || state == "active" {
		total, err = d.rdb.LLen(ctx, key).Result()
	} else {
		total, err = d.rdb.ZCard(ctx, key).Result()
	}
	if err != nil {
		return 0, nil, fmt.Errorf("dashboard: %s %s: %w", q.ID(), state, err)
	}
	qq, err := d.queue(q)
	if err != nil {
		return 0, nil, err
	}
	if state != "waiting-children" {
		jobs, err := qq.Jobs(ctx, queue.State(state), start, count)
		return total, jobs, err
	}
	ids, err := d.rdb.ZRange(ctx, key, int64(start), int64(start+count-1)).Result()
	if err != nil {
		return 0, nil, fmt.Errorf("dashboard: %s %s: %w", q.ID(), state, err)
	}
	var jobs []*queue.Job
	for _, id := range ids {
		j, err := qq.GetJob(ctx, id)
		if errors.Is(err, queue.ErrJobNotFound) {
			continue
		}
		if j == nil {
			return 0, nil, err
		}
		jobs = append(jobs, j)
	}
	return total, jobs, nil
}
