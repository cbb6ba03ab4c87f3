package migrate

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rediskit/rediskit/internal/redisproc"
	"github.com/rediskit/rediskit/internal/redistest"
	"github.com/rediskit/rediskit/redisconn"
)

// workload writes to src until stop is closed: SET, DEL, EXPIRE (some
// short), PERSIST, HSET, INCR, LPUSH, ZADD, RENAME over a small key space
// (keys are in a hash tag per group so RENAME works on a cluster).
// Errors (a failover under way) are counted, not fatal.
func workload(src redis.UniversalClient, stop <-chan struct{}, seed uint64) (ops, errs *atomic.Int64, done chan struct{}) {
	ops, errs, done = new(atomic.Int64), new(atomic.Int64), make(chan struct{})
	go func() {
		defer close(done)
		ctx := context.Background()
		r := rand.New(rand.NewPCG(seed, 7))
		for {
			select {
			case <-stop:
				return
			default:
			}
			g := r.IntN(40)
			k := fmt.Sprintf("w{%d}:%d", g, r.IntN(25))
			var err error
			switch r.IntN(12) {
			case 0, 1:
				err = src.Set(ctx, k, r.Int(), 0).Err()
			case 2:
				err = src.Del(ctx, k).Err()
			case 3:
				err = src.PExpire(ctx, k, time.Duration(20+r.IntN(300))*time.Millisecond).Err()
			case 4:
				err = src.Expire(ctx, k, time.Duration(60+r.IntN(600))*time.Second).Err()
			case 5:
				err = src.Persist(ctx, k).Err()
			case 6:
				err = src.HSet(ctx, "h"+k, "f"+fmt.Sprint(r.IntN(5)), r.Int()).Err()
			case 7:
				err = src.Incr(ctx, "n"+k).Err()
			case 8:
				err = src.LPush(ctx, "l"+k, r.Int()).Err()
			case 9:
				err = src.ZAdd(ctx, "z"+k, redis.Z{Score: float64(r.IntN(100)), Member: fmt.Sprint(r.IntN(10))}).Err()
			case 10:
				to := fmt.Sprintf("w{%d}:%d", g, r.IntN(25))
				err = src.Rename(ctx, k, to).Err()
				if err != nil && strings.Contains(err.Error(), "no such key") {
					err = nil
				}
			case 11:
				err = src.Set(ctx, k, "short", time.Duration(1+r.IntN(50))*time.Millisecond).Err()
			}
			ops.Add(1)
			if err != nil && !errors.Is(err, redis.Nil) {
				errs.Add(1)
			}
		}
	}()
	return ops, errs, done
}

// syncUnderLoad starts Sync, runs the workload during the first pass and
// after it, calls during (if set) while both run, stops the workload,
// waits until sync has caught up and verifies 0 differences with
// identical absolute expiries.
func syncUnderLoad(t *testing.T, src, dst redis.UniversalClient, during func()) *Migrator {
	t.Helper()
	m := New(src, dst, Options{Heartbeat: 200 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	stop := make(chan struct{})
	ops, errs, wdone := workload(src, stop, 1)
	go func() { done <- m.Sync(ctx) }()
	redistest.Eventually(t, time.Minute, "first pass over", func() bool { return m.Status().Phase == PhaseSync })
	since := time.Now()
	redistest.Eventually(t, time.Minute, "changes applied while writing", func() bool {
		return m.Status().Events > 500 && time.Since(since) > time.Second
	})
	if during != nil {
		during()
	}
	close(stop)
	<-wdone
	waitCaughtUp(t, m, done)
	s := m.Status()
	t.Logf("workload %d ops (%d errors); status: applied %d, events %d, gaps %d, rescans %v, errors %d (%s)",
		ops.Load(), errs.Load(), s.Applied, s.Events, s.Gaps, rescans(s), s.Errors, s.LastError)
	mustVerify(t, src, dst)
	cancel()
	<-done
	return m
}

func rescans(s Status) []string {
	var out []string
	for _, sh := range s.Shards {
		out = append(out, fmt.Sprintf("%s: %d (%s)", sh.Label, sh.Rescans, sh.LastGap))
	}
	return out
}

func TestSyncSingleToClusterUnderLoad(t *testing.T) {
	_, src := newSingle(t)
	_, dst := newCluster(t, 3, -1)
	seed(t, src, "k", 5000)
	m := syncUnderLoad(t, src, dst, nil)
	if s := m.Status(); s.Gaps != 0 {
		t.Errorf("%d gaps without a fault: %v", s.Gaps, s.Shards)
	}
}

func TestSyncSentinelToClusterUnderLoad(t *testing.T) {
	st := redistest.NewSentinel(t, redisproc.SentinelOptions{Args: notifyArgs})
	src := redis.NewFailoverClient(&redis.FailoverOptions{MasterName: st.MasterName, SentinelAddrs: st.SentinelAddrs()})
	t.Cleanup(func() { src.Close() })
	_, dst := newCluster(t, 3, -1)
	seed(t, src, "k", 3000)
	syncUnderLoad(t, src, dst, nil)
}

// TestSyncSourceFailover kills a source master while sync follows a live
// workload: the promoted replica is subscribed, the master is rescanned,
// and the target ends equal to the source.
func TestSyncSourceFailover(t *testing.T) {
	cl := redistest.NewCluster(t, redisproc.ClusterOptions{Args: notifyArgs})
	// The source client is built by redisconn, as the command builds it:
	// its retry hook reloads the slot map when a master dies.
	conn, err := redisconn.NewClient(redisconn.Config{Nodes: cl.Addrs()}, redisconn.ModeCluster)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	src := conn.Client
	_, dst := newSingle(t)
	seed(t, src, "k", 3000)
	m := syncUnderLoad(t, src, dst, func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		master, err := cl.MasterForKey(ctx, "w{1}:1")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := cl.KillMaster(ctx, master); err != nil {
			t.Fatal(err)
		}
	})
	if s := m.Status(); s.Gaps == 0 {
		t.Errorf("failover not seen as a gap: %+v", s.Shards)
	}
}

// TestSyncFlushAll: a FLUSHALL on the source sends no keyspace
// notification; the heartbeat key reveals it and the rescan removes the
// keys from the target.
func TestSyncFlushAll(t *testing.T) {
	_, src := newSingle(t)
	_, dst := newSingle(t)
	seed(t, src, "k", 2000)
	runSync(t, src, dst, func(m *Migrator) {
		ctx := context.Background()
		src.FlushAll(ctx)
		src.Set(ctx, "after", "1", 0)
		redistest.Eventually(t, 30*time.Second, "flush repaired", func() bool {
			return dbsize(t, dst) <= 3 && dst.Get(ctx, "after").Val() == "1"
		})
		mustVerify(t, src, dst)
	})
}

func TestSyncNotifyOff(t *testing.T) {
	s := redistest.NewSingle(t, redisproc.ServerOptions{})
	src := redis.NewClient(&redis.Options{Addr: s.Addr()})
	defer src.Close()
	_, dst := newSingle(t)
	err := New(src, dst, Options{}).Sync(context.Background())
	if !errors.Is(err, ErrNotifyOff) || !strings.Contains(err.Error(), "CONFIG SET notify-keyspace-events EA") {
		t.Fatalf("err = %v", err)
	}
}
