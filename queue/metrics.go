package queue

import (
	"context"
	"fmt"
	"strconv"
	"time"
)

// Metrics are a queue's per-minute counts of completed or failed jobs, as
// workers with the metrics option (Go or Node) record them and Node's
// Queue.getMetrics returns them.
type Metrics struct {
	// Count is the total number of jobs counted.
	Count int64
	// PrevTS and PrevCount are the last minute a point was pushed for and
	// the Count at that time.
	PrevTS    time.Time
	PrevCount int64
	// Data are the jobs per minute, newest first (start..end of the list).
	Data []int64
	// Points is the length of the whole list.
	Points int64
}

// Metrics returns the metrics of state (StateCompleted or StateFailed),
// the data points from index start to end inclusive (newest first; -1 is
// the last), as Node's getMetrics(type, start, end).
func (q *Queue) Metrics(ctx context.Context, state State, start, end int) (Metrics, error) {
	if state != StateCompleted && state != StateFailed {
		return Metrics{}, fmt.Errorf("%w: metrics of %q", ErrInvalidOption, state)
	}
	key := q.k.metrics(state)
	p := q.rdb.Pipeline()
	h := p.HMGet(ctx, key, "count", "prevTS", "prevCount")
	d := p.LRange(ctx, key+":data", int64(start), int64(end))
	n := p.LLen(ctx, key+":data")
	if _, err := p.Exec(ctx); err != nil {
		return Metrics{}, fmt.Errorf("queue: metrics %s: %w", state, err)
	}
	num := func(v any) int64 {
		s, _ := v.(string)
		i, _ := strconv.ParseInt(s, 10, 64)
		return i
	}
	vals := h.Val()
	m := Metrics{Count: num(vals[0]), PrevCount: num(vals[2]), Points: n.Val()}
	if ts := num(vals[1]); ts > 0 {
		m.PrevTS = time.UnixMilli(ts)
	}
	for _, s := range d.Val() {
		i, _ := strconv.ParseInt(s, 10, 64) // Node reads a bad point as 0 too
		m.Data = append(m.Data, i)
	}
	return m, nil
}
