package queue

import (
	"errors"
	"fmt"
)

var (
	// ErrInvalidName is returned by New and NewWorker for an empty queue
	// name or one that contains ':'.
	ErrInvalidName = errors.New("queue: invalid queue name")
	// ErrCrossSlot is returned by New and NewWorker on a cluster when the
	// queue's keys would not share one hash slot (no hash tag in the prefix
	// or the name).
	ErrCrossSlot = errors.New("queue: queue keys span several cluster slots")
	// ErrInvalidOption is returned by Add for options BullMQ rejects too
	// (integer or ':' custom ids, priority out of range, negative delay).
	ErrInvalidOption = errors.New("queue: invalid job option")
	// ErrUnrecoverable is returned (or wrapped) by a handler to fail the job at
	// once without using its remaining attempts. Errors whose type is named
	// UnrecoverableError, or that implement Name() string returning
	// "UnrecoverableError", count too (as BullMQ's err.name check).
	ErrUnrecoverable = errors.New("queue: unrecoverable error")
	// ErrJobNotFound is returned by getters for a job id with no hash.
	ErrJobNotFound = errors.New("queue: job not found")
	// ErrLockLost is the cause of a handler's context when the worker lost
	// the job's lock (a stalled check gave the job to another worker).
	ErrLockLost = errors.New("queue: job lock lost")
	// ErrCorruptJob is returned (wrapped, naming the bad fields) by GetJob
	// and Jobs, together with the job, for a job hash that cannot be
	// decoded; a worker fails such a job with that reason.
	ErrCorruptJob = errors.New("queue: corrupt job hash")
	// ErrUnsupported names a feature this package does not support: a
	// worker fails a job using one (the reason names it) and Run refuses a
	// queue written by a BullMQ it does not speak.
	ErrUnsupported = errors.New("queue: unsupported BullMQ feature")
	// ErrJobState is returned by ChangeDelay and Promote for a job that is
	// not delayed.
	ErrJobState = errors.New("queue: job is not in the required state")
	// ErrJobLocked is returned by Remove for a job a worker is processing.
	ErrJobLocked = errors.New("queue: job is locked by a worker")
	// ErrParent is returned by Add for a flow child (JobOptions.Parent)
	// whose parent does not exist, or whose custom id exists as the child
	// of another parent that does; nothing of the call is added.
	ErrParent = errors.New("queue: flow parent refused")
	// ErrWaitingChildren is returned (or wrapped) by a handler after
	// Job.MoveToWaitingChildren moved its job to waiting-children (Node's
	// WaitingChildrenError): the worker then neither completes nor fails
	// the job, which runs again once its children are done.
	ErrWaitingChildren = errors.New("queue: job moved to waiting-children")
)

// FinishError reports a job whose completion or failure the server refused
// because the worker no longer held its lock: the job was lost to a stalled
// check and another worker owns it now. Such jobs are not retried.
type FinishError struct {
	JobID string
	// Code is BullMQ's code: -1 job missing, -2 lock missing, -3 job not
	// active, -6 lock held by another worker.
	Code int64
}

func (e *FinishError) Error() string {
	why := map[int64]string{-1: "job missing", -2: "lock missing", -3: "job not in active", -6: "lock held by another worker"}[e.Code]
	return fmt.Sprintf("queue: finishing job %s refused: %s (code %d)", e.JobID, why, e.Code)
}

// Unwrap lets errors.Is(err, ErrLockLost) match.
func (e *FinishError) Unwrap() error { return ErrLockLost }

// unrecoverable reports whether err skips retries.
func unrecoverable(err error) bool {
	if errors.Is(err, ErrUnrecoverable) {
		return true
	}
	for e := err; e != nil; e = errors.Unwrap(e) {
		if n, ok := e.(interface{ Name() string }); ok && n.Name() == "UnrecoverableError" {
			return true
		}
		if typeName(e) == "UnrecoverableError" {
			return true
		}
	}
	return false
}

func typeName(v any) string {
	s := fmt.Sprintf("%T", v)
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == '.' || s[i] == '*' {
			return s[i+1:]
		}
	}
	return s
}

// unrecoverableMsg is an unrecoverable error whose message is stored as is
// (a deferred failure's reason, exactly as Node stores it).
type unrecoverableMsg string

func (e unrecoverableMsg) Error() string { return string(e) }

// Name makes it unrecoverable, like Node's UnrecoverableError.
func (e unrecoverableMsg) Name() string { return "UnrecoverableError" }
