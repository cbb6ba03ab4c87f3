package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"
)

// knownOpts are the job option keys BullMQ 6.7 stores (opts JSON) that this
// worker runs correctly: used, or without effect on a worker (producer- or
// telemetry-side).
var knownOpts = map[string]bool{
	"timestamp": true, "priority": true, "delay": true, "attempts": true, "backoff": true, "lifo": true,
	"removeOnComplete": true, "removeOnFail": true, "kl": true, "stackTraceLimit": true, "sizeLimit": true,
	"jobId": true, "parent": true, "de": true, "fpof": true, "cpof": true, "idof": true, "rdof": true,
	// schedulers: the iteration runs as any job; advancing the schedule
	// is added by the worker before the handler (scheduler_advance.go)
	"repeat": true, "repeatJobKey": true, "prevMillis": true,
	// telemetry context (Node's OpenTelemetry): not propagated
	"tm": true, "omc": true, "telemetry": true,
}

// unsupportedOpts returns the option keys of a stored opts JSON this
// worker does not know (a newer BullMQ, BullMQ Pro), sorted. The jobs of
// a queue mostly share a few opts texts, so answers are remembered
// (optsSeen): a fetch does not decode each job's opts twice.
func unsupportedOpts(raw string) []string {
	if raw == "" {
		return nil
	}
	if bad, ok := optsSeen.get(raw); ok {
		return bad
	}
	var m map[string]json.RawMessage
	if json.Unmarshal([]byte(raw), &m) != nil {
		return nil // parseJob reports undecodable opts
	}
	var bad []string
	for k := range m {
		if !knownOpts[k] {
			bad = append(bad, k)
		}
	}
	slices.Sort(bad)
	optsSeen.put(raw, bad)
	return bad
}

// optsSeen remembers unsupportedOpts's answers for up to optsSeenMax opts
// texts, forgetting them all when full (texts with a unique jobId each
// would otherwise grow it without bound). Answers are shared: read only.
var optsSeen = &optsCache{m: map[string][]string{}}

const optsSeenMax = 1024

type optsCache struct {
	mu sync.Mutex
	m  map[string][]string
}

func (c *optsCache) get(raw string) ([]string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	bad, ok := c.m[raw]
	return bad, ok
}

func (c *optsCache) put(raw string, bad []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= optsSeenMax {
		clear(c.m)
	}
	c.m[raw] = bad
}

// checkJob returns the reason a fetched job must fail without running
// when it uses what this worker does not support, or nil.
func checkJob(j *Job) error {
	if bad := unsupportedOpts(j.RawOpts); len(bad) > 0 {
		return fmt.Errorf("%w: job option(s) %q are not supported by this Go worker (rediskit, BullMQ 6.7 wire); the job was not run",
			ErrUnsupported, bad)
	}
	return nil
}

// checkQueue refuses a queue written by a BullMQ this worker does not
// speak: meta.version other than "bullmq:6.x" (a future major, BullMQ
// Pro).
func (q *Queue) checkQueue(ctx context.Context) error {
	v, err := q.rdb.HGet(ctx, q.k.meta, "version").Result()
	if errors.Is(err, redis.Nil) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("queue: %s: reading meta: %w", q.name, err)
	}
	if !strings.HasPrefix(v, "bullmq:6.") {
		return fmt.Errorf("%w: queue %s is written by %q; this worker speaks BullMQ 6 (6.7 wire) and does not start", ErrUnsupported, q.name, v)
	}
	return nil
}
