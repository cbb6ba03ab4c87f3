package cache

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// trackConnName is the CLIENT SETNAME of every tracking connection, so
// operators (and tests) can find them in CLIENT LIST.
const trackConnName = "rediskit-cache-track"

// tracking keeps one RESP3 connection per master with
// CLIENT TRACKING on BCAST PREFIX <prefix>, so every change of a key under
// the prefix on any master (by anyone, with any command) arrives as an
// invalidation push. It re-discovers the masters every interval and at
// once when a connection drops, and reports whether every current master
// is covered (up): only then may the near cache serve or store entries.
type tracking struct {
	client   redis.UniversalClient
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
	addr       string
	cancel     context.CancelFunc
	registered atomic.Bool
}

type dialFunc func(ctx context.Context, addr string) (net.Conn, error)

func newTracking(client redis.UniversalClient, prefixes func() []string, interval time.Duration, log *slog.Logger, onKeys func([]string), onFlush func()) *tracking {
	return &tracking{
		client: client, prefixes: prefixes, interval: interval, log: log,
		onKeys: onKeys, onFlush: onFlush,
		kick:  make(chan struct{}, 1),
		conns: map[string]*trackConn{},
	}
}

// run owns every tracking goroutine; it returns when ctx is done and all
// of them have stopped.
func (t *tracking) run(ctx context.Context) {
	defer t.wg.Wait()
	tick := time.NewTicker(t.interval)
	defer tick.Stop()
	for {
		t.sync(ctx)
		select {
		case <-ctx.Done():
			t.up.Store(false)
			return
		case <-tick.C:
		case <-t.kick:
			// A connection dropped: re-discover soon, but not in a tight loop.
			select {
			case <-ctx.Done():
			case <-time.After(50 * time.Millisecond):
			}
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
func (t *tracking) sync(ctx context.Context) {
	addrs, dial, err := t.masters(ctx)
	if err != nil {
		if ctx.Err() == nil {
			t.log.Debug("cache: tracking: discover masters", "err", err)
		}
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	changed := false
	for addr, tc := range t.conns {
		if !slices.Contains(addrs, addr) {
			tc.cancel()
			delete(t.conns, addr)
			changed = true
		}
	}
	for _, addr := range addrs {
		if _, ok := t.conns[addr]; ok {
			continue
		}
		cctx, cancel := context.WithCancel(ctx)
		tc := &trackConn{addr: addr, cancel: cancel}
		t.conns[addr] = tc
		changed = true
		t.wg.Go(func() { t.loop(cctx, tc, dial) })
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

// masters returns the master addresses and how to dial them.
func (t *tracking) masters(ctx context.Context) ([]string, dialFunc, error) {
	switch c := t.client.(type) {
	case *redis.ClusterClient:
		slots, err := c.ClusterSlots(ctx).Result()
		if err != nil {
			return nil, nil, err
		}
		var addrs []string
		for _, s := range slots {
			if len(s.Nodes) > 0 && !slices.Contains(addrs, s.Nodes[0].Addr) {
				addrs = append(addrs, s.Nodes[0].Addr)
			}
		}
		if len(addrs) == 0 {
			return nil, nil, errors.New("cache: tracking: CLUSTER SLOTS lists no master")
		}
		slices.Sort(addrs)
		o := c.Options()
		return addrs, clusterDialer(o), nil
	case *redis.Client:
		o := c.Options()
		return []string{o.Addr}, func(ctx context.Context, _ string) (net.Conn, error) {
			conn, err := o.Dialer(ctx, o.Network, o.Addr)
			return conn, err
		}, nil
	default:
		return nil, nil, fmt.Errorf("cache: near cache and lease wake-ups need a *redis.Client or *redis.ClusterClient, got %T", t.client)
	}
}

func clusterDialer(o *redis.ClusterOptions) dialFunc {
	return func(ctx context.Context, addr string) (net.Conn, error) {
		if o.Dialer != nil {
			return o.Dialer(ctx, "tcp", addr)
		}
		d := net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
		conn, err := d.DialContext(ctx, "tcp", addr)
		if err != nil || o.TLSConfig == nil {
			return conn, err
		}
		tc := tls.Client(conn, o.TLSConfig.Clone())
		if err := tc.HandshakeContext(ctx); err != nil {
			_ = conn.Close()
			return nil, err
		}
		return tc, nil
	}
}

func (t *tracking) credentials() (user, pass string) {
	switch c := t.client.(type) {
	case *redis.ClusterClient:
		return c.Options().Username, c.Options().Password
	case *redis.Client:
		return c.Options().Username, c.Options().Password
	}
	return "", ""
}

// loop keeps one master's tracking connection alive until ctx is done.
func (t *tracking) loop(ctx context.Context, tc *trackConn, dial dialFunc) {
	backoff := 20 * time.Millisecond
	for ctx.Err() == nil {
		err := t.session(ctx, tc, dial)
		if tc.registered.Load() {
			t.setRegistered(tc, false)
		}
		// Invalidations may have been missed while the connection was
		// gone: drop everything (after marking the near cache unusable).
		t.onFlush()
		if ctx.Err() != nil {
			return
		}
		t.drops.Add(1)
		t.log.Debug("cache: tracking connection lost", "addr", tc.addr, "err", err)
		t.wake()
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, time.Second)
	}
}

func (t *tracking) session(ctx context.Context, tc *trackConn, dial dialFunc) error {
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	conn, err := dial(dctx, tc.addr)
	cancel()
	if err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()
	defer conn.Close()
	r := bufio.NewReaderSize(conn, 16<<10)
	w := bufio.NewWriter(conn)
	timeout := 3 * t.interval
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	hello := []string{"HELLO", "3"}
	if user, pass := t.credentials(); pass != "" {
		if user == "" {
			user = "default"
		}
		hello = append(hello, "AUTH", user, pass)
	}
	hello = append(hello, "SETNAME", trackConnName)
	if err := call(r, w, hello...); err != nil {
		return err
	}
	if err := writeCommand(w, "CLIENT", "ID"); err != nil {
		return err
	}
	if v, err := readValue(r); err != nil {
		return err
	} else if id, ok := v.(int64); ok {
		t.connIDs.Store(tc.addr, id)
	}
	args := []string{"CLIENT", "TRACKING", "on", "BCAST"}
	for _, p := range t.prefixes() {
		args = append(args, "PREFIX", p)
	}
	if err := call(r, w, args...); err != nil {
		return err
	}
	t.regs.Add(1)
	t.setRegistered(tc, true)

	// Pinger: a silent connection (paused or partitioned server) must be
	// noticed, so the reader's deadline is pushed only by traffic.
	pctx, pcancel := context.WithCancel(ctx)
	defer pcancel()
	var wmu sync.Mutex
	go func() {
		tick := time.NewTicker(t.interval)
		defer tick.Stop()
		for {
			select {
			case <-pctx.Done():
				return
			case <-tick.C:
				wmu.Lock()
				_ = conn.SetWriteDeadline(time.Now().Add(timeout))
				err := writeCommand(w, "PING")
				wmu.Unlock()
				if err != nil {
					_ = conn.Close()
					return
				}
			}
		}
	}()
	for {
		_ = conn.SetReadDeadline(time.Now().Add(timeout))
		v, err := readValue(r)
		if err != nil {
			return err
		}
		p, ok := v.(respPush)
		if !ok || len(p) < 2 || p[0] != "invalidate" {
			if e, ok := v.(respError); ok {
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

func call(r *bufio.Reader, w *bufio.Writer, args ...string) error {
	if err := writeCommand(w, args...); err != nil {
		return err
	}
	v, err := readValue(r)
	if err != nil {
		return err
	}
	if e, ok := v.(respError); ok {
		return fmt.Errorf("cache: tracking: %s: %w", args[0], e)
	}
	return nil
}
