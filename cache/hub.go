package cache

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rediskit/rediskit/internal/nodeconn"
)

// hub is what the Caches of one client share: the tracking connections
// (one per master, with one PREFIX per namespace) and the pipelined read
// connections. The first Cache's TrackInterval and Logger are used.
type hub struct {
	client redis.UniversalClient
	refs   int
	w      *nodeconn.Watcher // nil for clients other than *redis.Client and *redis.ClusterClient
	trk    *tracking
	gets   *getter // nil with w
	stop   context.CancelFunc
	wg     sync.WaitGroup

	mu   sync.RWMutex
	subs map[string][]*core // by key prefix
}

var hubs = struct {
	sync.Mutex
	m map[redis.UniversalClient]*hub
}{m: map[redis.UniversalClient]*hub{}}

// joinHub registers c with its client's hub, starting the hub if needed.
func joinHub(client redis.UniversalClient, c *core, interval time.Duration, log *slog.Logger) *hub {
	hubs.Lock()
	defer hubs.Unlock()
	h := hubs.m[client]
	if h == nil {
		ctx, cancel := context.WithCancel(context.Background())
		h = &hub{client: client, stop: cancel, subs: map[string][]*core{}}
		for _, p := range c.ks.prefixes() {
			h.subs[p] = []*core{c}
		}
		switch client.(type) {
		case *redis.Client, *redis.ClusterClient:
			w, release := nodeconn.Acquire(client, interval, log)
			h.w = w
			h.trk = newTracking(w, h.prefixes, interval, log, h.onKeys, h.onFlush)
			h.gets = newGetter(w, log)
			hookClient(client)
			unsubscribe := w.Subscribe(h.gets.update)
			h.wg.Go(func() { h.trk.run(ctx) })
			h.wg.Go(func() {
				<-ctx.Done()
				unsubscribe()
				release()
				h.gets.close()
			})
		default:
			h.trk = newTracking(nil, h.prefixes, interval, log, h.onKeys, h.onFlush)
			log.Debug("cache: near cache and push wake-ups off: the client is neither a *redis.Client nor a *redis.ClusterClient", "client", fmt.Sprintf("%T", client))
		}
		hubs.m[client] = h
		h.refs = 1
		return h
	}
	h.refs++
	known := true
	h.mu.Lock()
	for _, p := range c.ks.prefixes() {
		_, ok := h.subs[p]
		known = known && ok
		h.subs[p] = append(h.subs[p], c)
	}
	h.mu.Unlock()
	if !known {
		h.trk.restart() // register the new prefix on every master
	}
	return h
}

// leave unregisters c and stops the hub with its last Cache.
func (h *hub) leave(c *core) {
	hubs.Lock()
	h.mu.Lock()
	for _, p := range c.ks.prefixes() {
		h.subs[p] = slices.DeleteFunc(h.subs[p], func(x *core) bool { return x == c })
		if len(h.subs[p]) == 0 {
			delete(h.subs, p) // still tracked until the next restart: pushes are ignored
		}
	}
	h.mu.Unlock()
	h.refs--
	last := h.refs == 0
	if last {
		delete(hubs.m, h.client)
	}
	hubs.Unlock()
	if last {
		h.stop()
		h.wg.Wait()
	}
}

func (h *hub) prefixes() []string {
	h.mu.RLock()
	defer h.mu.RUnlock()
	out := make([]string, 0, len(h.subs))
	for p := range h.subs {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

func (h *hub) onKeys(keys []string) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	for _, k := range keys {
		p, ok := prefixOf(k)
		if !ok {
			continue
		}
		for _, c := range h.subs[p] {
			c.onKey(k)
		}
	}
}

func (h *hub) onFlush() {
	h.mu.RLock()
	defer h.mu.RUnlock()
	for _, cs := range h.subs {
		for _, c := range cs {
			c.onFlush()
		}
	}
}
