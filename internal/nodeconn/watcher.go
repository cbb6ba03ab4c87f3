package nodeconn

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Watcher follows the masters of one client for every user of per-master
// connections (near-cache tracking, pipelined reads, notifications): one
// discovery for all of them. It re-reads go-redis's slot map (a local
// read, no network) every Interval, and more often for a while after
// Kick; on a cluster, Kick also asks go-redis to reload its map
// (ReloadState, which go-redis rate-limits). Users are told of every
// change through their Subscribe callback. Safe for concurrent use.
type Watcher struct {
	client   redis.UniversalClient
	interval time.Duration
	log      *slog.Logger

	cur   atomic.Pointer[Topology]
	kick  chan struct{}
	ready chan struct{}
	once  sync.Once

	mu   sync.Mutex // held while subscribers are told: they see changes in order
	subs map[int]func(*Topology)
	next int
}

// NewWatcher returns a watcher of client's masters; interval is how often
// it re-reads go-redis's map when nothing happens (default 1 s). Run it.
func NewWatcher(client redis.UniversalClient, interval time.Duration, log *slog.Logger) *Watcher {
	if interval <= 0 {
		interval = time.Second
	}
	if log == nil {
		log = slog.Default()
	}
	return &Watcher{client: client, interval: interval, log: log, kick: make(chan struct{}, 1), ready: make(chan struct{}), subs: map[int]func(*Topology){}}
}

// fastFor is how long re-reads stay frequent after a Kick, and fastEvery
// how frequent: go-redis reloads its map in the background.
const (
	fastFor   = 2 * time.Second
	fastEvery = 50 * time.Millisecond
)

// Run follows the topology until ctx is done; then it returns nil.
func (w *Watcher) Run(ctx context.Context) error {
	var fastUntil, lastReload time.Time
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-w.kick:
			// go-redis cools reloads down itself; this bounds ours further
			// while errors keep kicking.
			if cc, ok := w.client.(*redis.ClusterClient); ok && time.Since(lastReload) >= fastFor/4 {
				cc.ReloadState(ctx)
				lastReload = time.Now()
			}
			fastUntil = time.Now().Add(fastFor)
		}
		fast := time.Now().Before(fastUntil)
		w.refresh(ctx, !fast)
		next := w.interval
		if fast {
			next = fastEvery
		}
		t.Reset(next)
	}
}

// refresh re-reads the topology; with sample, it first checks a sample
// of slots and stops there when they did not change.
func (w *Watcher) refresh(ctx context.Context, sample bool) {
	if cc, ok := w.client.(*redis.ClusterClient); ok && sample {
		if cur := w.cur.Load(); cur != nil && cur.unchanged(ctx, cc) {
			return
		}
	}
	t, err := Discover(ctx, w.client)
	if err != nil {
		if ctx.Err() == nil {
			w.log.Debug("nodeconn: discover masters", "err", err)
		}
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if old := w.cur.Load(); old.Equal(t) {
		return
	}
	w.cur.Store(t)
	w.once.Do(func() { close(w.ready) })
	for _, fn := range w.subs {
		fn(t)
	}
}

// Current returns the last topology read, or nil before the first one.
func (w *Watcher) Current() *Topology { return w.cur.Load() }

// Ready is closed once a first topology is known.
func (w *Watcher) Ready() <-chan struct{} { return w.ready }

// Kick tells the watcher that a user saw a hint of a topology change (a
// MOVED reply, a dropped connection): it asks go-redis to reload and
// re-reads the map often for a while.
func (w *Watcher) Kick() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// Subscribe calls fn with every new topology, in order, one call at a
// time (fn must not block nor call the Watcher's Subscribe) until the
// returned function is called. fn is called at once with the current
// topology if there is one.
func (w *Watcher) Subscribe(fn func(*Topology)) (unsubscribe func()) {
	w.mu.Lock()
	id := w.next
	w.next++
	w.subs[id] = fn
	if t := w.cur.Load(); t != nil {
		fn(t)
	}
	w.mu.Unlock()
	return func() {
		w.mu.Lock()
		delete(w.subs, id)
		w.mu.Unlock()
	}
}

// shared holds the one running Watcher per client, for every package of
// a process that needs per-master connections.
var shared = struct {
	sync.Mutex
	m map[redis.UniversalClient]*sharedWatcher
}{m: map[redis.UniversalClient]*sharedWatcher{}}

type sharedWatcher struct {
	w    *Watcher
	refs int
	stop context.CancelFunc
	done chan struct{}
}

// Acquire returns the one Watcher of client in this process, running it
// on first use (interval and log of the first caller apply). Call release
// when done: the last release stops it and waits for its goroutine.
func Acquire(client redis.UniversalClient, interval time.Duration, log *slog.Logger) (w *Watcher, release func()) {
	shared.Lock()
	defer shared.Unlock()
	sw := shared.m[client]
	if sw == nil {
		ctx, cancel := context.WithCancel(context.Background())
		sw = &sharedWatcher{w: NewWatcher(client, interval, log), stop: cancel, done: make(chan struct{})}
		go func() {
			defer close(sw.done)
			_ = sw.w.Run(ctx)
		}()
		shared.m[client] = sw
	}
	sw.refs++
	var once sync.Once
	return sw.w, func() {
		once.Do(func() {
			shared.Lock()
			sw.refs--
			last := sw.refs == 0
			if last {
				delete(shared.m, client)
			}
			shared.Unlock()
			if last {
				sw.stop()
				<-sw.done
			}
		})
	}
}
