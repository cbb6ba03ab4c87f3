package cache

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/redis/go-redis/v9"
	"github.com/rediskit/rediskit/internal/slot"
)

// getter batches the GETs of concurrent readers: one connection per
// master, a writer that sends everything queued while the previous write
// was in flight in one write, and a reader that answers callers in order
// (full-duplex pipelining, no per-batch round trip). It is only a fast
// path: any error (MOVED during a resharding or failover, a dropped
// connection, a timeout) makes the caller retry through the go-redis
// client, which handles redirects and retries, and schedules a refresh of
// the slot map.
type getter struct {
	client redis.UniversalClient
	log    interface{ Debug(string, ...any) }
	user   string
	pass   string

	mu    sync.Mutex
	pipes map[string]*pipe
	table atomic.Pointer[[slot.Count]*pipe]
	kick  chan struct{}
	wg    sync.WaitGroup
}

type pipe struct {
	addr string
	dial dialFunc
	g    *getter

	mu      sync.Mutex
	conn    net.Conn
	buf     []byte // commands not yet written
	queue   []*getReq
	pending int // commands in buf
	flight  int // commands written and not yet answered
	idle    *sync.Cond
	writing bool
	gen     int
	closed  bool
}

type getReq struct {
	val  string
	err  error
	done chan struct{}
}

var (
	errPipeBroken = errors.New("cache: pipelined connection broken")
	reqPool       = sync.Pool{New: func() any { return &getReq{done: make(chan struct{}, 1)} }}
)

const pipeTimeout = 3 * time.Second

func newGetter(client redis.UniversalClient, log interface{ Debug(string, ...any) }) *getter {
	g := &getter{client: client, log: log, pipes: map[string]*pipe{}, kick: make(chan struct{}, 1)}
	switch c := client.(type) {
	case *redis.ClusterClient:
		g.user, g.pass = c.Options().Username, c.Options().Password
	case *redis.Client:
		g.user, g.pass = c.Options().Username, c.Options().Password
	}
	return g
}

// run refreshes the slot map every interval and when kicked, until ctx
// is done; then it closes every connection.
func (g *getter) run(ctx context.Context, interval time.Duration) {
	defer func() {
		g.mu.Lock()
		for _, p := range g.pipes {
			p.close()
		}
		g.pipes = map[string]*pipe{}
		g.mu.Unlock()
		g.wg.Wait()
	}()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		g.refresh(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-g.kick:
		}
	}
}

func (g *getter) wake() {
	select {
	case g.kick <- struct{}{}:
	default:
	}
}

func (g *getter) refresh(ctx context.Context) {
	var table [slot.Count]*pipe
	g.mu.Lock()
	defer g.mu.Unlock()
	get := func(addr string, dial dialFunc) *pipe {
		p := g.pipes[addr]
		if p == nil {
			p = &pipe{addr: addr, dial: dial, g: g}
			p.idle = sync.NewCond(&p.mu)
			g.pipes[addr] = p
		}
		return p
	}
	used := map[string]bool{}
	switch c := g.client.(type) {
	case *redis.ClusterClient:
		rctx, cancel := context.WithTimeout(ctx, pipeTimeout)
		slots, err := c.ClusterSlots(rctx).Result()
		cancel()
		if err != nil {
			g.table.Store(nil) // unknown: everyone takes the go-redis path
			return
		}
		dial := clusterDialer(c.Options())
		for _, s := range slots {
			if len(s.Nodes) == 0 {
				continue
			}
			p := get(s.Nodes[0].Addr, dial)
			used[p.addr] = true
			for i := s.Start; i <= s.End && i < slot.Count; i++ {
				table[i] = p
			}
		}
	case *redis.Client:
		o := c.Options()
		p := get(o.Addr, func(ctx context.Context, _ string) (net.Conn, error) { return o.Dialer(ctx, o.Network, o.Addr) })
		used[p.addr] = true
		for i := range table {
			table[i] = p
		}
	default:
		return
	}
	for addr, p := range g.pipes {
		if !used[addr] {
			p.close()
			delete(g.pipes, addr)
		}
	}
	g.table.Store(&table)
}

// get returns the value of key, redis.Nil when it does not exist, or
// another error (the caller then retries through go-redis).
func (g *getter) get(ctx context.Context, key string) (string, error) {
	t := g.table.Load()
	if t == nil {
		return "", errPipeBroken
	}
	p := t[slot.Of(key)]
	if p == nil {
		return "", errPipeBroken
	}
	r := reqPool.Get().(*getReq)
	if err := p.send(r, key); err != nil {
		reqPool.Put(r)
		return "", err
	}
	select {
	case <-r.done:
		v, err := r.val, r.err
		r.val, r.err = "", nil
		reqPool.Put(r)
		return v, err
	case <-ctx.Done():
		// r stays with the reader, which will answer it into the void.
		return "", ctx.Err()
	}
}

func (p *pipe) send(r *getReq, key string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return errPipeBroken
	}
	if p.conn == nil {
		if err := p.connectLocked(); err != nil {
			return err
		}
	}
	p.buf = append(p.buf, "*2\r\n$3\r\nGET\r\n$"...)
	p.buf = strconv.AppendInt(p.buf, int64(len(key)), 10)
	p.buf = append(p.buf, "\r\n"...)
	p.buf = append(p.buf, key...)
	p.buf = append(p.buf, "\r\n"...)
	p.queue = append(p.queue, r)
	p.pending++
	if !p.writing {
		p.writing = true
		gen, conn := p.gen, p.conn
		p.g.wg.Go(func() { p.writeLoop(gen, conn) })
	}
	return nil
}

// connectLocked dials (p.mu held: concurrent callers wait for the dial
// instead of storming the server).
func (p *pipe) connectLocked() error {
	ctx, cancel := context.WithTimeout(context.Background(), pipeTimeout)
	defer cancel()
	conn, err := p.dial(ctx, p.addr)
	if err != nil {
		return fmt.Errorf("%w: %w", errPipeBroken, err)
	}
	br := bufio.NewReaderSize(conn, 64<<10)
	if p.g.pass != "" {
		w := bufio.NewWriter(conn)
		args := []string{"AUTH", p.g.pass}
		if p.g.user != "" {
			args = []string{"AUTH", p.g.user, p.g.pass}
		}
		_ = conn.SetDeadline(time.Now().Add(pipeTimeout))
		if err := call(br, w, args...); err != nil {
			_ = conn.Close()
			return fmt.Errorf("%w: %w", errPipeBroken, err)
		}
		_ = conn.SetDeadline(time.Time{})
	}
	p.gen++
	p.conn = conn
	gen := p.gen
	p.g.wg.Go(func() { p.readLoop(gen, conn, br) })
	return nil
}

// writeLoop writes whatever was queued while the previous batch was in
// flight, as one batch, and waits for its replies before the next write:
// on a fast link this keeps batches deep (one write and one read per
// batch on both sides) where writing at once would send tiny ones.
func (p *pipe) writeLoop(gen int, conn net.Conn) {
	var spare []byte
	for {
		p.mu.Lock()
		for p.gen == gen && p.flight > 0 {
			p.idle.Wait()
		}
		if p.gen != gen || len(p.buf) == 0 {
			if p.gen == gen {
				p.writing = false
			}
			p.mu.Unlock()
			return
		}
		out := p.buf
		p.buf = spare[:0]
		p.flight, p.pending = p.pending, 0
		p.mu.Unlock()
		_ = conn.SetWriteDeadline(time.Now().Add(pipeTimeout))
		if _, err := conn.Write(out); err != nil {
			p.fail(gen, err)
			return
		}
		spare = out
	}
}

func (p *pipe) readLoop(gen int, conn net.Conn, br *bufio.Reader) {
	for {
		_ = conn.SetReadDeadline(time.Now().Add(pipeTimeout))
		val, rerr, err := readGetReply(br)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				p.mu.Lock()
				idle := len(p.queue) == 0 && p.gen == gen
				p.mu.Unlock()
				if idle {
					continue // nothing asked: an idle connection is fine
				}
			}
			p.fail(gen, err)
			return
		}
		p.mu.Lock()
		if p.gen != gen || len(p.queue) == 0 {
			p.mu.Unlock()
			p.fail(gen, errRespProto)
			return
		}
		r := p.queue[0]
		p.queue[0] = nil
		p.queue = p.queue[1:]
		if len(p.queue) == 0 {
			p.queue = p.queue[:0:0]
		}
		p.flight--
		if p.flight == 0 {
			p.idle.Signal()
		}
		p.mu.Unlock()
		r.val, r.err = val, rerr
		r.done <- struct{}{}
	}
}

// fail drops the connection of generation gen and fails its callers.
func (p *pipe) fail(gen int, err error) {
	p.mu.Lock()
	if p.gen != gen || p.conn == nil {
		p.mu.Unlock()
		return
	}
	_ = p.conn.Close()
	p.conn = nil
	p.gen++
	q := p.queue
	p.queue, p.buf, p.writing = nil, nil, false
	p.pending, p.flight = 0, 0
	p.idle.Broadcast()
	p.mu.Unlock()
	if !errors.Is(err, net.ErrClosed) {
		p.g.log.Debug("cache: pipelined connection lost", "addr", p.addr, "err", err)
	}
	for _, r := range q {
		r.err = errPipeBroken
		r.done <- struct{}{}
	}
	p.g.wake()
}

func (p *pipe) close() {
	p.mu.Lock()
	p.closed = true
	gen := p.gen
	p.mu.Unlock()
	p.fail(gen, net.ErrClosed)
}

// readGetReply reads one reply to GET: a bulk string, a null (redis.Nil)
// or an error reply (rerr; MOVED and ASK included). err is a connection
// or protocol error.
func readGetReply(r *bufio.Reader) (val string, rerr, err error) {
	line, err := readLine(r)
	if err != nil {
		return "", nil, err
	}
	if len(line) == 0 {
		return "", nil, errRespProto
	}
	switch line[0] {
	case '$':
		n, perr := strconv.Atoi(string(line[1:]))
		if perr != nil || n > maxRespLen {
			return "", nil, errRespProto
		}
		if n < 0 {
			return "", redis.Nil, nil
		}
		b := make([]byte, n+2)
		if _, err := io.ReadFull(r, b); err != nil {
			return "", nil, err
		}
		return unsafe.String(&b[0], n), nil, nil
	case '-':
		return "", errors.New(string(line[1:])), nil
	case '_':
		return "", redis.Nil, nil
	}
	return "", nil, errRespProto
}
