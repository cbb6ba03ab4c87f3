package queue

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// jobCode maps a job script's negative reply to an error.
func (j *Job) jobCode(what string, code int64) error {
	switch code {
	case 0:
		return nil
	case -1:
		return fmt.Errorf("%w: %s (%s)", ErrJobNotFound, j.ID, what)
	case -3:
		return fmt.Errorf("%w: job %s is not delayed (%s)", ErrJobState, j.ID, what)
	}
	return fmt.Errorf("queue: job %s %s: code %d", j.ID, what, code)
}

// UpdateData replaces the job's data (any JSON value, encoded as Add
// does); ErrJobNotFound when the job is gone.
func (j *Job) UpdateData(ctx context.Context, data any) error {
	d, err := encodeData(data)
	if err != nil {
		return fmt.Errorf("queue: job %s data: %w", j.ID, err)
	}
	args, set := argv(argUpdateSize)
	set(argUpdateData, d)
	code, err := updateScript.Run(ctx, j.q.rdb, []string{j.q.k.job(j.ID)}, args...).Int64()
	if err != nil {
		return fmt.Errorf("queue: job %s update data: %w", j.ID, updateScript.Err(err))
	}
	if err := j.jobCode("update data", code); err != nil {
		return err
	}
	j.Data = []byte(d)
	return nil
}

// ChangePriority sets the job's priority (0 = none, else 1..2^21-1); a
// waiting or prioritized job is re-queued under it, ahead of the jobs of
// that priority when lifo is true (BullMQ changePriority).
func (j *Job) ChangePriority(ctx context.Context, priority int, lifo bool) error {
	if priority < 0 || priority > 1<<21-1 {
		return fmt.Errorf("%w: priority %d out of 0..2097151", ErrInvalidOption, priority)
	}
	k := j.q.k
	l := "0"
	if lifo {
		l = "1"
	}
	args, set := argv(argPrioSize)
	set(argPrioPrefix, k.base)
	set(argPrioID, j.ID)
	set(argPrioValue, priority)
	set(argPrioLIFO, l)
	code, err := priorityScript.Run(ctx, j.q.rdb, []string{k.wait, k.meta, k.prioritized, k.pc, k.marker, k.active}, args...).Int64()
	if err != nil {
		return fmt.Errorf("queue: job %s change priority: %w", j.ID, priorityScript.Err(err))
	}
	if err := j.jobCode("change priority", code); err != nil {
		return err
	}
	j.Priority = priority
	return nil
}

// ChangeDelay gives a delayed job a new delay, counted from now;
// ErrJobState when the job is not delayed (BullMQ changeDelay).
func (j *Job) ChangeDelay(ctx context.Context, delay time.Duration) error {
	if delay < 0 {
		return fmt.Errorf("%w: negative delay %v", ErrInvalidOption, delay)
	}
	k := j.q.k
	args, set := argv(argDelaySize)
	set(argDelayPrefix, k.base)
	set(argDelayID, j.ID)
	set(argDelayValue, delay.Milliseconds())
	set(argDelayNow, j.q.now().UnixMilli())
	code, err := delayScript.Run(ctx, j.q.rdb, []string{k.delayed, k.meta, k.marker, k.events}, args...).Int64()
	if err != nil {
		return fmt.Errorf("queue: job %s change delay: %w", j.ID, delayScript.Err(err))
	}
	if err := j.jobCode("change delay", code); err != nil {
		return err
	}
	j.Delay = delay
	return nil
}

// Promote moves a delayed job to wait now; ErrJobState when it is not
// delayed (BullMQ promote).
func (j *Job) Promote(ctx context.Context) error {
	k := j.q.k
	args, set := argv(argPromoteSize)
	set(argPromotePrefix, k.base)
	set(argPromoteID, j.ID)
	code, err := promoteScript.Run(ctx, j.q.rdb, []string{k.delayed, k.wait, k.meta, k.prioritized, k.active, k.pc, k.events, k.marker},
		args...).Int64()
	if err != nil {
		return fmt.Errorf("queue: job %s promote: %w", j.ID, promoteScript.Err(err))
	}
	if err := j.jobCode("promote", code); err != nil {
		return err
	}
	j.Delay = 0
	return nil
}

// WorkerInfo is one connected worker (Go or Node) of a queue.
type WorkerInfo struct {
	// Name is the worker's name ("" when it has none).
	Name string
	// Addr is the client's address as the server sees it; Node is the
	// server it is connected to.
	Addr, Node string
	// Age is how long the connection has been open.
	Age time.Duration
}

// Workers lists the workers connected to the queue, Go and Node alike,
// from CLIENT LIST on every node (every master on a cluster), as Node's
// Queue.getWorkers() does: clients named "<prefix>:<base64(queue)>" or
// that plus ":w:<name>".
func (q *Queue) Workers(ctx context.Context) ([]WorkerInfo, error) {
	base := q.opts.prefix() + ":" + base64.StdEncoding.EncodeToString([]byte(q.name))
	var mu sync.Mutex
	var out []WorkerInfo
	list := func(ctx context.Context, c *redis.Client) error {
		s, err := c.ClientList(ctx).Result()
		if err != nil {
			return err
		}
		for _, line := range strings.Split(s, "\n") {
			f := map[string]string{}
			for _, kv := range strings.Fields(line) {
				if k, v, ok := strings.Cut(kv, "="); ok {
					f[k] = v
				}
			}
			n := f["name"]
			w := WorkerInfo{Addr: f["addr"], Node: c.Options().Addr}
			if age, err := time.ParseDuration(f["age"] + "s"); err == nil {
				w.Age = age
			}
			switch {
			case n == base:
			case strings.HasPrefix(n, base+":w:"):
				w.Name = strings.TrimPrefix(n, base+":w:")
			default:
				continue
			}
			mu.Lock()
			out = append(out, w)
			mu.Unlock()
		}
		return nil
	}
	var err error
	switch c := q.rdb.(type) {
	case *redis.ClusterClient:
		err = c.ForEachMaster(ctx, list)
	case *redis.Client:
		err = list(ctx, c)
	default:
		return nil, fmt.Errorf("%w: Workers needs a *redis.Client or *redis.ClusterClient, not %T", ErrInvalidOption, q.rdb)
	}
	if err != nil {
		return nil, fmt.Errorf("queue: workers: %w", err)
	}
	return out, nil
}
