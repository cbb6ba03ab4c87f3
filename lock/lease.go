package lock

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// errReleased ends a lease that its owner released.
var errReleased = fmt.Errorf("%w: released", ErrNotHeld)

// Lease is one holding of a lock. Safe for concurrent use.
type Lease struct {
	l          *Locker
	name       string
	k          keys
	token      int64
	owner      string // random id of this acquisition, part of the value
	acquiredAt time.Time

	mu         sync.Mutex
	held       []bool // per node
	ttl        time.Duration
	validUntil time.Time
	err        error // why the lease ended; nil while held
	done       chan struct{}

	// watcher, started by startWatch; guarded by mu
	stop      chan struct{}
	watchDone chan struct{}
	kick      chan struct{}
	cancel    context.CancelCauseFunc // Do's fn context
}

// Name is the lock's name.
func (le *Lease) Name() string { return le.name }

// Token is the fencing token: strictly increasing per lock name across
// acquisitions (drawn with INCR in the lock's slot; for Redlock, the
// largest drawn on the quorum, written back to it). Pass it to the
// resource the lock guards, which rejects tokens older than the newest it
// saw (see package pgfence). A failover that loses the counter's last
// write can hand out a token again: Options.Replicas narrows that window.
func (le *Lease) Token() int64 { return le.token }

// ValidUntil is the local time until which the lease is known valid: the
// last successful acquire or extend plus its ttl, minus the time the call
// took and the drift allowance.
func (le *Lease) ValidUntil() time.Time {
	le.mu.Lock()
	defer le.mu.Unlock()
	return le.validUntil
}

// Lost returns a channel closed when the lease ends: lost (expired,
// deleted, taken over, or Redis unreachable past its validity) or
// released. Err tells which.
func (le *Lease) Lost() <-chan struct{} {
	le.startWatch(0, 0, nil)
	return le.done
}

// Err returns nil while the lease is held, an error wrapping ErrLost once
// it is lost, and one wrapping ErrNotHeld once released.
func (le *Lease) Err() error {
	le.mu.Lock()
	err, valid := le.err, le.validUntil
	le.mu.Unlock()
	if err == nil && !le.l.clock.Now().Before(valid) {
		le.end(fmt.Errorf("%w: %q: validity passed without a successful extend", ErrLost, le.name))
		return le.Err()
	}
	return err
}

// end closes the lease with cause (once) and reports whether this call did.
func (le *Lease) end(cause error) bool {
	le.mu.Lock()
	if le.err != nil {
		le.mu.Unlock()
		return false
	}
	le.err = cause
	close(le.done)
	cancel := le.cancel
	le.mu.Unlock()
	held := le.l.clock.Now().Sub(le.acquiredAt)
	lost := !errors.Is(cause, errReleased)
	le.l.stats.add(le.name, func(c *counters) {
		if lost {
			c.lost.Add(1)
		} else {
			c.released.Add(1)
		}
		c.holdTime.Add(uint64(held))
	})
	if cancel != nil {
		cancel(cause)
	}
	return true
}

func (le *Lease) heldNodes() []int {
	le.mu.Lock()
	defer le.mu.Unlock()
	var out []int
	for i, h := range le.held {
		if h {
			out = append(out, i)
		}
	}
	return out
}

// Extend sets the lock's ttl again, from now. It returns an error
// wrapping ErrNotHeld when the lease already ended, ErrLost when the
// nodes say the lock is no longer this owner's (the lease then ends),
// *NotReplicatedError when Options.Replicas did not acknowledge (the
// lease's validity is then not pushed back), and *QuorumError when too few
// nodes answered (the lease stays until its validity passes).
func (le *Lease) Extend(ctx context.Context, ttl time.Duration) error {
	err := le.extend(ctx, ttl)
	le.l.stats.add(le.name, func(c *counters) {
		if err == nil {
			c.extended.Add(1)
		} else {
			c.extendFailed.Add(1)
		}
	})
	if err != nil && ctx.Err() != nil {
		return fmt.Errorf("lock: extend %q: %w", le.name, ctx.Err())
	}
	return err
}

func (le *Lease) extend(ctx context.Context, ttl time.Duration) error {
	if ttl <= 0 {
		return fmt.Errorf("lock: extend %q: ttl %v must be positive", le.name, ttl)
	}
	if err := le.Err(); err != nil {
		if errors.Is(err, ErrNotHeld) {
			return fmt.Errorf("lock: extend %q: %w", le.name, err)
		}
		return fmt.Errorf("lock: extend %q: %w: %w", le.name, ErrNotHeld, err)
	}
	l := le.l
	nodes := le.heldNodes()
	start := l.clock.Now()
	type result struct {
		ok  bool
		err error
	}
	res := make([]result, len(l.nodes))
	if len(nodes) == 1 {
		i := nodes[0]
		ok, err := l.nodes[i].extend(ctx, le.k, le.owner, ttl, l.opts.Replicas, l.opts.ReplicaTimeout)
		res[i] = result{ok, err}
	} else {
		var wg sync.WaitGroup
		for _, i := range nodes {
			wg.Go(func() {
				ok, err := l.nodes[i].extend(ctx, le.k, le.owner, ttl, l.opts.Replicas, l.opts.ReplicaTimeout)
				res[i] = result{ok, err}
			})
		}
		wg.Wait()
	}
	validity := ttl - l.clock.Now().Sub(start) - l.drift(ttl)
	got := 0
	var errs []error
	var nr *NotReplicatedError
	le.mu.Lock()
	for _, i := range nodes {
		r := res[i]
		switch {
		case r.ok && r.err == nil:
			got++
		case r.ok: // extended but not replicated
			errs = append(errs, r.err)
			if errors.As(r.err, &nr) {
				nr.Name = le.name
			}
		case r.err != nil:
			errs = append(errs, r.err)
		default: // no longer ours there
			le.held[i] = false
		}
	}
	if got >= l.quorum && validity > 0 && le.err == nil {
		le.ttl = ttl
		le.validUntil = start.Add(validity)
		le.mu.Unlock()
		le.kickWatch()
		return nil
	}
	stillHeld := 0
	for _, h := range le.held {
		if h {
			stillHeld++
		}
	}
	le.mu.Unlock()
	if stillHeld < l.quorum {
		lost := fmt.Errorf("%w: %q is no longer held by this owner (found on extend)", ErrLost, le.name)
		le.end(lost)
		return lost
	}
	if nr != nil {
		return nr
	}
	if got >= l.quorum {
		errs = append(errs, fmt.Errorf("lock: validity used up while extending (ttl %v too short)", ttl))
	}
	return &QuorumError{Name: le.name, Got: got, Need: l.quorum, NodeErrors: errs}
}

// Release deletes the lock where this owner still holds it and wakes the
// waiters. A lock held by another owner is never touched. It returns nil
// when the lock was released (or the lease was already released), an
// error wrapping ErrNotHeld and ErrLost when the lease had been lost (then
// Redis is not contacted: the lock expires at its ttl), and the node
// errors when Redis could not be reached.
func (le *Lease) Release(ctx context.Context) error {
	le.stopWatch()
	if errors.Is(le.Err(), errReleased) {
		return nil
	}
	l := le.l
	if err := le.Err(); err != nil {
		// Lost. Redis is not contacted: it may be unreachable (the usual
		// way a lease's validity runs out), and the lock, no longer
		// extended, expires at its ttl anyway.
		return fmt.Errorf("lock: release %q: %w: %w", le.name, ErrNotHeld, err)
	}
	var wg sync.WaitGroup
	nodes := le.heldNodes()
	deleted := make([]bool, len(l.nodes))
	errs := make([]error, len(l.nodes))
	if len(nodes) == 1 {
		i := nodes[0]
		deleted[i], errs[i] = l.nodes[i].release(ctx, le.k, le.owner)
	} else {
		for _, i := range nodes {
			wg.Go(func() { deleted[i], errs[i] = l.nodes[i].release(ctx, le.k, le.owner) })
		}
		wg.Wait()
	}
	if err := le.Err(); err != nil {
		return fmt.Errorf("lock: release %q: %w: %w", le.name, ErrNotHeld, err)
	}
	got, failed := 0, 0
	for _, i := range nodes {
		if deleted[i] {
			got++
		}
		if errs[i] != nil {
			failed++
		}
	}
	if failed > 0 && got < l.quorum {
		// Could not reach enough nodes: the lock expires at its ttl.
		le.end(errReleased)
		return fmt.Errorf("lock: release %q: %w", le.name, errors.Join(errs...))
	}
	if got == 0 {
		lost := fmt.Errorf("%w: %q had expired or was taken before release", ErrLost, le.name)
		le.end(lost)
		return fmt.Errorf("lock: release %q: %w: %w", le.name, ErrNotHeld, lost)
	}
	le.end(errReleased)
	return nil
}

// startWatch starts the goroutine that ends the lease when its validity
// passes, and, with every > 0, extends it on its own timer. With hold > 0
// it stops extending after hold and calls cancel(ErrHoldExceeded). Do
// starts it at once; for Acquire and TryAcquire it starts on the first
// call to Lost, so a lease nobody watches costs no goroutine. It does
// nothing once started or ended.
func (le *Lease) startWatch(every, hold time.Duration, cancel context.CancelCauseFunc) {
	le.mu.Lock()
	defer le.mu.Unlock()
	if le.watchDone != nil || le.err != nil {
		return
	}
	le.stop = make(chan struct{})
	le.watchDone = make(chan struct{})
	le.kick = make(chan struct{}, 1)
	le.cancel = cancel
	go le.watch(le.stop, le.kick, le.watchDone, every, hold)
}

func (le *Lease) stopWatch() {
	le.mu.Lock()
	stop, done := le.stop, le.watchDone
	le.stop = nil
	le.mu.Unlock()
	if stop != nil {
		close(stop)
		<-done
	}
}

func (le *Lease) kickWatch() {
	le.mu.Lock()
	kick := le.kick
	le.mu.Unlock()
	if kick == nil {
		return
	}
	select {
	case kick <- struct{}{}:
	default:
	}
}

func (le *Lease) untilValid() time.Duration {
	le.mu.Lock()
	defer le.mu.Unlock()
	return le.validUntil.Sub(le.l.clock.Now())
}

func (le *Lease) watch(stop, kick <-chan struct{}, done chan struct{}, every, hold time.Duration) {
	defer close(done)
	c := le.l.clock
	expiry := c.NewTimer(le.untilValid())
	defer expiry.Stop()
	var extC <-chan time.Time
	var ext Timer
	if every > 0 {
		ext = c.NewTimer(every)
		defer ext.Stop()
		extC = ext.C()
	}
	var holdC <-chan time.Time
	if hold > 0 {
		h := c.NewTimer(hold)
		defer h.Stop()
		holdC = h.C()
	}
	// An extend in flight when the watcher stops is not waited for: it
	// ends by its ctx (the remaining validity) or, when go-redis does not
	// honour that (dialling, HELLO), by the client's timeouts, then drops
	// its result into the buffered channel. Waiting would hold up Release
	// and Do's return by those timeouts exactly when Redis is unreachable.
	results := make(chan error, 1)
	inflight := false
	for {
		select {
		case <-stop:
			return
		case <-kick:
			expiry.Reset(le.untilValid())
		case <-expiry.C():
			if d := le.untilValid(); d > 0 {
				expiry.Reset(d)
				continue
			}
			le.end(fmt.Errorf("%w: %q: validity passed without a successful extend", ErrLost, le.name))
			return
		case <-holdC:
			holdC, extC = nil, nil
			le.mu.Lock()
			cancel := le.cancel
			le.mu.Unlock()
			if cancel != nil {
				cancel(fmt.Errorf("%w: %q", ErrHoldExceeded, le.name))
			}
		case <-extC:
			if inflight {
				continue
			}
			inflight = true
			le.mu.Lock()
			ttl := le.ttl
			le.mu.Unlock()
			go func() {
				// Bounded by the remaining validity: past it, the lease is
				// lost whatever the answer.
				ctx, cancel := context.WithTimeout(context.Background(), max(le.untilValid(), time.Millisecond))
				defer cancel()
				results <- le.Extend(ctx, ttl)
			}()
		case err := <-results:
			inflight = false
			if le.Err() != nil {
				return
			}
			expiry.Reset(le.untilValid())
			if extC == nil {
				continue // hold exceeded meanwhile
			}
			if err != nil {
				le.l.opts.Logger.Warn("lock: extend failed", "name", le.name, "err", err)
				ext.Reset(max(every/4, time.Millisecond))
			} else {
				ext.Reset(every)
			}
		}
	}
}
