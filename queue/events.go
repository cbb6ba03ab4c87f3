package queue

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rediskit/rediskit/internal/retry"
)

// Event is one entry of the queue's events stream, written by Go or Node
// workers and producers alike.
type Event struct {
	// StreamID is the entry id ("1700000000000-0").
	StreamID string
	// Name is the event: added, waiting, active, progress, completed,
	// failed, delayed, stalled, retries-exhausted, duplicated, paused,
	// resumed, drained, removed, cleaned.
	Name  string
	JobID string
	// Prev is the previous state where the event has one.
	Prev string
	// ReturnValue (completed) and Data (progress) are JSON.
	ReturnValue  json.RawMessage
	Data         json.RawMessage
	FailedReason string
	// Fields holds every field of the entry.
	Fields map[string]string
}

// EventsOptions configure an Events reader.
type EventsOptions struct {
	Options
	// LastID is the stream id to read after; default "$" (only new events).
	// Use "0" to read the whole retained history.
	LastID string
	// Block is how long one XREAD blocks; default 10s.
	Block time.Duration
	// Logger receives read errors (rate-limited); default slog.Default().
	Logger *slog.Logger
}

// Events reads a queue's events stream (what Node's QueueEvents reads).
// One goroutine calls Run; LastID is safe to call concurrently.
type Events struct {
	q    *Queue
	o    EventsOptions
	loop *retry.Loop
	mu   sync.Mutex
	last string
}

// EventsStats are an Events reader's counters.
type EventsStats struct {
	// Errors counts failed reads (each logged, then retried after a
	// backoff); LastError is the last one.
	Errors    int64
	LastError error
}

// Stats returns the reader's counters. It does no I/O.
func (e *Events) Stats() EventsStats {
	return EventsStats{Errors: e.loop.Errors(), LastError: e.loop.LastError()}
}

// NewEvents returns a reader of queue name's events. It does no I/O.
func NewEvents(rdb redis.UniversalClient, name string, opts EventsOptions) (*Events, error) {
	q, err := New(rdb, name, opts.Options)
	if err != nil {
		return nil, err
	}
	if opts.LastID == "" {
		opts.LastID = "$"
	}
	if opts.Block <= 0 {
		opts.Block = maxBlock
	}
	return &Events{q: q, o: opts, last: opts.LastID,
		loop: &retry.Loop{Name: "queue events " + name, Log: opts.Logger}}, nil
}

// LastID is the id of the last event delivered.
func (e *Events) LastID() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.last
}

func (e *Events) setLast(id string) {
	e.mu.Lock()
	e.last = id
	e.mu.Unlock()
}

// Run delivers events to fn, in stream order, until ctx ends (returning
// ctx's error wrapped) or fn returns an error (returned as is). It blocks
// on XREAD on a connection of its own, named as Node's QueueEvents names
// its connection. Read errors are logged (rate-limited), counted in Stats
// and retried after a backoff (internal/retry's Loop) while ctx lives.
func (e *Events) Run(ctx context.Context, fn func(Event) error) error {
	name := e.q.opts.prefix() + ":" + base64.StdEncoding.EncodeToString([]byte(e.q.name)) + ":qe"
	c := dedicatedClient(e.q.rdb, name)
	if c == nil {
		c = e.q.rdb
	} else {
		defer c.Close()
		stop := context.AfterFunc(ctx, func() { _ = c.Close() })
		defer stop()
	}
	if e.LastID() == "$" {
		// resolve "$" once so no event is lost between reads
		xs, err := e.q.rdb.XRevRangeN(ctx, e.q.k.events, "+", "-", 1).Result()
		if err != nil && ctx.Err() == nil {
			return fmt.Errorf("queue: events: %w", err)
		}
		last := "0"
		if len(xs) > 0 {
			last = xs[0].ID
		}
		e.setLast(last)
	}
	var fnErr error
	_ = e.loop.Run(ctx, func(ctx context.Context) error {
		res, err := c.XRead(context.WithoutCancel(ctx), &redis.XReadArgs{Streams: []string{e.q.k.events, e.LastID()}, Count: 1000, Block: e.o.Block}).Result()
		if err != nil {
			if errors.Is(err, redis.Nil) || ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("queue: events: read: %w", err)
		}
		for _, s := range res {
			for _, m := range s.Messages {
				e.setLast(m.ID)
				if err := fn(toEvent(m)); err != nil {
					fnErr = err
					return retry.Stop(err)
				}
			}
		}
		return nil
	})
	if fnErr != nil {
		return fnErr
	}
	return fmt.Errorf("queue: events: %w", ctx.Err())
}

func toEvent(m redis.XMessage) Event {
	ev := Event{StreamID: m.ID, Fields: make(map[string]string, len(m.Values))}
	for k, v := range m.Values {
		s, _ := v.(string)
		ev.Fields[k] = s
	}
	ev.Name, ev.JobID, ev.Prev, ev.FailedReason = ev.Fields["event"], ev.Fields["jobId"], ev.Fields["prev"], ev.Fields["failedReason"]
	if v, ok := ev.Fields["returnvalue"]; ok {
		ev.ReturnValue = json.RawMessage(v)
	}
	if v, ok := ev.Fields["data"]; ok {
		ev.Data = json.RawMessage(v)
	}
	return ev
}
