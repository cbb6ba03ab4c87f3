package queue

import (
	"sync/atomic"
	"time"
)

type counters struct {
	started, completed, failed, retried, returned  atomic.Int64
	stalled, lostLocks, errors, fetches, abandoned atomic.Int64
	fetchNanos, processNanos                       atomic.Int64
	lastOK                                         atomic.Int64
}

// WorkerStats are a worker's counters since it was created.
type WorkerStats struct {
	// Processed counts jobs handed to the handler (or failed at once).
	Processed int64
	Completed int64
	// Failed counts jobs failed for good; Retried counts failed attempts
	// that will run again.
	Failed  int64
	Retried int64
	// Returned counts unfinished jobs put back to wait at shutdown.
	Returned int64
	// Stalled counts stalled jobs this worker's checks moved back to wait.
	Stalled int64
	// LostLocks counts jobs whose lock this worker lost.
	LostLocks int64
	// Abandoned counts jobs whose handler returned after Run had given up
	// waiting (it ignored cancellation past ShutdownTimeout+LockDuration);
	// their results are dropped and the stalled check recovers the jobs.
	Abandoned int64
	// Errors counts failed Redis calls of the fetch, lock and finish loops
	// (each logged and retried); LastError is the fetch or lock loop's
	// last one.
	Errors    int64
	LastError error
	InFlight  int
	// FetchLatency is the mean time of a fetch call without jobs waiting
	// for the marker; ProcessingTime the mean handler time.
	FetchLatency   time.Duration
	ProcessingTime time.Duration
	// LastOK is the last successful fetch or wait for jobs: a health
	// signal (an idle worker still refreshes it every DrainDelay).
	LastOK time.Time
}

// Stats returns the worker's counters. It does no I/O; queue depth per
// state is Queue.Counts.
func (w *Worker) Stats() WorkerStats {
	s := WorkerStats{
		Processed: w.st.started.Load(), Completed: w.st.completed.Load(), Failed: w.st.failed.Load(),
		Retried: w.st.retried.Load(), Returned: w.st.returned.Load(), Stalled: w.st.stalled.Load(),
		LostLocks: w.st.lostLocks.Load(), Abandoned: w.st.abandoned.Load(), InFlight: w.inFlight(),
	}
	s.Errors = w.st.errors.Load() + w.fetchLoop.Errors() + w.locksLoop.Errors()
	if s.LastError = w.fetchLoop.LastError(); s.LastError == nil {
		s.LastError = w.locksLoop.LastError()
	}
	if n := w.st.fetches.Load(); n > 0 {
		s.FetchLatency = time.Duration(w.st.fetchNanos.Load() / n)
	}
	if n := s.Completed + s.Failed + s.Retried; n > 0 {
		s.ProcessingTime = time.Duration(w.st.processNanos.Load() / n)
	}
	if t := w.st.lastOK.Load(); t > 0 {
		s.LastOK = time.Unix(0, t)
	}
	return s
}

// Healthy reports whether the worker reached Redis within maxAge.
func (w *Worker) Healthy(maxAge time.Duration) bool {
	t := w.st.lastOK.Load()
	return t > 0 && time.Since(time.Unix(0, t)) <= maxAge
}
