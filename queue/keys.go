package queue

import (
	"fmt"
	"strings"
)

// keys builds every Redis key of one queue. Every key is
// "<prefix>:<name>:<suffix>" exactly as BullMQ builds it; on a cluster the
// hash tag must sit in the prefix or the name (checkSlot) so that all of
// them, job keys included, share one slot.
type keys struct {
	base string // "<prefix>:<name>:"

	wait, active, paused, prioritized, pc, delayed string
	completed, failed, stalled, stalledCheck, id   string
	marker, meta, events, limiter, repeat          string
	waitingChildren                                string
}

func newKeys(prefix, name string) keys {
	b := prefix + ":" + name + ":"
	return keys{
		base:         b,
		wait:         b + "wait",
		active:       b + "active",
		paused:       b + "paused",
		prioritized:  b + "prioritized",
		pc:           b + "pc",
		delayed:      b + "delayed",
		completed:    b + "completed",
		failed:       b + "failed",
		stalled:      b + "stalled",
		stalledCheck: b + "stalled-check",
		id:           b + "id",
		marker:       b + "marker",
		meta:         b + "meta",
		events:       b + "events",
		limiter:      b + "limiter",
		repeat:       b + "repeat",

		waitingChildren: b + "waiting-children",
	}
}

// depKeys are a job's flow children keys, as BullMQ names them.
type depKeys struct{ processed, dependencies, failed, unsuccessful string }

func (k keys) deps(id string) depKeys {
	jk := k.job(id)
	return depKeys{jk + ":processed", jk + ":dependencies", jk + ":failed", jk + ":unsuccessful"}
}

// The KEYS of each script, in the order its header lists them.

func (k keys) addKeys() []string {
	return []string{k.wait, k.meta, k.id, k.delayed, k.prioritized, k.pc, k.marker, k.events, k.active}
}

func (k keys) takeKeys() []string {
	return []string{k.wait, k.active, k.prioritized, k.events, k.stalled, k.limiter, k.delayed, k.meta, k.pc, k.marker}
}

func (k keys) finishKeys() []string {
	return []string{k.wait, k.active, k.prioritized, k.events, k.stalled, k.limiter, k.delayed, k.meta, k.pc, k.marker, k.completed, k.failed}
}

func (k keys) stalledKeys() []string {
	return []string{k.stalled, k.wait, k.active, k.stalledCheck, k.meta, k.marker, k.events, k.repeat}
}

// job is the key of a job hash.
func (k keys) job(id string) string { return k.base + id }

// lock is the key of a job's lock.
func (k keys) lock(id string) string { return k.base + id + ":lock" }

// logs is the key of a job's log list.
func (k keys) logs(id string) string { return k.base + id + ":logs" }

// metrics is the metrics hash of completed or failed jobs ("<hash>:data"
// is its list of points).
func (k keys) metrics(s State) string { return k.base + "metrics:" + string(s) }

// state returns the key that holds jobs of a state.
func (k keys) state(s State) string {
	switch s {
	case StateWaiting:
		return k.wait
	case StateActive:
		return k.active
	case StatePrioritized:
		return k.prioritized
	case StateDelayed:
		return k.delayed
	case StateCompleted:
		return k.completed
	case StateFailed:
		return k.failed
	}
	return ""
}

// checkName rejects queue names BullMQ cannot use.
func checkName(name string) error {
	if name == "" {
		return fmt.Errorf("%w: empty queue name", ErrInvalidName)
	}
	if strings.Contains(name, ":") {
		return fmt.Errorf("%w: queue name %q contains ':'", ErrInvalidName, name)
	}
	return nil
}

// checkSlot reports an error when the keys of queue name under prefix
// would not all hash to one cluster slot: "<prefix>:<name>:" must contain
// a complete, non-empty hash tag, because Redis hashes only the first
// {...} of a key and the suffixes (job ids) are arbitrary.
func checkSlot(prefix, name string) error {
	base := prefix + ":" + name + ":"
	s := strings.IndexByte(base, '{')
	if s >= 0 {
		if e := strings.IndexByte(base[s+1:], '}'); e > 0 {
			return nil
		}
	}
	return fmt.Errorf("%w: keys %q... would spread over many slots; put a hash tag in the prefix (%q) or the name (%q)",
		ErrCrossSlot, base, "{"+prefix+"}", "{"+name+"}")
}
