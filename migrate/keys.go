package migrate

import (
	"strconv"
	"strings"
	"sync"

	"github.com/rediskit/rediskit/internal/slot"
)

// ReservedPrefix starts every key the migrator writes itself: its
// checkpoint in the target, heartbeat keys in the source, temporary keys
// of chunked copies. Copy, sync and verify skip keys with this prefix.
const ReservedPrefix = "{rediskit-migrate"

// stateKey is the checkpoint hash in the target: field shardField(label)
// holds a shard's JSON position.
const stateKey = ReservedPrefix + "}:state"

func shardField(label string) string { return "shard:" + label }

// reserved reports whether key belongs to the migrator.
func reserved(key string) bool { return strings.HasPrefix(key, ReservedPrefix) }

var (
	tagsOnce sync.Once
	slotTags [slot.Count]string
)

// tagForSlot returns a hash tag (without braces), starting with the
// reserved prefix, that hashes to slot s: keys built on it live in the
// same slot (and so on the same cluster master) as any key of slot s.
func tagForSlot(s int) string {
	tagsOnce.Do(func() {
		left := slot.Count
		for n := 0; left > 0; n++ {
			tag := ReservedPrefix[1:] + "-" + strconv.Itoa(n)
			if sl := slot.Of("{" + tag + "}"); slotTags[sl] == "" {
				slotTags[sl] = tag
				left--
			}
		}
	})
	return slotTags[s]
}

// heartbeatKey is the source key, in slot s, that sync rewrites every
// heartbeat: its notifications prove the subscription alive, and its
// disappearance reveals a FLUSHALL or FLUSHDB.
func heartbeatKey(s int) string { return "{" + tagForSlot(s) + "}:heartbeat" }

// tempKey is the target key a chunked copy of key builds before renaming
// it over key: same slot, reserved prefix.
func tempKey(key string, n int64) string {
	return "{" + tagForSlot(slot.Of(key)) + "}:tmp:" + strconv.FormatInt(n, 10)
}
