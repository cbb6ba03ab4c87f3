package lock

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rediskit/rediskit/internal/retry"
	"github.com/rediskit/rediskit/internal/slot"
)

// subscribeTimeout bounds one SSUBSCRIBE or SUNSUBSCRIBE round (a dial to
// a master that does not answer included).
const subscribeTimeout = 5 * time.Second

// errDropped: the server ended a subscription we still want (its slot
// moved: a failover, a resharding).
var errDropped = errors.New("lock: release notifications: subscription dropped by the server (slot moved?)")

// notifier wakes waiters when a lock is released. release-3.lua SPUBLISHes
// on the lock's channel; the notifier holds one go-redis sharded
// subscription (ClusterClient.SSubscribe: one connection, to the master
// that owns the slot) per cluster slot that has waiters, so it follows the
// slot to its master. Within a process, waiters of one lock queue in FIFO
// order and one release wakes only the head: a release causes one acquire
// attempt per waiting process, not one per waiting goroutine.
//
// Locking: n.mu guards the maps below and is never held across network
// I/O, so a subscription that hangs (its master paused or failing over)
// holds up no wake-up of any other slot. The I/O of one slot is
// serialised by its slotSub.io: the slot's reader goroutine makes the
// subscription (and makes it again after an error, through a retry.Loop
// that logs, counts and backs off), and a short-lived sync goroutine
// subscribes and unsubscribes the channels that come and go meanwhile.
//
// Missed messages (a reconnect, a failover) are covered by the waiters'
// fallback timers; after a reconnect every waiter is woken.
type notifier struct {
	client redis.UniversalClient
	l      *Locker

	mu     sync.Mutex
	subs   map[int]*slotSub
	closed bool
	ended  int64 // loop errors of the slots no longer subscribed
}

// slotSub is the subscription of one slot.
type slotSub struct {
	slot   int
	ctx    context.Context // ends when the slot's last waiter leaves or the notifier closes
	cancel context.CancelFunc
	loop   retry.Loop
	// io serialises the slot's subscription I/O; never taken while n.mu
	// is held.
	io sync.Mutex

	// Guarded by n.mu.
	ps      *redis.PubSub // nil until subscribed, and after an error until subscribed again
	sent    map[string]bool
	chans   map[string]*chanWaiters
	syncing bool // a sync goroutine runs
	dirty   bool // channels changed while it ran
	closed  bool
}

type chanWaiters struct {
	active  chan struct{} // closed once the server confirmed the subscription
	waiters []*waiter
}

// waiter is one goroutine waiting for a lock on one node. c has room for
// one pending wake-up; a Redlock waiter shares one c across its nodes.
type waiter struct {
	c       chan struct{}
	channel string
	owner   string // the acquire call's owner id, named by a fair release
	n       *notifier
}

var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

func newNotifier(c redis.UniversalClient, l *Locker) *notifier {
	return &notifier{client: c, l: l, subs: map[int]*slotSub{}}
}

// watch registers a waiter on channel, woken through c (capacity 1). It
// does no I/O: the subscription is made in the background, and the
// returned channel is closed once the server confirmed it.
func (n *notifier) watch(channel string, c chan struct{}, owner string) (*waiter, <-chan struct{}) {
	w := &waiter{c: c, channel: channel, owner: owner, n: n}
	s := slot.Of(channel)
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		// Fallback timers only.
		return w, closedChan
	}
	sub := n.subs[s]
	if sub == nil {
		ctx, cancel := context.WithCancel(context.Background())
		sub = &slotSub{slot: s, ctx: ctx, cancel: cancel, chans: map[string]*chanWaiters{},
			loop: retry.Loop{Name: "lock notifier slot " + strconv.Itoa(s), Log: n.l.opts.Logger}}
		n.subs[s] = sub
		n.l.wg.Go(func() { n.run(sub) })
	}
	cw := sub.chans[channel]
	if cw == nil {
		cw = &chanWaiters{active: make(chan struct{})}
		sub.chans[channel] = cw
		n.kick(sub)
	}
	cw.waiters = append(cw.waiters, w)
	return w, cw.active
}

// done unregisters w. A waiter that leaves without the lock passes a
// pending wake-up on to the next in line, so none is lost.
func (w *waiter) done(acquired bool) {
	n := w.n
	s := slot.Of(w.channel)
	n.mu.Lock()
	defer n.mu.Unlock()
	sub := n.subs[s]
	if sub == nil {
		return
	}
	cw := sub.chans[w.channel]
	if cw == nil {
		return
	}
	for i, x := range cw.waiters {
		if x == w {
			cw.waiters = append(cw.waiters[:i], cw.waiters[i+1:]...)
			break
		}
	}
	pending := false
	select {
	case <-w.c:
		pending = true
	default:
	}
	if pending && !acquired && len(cw.waiters) > 0 {
		wake(cw.waiters[0])
	}
	if len(cw.waiters) > 0 {
		return
	}
	delete(sub.chans, w.channel)
	if len(sub.chans) > 0 {
		n.kick(sub) // SUNSUBSCRIBE in the background
		return
	}
	// The slot's last channel: end its subscription. Close may wait for a
	// subscribe in flight, so it runs in the background.
	delete(n.subs, s)
	n.endLocked(sub)
}

// errors returns how many times the slots' subscriptions failed.
func (n *notifier) errors() uint64 {
	n.mu.Lock()
	defer n.mu.Unlock()
	total := n.ended
	for _, sub := range n.subs {
		total += sub.loop.Errors()
	}
	return uint64(total)
}

// endLocked stops sub. Caller holds n.mu.
func (n *notifier) endLocked(sub *slotSub) {
	n.ended += sub.loop.Errors()
	sub.closed = true
	sub.cancel()
	if ps := sub.ps; ps != nil {
		n.l.wg.Go(func() { _ = ps.Close() })
	}
}

func wake(w *waiter) {
	select {
	case w.c <- struct{}{}:
	default:
	}
}

// kick has the channels of sub subscribed or unsubscribed in the
// background, unless its reader is about to subscribe them all. Caller
// holds n.mu.
func (n *notifier) kick(sub *slotSub) {
	if sub.ps == nil || sub.closed {
		return
	}
	if sub.syncing {
		sub.dirty = true
		return
	}
	sub.syncing = true
	n.l.wg.Go(func() { n.sync(sub) })
}

// sync sends SSUBSCRIBE and SUNSUBSCRIBE until the channels subscribed on
// sub's connection are the channels it has waiters for.
func (n *notifier) sync(sub *slotSub) {
	for {
		sub.io.Lock()
		n.mu.Lock()
		ps := sub.ps
		if ps == nil || sub.closed {
			sub.syncing = false
			n.mu.Unlock()
			sub.io.Unlock()
			return
		}
		add, del := sub.diffLocked()
		sub.dirty = false
		n.mu.Unlock()
		// An error shows up in the reader's Receive, which subscribes
		// everything again.
		_ = subscribe(sub.ctx, ps, add, del)
		sub.io.Unlock()

		n.mu.Lock()
		if !sub.dirty {
			sub.syncing = false
			n.mu.Unlock()
			return
		}
		n.mu.Unlock()
	}
}

// diffLocked returns the channels to subscribe and to unsubscribe, and
// records them as done. Caller holds n.mu.
func (sub *slotSub) diffLocked() (add, del []string) {
	for ch := range sub.chans {
		if !sub.sent[ch] {
			add = append(add, ch)
			sub.sent[ch] = true
		}
	}
	for ch := range sub.sent {
		if sub.chans[ch] == nil {
			del = append(del, ch)
			delete(sub.sent, ch)
		}
	}
	return add, del
}

func subscribe(ctx context.Context, ps *redis.PubSub, add, del []string) error {
	ctx, cancel := context.WithTimeout(ctx, subscribeTimeout)
	defer cancel()
	var err error
	if len(add) > 0 {
		err = ps.SSubscribe(ctx, add...)
	}
	if len(del) > 0 {
		err = errors.Join(err, ps.SUnsubscribe(ctx, del...))
	}
	return err
}

// run is the reader of one slot: it owns the slot's subscription until
// the slot has no waiters left or the notifier closes.
func (n *notifier) run(sub *slotSub) {
	_ = sub.loop.Run(sub.ctx, func(ctx context.Context) error { return n.step(ctx, sub) })
	n.mu.Lock()
	ps := sub.ps
	sub.ps = nil
	n.mu.Unlock()
	if ps != nil {
		_ = ps.Close()
	}
}

// step handles one message of the slot's subscription, subscribing first
// when there is none.
func (n *notifier) step(ctx context.Context, sub *slotSub) error {
	ps, err := n.ensure(ctx, sub)
	if err != nil {
		return err
	}
	msg, err := ps.Receive(ctx)
	if err != nil {
		// Messages may have been lost: everyone retries, and the next
		// step subscribes again, on the slot's master of the moment (a
		// reply error such as MOVED leaves the old connection silent).
		n.reset(sub, ps)
		return fmt.Errorf("lock: release notifications, slot %d: %w", sub.slot, err)
	}
	switch m := msg.(type) {
	case *redis.Subscription:
		switch m.Kind {
		case "sunsubscribe":
			n.mu.Lock()
			wanted := sub.chans[m.Channel] != nil && sub.sent[m.Channel]
			n.mu.Unlock()
			if wanted {
				// The server dropped a channel we still want: its slot
				// moved. Subscribe again where the slot lives now.
				n.reset(sub, ps)
				return fmt.Errorf("%w: slot %d, %s", errDropped, sub.slot, m.Channel)
			}
		case "ssubscribe":
			n.mu.Lock()
			if cw := sub.chans[m.Channel]; cw != nil {
				select {
				case <-cw.active:
					// A subscription made again after an error: anything
					// published meanwhile is lost, so wake everyone.
					for _, w := range cw.waiters {
						wake(w)
					}
				default:
					close(cw.active)
				}
			}
			n.mu.Unlock()
		}
	case *redis.Message:
		// The payload is "1" (anyone may take the lock: wake our first
		// waiter) or, with Options.Fair, the owner id whose turn it is
		// (wake that waiter if it is ours, else nobody here).
		n.mu.Lock()
		if cw := sub.chans[m.Channel]; cw != nil && len(cw.waiters) > 0 {
			if m.Payload == "1" {
				wake(cw.waiters[0])
			} else {
				for _, w := range cw.waiters {
					if w.owner == m.Payload {
						wake(w)
						break
					}
				}
			}
		}
		n.mu.Unlock()
	}
	return nil
}

// ensure returns the slot's subscription, making it (one SSUBSCRIBE of
// every channel with waiters) when there is none.
func (n *notifier) ensure(ctx context.Context, sub *slotSub) (*redis.PubSub, error) {
	n.mu.Lock()
	ps := sub.ps
	n.mu.Unlock()
	if ps != nil {
		return ps, nil
	}
	sub.io.Lock()
	defer sub.io.Unlock()
	n.mu.Lock()
	if sub.closed {
		n.mu.Unlock()
		return nil, ctx.Err()
	}
	chans := make([]string, 0, len(sub.chans))
	for ch := range sub.chans {
		chans = append(chans, ch)
	}
	n.mu.Unlock()
	// The first SSUBSCRIBE picks the connection (on a cluster: the master
	// of the slot), so it must precede the first Receive.
	ps = n.client.SSubscribe(ctx)
	if err := subscribe(ctx, ps, chans, nil); err != nil {
		_ = ps.Close()
		return nil, fmt.Errorf("lock: release notifications, slot %d: subscribe: %w", sub.slot, err)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if sub.closed {
		_ = ps.Close()
		return nil, ctx.Err()
	}
	sub.ps = ps
	sub.sent = make(map[string]bool, len(chans))
	for _, ch := range chans {
		sub.sent[ch] = true
	}
	if add, del := sub.pendingLocked(); add || del {
		n.kick(sub) // channels came or went while subscribing
	}
	return ps, nil
}

// pendingLocked reports whether channels wait to be subscribed or
// unsubscribed. Caller holds n.mu.
func (sub *slotSub) pendingLocked() (add, del bool) {
	for ch := range sub.chans {
		if !sub.sent[ch] {
			add = true
		}
	}
	for ch := range sub.sent {
		if sub.chans[ch] == nil {
			del = true
		}
	}
	return add, del
}

// reset drops ps, the slot's subscription, after an error, and wakes
// every waiter of the slot.
func (n *notifier) reset(sub *slotSub, ps *redis.PubSub) {
	n.mu.Lock()
	if sub.ps == ps {
		sub.ps, sub.sent = nil, nil
	}
	for _, cw := range sub.chans {
		for _, w := range cw.waiters {
			wake(w)
		}
	}
	n.mu.Unlock()
	_ = ps.Close()
}

// close stops every subscription; the readers then return.
func (n *notifier) close() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.closed = true
	for s, sub := range n.subs {
		delete(n.subs, s)
		n.endLocked(sub)
	}
}
