package migrate

import (
	"context"
	_ "embed"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rediskit/rediskit/internal/script"
)

//go:embed fence-1.lua
var fenceSrc string

var fenceScript = script.New("fence-1.lua", fenceSrc)

// Positions of fence-1.lua's ARGV.
const (
	argFenceSource = iota
	argFenceBump
	numFenceArgs
)

// DefaultFenceBump is what CarryFences adds by default: more tokens than
// a lock could hand out while a cutover runs.
const DefaultFenceBump = 1_000_000

// CarryFences copies every rediskit lock fence counter (the keys
// "<prefix>{<name>}:fence" of package lock, prefix "rediskit:lock:" by
// default) from src to dst, set to max(source, target) + bump (zero
// means DefaultFenceBump), so that the target never issues a fencing
// token the source issued: a resource that checks tokens (PostgreSQL
// "WHERE fence < $token") keeps refusing holders from before the
// cutover. Run it after the last write to the source's locks and before
// the first lock taken on the target. It returns the number of counters.
func CarryFences(ctx context.Context, src, dst redis.UniversalClient, prefix string, bump int64) (int, error) {
	if prefix == "" {
		prefix = "rediskit:lock:"
	}
	if bump <= 0 {
		bump = DefaultFenceBump
	}
	infos, err := discover(ctx, src)
	if err != nil {
		return 0, err
	}
	pattern := globEscape(prefix) + "{*}:fence"
	n := 0
	for _, in := range infos {
		var cursor uint64
		for {
			keys, next, err := in.node.Scan(ctx, cursor, pattern, 1000).Result()
			if err != nil {
				return n, fmt.Errorf("migrate: source %s: scan fences: %w", in.addr, err)
			}
			for _, k := range keys {
				v, err := in.node.Get(ctx, k).Int64()
				if err != nil {
					return n, fmt.Errorf("migrate: source: fence %q: %w", k, err)
				}
				args := make([]any, numFenceArgs)
				args[argFenceSource], args[argFenceBump] = v, bump
				if err := fenceScript.Run(ctx, dst, []string{k}, args...).Err(); err != nil {
					return n, fmt.Errorf("migrate: target: fence %q: %w", k, err)
				}
				n++
			}
			if next == 0 {
				break
			}
			cursor = next
		}
	}
	return n, nil
}

func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Drain waits until every change made on the source before the call has
// been applied to the target: it sends a PING on the notification
// connection of every source master and waits for its reply (a master
// sends a subscriber its messages in order, so every notification of an
// earlier write has then been received), then for no rescan, no pending
// dirty key and no batch in flight. It writes nothing to the source, so
// it works while the source's writes are paused (CLIENT PAUSE WRITE).
// Call it during Sync, once writes to the source have stopped.
func (m *Migrator) Drain(ctx context.Context) error {
	m.mu.Lock()
	shards, phase := m.shards, m.phase
	m.mu.Unlock()
	if phase != PhaseSync {
		return fmt.Errorf("migrate: drain: sync is in phase %s, not following changes", phase)
	}
	var wg sync.WaitGroup
	errs := make([]error, len(shards))
	for i, sh := range shards {
		wg.Go(func() {
			key := ReservedPrefix + "}:barrier:" + strconv.FormatInt(m.tmpSeq.Add(1), 10)
			var sent time.Time
			errs[i] = poll(ctx, func() bool {
				// Send the barrier, again every second until the current
				// subscription answers it (a re-subscription loses it).
				if b, _ := sh.barrier.Load().(string); b != key {
					if ps := sh.pubsub.Load(); ps != nil && time.Since(sent) > time.Second {
						sent = time.Now()
						_ = ps.Ping(ctx, key)
					}
					return false
				}
				return !sh.gap.Load() && !sh.scanning.Load() && sh.dirty.len() == 0 && sh.oldestPending().IsZero() && sh.inFlight() == 0
			})
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// poll calls cond every 5 ms until it is true or ctx is done.
func poll(ctx context.Context, cond func() bool) error {
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			return fmt.Errorf("migrate: %w", ctx.Err())
		case <-t.C:
		}
	}
	return nil
}
