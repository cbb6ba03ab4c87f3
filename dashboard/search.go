package dashboard

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
	"github.com/rediskit/rediskit/queue"
)

// searchBatch is how many ids one round trip of a search reads.
const searchBatch = 500

// SearchView is GET /api/search: matches, and a cursor to continue
// from when the request's budget ran out before the end ("" when done).
type SearchView struct {
	Jobs     []JobSummary `json:"jobs"`
	Cursor   string       `json:"cursor"`
	Examined int          `json:"examined"`
}

// searchFields are what a search reads of each job.
var searchFields = []string{"name", "data", "failedReason", "timestamp", "processedOn", "finishedOn", "atm", "priority", "delay"}

// apiSearch finds jobs by id (direct), name, data or failed reason
// (substring, case-insensitive) with bounded work: it examines at most
// Options.SearchBudget jobs per request, in batches, state by state
// (states in the order of the states variable, or ?state=), and returns
// a cursor "<state>:<offset>" to continue. Offsets move when jobs change
// state meanwhile, so a continued search may miss or repeat a job.
func (d *Dashboard) apiSearch(ctx context.Context, r *http.Request) (any, error) {
	qp := r.URL.Query()
	q, err := queueParam(qp.Get("queue"))
	if err != nil {
		return nil, err
	}
	text := qp.Get("text")
	if text == "" {
		return nil, fmt.Errorf("%w: text missing", ErrBadRequest)
	}
	field := qp.Get("field")
	if field == "" {
		field = "any"
	}
	if !slices.Contains([]string{"any", "id", "name", "data", "reason"}, field) {
		return nil, fmt.Errorf("%w: field %q: want any, id, name, data or reason", ErrBadRequest, field)
	}
	limit, err := intParam(r, "limit", 20, 1, maxPage)
	if err != nil {
		return nil, err
	}
	qq, err := d.queue(q)
	if err != nil {
		return nil, err
	}
	out := SearchView{Jobs: []JobSummary{}}
	cursor := qp.Get("cursor")
	if (field == "id" || field == "any") && cursor == "" {
		j, err := qq.GetJob(ctx, text)
		switch {
		case err == nil || (j != nil && !errors.Is(err, queue.ErrJobNotFound)):
			st, _ := d.state(ctx, q, qq, j.ID)
			out.Jobs = append(out.Jobs, summary(j, st))
		case !errors.Is(err, queue.ErrJobNotFound):
			return nil, err
		}
		if field == "id" {
			return out, nil
		}
	}
	sts := states
	if s := qp.Get("state"); s != "" {
		st, err := stateParam(s)
		if err != nil {
			return nil, err
		}
		sts = []string{st}
	}
	si, off := 0, 0
	if cursor != "" {
		cs, co, ok := strings.Cut(cursor, ":")
		n, err := strconv.Atoi(co)
		si = slices.Index(sts, cs)
		if !ok || err != nil || n < 0 || si < 0 {
			return nil, fmt.Errorf("%w: cursor %q", ErrBadRequest, cursor)
		}
		off = n
	}
	needle := strings.ToLower(text)
	for si < len(sts) {
		if out.Examined >= d.o.SearchBudget || len(out.Jobs) >= limit {
			out.Cursor = sts[si] + ":" + strconv.Itoa(off)
			return out, nil
		}
		st := sts[si]
		n := min(searchBatch, d.o.SearchBudget-out.Examined)
		ids, err := d.idRange(ctx, q, qq, st, off, n)
		if err != nil {
			return nil, err
		}
		if len(ids) == 0 {
			si, off = si+1, 0
			continue
		}
		p := d.rdb.Pipeline()
		cmds := make([]*redis.SliceCmd, len(ids))
		for i, id := range ids {
			cmds[i] = p.HMGet(ctx, q.job(id), searchFields...)
		}
		if _, err := p.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
			return nil, fmt.Errorf("dashboard: search %s: %w", q.ID(), err)
		}
		for i, id := range ids {
			out.Examined++
			off++
			f := fieldMap(cmds[i].Val())
			if f == nil || id == text {
				continue // gone, or found by id above
			}
			if matches(field, needle, f) {
				out.Jobs = append(out.Jobs, summaryFromFields(id, st, f))
				if len(out.Jobs) >= limit {
					break
				}
			}
		}
		if len(ids) < n && len(out.Jobs) < limit {
			si, off = si+1, 0
		}
	}
	return out, nil
}

func fieldMap(vals []any) map[string]string {
	if len(vals) != len(searchFields) || vals[0] == nil && vals[1] == nil {
		return nil
	}
	f := make(map[string]string, len(vals))
	for i, v := range vals {
		if s, ok := v.(string); ok {
			f[searchFields[i]] = s
		}
	}
	return f
}

func matches(field, needle string, f map[string]string) bool {
	has := func(k string) bool { return strings.Contains(strings.ToLower(f[k]), needle) }
	switch field {
	case "name":
		return has("name")
	case "data":
		return has("data")
	case "reason":
		return has("failedReason")
	default:
		return has("name") || has("data") || has("failedReason")
	}
}

func summaryFromFields(id, state string, f map[string]string) JobSummary {
	n := func(k string) int64 { x, _ := strconv.ParseInt(f[k], 10, 64); return x }
	s := JobSummary{ID: id, Name: f["name"], State: state, Timestamp: n("timestamp"), ProcessedOn: n("processedOn"),
		FinishedOn: n("finishedOn"), AttemptsMade: int(n("atm")), FailedReason: preview(f["failedReason"]),
		Data: preview(f["data"]), Priority: int(n("priority")), DelayMS: n("delay")}
	return s
}

// idRange returns ids [off, off+n) of a state in list order.
func (d *Dashboard) idRange(ctx context.Context, q queueRef, qq *queue.Queue, state string, off, n int) ([]string, error) {
	if state == "waiting-children" {
		ids, err := d.rdb.ZRange(ctx, q.stateKey(state), int64(off), int64(off+n-1)).Result()
		if err != nil {
			return nil, fmt.Errorf("dashboard: %s %s: %w", q.ID(), state, err)
		}
		return ids, nil
	}
	return qq.JobIDs(ctx, queue.State(state), off, n)
}

// state is the job's state, waiting-children included.
func (d *Dashboard) state(ctx context.Context, q queueRef, qq *queue.Queue, id string) (string, error) {
	st, err := qq.State(ctx, id)
	if err != nil || st != "" {
		return string(st), err
	}
	if _, err := d.rdb.ZScore(ctx, q.key(sufWaitingChildren), id).Result(); err == nil {
		return "waiting-children", nil
	}
	return "", nil
}

// JobDetail is GET /api/job.
type JobDetail struct {
	JobSummary
	Data         json.RawMessage   `json:"data"`
	Opts         json.RawMessage   `json:"opts,omitempty"`
	ReturnValue  json.RawMessage   `json:"returnValue,omitempty"`
	FailedReason string            `json:"failedReason,omitempty"`
	Stacktrace   []string          `json:"stacktrace,omitempty"`
	Logs         []string          `json:"logs"`
	ProcessedBy  string            `json:"processedBy,omitempty"`
	Started      int               `json:"attemptsStarted"`
	Stalled      int               `json:"stalledCounter"`
	LockTTLMS    int64             `json:"lockTtlMs"`
	Parent       string            `json:"parent,omitempty"`
	Children     []Child           `json:"children,omitempty"`
	Scheduler    *Scheduler        `json:"scheduler,omitempty"`
	Fields       map[string]string `json:"fields"`
	ParseErr     string            `json:"parseErr,omitempty"`
}

// Child is one flow child of a parent job: its key and, once done, its
// return value or failure.
type Child struct {
	Key    string `json:"key"`
	Status string `json:"status"`
	Value  string `json:"value,omitempty"`
}

// maxChildren bounds the children listed per job.
const maxChildren = 200

func (d *Dashboard) apiJob(ctx context.Context, r *http.Request) (any, error) {
	q, err := queueParam(r.URL.Query().Get("queue"))
	if err != nil {
		return nil, err
	}
	id := r.URL.Query().Get("id")
	if id == "" {
		return nil, fmt.Errorf("%w: id missing", ErrBadRequest)
	}
	qq, err := d.queue(q)
	if err != nil {
		return nil, err
	}
	j, jerr := qq.GetJob(ctx, id)
	if errors.Is(jerr, queue.ErrJobNotFound) {
		return nil, fmt.Errorf("%w: job %s of %s", ErrNotFound, id, q.ID())
	}
	if j == nil {
		return nil, jerr
	}
	st, err := d.state(ctx, q, qq, id)
	if err != nil {
		return nil, err
	}
	det := JobDetail{JobSummary: summary(j, st), Data: j.Data, ReturnValue: j.ReturnValue, FailedReason: j.FailedReason,
		Stacktrace: j.Stacktrace, ProcessedBy: j.ProcessedBy, Started: j.AttemptsStarted, Stalled: j.StalledCounter,
		Parent: j.Fields["parentKey"], Fields: j.Fields}
	if jerr != nil {
		det.ParseErr = jerr.Error()
	}
	if json.Valid([]byte(j.RawOpts)) {
		det.Opts = json.RawMessage(j.RawOpts)
	}
	if len(det.ReturnValue) > 0 && !json.Valid(det.ReturnValue) {
		det.ReturnValue = nil
	}
	if det.Data == nil {
		det.Data = json.RawMessage("null")
	}
	if det.Logs, err = qq.Logs(ctx, id); err != nil {
		return nil, err
	}
	p := d.rdb.Pipeline()
	lock := p.PTTL(ctx, q.jobLock(id))
	deps := p.SScan(ctx, q.job(id)+":dependencies", 0, "", maxChildren)
	processed := p.HScan(ctx, q.job(id)+":processed", 0, "", maxChildren)
	failed := p.HScan(ctx, q.job(id)+":failed", 0, "", maxChildren)
	if _, err := p.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("dashboard: job %s: %w", id, err)
	}
	det.LockTTLMS = max(0, lock.Val().Milliseconds())
	keys, _ := deps.Val()
	for _, k := range keys {
		det.Children = append(det.Children, Child{Key: k, Status: "pending"})
	}
	for _, c := range []struct {
		cmd    *redis.ScanCmd
		status string
	}{{processed, "processed"}, {failed, "failed"}} {
		kv, _ := c.cmd.Val()
		for i := 0; i+1 < len(kv); i += 2 {
			det.Children = append(det.Children, Child{Key: kv[i], Status: c.status, Value: preview(kv[i+1])})
		}
	}
	if rjk := j.Fields["rjk"]; rjk != "" {
		ss, err := d.schedulers(ctx, q, []string{rjk})
		if err != nil {
			return nil, err
		}
		if len(ss) == 1 {
			det.Scheduler = &ss[0]
		}
	}
	return det, nil
}

// Scheduler is one BullMQ job scheduler ("<p>:<q>:repeat:<id>").
type Scheduler struct {
	ID         string `json:"id"`
	NextMS     int64  `json:"next"`
	Name       string `json:"name,omitempty"`
	Pattern    string `json:"pattern,omitempty"`
	EveryMS    int64  `json:"every,omitempty"`
	TZ         string `json:"tz,omitempty"`
	Iterations int64  `json:"iterations"`
	Limit      int64  `json:"limit,omitempty"`
	EndDate    int64  `json:"endDate,omitempty"`
	Missing    bool   `json:"missing,omitempty"`
}

// maxSchedulers bounds the schedulers listed per queue.
const maxSchedulers = 500

func (d *Dashboard) apiSchedulers(ctx context.Context, r *http.Request) (any, error) {
	q, err := queueParam(r.URL.Query().Get("queue"))
	if err != nil {
		return nil, err
	}
	ss, err := d.schedulers(ctx, q, nil)
	if err != nil {
		return nil, err
	}
	if ss == nil {
		ss = []Scheduler{}
	}
	return ss, nil
}

// schedulers reads the schedulers ids (nil: the first maxSchedulers by
// next run).
func (d *Dashboard) schedulers(ctx context.Context, q queueRef, ids []string) ([]Scheduler, error) {
	var next []redis.Z
	if ids == nil {
		zs, err := d.rdb.ZRangeWithScores(ctx, q.key(sufRepeat), 0, maxSchedulers-1).Result()
		if err != nil {
			return nil, fmt.Errorf("dashboard: schedulers of %s: %w", q.ID(), err)
		}
		next = zs
	} else {
		for _, id := range ids {
			next = append(next, redis.Z{Member: id, Score: -1})
		}
	}
	p := d.rdb.Pipeline()
	hs := make([]*redis.MapStringStringCmd, len(next))
	scores := make([]*redis.FloatCmd, len(next))
	for i, z := range next {
		id, _ := z.Member.(string)
		hs[i] = p.HGetAll(ctx, q.scheduler(id))
		scores[i] = p.ZScore(ctx, q.key(sufRepeat), id)
	}
	if len(next) > 0 {
		if _, err := p.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
			return nil, fmt.Errorf("dashboard: schedulers of %s: %w", q.ID(), err)
		}
	}
	out := make([]Scheduler, 0, len(next))
	for i, z := range next {
		h := hs[i].Val()
		id, _ := z.Member.(string)
		n := func(k string) int64 { x, _ := strconv.ParseInt(h[k], 10, 64); return x }
		s := Scheduler{ID: id, NextMS: int64(scores[i].Val()), Name: h["name"], Pattern: h["pattern"], EveryMS: n("every"),
			TZ: h["tz"], Iterations: n("ic"), Limit: n("limit"), EndDate: n("endDate"), Missing: len(h) == 0}
		out = append(out, s)
	}
	return out, nil
}
