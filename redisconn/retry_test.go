package redisconn_test

import (
	"context"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rediskit/rediskit/internal/redistest"
	"github.com/rediskit/rediskit/redisconn"
)

// replyDropper is a TCP proxy in front of a real server. While drop is
// set, it forwards a command, lets the server apply it, reads the reply
// and then closes the client's connection instead of relaying it: the
// client sees the connection reset after its write went out.
type replyDropper struct {
	ln      net.Listener
	backend string
	drop    atomic.Int64 // replies still to drop
	dropped atomic.Int64
	wg      sync.WaitGroup
}

func newReplyDropper(t *testing.T, backend string) *replyDropper {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &replyDropper{ln: ln, backend: backend}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(func() { _ = ln.Close(); p.wg.Wait() })
	return p
}

func (p *replyDropper) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.wg.Add(1)
		go p.serve(c)
	}
}

func (p *replyDropper) serve(c net.Conn) {
	defer p.wg.Done()
	defer c.Close()
	s, err := net.Dial("tcp", p.backend)
	if err != nil {
		return
	}
	defer s.Close()
	go func() { _, _ = io.Copy(s, c); _ = s.Close() }()
	buf := make([]byte, 64<<10)
	for {
		n, err := s.Read(buf)
		if err != nil {
			return
		}
		if p.drop.Add(-1) >= 0 {
			p.dropped.Add(1)
			if tc, ok := c.(*net.TCPConn); ok {
				_ = tc.SetLinger(0) // RST, as a dying node or middlebox does
			}
			return
		}
		p.drop.Store(0)
		if _, err := c.Write(buf[:n]); err != nil {
			return
		}
	}
}

// TestRetryHookDoesNotRepeatMaybeAppliedWrites: a write whose reply was
// lost may have been applied, so the hook must not send it again; a read
// in the same situation is retried.
func TestRetryHookDoesNotRepeatMaybeAppliedWrites(t *testing.T) {
	ctx := context.Background()
	tg := redistest.SingleTarget(t)
	direct := redis.NewClient(&redis.Options{Addr: tg.Addrs[0]})
	defer direct.Close()
	proxy := newReplyDropper(t, tg.Addrs[0])

	conn, err := redisconn.NewClient(redisconn.Config{Nodes: []string{proxy.ln.Addr().String()},
		RetryStep: 5 * time.Millisecond, RetryCap: 10 * time.Millisecond}, redisconn.ModeSingle)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	k := redistest.Unique(t)
	if err := conn.Client.Set(ctx, k+":r", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}

	proxy.drop.Store(1)
	err = conn.Client.Incr(ctx, k).Err()
	if err == nil {
		t.Fatal("INCR whose reply was dropped returned no error")
	}
	if n, _ := direct.Get(ctx, k).Int(); n != 1 {
		t.Fatalf("INCR applied %d times after a lost reply, want exactly 1 (the hook retried a maybe-applied write); err %v", n, err)
	}

	// A read is idempotent: a lost reply is retried and succeeds.
	before := proxy.dropped.Load()
	proxy.drop.Store(1)
	v, err := conn.Client.Get(ctx, k+":r").Result()
	if err != nil || v != "v" {
		t.Fatalf("GET after a lost reply: %q, %v; want it retried to success", v, err)
	}
	if proxy.dropped.Load() != before+1 {
		t.Fatal("the proxy dropped no GET reply: the test did not exercise a lost reply")
	}
}
