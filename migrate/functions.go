package migrate

import (
	"context"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"
)

// copyFunctions copies the source's Redis Functions libraries (FUNCTION
// DUMP of the first source master) to every target master (FUNCTION
// RESTORE ... REPLACE), before any key, so keys that scripts read find
// their libraries. Libraries loaded later are not followed (no keyspace
// notification announces them): load them on both sides. A source that
// refuses FUNCTION (before Redis 7, or a managed service) is skipped with
// a warning; source masters whose libraries differ are an error.
func (m *Migrator) copyFunctions(ctx context.Context, shards []*shard) (int, error) {
	var payload string
	var libs int
	for i, sh := range shards {
		node, addr := sh.current()
		list, err := node.FunctionList(ctx, redis.FunctionListQuery{}).Result()
		if err != nil {
			if isUnknownCommand(err) {
				m.log.Warn("migrate: the source does not list functions (FUNCTION LIST refused); Redis Functions are not copied", "addr", addr, "err", err)
				return 0, nil
			}
			return 0, fmt.Errorf("migrate: source %s: FUNCTION LIST: %w", addr, err)
		}
		p, err := node.FunctionDump(ctx).Result()
		if err != nil {
			return 0, fmt.Errorf("migrate: source %s: FUNCTION DUMP: %w", addr, err)
		}
		if i == 0 {
			payload, libs = p, len(list)
			continue
		}
		if len(list) != libs || (libs > 0 && p != payload) {
			return 0, fmt.Errorf("migrate: source masters hold different Redis Functions libraries (%s has %d, the first master %d): load the same libraries on every master", addr, len(list), libs)
		}
	}
	if libs == 0 {
		return 0, nil
	}
	nodes, err := m.targetNodes(ctx)
	if err != nil {
		return 0, err
	}
	for _, n := range nodes {
		// REPLACE: a rerun (or a library already on the target) is fine.
		if err := n.Do(ctx, "FUNCTION", "RESTORE", payload, "REPLACE").Err(); err != nil {
			return 0, fmt.Errorf("migrate: target %s: FUNCTION RESTORE: %w", n.Options().Addr, err)
		}
	}
	return libs, nil
}

func isUnknownCommand(err error) bool {
	msg := err.Error()
	return strings.HasPrefix(msg, "ERR unknown") || strings.HasPrefix(msg, "NOPERM")
}
