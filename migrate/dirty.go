package migrate

import (
	"sync"
	"time"
)

// dirtySet is a bounded, de-duplicated set of keys changed on the source
// and not yet applied to the target, oldest first. A key changed many
// times while pending is held once, with the time it was first seen, so
// the set's size is bounded by the number of distinct keys, never by the
// write rate. Safe for concurrent use.
type dirtySet struct {
	mu    sync.Mutex
	max   int
	first map[string]time.Time
	order []string // keys in first-seen order; order[head:] are pending
	head  int
}

func newDirtySet(limit int) *dirtySet {
	return &dirtySet{max: limit, first: map[string]time.Time{}}
}

// add records key as changed at now. It returns false when the set is
// full: the caller must treat that as a gap (the set is then cleared).
func (d *dirtySet) add(key string, now time.Time) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.first[key]; ok {
		return true
	}
	if len(d.first) >= d.max {
		d.clearLocked()
		return false
	}
	d.first[key] = now
	d.order = append(d.order, key)
	return true
}

// take removes and returns up to n of the oldest keys, with the time the
// oldest of them was first seen.
func (d *dirtySet) take(n int) ([]string, time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	end := min(d.head+n, len(d.order))
	keys := make([]string, 0, end-d.head)
	var oldest time.Time
	for _, k := range d.order[d.head:end] {
		if oldest.IsZero() {
			oldest = d.first[k]
		}
		delete(d.first, k)
		keys = append(keys, k)
	}
	clear(d.order[d.head:end])
	d.head = end
	if d.head > 1024 && d.head*2 > len(d.order) {
		d.order = append(d.order[:0:0], d.order[d.head:]...)
		d.head = 0
	}
	return keys, oldest
}

// oldest is the first-seen time of the oldest pending key (zero if none).
func (d *dirtySet) oldest() time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.head == len(d.order) {
		return time.Time{}
	}
	return d.first[d.order[d.head]]
}

func (d *dirtySet) len() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.first)
}

func (d *dirtySet) clearLocked() {
	clear(d.first)
	d.order, d.head = nil, 0
}
