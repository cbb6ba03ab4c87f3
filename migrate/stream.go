package migrate

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// copyStream copies the stream key of node into tmp on the target a
// chunk at a time: entries with their ids (XRANGE, XADD <id>), the
// stream's last id, entries-added and max-deleted id (XSETID), each
// consumer group at its last-delivered id and entries-read (XGROUP
// CREATE), its consumers (XGROUP CREATECONSUMER) and its pending entries
// with their consumer, idle time and delivery count (XCLAIM ... FORCE
// JUSTID). Not copied: the consumers' seen and active times (they start
// at the copy), and pending entries whose stream entry was deleted
// (XDEL) — they are counted in the returned lost count and logged.
func (m *Migrator) copyStream(ctx context.Context, node *redis.Client, key, tmp string, put func(func(redis.Pipeliner)) error) (lost int64, err error) {
	n := int64(m.opts.ChunkElements)
	copied := false
	for start := "-"; ; {
		v, err := node.Do(ctx, "XRANGE", key, start, "+", "COUNT", n).Slice()
		if err != nil {
			return 0, fmt.Errorf("source: XRANGE: %w", err)
		}
		if len(v) == 0 {
			break
		}
		last := ""
		err = put(func(p redis.Pipeliner) {
			for _, e := range v {
				id, fields, ok := streamEntry(e)
				if !ok {
					continue
				}
				args := append([]any{"XADD", tmp, id}, fields...)
				p.Do(ctx, args...)
				last = id
			}
		})
		if err != nil {
			return 0, fmt.Errorf("target: XADD: %w", err)
		}
		if last == "" {
			return 0, fmt.Errorf("source: XRANGE of %q: unexpected reply", key)
		}
		copied = true
		if int64(len(v)) < n {
			break
		}
		start = "(" + last
	}
	if !copied {
		// An empty stream: create it without an entry.
		err := put(func(p redis.Pipeliner) {
			p.XGroupCreateMkStream(ctx, tmp, "rediskit-migrate-tmp", "$")
			p.XGroupDestroy(ctx, tmp, "rediskit-migrate-tmp")
		})
		if err != nil {
			return 0, fmt.Errorf("target: create empty stream: %w", err)
		}
	}
	info, err := node.XInfoStream(ctx, key).Result()
	if err != nil {
		return 0, fmt.Errorf("source: XINFO STREAM: %w", err)
	}
	if err := put(func(p redis.Pipeliner) {
		p.Do(ctx, "XSETID", tmp, info.LastGeneratedID, "ENTRIESADDED", info.EntriesAdded, "MAXDELETEDID", info.MaxDeletedEntryID)
	}); err != nil {
		return 0, fmt.Errorf("target: XSETID: %w", err)
	}
	groups, err := node.XInfoGroups(ctx, key).Result()
	if err != nil {
		return 0, fmt.Errorf("source: XINFO GROUPS: %w", err)
	}
	for _, g := range groups {
		l, err := m.copyGroup(ctx, node, key, tmp, g, put)
		if err != nil {
			return lost, err
		}
		lost += l
	}
	return lost, nil
}

// copyGroup copies one consumer group of a stream (see copyStream).
func (m *Migrator) copyGroup(ctx context.Context, node *redis.Client, key, tmp string, g redis.XInfoGroup, put func(func(redis.Pipeliner)) error) (int64, error) {
	consumers, err := node.XInfoConsumers(ctx, key, g.Name).Result()
	if err != nil {
		return 0, fmt.Errorf("source: XINFO CONSUMERS: %w", err)
	}
	err = put(func(p redis.Pipeliner) {
		args := []any{"XGROUP", "CREATE", tmp, g.Name, g.LastDeliveredID}
		if g.EntriesRead > 0 {
			args = append(args, "ENTRIESREAD", g.EntriesRead)
		}
		p.Do(ctx, args...)
		for _, c := range consumers {
			p.XGroupCreateConsumer(ctx, tmp, g.Name, c.Name)
		}
	})
	if err != nil {
		return 0, fmt.Errorf("target: XGROUP CREATE %q: %w", g.Name, err)
	}
	var lost int64
	for start := "-"; ; {
		pel, err := node.XPendingExt(ctx, &redis.XPendingExtArgs{Stream: key, Group: g.Name, Start: start, End: "+", Count: int64(m.opts.ChunkElements)}).Result()
		if err != nil {
			return lost, fmt.Errorf("source: XPENDING %q: %w", g.Name, err)
		}
		if len(pel) == 0 {
			return lost, nil
		}
		cmds := make([]*redis.Cmd, len(pel))
		err = put(func(p redis.Pipeliner) {
			for i, e := range pel {
				cmds[i] = p.Do(ctx, "XCLAIM", tmp, g.Name, e.Consumer, 0, e.ID, "IDLE", e.Idle.Milliseconds(),
					"RETRYCOUNT", e.RetryCount, "FORCE", "JUSTID")
			}
		})
		if err != nil {
			return lost, fmt.Errorf("target: XCLAIM %q: %w", g.Name, err)
		}
		for _, c := range cmds {
			if ids, _ := c.Slice(); len(ids) == 0 {
				lost++ // its entry was deleted from the stream
			}
		}
		if int64(len(pel)) < int64(m.opts.ChunkElements) {
			return lost, nil
		}
		start = "(" + pel[len(pel)-1].ID
	}
}

// streamEntry splits one XRANGE entry into its id and its fields and
// values, in order.
func streamEntry(e any) (string, []any, bool) {
	pair, ok := e.([]any)
	if !ok || len(pair) != 2 {
		return "", nil, false
	}
	id, ok := pair[0].(string)
	if !ok {
		return "", nil, false
	}
	fields, ok := pair[1].([]any)
	return id, fields, ok
}
