package session

import (
	"context"

	"github.com/redis/go-redis/v9"
)

// The calls of a request's round trip (load, save, create) go through
// Manager.call. Under PipeliningAuto (the default) a call that is the
// Manager's only one in flight takes its own round trip on the plain
// client, so a lone request keeps the latency of two round trips; a call
// made while others are in flight is submitted to the client's async
// auto-pipeliner and waits for its reply or its ctx, so concurrent
// requests share network writes and reads (and Redis's) without a
// request ever waiting past its ctx.
//
// Measured (cd bench && go run . session -json, 3 runs, load average
// 10-13 on the 2 shared cores): 100 concurrent requests that each load a
// session, change one field and save made 4.25-5.24x the rate of scs v2 +
// goredisstore on the same kind of plain client (PipeliningOff:
// 1.12-1.37x); a lone request's p50 stayed that of PipeliningOff (85-133
// us vs 87-118 us). CPU per request (rusage of the bench process, INFO
// cpu of Redis; load average 5.6): PipeliningAuto 30.6 us client + 11.0
// us Redis, PipeliningOff 91.8 + 43.7, scs 145.6 + 40.6. Nearly all of
// PipeliningOff's is the three syscalls go-redis makes per round trip
// (write, read, the pool's health check) and Redis's read and write per
// command, which batches share.

// autoPipelineFrom is how many calls of call must be in flight (this one
// included) before one goes through the auto-pipeliner. At 2 the
// auto-pipeliner's batching made 2 concurrent requests slower than their
// own round trips (p50 305 us vs 212 us, 5.5k vs 6.6k req/s, load average
// 5.5); at 3 they are alike (192 vs 191 us) and from 8 requests on the
// pipelined ones are faster (8: p50 417 vs 649 us; 16: 793 us vs 1.47 ms,
// 14.0k vs 7.8k req/s).
const autoPipelineFrom = 3

// call runs cmds, the commands of one step of a session's round trip,
// and returns the first error. After a context error the commands may
// still be running in a batch: read none of them then.
func (m *Manager) call(ctx context.Context, cmds ...redis.Cmder) error {
	if m.auto != nil {
		n := m.inflight.Add(1)
		defer m.inflight.Add(-1)
		if ap := m.pipeliner(ctx, n); ap != nil {
			return submit(ctx, ap, cmds)
		}
	}
	if len(cmds) == 1 {
		_ = m.client.Process(ctx, cmds[0])
		return cmds[0].Err()
	}
	p := m.client.Pipeline()
	for _, c := range cmds {
		_ = p.Process(ctx, c)
	}
	_, err := p.Exec(ctx)
	return err
}

// asyncPipeliner is a client with an async auto-pipeliner
// (*redis.Client, *redis.ClusterClient).
type asyncPipeliner interface {
	AsyncAutoPipeline() (*redis.AutoPipeliner, error)
}

// pipeliner returns the async auto-pipeliner when n calls are in flight
// and that is enough, or nil. It gets it from the client on first need
// (so a Manager that never sees concurrent calls starts nothing); if the
// client refuses (closed, invalid AutoPipelineOptions), it says so once
// and every call takes its own round trip.
func (m *Manager) pipeliner(ctx context.Context, n int64) *redis.AutoPipeliner {
	if n < autoPipelineFrom {
		return nil
	}
	m.asyncOnce.Do(func() {
		ap, err := m.auto.AsyncAutoPipeline()
		if err != nil {
			m.opts.Logger.WarnContext(ctx, "session: auto-pipelining off, every call takes its own round trip", "err", err)
			return
		}
		m.async = ap
	})
	return m.async
}

// submit queues cmds on the async auto-pipeliner and waits for their
// batch or for ctx.
func submit(ctx context.Context, ap *redis.AutoPipeliner, cmds []redis.Cmder) error {
	var buf [4]redis.AutoFuture
	futs := buf[:0]
	for _, c := range cmds {
		futs = append(futs, ap.Submit(ctx, c)) // all in, so they share a batch
	}
	var first error
	for _, f := range futs {
		err := f.WaitContext(ctx)
		if err != nil && ctx.Err() != nil {
			return ctx.Err() // the rest may still be running
		}
		if err != nil && first == nil {
			first = err
		}
	}
	return first
}

// scripter runs a script's EVALSHA and EVAL through Manager.call (it is
// the script.Scripter of the calls of a round trip).
type scripter struct{ m *Manager }

func (s scripter) EvalSha(ctx context.Context, sha string, keys []string, args ...any) *redis.Cmd {
	return s.eval(ctx, "evalsha", sha, keys, args)
}

func (s scripter) Eval(ctx context.Context, src string, keys []string, args ...any) *redis.Cmd {
	return s.eval(ctx, "eval", src, keys, args)
}

func (s scripter) eval(ctx context.Context, name, body string, keys []string, args []any) *redis.Cmd {
	a := make([]any, 0, 3+len(keys)+len(args))
	a = append(a, name, body, len(keys))
	for _, k := range keys {
		a = append(a, k)
	}
	a = append(a, args...)
	cmd := redis.NewCmd(ctx, a...)
	if len(keys) > 0 {
		cmd.SetFirstKeyPos(3)
	}
	if err := s.m.call(ctx, cmd); err != nil && ctx.Err() != nil {
		// cmd may still be answered by its batch: hand back a copy.
		c := redis.NewCmd(ctx)
		c.SetErr(err)
		return c
	}
	return cmd
}
