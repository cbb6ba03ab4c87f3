package lock

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Errors that errors.Is tells apart. When the caller's context ends, the
// functions return the context's error, wrapped, instead of these.
var (
	// ErrTaken: another owner holds the lock (TryAcquire, or Acquire and Do
	// once Options.MaxWait has passed). The error is a *TakenError.
	ErrTaken = errors.New("lock: taken")
	// ErrNoQuorum: too few nodes answered to take or extend the lock (for
	// New: the one deployment failed). The error is a *QuorumError wrapping
	// the node errors.
	ErrNoQuorum = errors.New("lock: no quorum")
	// ErrLost: the lease ended without Release: the key expired, was
	// deleted or taken over, or Redis could not be reached before the
	// lease's validity ran out.
	ErrLost = errors.New("lock: lost")
	// ErrNotReplicated: WAIT saw fewer replicas than Options.Replicas
	// acknowledge the write. The error is a *NotReplicatedError. After a
	// failed acquire the lock is released again.
	ErrNotReplicated = errors.New("lock: not replicated")
	// ErrNotHeld: Extend or Release on a lease that this owner no longer
	// holds (lost or already released). Nothing is changed in Redis.
	ErrNotHeld = errors.New("lock: not held")
	// ErrHoldExceeded: Do's fn ran past Options.MaxHold; its context was
	// cancelled and extension stopped.
	ErrHoldExceeded = errors.New("lock: maximum hold time exceeded")
	// ErrInvalidName: the lock name is empty or contains a brace (with
	// PlainKeys: a '}' outside a hash tag, or a Prefix with a brace).
	ErrInvalidName = errors.New("lock: invalid name")
	// ErrClosed: the Locker was closed.
	ErrClosed = errors.New("lock: closed")
)

// TakenError says who holds a lock, as far as the nodes told.
type TakenError struct {
	Name string
	// Holder is the holder's Options.Holder ("host:pid" by default).
	// Empty (with Token and TTL zero) when the lock is free but, with
	// Options.Fair, another waiter is ahead in the queue.
	Holder string
	// Token is the holder's fencing token.
	Token int64
	// TTL is the time left on the holder's lease (from PTTL); negative
	// when the key has no expiry (a foreign key: held until deleted).
	TTL time.Duration
	// Foreign says the lock key holds something rediskit did not write:
	// a node-redlock holder's random value (with PlainKeys), or any other
	// value or key type. Holder then describes it (never the value
	// itself: a redlock value is what releases that lock) and Token is 0.
	// Go treats such a key as held until it expires or is deleted.
	Foreign bool
}

func (e *TakenError) Error() string {
	if e.Foreign {
		return fmt.Sprintf("lock: %q taken by %s (%s)", e.Name, e.Holder, ttlText(e.TTL))
	}
	if e.Holder == "" && e.Token == 0 {
		return fmt.Sprintf("lock: %q taken: another waiter is first in line", e.Name)
	}
	return fmt.Sprintf("lock: %q taken by %s (token %d, %v left)", e.Name, e.Holder, e.Token, e.TTL)
}

// Is makes errors.Is(err, ErrTaken) true.
func (e *TakenError) Is(target error) bool { return target == ErrTaken }

// QuorumError says how many nodes agreed and why the others did not.
type QuorumError struct {
	Name       string
	Got, Need  int
	NodeErrors []error
}

func (e *QuorumError) Error() string {
	return fmt.Sprintf("lock: %q: no quorum (%d of %d needed): %v", e.Name, e.Got, e.Need, errors.Join(e.NodeErrors...))
}

// Is makes errors.Is(err, ErrNoQuorum) true.
func (e *QuorumError) Is(target error) bool { return target == ErrNoQuorum }

// Unwrap returns the node errors.
func (e *QuorumError) Unwrap() []error { return e.NodeErrors }

// NotReplicatedError says how many replicas acknowledged a write.
type NotReplicatedError struct {
	Name        string
	Acked, Want int
}

func (e *NotReplicatedError) Error() string {
	return fmt.Sprintf("lock: %q: %d of %d replicas acknowledged", e.Name, e.Acked, e.Want)
}

// Is makes errors.Is(err, ErrNotReplicated) true.
func (e *NotReplicatedError) Is(target error) bool { return target == ErrNotReplicated }

func ttlText(ttl time.Duration) string {
	if ttl < 0 {
		return "no expiry: held until deleted"
	}
	return ttl.String() + " left"
}

// Descriptions of foreign holders (TakenError.Holder, Holding.Holder).
const (
	foreignValue = "a foreign holder (a value rediskit did not write, such as node-redlock's)"
	foreignType  = "a foreign %s key (not a lock value)"
)

// parseValue splits a lock value "<owner>:<token>:<holder>" into holder and
// token. ok is false for a value rediskit did not write: holder then
// describes it without quoting it (a node-redlock value is the secret
// that releases that lock).
func parseValue(v string) (holder string, token int64, ok bool) {
	owner, rest, _ := strings.Cut(v, ":")
	tok, h, found := strings.Cut(rest, ":")
	n, err := strconv.ParseInt(tok, 10, 64)
	if owner == "" || !found || err != nil || n <= 0 {
		return foreignValue, 0, false
	}
	return h, n, true
}
