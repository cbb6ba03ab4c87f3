package lock

import (
	"fmt"
	"strings"
)

// DefaultPrefix starts every key the package writes.
const DefaultPrefix = "rediskit:lock:"

// keys are the Redis names of one lock. All of them carry the hash tag
// {name}, so the scripts that touch several of them, and the sharded
// release channel, live in one cluster slot.
type keys struct {
	lock    string // "<prefix>{<name>}": "<owner>:<token>:<holder>", PX ttl
	fence   string // "<prefix>{<name>}:fence": INCR counter, never expires
	channel string // "<prefix>{<name>}:released": SPUBLISH on release
	waiting string // "<prefix>{<name>}:waiting": set (PX) while someone waits
	queue   string // "<prefix>{<name>}:queue": FIFO waiters (Fair), zset owner -> arrival
	waiters string // "<prefix>{<name>}:waiters": hash owner -> deadline ms, "#seq"
}

// keysFor builds the keys of lock name. The name must be non-empty and must
// not contain braces, which would change the hash tag.
func keysFor(prefix, name string) (keys, error) {
	if name == "" {
		return keys{}, fmt.Errorf("%w: empty name", ErrInvalidName)
	}
	if strings.ContainsAny(name, "{}") {
		return keys{}, fmt.Errorf("%w: %q contains a brace", ErrInvalidName, name)
	}
	// One allocation for all six: each key is a slice of one string
	// "<base>:fence<base>:released..." (acquire and release build them on
	// every call).
	base := prefix + "{" + name + "}"
	suffixes := [...]string{"", ":fence", ":released", ":waiting", ":queue", ":waiters"}
	var b strings.Builder
	b.Grow(len(suffixes)*len(base) + len(":fence:released:waiting:queue:waiters"))
	var out [len(suffixes)]string
	var ends [len(suffixes)]int
	for i, s := range suffixes {
		b.WriteString(base)
		b.WriteString(s)
		ends[i] = b.Len()
	}
	all := b.String()
	start := 0
	for i, end := range ends {
		out[i] = all[start:end]
		start = end
	}
	return keys{lock: out[0], fence: out[1], channel: out[2], waiting: out[3], queue: out[4], waiters: out[5]}, nil
}
