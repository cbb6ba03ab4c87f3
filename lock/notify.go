package lock

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rediskit/rediskit/internal/slot"
)

// notifier wakes waiters when a lock is released. release-3.lua SPUBLISHes
// on the lock's channel; the notifier holds one sharded subscription (one
// connection) per cluster slot that has waiters, so the subscription lives
// on the shard that owns the lock and follows it. Within a process, waiters
// of one lock queue in FIFO order and one release wakes only the head: a
// release causes one acquire attempt per waiting process, not one per
// waiting goroutine.
//
// Missed messages (a reconnect, a failover) are covered by the waiters'
// fallback timers; after a reconnect every waiter is woken.
type notifier struct {
	client redis.UniversalClient
	l      *Locker

	mu   sync.Mutex
	subs map[int]*slotSub
}

type slotSub struct {
	ctx    context.Context // ends when the subscription is closed
	ps     *redis.PubSub
	cancel context.CancelFunc
	chans  map[string]*chanWaiters
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

func newNotifier(c redis.UniversalClient, l *Locker) *notifier {
	return &notifier{client: c, l: l, subs: map[int]*slotSub{}}
}

// watch registers a waiter on channel, woken through c (capacity 1),
// subscribing if it is the first. The returned channel is closed once the
// subscription is confirmed.
func (n *notifier) watch(channel string, c chan struct{}, owner string) (*waiter, <-chan struct{}) {
	w := &waiter{c: c, channel: channel, owner: owner, n: n}
	s := slot.Of(channel)
	n.mu.Lock()
	defer n.mu.Unlock()
	sub := n.subs[s]
	start := false
	if sub == nil {
		ctx, cancel := context.WithCancel(context.Background())
		sub = &slotSub{ctx: ctx, ps: n.client.SSubscribe(ctx), cancel: cancel, chans: map[string]*chanWaiters{}}
		n.subs[s] = sub
		start = true
	}
	cw := sub.chans[channel]
	if cw == nil {
		cw = &chanWaiters{active: make(chan struct{})}
		sub.chans[channel] = cw
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		// The first SSUBSCRIBE picks the connection (on a cluster: the
		// shard of the slot), so it must precede the first Receive. An
		// error here shows up in receive, which wakes everyone.
		_ = sub.ps.SSubscribe(ctx, channel)
		cancel()
	}
	if start {
		ps := sub.ps
		n.l.wg.Go(func() { n.receive(sub.ctx, sub, ps) })
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
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = sub.ps.SUnsubscribe(ctx, w.channel)
		cancel()
		return
	}
	delete(n.subs, s)
	sub.cancel()
	_ = sub.ps.Close()
}

func wake(w *waiter) {
	select {
	case w.c <- struct{}{}:
	default:
	}
}

// receive reads one slot's subscription ps until it is closed or
// replaced by renew.
func (n *notifier) receive(ctx context.Context, sub *slotSub, ps *redis.PubSub) {
	for {
		msg, err := ps.Receive(ctx)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, redis.ErrClosed) {
				return
			}
			// Messages may have been lost: everyone retries. Then, after a
			// pause, a fresh subscription on the slot's current master
			// (a reply error such as MOVED leaves the old one silent).
			n.wakeAll(sub, "")
			select {
			case <-ctx.Done():
				return
			case <-time.After(50*time.Millisecond + rand.N(200*time.Millisecond)):
			}
			n.renew(sub, ps)
			return
		}
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind == "sunsubscribe" {
				n.mu.Lock()
				wanted := sub.chans[m.Channel] != nil
				n.mu.Unlock()
				if wanted {
					// The server dropped a channel we still want: its slot
					// moved (a failover, a resharding). Subscribe again
					// where the slot lives now.
					n.wakeAll(sub, "")
					n.renew(sub, ps)
					return
				}
			}
			if m.Kind == "ssubscribe" {
				n.mu.Lock()
				if cw := sub.chans[m.Channel]; cw != nil {
					select {
					case <-cw.active:
						// A resubscription after a reconnect: anything
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
	}
}

// renew replaces the subscription old of sub with a new one for the same
// channels and starts its receive goroutine; old is closed.
func (n *notifier) renew(sub *slotSub, old *redis.PubSub) {
	n.mu.Lock()
	defer n.mu.Unlock()
	_ = old.Close()
	if sub.ps != old || sub.ctx.Err() != nil || len(sub.chans) == 0 {
		return // closed or replaced meanwhile
	}
	chans := make([]string, 0, len(sub.chans))
	for ch := range sub.chans {
		chans = append(chans, ch)
	}
	ps := n.client.SSubscribe(sub.ctx)
	ctx, cancel := context.WithTimeout(sub.ctx, 5*time.Second)
	_ = ps.SSubscribe(ctx, chans...)
	cancel()
	sub.ps = ps
	n.l.wg.Go(func() { n.receive(sub.ctx, sub, ps) })
}

func (n *notifier) wakeAll(sub *slotSub, channel string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for ch, cw := range sub.chans {
		if channel != "" && ch != channel {
			continue
		}
		for _, w := range cw.waiters {
			wake(w)
		}
	}
}

// close stops every subscription; the receive goroutines then return.
func (n *notifier) close() {
	n.mu.Lock()
	defer n.mu.Unlock()
	for s, sub := range n.subs {
		sub.cancel()
		_ = sub.ps.Close()
		delete(n.subs, s)
	}
}
