package session

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rediskit/rediskit/internal/redisproc"
	"github.com/rediskit/rediskit/internal/redistest"
)

// callLog is a client hook that counts the round-trip commands of a
// session (HGETALL, EVALSHA) sent alone and sent in a batch of several.
type callLog struct {
	mu             sync.Mutex
	alone, batched int
}

func (l *callLog) DialHook(next redis.DialHook) redis.DialHook { return next }

func (l *callLog) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		l.count(1, cmd)
		return next(ctx, cmd)
	}
}

func (l *callLog) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		for _, c := range cmds {
			l.count(len(cmds), c)
		}
		return next(ctx, cmds)
	}
}

func (l *callLog) count(batch int, cmd redis.Cmder) {
	if n := cmd.Name(); n != "hgetall" && n != "evalsha" {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if batch > 1 {
		l.batched++
	} else {
		l.alone++
	}
}

func (l *callLog) get() (alone, batched int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.alone, l.batched
}

// With default options a lone request's load and save take their own
// round trips, and concurrent requests share batches (PipeliningAuto).
// On a single node: go-redis runs a cluster's auto-pipelined batches on
// its per-node clients, out of reach of a hook on the ClusterClient.
func TestPipeliningAuto(t *testing.T) {
	tg := redistest.SingleTarget(t)
	rdb := tg.Client(t)
	log := &callLog{}
	rdb.AddHook(log)
	a := newApp(t, rdb, Options{})
	var lone browser
	mustCode(t, lone.do(t, a, "/set", kv("x", "1")), 200)
	mustCode(t, lone.do(t, a, "/set", kv("x", "2")), 200)
	if alone, batched := log.get(); alone != 3 || batched != 0 {
		t.Fatalf("two lone requests made %d calls alone and %d in batches, want 3 (create; load, save) and 0", alone, batched)
	}

	bs := make([]browser, 30)
	for i := range bs {
		mustCode(t, bs[i].do(t, a, "/set", kv("n", "0")), 200)
	}
	round := 0
	redistest.Eventually(t, 10*time.Second, "concurrent requests' calls batched", func() bool {
		round++
		allOK(t, len(bs), func(i int) (resp, error) {
			return bs[i].try(a, "/set", kv("n", fmt.Sprint(round)))
		})
		_, batched := log.get()
		return batched > 0
	})
	for i := range bs {
		if r := bs[i].do(t, a, "/get", kv("k", "n")); r.body != fmt.Sprint(round) {
			t.Fatalf("browser %d: n = %q, want %d", i, r.body, round)
		}
	}
	if r := lone.do(t, a, "/get", kv("k", "x")); r.body != "2" {
		t.Fatalf("x = %q, want 2", r.body)
	}
}

// A call waiting in the auto-pipeliner returns when its ctx ends, even
// while Redis does not answer (CLIENT PAUSE), and the Manager works
// again once Redis does.
func TestPipeliningAutoContext(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a private server")
	}
	srv := redistest.NewSingle(t, redisproc.ServerOptions{})
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	m, err := New(rdb, Options{Logger: quiet, Prefix: "ctx:"})
	if err != nil {
		t.Fatal(err)
	}
	bg := context.Background()
	s := &Session{m: m}
	if err := s.Set(bg, "x", []byte("1")); err != nil {
		t.Fatal(err)
	}
	if err := s.Save(bg); err != nil {
		t.Fatal(err)
	}
	token := s.token

	ctl := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { _ = ctl.Close() })
	if err := ctl.Do(bg, "CLIENT", "PAUSE", "1500", "ALL").Err(); err != nil {
		t.Fatal(err)
	}
	m.inflight.Add(autoPipelineFrom - 1) // as if other requests were in Redis: this call is batched
	ctx, cancel := context.WithTimeout(bg, 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, _, err = (&Session{m: m, token: token}).Get(ctx, "x")
	took := time.Since(start)
	m.inflight.Add(-(autoPipelineFrom - 1))
	var ne net.Error
	if !errors.Is(err, context.DeadlineExceeded) && !(errors.As(err, &ne) && ne.Timeout()) {
		t.Fatalf("load while Redis is paused: %v, want a deadline error", err)
	}
	if took > time.Second {
		t.Fatalf("load returned %v after its 100ms deadline", took)
	}
	redistest.Eventually(t, 5*time.Second, "session readable after the pause", func() bool {
		v, ok, err := (&Session{m: m, token: token}).Get(bg, "x")
		if err != nil && !strings.Contains(err.Error(), "pause") {
			t.Logf("after the pause: %v", err)
		}
		return err == nil && ok && string(v) == "1"
	})
}
