package lock

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/rediskit/rediskit/internal/slot"
)

// DefaultPrefix starts every key the package writes.
const DefaultPrefix = "rediskit:lock:"

// keys are the Redis names of one lock. All of them carry the hash tag
// {name} (with PlainKeys: all of them hash like the resource), so the
// scripts that touch several of them, and the sharded release channel,
// live in one cluster slot.
type keys struct {
	lock    string // "<prefix>{<name>}" (PlainKeys: "<name>"): "<owner>:<token>:<holder>", PX ttl
	fence   string // "<prefix>{<name>}:fence": INCR counter, never expires
	channel string // "<prefix>{<name>}:released": SPUBLISH on release
	waiting string // "<prefix>{<name>}:waiting": set (PX) while someone waits
	queue   string // "<prefix>{<name>}:queue": FIFO waiters (Fair), zset owner -> arrival
	waiters string // "<prefix>{<name>}:waiters": hash owner -> deadline ms, "#seq"
}

// KeyLayout says which key a lock name is locked under.
type KeyLayout int

const (
	// TaggedKeys (the default) locks name under "<Prefix>{<name>}": every
	// key of the lock shares the hash tag {name}. Names may not contain
	// braces.
	TaggedKeys KeyLayout = iota
	// PlainKeys locks the name itself, with no prefix and no braces added:
	// the resource key a Node service locks with node-redlock
	// (redlock.lock(resource, ttl), redlock.acquire([resource], ttl)), so
	// a Node holder and a Go holder exclude each other. The other keys of
	// the lock (the fence counter, the release channel, the wait marker and
	// queue) get Prefix and the resource's hash slot: for a resource
	// without a hash tag, "<Prefix>{<resource>}:fence"; for one with a
	// tag ("orders:{42}"), "<Prefix><resource>:fence". Locker.FenceKey
	// returns it. The resource may not contain '}' unless it has a hash
	// tag, and Prefix may not contain braces.
	PlainKeys
)

// keysFor builds the keys of lock name under layout (see KeyLayout).
func keysFor(prefix, name string, layout KeyLayout) (keys, error) {
	if name == "" {
		return keys{}, fmt.Errorf("%w: empty name", ErrInvalidName)
	}
	var base string
	if layout == PlainKeys {
		if strings.ContainsAny(prefix, "{}") {
			return keys{}, fmt.Errorf("%w: prefix %q contains a brace (PlainKeys puts the other keys in the resource's slot)", ErrInvalidName, prefix)
		}
		switch {
		case slot.Tag(name) != name:
			// The resource has a hash tag: the prefixed name keeps it.
			base = prefix + name
		case strings.Contains(name, "}"):
			return keys{}, fmt.Errorf("%w: %q contains '}' but no hash tag: its other keys cannot share its slot", ErrInvalidName, name)
		default:
			// The whole resource is hashed: make it the other keys' tag.
			base = prefix + "{" + name + "}"
		}
	} else {
		if strings.ContainsAny(name, "{}") {
			return keys{}, fmt.Errorf("%w: %q contains a brace", ErrInvalidName, name)
		}
		base = prefix + "{" + name + "}"
	}
	k := buildKeys(base)
	if layout == PlainKeys {
		k.lock = name
	}
	return k, nil
}

// buildKeys returns the keys "<base>", "<base>:fence"... in one allocation
// for all six: each key is a slice of one string "<base><base>:fence..."
// (acquire and release build them on every call).
func buildKeys(base string) keys {
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
	return keys{lock: out[0], fence: out[1], channel: out[2], waiting: out[3], queue: out[4], waiters: out[5]}
}

func (k KeyLayout) String() string {
	switch k {
	case TaggedKeys:
		return "TaggedKeys"
	case PlainKeys:
		return "PlainKeys"
	}
	return "KeyLayout(" + strconv.Itoa(int(k)) + ")"
}
