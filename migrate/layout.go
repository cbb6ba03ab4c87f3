package migrate

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// watchLayout fails the run when the source is resharded: a slot is
// being migrated (a MIGRATING or IMPORTING mark on a master, seen at once)
// or the slot ranges of the masters changed (two looks in a row must
// agree, so a map read mid-failover is ignored; a failover keeps the
// ranges). The migrator does not follow a reshard: a key already moved to
// another master reads as deleted on the old one.
func (m *Migrator) watchLayout(ctx context.Context, cc *redis.ClusterClient, shards []*shard, done <-chan struct{}) error {
	interval := m.opts.Heartbeat
	if interval <= 0 || interval > time.Second {
		interval = time.Second
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	strikes := 0
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-done:
			return nil
		case <-t.C:
		}
		err := m.checkLayout(ctx, cc, shards)
		if err == nil || ctx.Err() != nil {
			strikes = 0
			continue
		}
		var mv *migratingError
		if errors.As(err, &mv) {
			return err
		}
		if strikes++; strikes >= 2 {
			return err
		}
	}
}

// migratingError: a master marks a slot MIGRATING or IMPORTING.
type migratingError struct{ addr, mark string }

func (e *migratingError) Error() string {
	return fmt.Sprintf("%v: %s has slot mark %s (a reshard is under way); the migrator stops because keys moved away "+
		"would read as deleted: run it again once the reshard is over (it compares what it copied and repairs the rest)", ErrTopology, e.addr, e.mark)
}

func (e *migratingError) Unwrap() error { return ErrTopology }

// slotMarks returns a *migratingError when node marks a slot MIGRATING
// or IMPORTING (nil also when it cannot be asked: a failover under way is
// left to the retries).
func slotMarks(ctx context.Context, node *redis.Client) error {
	nodes, err := node.ClusterNodes(ctx).Result()
	if err != nil {
		return nil
	}
	for line := range strings.SplitSeq(nodes, "\n") {
		if !strings.Contains(line, "myself") {
			continue
		}
		for f := range strings.FieldsSeq(line) {
			if strings.HasPrefix(f, "[") {
				return &migratingError{addr: node.Options().Addr, mark: f}
			}
		}
	}
	return nil
}

// checkLayout compares the source's slot map with the shards' ranges and
// looks for slot migration marks on every master.
// With no shards (before discovery) it only looks for marks.
func (m *Migrator) checkLayout(ctx context.Context, cc *redis.ClusterClient, shards []*shard) error {
	var nodes []*redis.Client
	if shards == nil {
		var mu sync.Mutex
		_ = cc.ForEachMaster(ctx, func(_ context.Context, n *redis.Client) error {
			mu.Lock()
			nodes = append(nodes, n)
			mu.Unlock()
			return nil
		})
	}
	for _, sh := range shards {
		n, _ := sh.current()
		nodes = append(nodes, n)
	}
	for _, n := range nodes {
		if err := slotMarks(ctx, n); err != nil {
			return err
		}
	}
	if shards == nil {
		return nil
	}
	slots, err := cc.ClusterSlots(ctx).Result()
	if err != nil {
		return nil
	}
	want := map[string]bool{}
	for _, sh := range shards {
		want[sh.label] = true
	}
	got := map[string][]slotRange{}
	for _, s := range slots {
		if len(s.Nodes) > 0 {
			got[s.Nodes[0].Addr] = append(got[s.Nodes[0].Addr], slotRange{int(s.Start), int(s.End)})
		}
	}
	same := len(got) == len(want)
	var now []string
	for _, rs := range got {
		sort.Slice(rs, func(i, j int) bool { return rs[i].lo < rs[j].lo })
		same = same && want[rangesLabel(rs)]
		now = append(now, rangesLabel(rs))
	}
	if same {
		return nil
	}
	sort.Strings(now)
	return fmt.Errorf("%w: the source's masters now serve %s, not the ranges this run started with; "+
		"run the migrator again (it compares what it copied and repairs the rest)", ErrTopology, strings.Join(now, "; "))
}
