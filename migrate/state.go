package migrate

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"
)

// position is a shard's checkpoint: where its pass stands on which
// server process. A SCAN cursor means nothing on another process, so a
// different run id restarts the pass.
type position struct {
	RunID   string `json:"run_id"`
	Cursor  uint64 `json:"cursor"`
	Scanned int64  `json:"scanned"`
	Done    bool   `json:"done"`
	// Compare: the pass compares digests (see passCompare).
	Compare bool `json:"compare,omitempty"`
}

// loadState reads every shard's checkpoint from the target.
func loadState(ctx context.Context, dst redis.UniversalClient) (map[string]position, error) {
	fields, err := dst.HGetAll(ctx, stateKey).Result()
	if err != nil {
		return nil, fmt.Errorf("migrate: target: read checkpoint %s: %w", stateKey, err)
	}
	out := map[string]position{}
	for f, v := range fields {
		label, ok := strings.CutPrefix(f, "shard:")
		if !ok {
			continue
		}
		var p position
		if err := json.Unmarshal([]byte(v), &p); err != nil {
			return nil, fmt.Errorf("migrate: target: checkpoint field %q is not valid (%w); delete %s or run with -restart", f, err, stateKey)
		}
		out[label] = p
	}
	return out, nil
}

func saveState(ctx context.Context, dst redis.UniversalClient, label string, p position) error {
	b, _ := json.Marshal(p)
	if err := dst.HSet(ctx, stateKey, shardField(label), b).Err(); err != nil {
		return fmt.Errorf("migrate: target: checkpoint: %w", err)
	}
	return nil
}
