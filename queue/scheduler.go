package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Job schedulers (BullMQ 6.7 upsertJobScheduler): a scheduler is the HASH
// <prefix>:<queue>:repeat:<id> plus a member of the ZSET
// <prefix>:<queue>:repeat scored with its next run; each run is a job
// "repeat:<id>:<millis>" with field rjk=<id>. When a worker (Go or Node)
// takes such a job it adds the next one, so schedulers created on either
// side keep running with workers of either side.

var (
	// ErrScheduler is returned by UpsertScheduler for a schedule BullMQ
	// refuses too (both or neither of Every and Pattern, Immediately with
	// StartDate, a bad cron pattern or time zone, a negative limit).
	ErrScheduler = errors.New("queue: invalid job scheduler")
	// ErrSchedulerEnded is returned by UpsertScheduler when the schedule
	// has no run left (Limit 0 reached, EndDate passed, or no cron run
	// before EndDate): BullMQ then writes nothing, and neither does Go.
	ErrSchedulerEnded = errors.New("queue: job scheduler has no run left")
	// ErrSchedulerBusy is returned by UpsertScheduler when the id of the
	// next run is taken by a job that is no longer pending (an active,
	// completed or failed run of an earlier scheduler with the same id):
	// BullMQ's codes -10 (cron) and -11 (every, 32 slots scanned).
	ErrSchedulerBusy = errors.New("queue: job scheduler's next run id is taken")
	// ErrSchedulerNotFound is returned by GetScheduler and RemoveScheduler
	// for an id with no scheduler.
	ErrSchedulerNotFound = errors.New("queue: job scheduler not found")
)

// Repeat is a scheduler's schedule (BullMQ RepeatOptions). Exactly one of
// Every and Pattern is set.
type Repeat struct {
	// Every runs the job at this fixed interval (millisecond precision),
	// aligned on multiples of Every plus Offset.
	Every time.Duration
	// Pattern is a cron pattern with cron-parser 5.10's syntax: 5 or 6
	// fields (seconds first), L, n#k, names, presets such as @daily.
	Pattern string
	// TZ is the IANA zone of Pattern; "" means the zone of the process that
	// computes the next run (time.Local here, the host zone in Node). Set it
	// whenever Node and Go workers may share a queue.
	TZ string
	// Limit is the number of runs (0 = no limit).
	Limit int
	// StartDate delays the first run; EndDate ends the schedule (zero =
	// none).
	StartDate, EndDate time.Time
	// Offset shifts the runs of Every (0 = aligned on the current time the
	// first time, then kept).
	Offset time.Duration
	// Immediately makes the first run of a Pattern start now (Every always
	// runs at once unless StartDate or Offset say otherwise).
	Immediately bool
}

// JobTemplate is what every run of a scheduler gets.
type JobTemplate struct {
	// Name of the jobs; "" = the scheduler id (as Node).
	Name string
	// Data is JSON-encoded into every job; nil = {}.
	Data any
	// Opts are the jobs' options; JobID must be empty (runs get
	// "repeat:<id>:<millis>") and Delay is ignored.
	Opts JobOptions
}

// Scheduler is a stored job scheduler.
type Scheduler struct {
	ID   string
	Name string
	// Next is the time of the pending run.
	Next time.Time
	// Iterations is BullMQ's "ic": runs created so far.
	Iterations int
	Repeat
	// Data is the template data JSON ({} when absent).
	Data json.RawMessage
	// RawOpts is the template options JSON ("" when absent).
	RawOpts string
}

func (k keys) scheduler(id string) string { return k.repeat + ":" + id }

// UpsertScheduler creates job scheduler id, or replaces its schedule and
// template, and adds its next run (replacing a pending one), writing what
// BullMQ's upsertJobScheduler writes. It returns the id of the job of the
// next run.
func (q *Queue) UpsertScheduler(ctx context.Context, id string, r Repeat, tpl JobTemplate) (string, error) {
	if id == "" {
		return "", fmt.Errorf("%w: empty id", ErrScheduler)
	}
	every := r.Every.Milliseconds()
	switch {
	case r.Pattern != "" && r.Every != 0:
		return "", fmt.Errorf("%w %q: both Pattern and Every are set", ErrScheduler, id)
	case r.Pattern == "" && every <= 0:
		return "", fmt.Errorf("%w %q: one of Pattern and Every (at least 1ms) must be set", ErrScheduler, id)
	case r.Immediately && !r.StartDate.IsZero():
		return "", fmt.Errorf("%w %q: both Immediately and StartDate are set", ErrScheduler, id)
	case r.Limit < 0 || r.Offset < 0:
		return "", fmt.Errorf("%w %q: negative Limit or Offset", ErrScheduler, id)
	case tpl.Opts.JobID != "":
		return "", fmt.Errorf("%w %q: the template sets a job id", ErrScheduler, id)
	}
	if r.TZ != "" {
		if _, err := cronLocation(r.TZ); err != nil {
			return "", fmt.Errorf("%w %q: %w", ErrScheduler, id, err)
		}
	}
	name := tpl.Name
	if name == "" {
		name = id
	}
	data := []byte("{}")
	if tpl.Data != nil {
		var err error
		if data, err = json.Marshal(tpl.Data); err != nil {
			return "", fmt.Errorf("queue: scheduler %q data: %w", id, err)
		}
	}
	topts, err := templateOpts(tpl.Opts)
	if err != nil {
		return "", fmt.Errorf("queue: scheduler %q options: %w", id, err)
	}
	now := q.now().UnixMilli()
	startMS, endMS := msOrZero(r.StartDate), msOrZero(r.EndDate)
	if endMS > 0 && now > endMS {
		return "", fmt.Errorf("%w: scheduler %q ends at %s", ErrSchedulerEnded, id, r.EndDate.Format(time.RFC3339))
	}
	var next int64
	if r.Pattern != "" {
		next, err = cronNext(r.Pattern, r.TZ, max(now, startMS), 0, endMS)
		switch {
		case errors.Is(err, errCronSpan) || errors.Is(err, errCronLoop):
			return "", fmt.Errorf("%w: scheduler %q: pattern %q has no run before its end date", ErrSchedulerEnded, id, r.Pattern)
		case err != nil:
			return "", fmt.Errorf("%w %q: %w", ErrScheduler, id, err)
		case r.Immediately:
			next = now
		}
		next = max(next, now)
	}
	// the first run's options: the template plus the run's own fields
	rep := map[string]any{"count": 1}
	setRepeat(rep, r)
	jobOpts := cloneMap(topts)
	jobOpts["repeat"] = rep
	jobOpts["timestamp"] = now
	jobOpts["repeatJobKey"] = id
	if r.Pattern != "" {
		jobOpts["prevMillis"] = next
		jobOpts["jobId"] = "repeat:" + id + ":" + strconv.FormatInt(next, 10)
		jobOpts["delay"] = max(next-now, 0)
	}
	jo, _ := json.Marshal(jobOpts)
	to, _ := json.Marshal(topts)
	args, set := argv(argUpsertCount)
	set(argUpsertPrefix, q.k.base)
	set(argUpsertNow, now)
	set(argUpsertID, id)
	set(argUpsertName, name)
	set(argUpsertPattern, r.Pattern)
	set(argUpsertTZ, r.TZ)
	set(argUpsertData, string(data))
	set(argUpsertTemplateOpts, string(to))
	set(argUpsertJobOpts, string(jo))
	if r.Pattern != "" {
		set(argUpsertNext, next)
	} else {
		set(argUpsertEvery, every)
	}
	if r.Limit > 0 {
		set(argUpsertLimit, r.Limit)
	}
	if startMS > 0 {
		set(argUpsertStartDate, startMS)
	}
	if endMS > 0 {
		set(argUpsertEndDate, endMS)
	}
	if r.Every != 0 && r.Offset > 0 {
		set(argUpsertOffset, r.Offset.Milliseconds())
	}
	k := q.k
	v, err := schedUpsertScript.Run(ctx, q.rdb, []string{k.repeat, k.delayed, k.wait, k.paused, k.meta, k.prioritized,
		k.marker, k.id, k.events, k.pc, k.active}, args...).Result()
	if err != nil {
		return "", fmt.Errorf("queue: upsert scheduler %q: %w", id, schedUpsertScript.Err(err))
	}
	if code, ok := v.(int64); ok {
		why := map[int64]string{codeSchedCollision: "a cron run with the same time exists and is not pending",
			codeSchedSlotsBusy: "32 consecutive every slots are taken"}[code]
		return "", fmt.Errorf("%w: scheduler %q: %s (code %d)", ErrSchedulerBusy, id, why, code)
	}
	arr, _ := v.([]any)
	if len(arr) < 1 {
		return "", fmt.Errorf("queue: upsert scheduler %q: unexpected reply %v", id, v)
	}
	jobID, _ := arr[0].(string)
	return jobID, nil
}

// setRepeat writes the schedule into a run's opts.repeat as Node does:
// only the fields that are set, dates in milliseconds, offset only for
// Every.
func setRepeat(rep map[string]any, r Repeat) {
	if r.Every != 0 {
		rep["every"] = r.Every.Milliseconds()
		if r.Offset > 0 {
			rep["offset"] = r.Offset.Milliseconds()
		}
	}
	if r.Pattern != "" {
		rep["pattern"] = r.Pattern
	}
	if r.TZ != "" {
		rep["tz"] = r.TZ
	}
	if r.Limit > 0 {
		rep["limit"] = r.Limit
	}
	if !r.StartDate.IsZero() {
		rep["startDate"] = r.StartDate.UnixMilli()
	}
	if !r.EndDate.IsZero() {
		rep["endDate"] = r.EndDate.UnixMilli()
	}
}

// templateOpts is o as the JSON object Node stores for a template: only the
// options that are set.
func templateOpts(o JobOptions) (map[string]any, error) {
	o.Delay = 0
	b, err := o.encode()
	if err != nil {
		return nil, err
	}
	m, err := decodeJSONMap(string(b))
	if err != nil {
		return nil, err
	}
	if o.Attempts == 0 {
		delete(m, "attempts")
	}
	return m, nil
}

func decodeJSONMap(s string) (map[string]any, error) {
	m := map[string]any{}
	if s == "" {
		return m, nil
	}
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber()
	if err := d.Decode(&m); err != nil {
		return nil, err
	}
	if m == nil {
		m = map[string]any{}
	}
	return m, nil
}

func cloneMap(m map[string]any) map[string]any {
	c := make(map[string]any, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

func msOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// RemoveScheduler deletes job scheduler id and its pending delayed run (a
// run already waiting or active stays). It returns ErrSchedulerNotFound
// when there is no such scheduler.
func (q *Queue) RemoveScheduler(ctx context.Context, id string) error {
	k := q.k
	args, set := argv(argRemoveCount)
	set(argRemovePrefix, k.base)
	set(argRemoveID, id)
	n, err := schedRemoveScript.Run(ctx, q.rdb, []string{k.repeat, k.delayed, k.events}, args...).Int64()
	if err != nil {
		return fmt.Errorf("queue: remove scheduler %q: %w", id, schedRemoveScript.Err(err))
	}
	if n == 1 {
		return fmt.Errorf("%w: %q", ErrSchedulerNotFound, id)
	}
	return nil
}

// GetScheduler returns job scheduler id.
func (q *Queue) GetScheduler(ctx context.Context, id string) (*Scheduler, error) {
	var score *redis.FloatCmd
	var fields *redis.MapStringStringCmd
	_, err := q.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		score = p.ZScore(ctx, q.k.repeat, id)
		fields = p.HGetAll(ctx, q.k.scheduler(id))
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("queue: get scheduler %q: %w", id, err)
	}
	f := fields.Val()
	if len(f) == 0 {
		return nil, fmt.Errorf("%w: %q", ErrSchedulerNotFound, id)
	}
	return parseScheduler(id, int64(score.Val()), f)
}

// Schedulers lists the job schedulers, soonest next run first.
func (q *Queue) Schedulers(ctx context.Context) ([]Scheduler, error) {
	zs, err := q.rdb.ZRangeWithScores(ctx, q.k.repeat, 0, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("queue: list schedulers: %w", err)
	}
	cmds := make([]*redis.MapStringStringCmd, len(zs))
	if _, err := q.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, z := range zs {
			cmds[i] = p.HGetAll(ctx, q.k.scheduler(fmt.Sprint(z.Member)))
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("queue: list schedulers: %w", err)
	}
	out := make([]Scheduler, 0, len(zs))
	for i, z := range zs {
		f := cmds[i].Val()
		if len(f) == 0 {
			continue // a legacy repeatable job or a half-removed scheduler
		}
		s, err := parseScheduler(fmt.Sprint(z.Member), int64(z.Score), f)
		if err != nil {
			return nil, err
		}
		out = append(out, *s)
	}
	return out, nil
}

func parseScheduler(id string, next int64, f map[string]string) (*Scheduler, error) {
	s := &Scheduler{ID: id, Name: f["name"], Next: time.UnixMilli(next), Data: json.RawMessage("{}"), RawOpts: f["opts"]}
	var bad []string
	num := func(k string) int64 {
		v, ok := f[k]
		if !ok {
			return 0
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			bad = append(bad, k)
		}
		return n
	}
	s.Iterations = int(num("ic"))
	s.Limit = int(num("limit"))
	s.Every = time.Duration(num("every")) * time.Millisecond
	s.Offset = time.Duration(num("offset")) * time.Millisecond
	if ms := num("startDate"); ms > 0 {
		s.StartDate = time.UnixMilli(ms)
	}
	if ms := num("endDate"); ms > 0 {
		s.EndDate = time.UnixMilli(ms)
	}
	s.Pattern, s.TZ = f["pattern"], f["tz"]
	if d, ok := f["data"]; ok {
		s.Data = json.RawMessage(d)
	}
	if len(bad) > 0 {
		return s, fmt.Errorf("%w: scheduler %q: fields %v are not integers", ErrCorruptJob, id, bad)
	}
	return s, nil
}
