package cache

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rediskit/rediskit/internal/nodeconn"
	"github.com/rediskit/rediskit/internal/retry"
)

// trackConnName is the CLIENT SETNAME of every tracking connection, so
// operators (and tests) can find them in CLIENT LIST.
const trackConnName = "rediskit-cache-track"

// tracking keeps one RESP3 connection per master with
// CLIENT TRACKING on BCAST PREFIX <prefix>, so every change of a key under
// the prefix on any master (by anyone, with any command) arrives as an
// invalidation push. The masters come from the hub's nodeconn.Watcher; a
// dropped connection flushes the near cache, kicks the watcher and is
// re-dialled through a retry.Loop. up reports whether every current
// master is covered: only then may the near cache serve or store entries.
type tracking struct {
	w        *nodeconn.Watcher
	prefixes func() []string // the namespaces' key prefixes to track
	interval time.Duration
	log      *slog.Logger
	onKeys   func(keys []string) // Redis keys that changed
	onFlush  func()              // anything may have changed

	up      atomic.Bool
	kick    chan struct{}
	mu      sync.Mutex
	conns   map[string]*trackConn // by master address
	wg      sync.WaitGroup
	drops   atomic.Int64
	regs    atomic.Int64
	connIDs sync.Map // addr -> int64 CLIENT ID (for tests and ops)
}

type trackConn struct {
	node       nodeconn.Node
	cancel     context.CancelFunc
	registered atomic.Bool
	loop       retry.Loop
}

func newTracking(w *nodeconn.Watcher, prefixes func() []string, interval time.Duration, log *slog.Logger, onKeys func([]string), onFlush func()) *tracking {
	return &tracking{
		w: w, prefixes: prefixes, interval: interval, log: log,
		onKeys: onKeys, onFlush: onFlush,
		kick:  make(chan struct{}, 1),
		conns: map[string]*trackConn{},
	}
}

// run owns every tracking goroutine; it returns when ctx is done and all
// of them have stopped.
func (t *tracking) run(ctx context.Context) {
	if t.w == nil {
		return
	}
	defer t.wg.Wait()
	unsubscribe := t.w.Subscribe(func(*nodeconn.Topology) { t.wake() })
	defer unsubscribe()
	for {
		if top := t.w.Current(); top != nil {
			t.sync(ctx, top)
		}
		select {
		case <-ctx.Done():
			t.up.Store(false)
			return
		case <-t.kick:
		}
	}
}

// restart drops every connection so that they register again (with the
// current prefixes).
func (t *tracking) restart() {
	t.mu.Lock()
	for addr, tc := range t.conns {
		tc.cancel()
		delete(t.conns, addr)
	}
	t.up.Store(false)
	t.mu.Unlock()
	t.onFlush()
	t.wake()
}

func (t *tracking) wake() {
	select {
	case t.kick <- struct{}{}:
	default:
	}
}

// sync starts a tracker on every new master and stops those of nodes that
// are no longer masters.
func (t *tracking) sync(ctx context.Context, top *nodeconn.Topology) {
	t.mu.Lock()
	defer t.mu.Unlock()
	changed := false
	current := map[string]nodeconn.Node{}
	for _, n := range top.Masters {
		current[n.Addr] = n
	}
	for addr, tc := range t.conns {
		if n, ok := current[addr]; !ok || n != tc.node {
			tc.cancel()
			delete(t.conns, addr)
			changed = true
		}
	}
	for _, n := range top.Masters {
		if _, ok := t.conns[n.Addr]; ok {
			continue
		}
		cctx, cancel := context.WithCancel(ctx)
		tc := &trackConn{node: n, cancel: cancel}
		tc.loop = retry.Loop{Name: "cache tracking " + n.Addr, Log: t.log, Policy: retry.Policy{Min: 20 * time.Millisecond, Max: time.Second}}
		t.conns[n.Addr] = tc
		changed = true
		t.wg.Go(func() { t.loop(cctx, tc) })
	}
	if changed {
		// Slots may have moved between masters: whatever we hold may have
		// been changed where nobody watched it.
		t.up.Store(false)
		t.onFlush()
	}
	t.recomputeLocked()
}

func (t *tracking) recomputeLocked() {
	ok := len(t.conns) > 0
	for _, tc := range t.conns {
		ok = ok && tc.registered.Load()
	}
	t.up.Store(ok)
}

func (t *tracking) setRegistered(tc *trackConn, v bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	tc.registered.Store(v)
	t.recomputeLocked()
}

// loop keeps one master's tracking connection alive until ctx is done:
// one step registers a connection (a success, which resets the backoff),
// the next reads its pushes until it fails (an error, logged and counted
// by the retry.Loop).
func (t *tracking) loop(ctx context.Context, tc *trackConn) {
	var conn *nodeconn.Conn
	_ = tc.loop.Run(ctx, func(ctx context.Context) error {
		if conn == nil {
			c, err := t.register(ctx, tc)
			if err != nil {
				return err
			}
			conn = c
			return nil
		}
		err := t.read(ctx, conn)
		_ = conn.Close()
		conn = nil
		t.setRegistered(tc, false)
		// Invalidations may have been missed while the connection was
		// gone: drop everything (after marking the near cache unusable).
		t.onFlush()
		if ctx.Err() == nil {
			t.drops.Add(1)
			t.w.Kick()
		}
		return err
	})
	if conn != nil {
		_ = conn.Close()
	}
	if tc.registered.Load() {
		t.setRegistered(tc, false)
	}
}

// register dials the master and turns on broadcast tracking.
func (t *tracking) register(ctx context.Context, tc *trackConn) (*nodeconn.Conn, error) {
	conn, err := nodeconn.Dial(ctx, tc.node, nodeconn.DialOptions{Protocol: 3, Name: trackConnName})
	if err != nil {
		return nil, err
	}
	t.connIDs.Store(tc.node.Addr, conn.ID)
	args := []string{"CLIENT", "TRACKING", "on", "BCAST"}
	for _, p := range t.prefixes() {
		args = append(args, "PREFIX", p)
	}
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := nodeconn.Call(conn.R, conn.W, args...); err != nil {
		_ = conn.Close()
		return nil, err
	}
	_ = conn.SetDeadline(time.Time{})
	t.regs.Add(1)
	t.setRegistered(tc, true)
	return conn, nil
}

// read handles the pushes of a registered connection until it fails or
// ctx is done. A pinger makes a silent link (paused or partitioned
// server) fail within 3 intervals: the read deadline moves only with
// traffic.
func (t *tracking) read(ctx context.Context, conn *nodeconn.Conn) error {
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()
	timeout := 3 * t.interval
	pctx, pcancel := context.WithCancel(ctx)
	var pinger sync.WaitGroup
	defer func() {
		pcancel()
		pinger.Wait()
	}()
	pinger.Go(func() {
		tick := time.NewTicker(t.interval)
		defer tick.Stop()
		for {
			select {
			case <-pctx.Done():
				return
			case <-tick.C:
				_ = conn.SetWriteDeadline(time.Now().Add(timeout))
				if err := nodeconn.WriteCommand(conn.W, "PING"); err != nil {
					_ = conn.Close()
					return
				}
			}
		}
	})
	for {
		_ = conn.SetReadDeadline(time.Now().Add(timeout))
		v, err := nodeconn.ReadValue(conn.R)
		if err != nil {
			return err
		}
		p, ok := v.(nodeconn.Push)
		if !ok || len(p) < 2 || p[0] != "invalidate" {
			if e, ok := v.(nodeconn.RespError); ok {
				return e
			}
			continue
		}
		if p[1] == nil {
			t.onFlush()
			continue
		}
		ks, _ := p[1].([]any)
		keys := make([]string, 0, len(ks))
		for _, k := range ks {
			if s, ok := k.(string); ok {
				keys = append(keys, s)
			}
		}
		t.onKeys(keys)
	}
}
