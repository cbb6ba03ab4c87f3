package lock

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rediskit/rediskit/internal/script"
)

var (
	//go:embed acquire-3.lua
	acquireSrc string
	//go:embed extend-1.lua
	extendSrc string
	//go:embed acquire-fair-4.lua
	acquireFairSrc string
	//go:embed release-3.lua
	releaseSrc string
	//go:embed dequeue-3.lua
	dequeueSrc string
	//go:embed fence-1.lua
	fenceSrc string

	acquireScript     = script.New("acquire-3.lua", acquireSrc)
	extendScript      = script.New("extend-1.lua", extendSrc)
	acquireFairScript = script.New("acquire-fair-4.lua", acquireFairSrc)
	releaseScript     = script.New("release-3.lua", releaseSrc)
	dequeueScript     = script.New("dequeue-3.lua", dequeueSrc)
	fenceScript       = script.New("fence-1.lua", fenceSrc)
)

// node is one independent deployment: the only one for New, one of the
// quorum for NewRedlock.
type node struct {
	client redis.UniversalClient
	// run sends the scripts: the client's shared auto-pipeliner when it has
	// one (many concurrent lock calls then share round trips), else the
	// client itself.
	run      script.Scripter
	notifier *notifier
}

func newNode(c redis.UniversalClient, opts *Options, l *Locker) *node {
	n := &node{client: c, run: c}
	if opts.Pipelining.on() {
		if ap, ok := c.(interface {
			AutoPipeline() (*redis.AutoPipeliner, error)
		}); ok {
			if p, err := ap.AutoPipeline(); err == nil {
				n.run = p
			}
		}
	}
	n.notifier = newNotifier(c, l)
	return n
}

// acquireResult is one node's answer to acquire-3.lua.
type acquireResult struct {
	ok      bool
	token   int64
	holder  string // when taken
	htoken  int64  // holder's token when taken
	foreign bool   // when taken: the key holds a value or type rediskit did not write
	pttl    time.Duration
	err     error
}

// acquireReq is one acquire call on one node.
type acquireReq struct {
	owner, holder  string
	ttl            time.Duration
	replicas       int
	replicaTimeout time.Duration
	// direct skips the auto-pipeliner (a woken waiter wants the lowest
	// latency, not the best throughput).
	direct bool
	// enqueue: the caller waits if it does not get the lock (marks the
	// lock as waited for; with fair, joins the queue). fair runs
	// acquire-fair-4.lua; now (ms) and waiterTTL date the queue entry and
	// the marker.
	fair, enqueue bool
	now           int64
	waiterTTL     time.Duration
}

// acquire runs the acquire script.
func (n *node) acquire(ctx context.Context, k keys, r acquireReq) acquireResult {
	mark := int64(0)
	if r.enqueue {
		mark = r.waiterTTL.Milliseconds()
	}
	s, keys := acquireScript, []string{k.lock, k.fence, k.waiting}
	args := []any{r.owner, r.ttl.Milliseconds(), r.holder, mark}
	if r.fair {
		args = args[:3]
		s, keys = acquireFairScript, []string{k.lock, k.fence, k.queue, k.waiters}
		enq := "0"
		if r.enqueue {
			enq = "1"
		}
		args = append(args, r.now, r.waiterTTL.Milliseconds(), enq)
	}
	var res []any
	var err error
	if r.replicas > 0 {
		var acked int
		res, acked, err = n.runWait(ctx, s, k.lock, keys, args, r.replicas, r.replicaTimeout)
		if err == nil && len(res) > 0 && toInt(res[0]) == 1 && acked < r.replicas {
			return acquireResult{token: toInt(res[1]), err: &NotReplicatedError{Acked: acked, Want: r.replicas}}
		}
	} else {
		run := n.run
		if r.direct {
			run = n.client
		}
		res, err = s.Run(ctx, run, keys, args...).Slice()
	}
	if err != nil {
		return acquireResult{err: s.Err(err)}
	}
	if len(res) < 2 {
		return acquireResult{err: fmt.Errorf("lock: acquire: unexpected reply %v", res)}
	}
	if toInt(res[0]) == 1 {
		return acquireResult{ok: true, token: toInt(res[1])}
	}
	out := acquireResult{}
	switch v := res[1].(type) {
	case string:
		if v != "" {
			var ours bool
			out.holder, out.htoken, ours = parseValue(v)
			out.foreign = !ours
		}
	case int64: // {0, 0, pttl, type}: not a string key
		out.foreign = true
		out.holder = fmt.Sprintf(foreignType, "non-string")
		if len(res) > 3 {
			if t, ok := res[3].(string); ok {
				out.holder = fmt.Sprintf(foreignType, t)
			}
		}
	}
	if len(res) > 2 {
		pttl := toInt(res[2])
		out.pttl = time.Duration(pttl) * time.Millisecond
		if pttl < 0 {
			out.pttl = -1
		}
	}
	return out
}

// extend returns (true, nil) when extended, (false, nil) when the lock is
// no longer ours there.
func (n *node) extend(ctx context.Context, k keys, owner string, ttl time.Duration, replicas int, replicaTimeout time.Duration) (bool, error) {
	args := []any{owner, ttl.Milliseconds()}
	if replicas > 0 {
		res, acked, err := n.runWait(ctx, extendScript, k.lock, []string{k.lock}, args, replicas, replicaTimeout)
		if err != nil {
			return false, extendScript.Err(err)
		}
		if len(res) == 1 && toInt(res[0]) == 1 && acked < replicas {
			return true, &NotReplicatedError{Acked: acked, Want: replicas}
		}
		return len(res) == 1 && toInt(res[0]) == 1, nil
	}
	// Not auto-pipelined: extends are rare, and must honour ctx (bounded
	// by the lease's remaining validity) when Redis does not answer.
	v, err := extendScript.Run(ctx, n.client, []string{k.lock}, args...).Int64()
	if err != nil {
		return false, extendScript.Err(err)
	}
	return v == 1, nil
}

// release returns true when this call deleted the lock.
func (n *node) release(ctx context.Context, k keys, owner string) (bool, error) {
	v, err := releaseScript.Run(ctx, n.run, []string{k.lock, k.queue, k.waiting}, owner, k.channel).Int64()
	if err != nil {
		return false, releaseScript.Err(err)
	}
	return v == 1, nil
}

// dequeue removes owner from the FIFO queue.
func (n *node) dequeue(ctx context.Context, k keys, owner string) error {
	err := dequeueScript.Run(ctx, n.client, []string{k.lock, k.queue, k.waiters}, owner, k.channel).Err()
	return dequeueScript.Err(err)
}

// raiseFence makes the node's fence counter at least token.
func (n *node) raiseFence(ctx context.Context, k keys, token int64) error {
	err := fenceScript.Run(ctx, n.run, []string{k.fence}, token).Err()
	return fenceScript.Err(err)
}

// runWait runs a script and WAIT on one connection of the master that owns
// key (WAIT counts the writes of its own connection), loading the script
// there if the node does not know it. The script's reply comes back as a
// slice (a single integer reply becomes a one-element slice).
func (n *node) runWait(ctx context.Context, s *script.Script, key string, keys []string, args []any, replicas int, timeout time.Duration) ([]any, int, error) {
	var c *redis.Client
	switch cl := n.client.(type) {
	case *redis.ClusterClient:
		m, err := cl.MasterForKey(ctx, key)
		if err != nil {
			return nil, 0, err
		}
		c = m
	case *redis.Client:
		c = cl
	default:
		return nil, 0, fmt.Errorf("lock: Options.Replicas needs a *redis.Client or *redis.ClusterClient, have %T", n.client)
	}
	for attempt := 0; ; attempt++ {
		var ev *redis.Cmd
		var wait *redis.Cmd
		_, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
			ev = p.EvalSha(ctx, s.Hash(), keys, args...)
			wait = p.Do(ctx, "WAIT", replicas, timeout.Milliseconds())
			return nil
		})
		if err != nil && script.IsNoScript(ev.Err()) && attempt == 0 {
			if err := c.ScriptLoad(ctx, s.Source()).Err(); err != nil {
				return nil, 0, err
			}
			continue
		}
		if err := ev.Err(); err != nil {
			return nil, 0, err
		}
		if err != nil {
			return nil, 0, err
		}
		acked64, err := wait.Int64()
		if err != nil {
			return nil, 0, err
		}
		acked := int(acked64)
		switch v := ev.Val().(type) {
		case []any:
			return v, acked, nil
		default:
			return []any{v}, acked, nil
		}
	}
}

func toInt(v any) int64 {
	switch x := v.(type) {
	case int64:
		return x
	case string:
		n, _ := strconv.ParseInt(x, 10, 64)
		return n
	}
	return 0
}

// isTransient reports errors worth retrying while waiting for a lock.
func isTransient(err error) bool {
	return err != nil && !errors.Is(err, ErrInvalidName) && !errors.Is(err, ErrClosed)
}
