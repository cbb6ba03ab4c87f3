package migrate

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rediskit/rediskit/internal/redisinfo"
	"github.com/rediskit/rediskit/internal/slot"
)

// slotRange is an inclusive range of hash slots.
type slotRange struct{ lo, hi int }

// shardInfo is one source master as discovery found it.
type shardInfo struct {
	label  string
	ranges []slotRange // nil: the whole keyspace (not a cluster)
	node   *redis.Client
	addr   string
	runID  string
}

// shard is the state of one source master during a run. The reader
// goroutine owns cursor, pending and the scan flags; the rest is guarded
// by mu or atomic.
type shard struct {
	label  string
	ranges []slotRange
	hbSlot int
	dirty  *dirtySet
	wake   chan struct{}

	gap    atomic.Bool
	copied atomic.Bool // the first pass is over
	// reader-owned
	cursor   uint64
	done     bool // the current pass is over (restored from a checkpoint in copy mode)
	prune    bool // after the forward pass, remove target keys missing from the source
	scanning atomic.Bool

	scanned, total, rescans atomic.Int64
	lastBeat, beatsSent     atomic.Int64
	barrier                 atomic.Value // the payload of the last barrier PING answered (Drain)
	pubsub                  atomic.Pointer[redis.PubSub]

	mode   passMode // dispatcher-owned: how the current pass copies
	follow bool     // set before the run starts: sync, not copy

	mu      sync.Mutex
	node    *redis.Client
	addr    string
	runID   string
	lastGap string
	// In flight (see flight.go): keys in a batch not yet written, keys
	// deferred until then (with their first-seen time), batches (with the
	// oldest change each holds), the open SCAN steps of the current pass.
	busy     map[string]struct{}
	deferred map[string]time.Time
	flights  map[*batch]time.Time
	steps    []*scanStep
	gen      int64

	saveMu       sync.Mutex // orders checkpoint writes
	savedGen     int64
	savedScanned int64
}

func newShard(in shardInfo, maxDirty int) *shard {
	sh := &shard{label: in.label, ranges: in.ranges, node: in.node, addr: in.addr, runID: in.runID,
		dirty: newDirtySet(maxDirty), wake: make(chan struct{}, 1),
		busy: map[string]struct{}{}, deferred: map[string]time.Time{}, flights: map[*batch]time.Time{}}
	if len(in.ranges) > 0 {
		sh.hbSlot = in.ranges[0].lo
	}
	return sh
}

// owns reports whether key belongs to this shard's slots.
func (sh *shard) owns(key string) bool {
	if sh.ranges == nil {
		return true
	}
	s := slot.Of(key)
	for _, r := range sh.ranges {
		if s >= r.lo && s <= r.hi {
			return true
		}
	}
	return false
}

func (sh *shard) current() (*redis.Client, string) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return sh.node, sh.addr
}

// markGap asks for a rescan of this shard.
func (sh *shard) markGap(m *Migrator, why string) {
	sh.mu.Lock()
	sh.lastGap = why
	sh.mu.Unlock()
	if !sh.gap.Swap(true) {
		m.c.gaps.Add(1)
		m.log.Warn("migrate: notification gap; rescanning this source master", "shard", sh.label, "why", why)
	}
	sh.poke()
}

func (sh *shard) poke() {
	select {
	case sh.wake <- struct{}{}:
	default:
	}
}

// oldestPending is the first-seen time of the oldest change not yet
// applied: pending in the dirty set or in a batch on its way.
func (sh *shard) oldestPending() time.Time {
	oldest := sh.dirty.oldest()
	sh.mu.Lock()
	for _, t := range sh.flights {
		if !t.IsZero() && (oldest.IsZero() || t.Before(oldest)) {
			oldest = t
		}
	}
	for _, t := range sh.deferred {
		if !t.IsZero() && (oldest.IsZero() || t.Before(oldest)) {
			oldest = t
		}
	}
	sh.mu.Unlock()
	return oldest
}

func (sh *shard) status() ShardStatus {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return ShardStatus{Label: sh.label, Addr: sh.addr, Scanned: sh.scanned.Load(), Total: sh.total.Load(),
		Copied: sh.copied.Load(), Scanning: sh.scanning.Load(), Rescans: sh.rescans.Load(),
		Dirty: sh.dirty.len(), LastGap: sh.lastGap}
}

// discover lists the source masters: one per cluster master (with its
// slot ranges), or the one node of a single or sentinel client.
func discover(ctx context.Context, c redis.UniversalClient) ([]shardInfo, error) {
	switch cc := c.(type) {
	case *redis.ClusterClient:
		return discoverCluster(ctx, cc)
	case *redis.Client:
		addr, runID, err := identify(ctx, cc)
		if err != nil {
			return nil, fmt.Errorf("migrate: source: %w", err)
		}
		return []shardInfo{{label: "main", node: cc, addr: addr, runID: runID}}, nil
	default:
		return nil, fmt.Errorf("migrate: source client %T is not supported (want *redis.Client or *redis.ClusterClient)", c)
	}
}

func discoverCluster(ctx context.Context, cc *redis.ClusterClient) ([]shardInfo, error) {
	slots, err := cc.ClusterSlots(ctx).Result()
	if err != nil {
		return nil, fmt.Errorf("migrate: source: CLUSTER SLOTS: %w", err)
	}
	byAddr := map[string]*shardInfo{}
	var order []string
	for _, s := range slots {
		if len(s.Nodes) == 0 {
			continue
		}
		a := s.Nodes[0].Addr
		in := byAddr[a]
		if in == nil {
			in = &shardInfo{addr: a}
			byAddr[a] = in
			order = append(order, a)
		}
		in.ranges = append(in.ranges, slotRange{int(s.Start), int(s.End)})
	}
	var out []shardInfo
	for _, a := range order {
		in := byAddr[a]
		sort.Slice(in.ranges, func(i, j int) bool { return in.ranges[i].lo < in.ranges[j].lo })
		in.label = rangesLabel(in.ranges)
		node, err := cc.MasterForKey(ctx, heartbeatKey(in.ranges[0].lo))
		if err != nil {
			return nil, fmt.Errorf("migrate: source: master of %s: %w", in.label, err)
		}
		_, runID, err := identify(ctx, node)
		if err != nil {
			return nil, fmt.Errorf("migrate: source: %s: %w", a, err)
		}
		in.node, in.runID = node, runID
		out = append(out, *in)
	}
	if len(out) == 0 {
		return nil, errors.New("migrate: source: no master serves slots")
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ranges[0].lo < out[j].ranges[0].lo })
	return out, nil
}

func rangesLabel(rs []slotRange) string {
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = strconv.Itoa(r.lo) + "-" + strconv.Itoa(r.hi)
	}
	return "slots " + strings.Join(parts, ",")
}

// identify returns the node's address and run id (INFO server).
func identify(ctx context.Context, n *redis.Client) (addr, runID string, err error) {
	info, err := n.Info(ctx, "server").Result()
	if err != nil {
		return "", "", err
	}
	f := redisinfo.ParseInfo(info)
	addr = n.Options().Addr
	if _, _, e := net.SplitHostPort(addr); e != nil || strings.HasPrefix(addr, "FailoverClient") {
		// A sentinel-managed client: ask the connection where it landed.
		if ci, e := n.Do(ctx, "CLIENT", "INFO").Text(); e == nil {
			for fld := range strings.FieldsSeq(ci) {
				if a, ok := strings.CutPrefix(fld, "laddr="); ok {
					addr = a
				}
			}
		}
	}
	return addr, f["run_id"], nil
}

// refresh re-resolves the shard's master (after an error or on a
// heartbeat tick) and reports a failover or restart as a gap.
func (m *Migrator) refresh(ctx context.Context, sh *shard) error {
	node, _ := sh.current()
	if cc, ok := m.src.(*redis.ClusterClient); ok {
		// A command through the cluster client lets its retry hook
		// (redisconn) notice a dead master and reload the slot map; the
		// node clients used for reads bypass it.
		_ = cc.Exists(ctx, heartbeatKey(sh.hbSlot)).Err()
		n, err := cc.MasterForKey(ctx, heartbeatKey(sh.hbSlot))
		if err != nil {
			return err
		}
		node = n
	}
	addr, runID, err := identify(ctx, node)
	if err != nil {
		return err
	}
	sh.mu.Lock()
	changed := runID != sh.runID
	old := sh.addr
	sh.node, sh.addr, sh.runID = node, addr, runID
	sh.mu.Unlock()
	if changed {
		sh.markGap(m, fmt.Sprintf("master changed (%s -> %s, new run id)", old, addr))
	}
	return nil
}
