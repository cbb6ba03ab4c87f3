package lock

import (
	"sync"
	"sync/atomic"
	"time"
)

// OtherNames is the Stats.ByName entry that aggregates the names past
// Options.StatsNames.
const OtherNames = "_other"

// Counters are cumulative since the Locker was made.
type Counters struct {
	// Acquired counts leases obtained (Acquire, TryAcquire, Do).
	Acquired uint64
	// Contended counts acquire attempts that found the lock held by
	// another owner.
	Contended uint64
	// Waits counts acquisitions that had to wait, and WaitTime their total
	// wait.
	Waits    uint64
	WaitTime time.Duration
	// Timeouts counts waits that ended without the lock (MaxWait or the
	// caller's ctx).
	Timeouts uint64
	// Errors counts attempts that failed for lack of quorum or replication.
	Errors uint64
	// Extended and ExtendFailed count Extend calls, automatic or not.
	Extended     uint64
	ExtendFailed uint64
	// Lost counts leases that ended without Release.
	Lost uint64
	// Released counts leases released, and HoldTime the total time they
	// were held (acquire to release or loss).
	Released uint64
	HoldTime time.Duration
}

// Stats is a snapshot of a Locker's counters.
type Stats struct {
	Counters
	// ByName has one entry per lock name, for the first Options.StatsNames
	// names seen; later names are summed under OtherNames.
	ByName map[string]Counters
	// NotifyErrors counts failures of the release subscriptions (a
	// connection lost, a slot moved); each one woke the waiters of its
	// slot and was followed by a new subscription.
	NotifyErrors uint64
}

type counters struct {
	acquired, contended, waits, waitTime, timeouts, errors atomic.Uint64
	extended, extendFailed, lost, released, holdTime       atomic.Uint64
}

func (c *counters) snapshot() Counters {
	return Counters{
		Acquired: c.acquired.Load(), Contended: c.contended.Load(),
		Waits: c.waits.Load(), WaitTime: time.Duration(c.waitTime.Load()),
		Timeouts: c.timeouts.Load(), Errors: c.errors.Load(),
		Extended: c.extended.Load(), ExtendFailed: c.extendFailed.Load(),
		Lost: c.lost.Load(), Released: c.released.Load(), HoldTime: time.Duration(c.holdTime.Load()),
	}
}

// statsTable keeps the total and a bounded set of per-name counters. Safe
// for concurrent use.
type statsTable struct {
	limit int
	total counters
	mu    sync.RWMutex
	names map[string]*counters
}

func newStatsTable(limit int) *statsTable {
	return &statsTable{limit: limit, names: map[string]*counters{}}
}

// add applies f to the total and to name's counters.
func (t *statsTable) add(name string, f func(c *counters)) {
	f(&t.total)
	t.mu.RLock()
	c := t.names[name]
	if c == nil && len(t.names) >= t.limit {
		// Past the limit (a lock per order, say): every new name is
		// summed under OtherNames, found without the write lock, which
		// would otherwise serialise every call.
		c = t.names[OtherNames]
	}
	t.mu.RUnlock()
	if c == nil {
		t.mu.Lock()
		c = t.names[name]
		if c == nil {
			if len(t.names) >= t.limit {
				name = OtherNames
				c = t.names[name]
			}
			if c == nil {
				c = &counters{}
				t.names[name] = c
			}
		}
		t.mu.Unlock()
	}
	f(c)
}

func (t *statsTable) snapshot() Stats {
	s := Stats{Counters: t.total.snapshot(), ByName: map[string]Counters{}}
	t.mu.RLock()
	defer t.mu.RUnlock()
	for n, c := range t.names {
		s.ByName[n] = c.snapshot()
	}
	return s
}
