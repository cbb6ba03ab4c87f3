package migrate

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rediskit/rediskit/internal/redisproc"
	"github.com/rediskit/rediskit/internal/redistest"
)

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		os.Exit(helperMain())
	}
	redistest.Main(m)
}

var notifyArgs = []string{"notify-keyspace-events KEA", "maxmemory-policy noeviction"}

func newSingle(t *testing.T) (*redisproc.Server, *redis.Client) {
	t.Helper()
	s := redistest.NewSingle(t, redisproc.ServerOptions{Args: notifyArgs})
	c := redis.NewClient(&redis.Options{Addr: s.Addr()})
	t.Cleanup(func() { c.Close() })
	return s, c
}

func newCluster(t *testing.T, masters, replicas int) (*redisproc.Cluster, *redis.ClusterClient) {
	t.Helper()
	cl := redistest.NewCluster(t, redisproc.ClusterOptions{Masters: masters, Replicas: replicas, Args: notifyArgs})
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: cl.Addrs()})
	t.Cleanup(func() { c.Close() })
	return cl, c
}

// seed writes n keys of mixed types under prefix: 70 % strings, 10 %
// hashes, 10 % sets or zsets, 10 % lists; 30 % with a TTL (some of them
// short enough to expire while a copy runs).
func seed(tb testing.TB, c redis.UniversalClient, prefix string, n int) {
	tb.Helper()
	ctx := context.Background()
	r := rand.New(rand.NewPCG(1, uint64(n)))
	const batch = 500
	for lo := 0; lo < n; lo += batch {
		p := c.Pipeline()
		for i := lo; i < min(lo+batch, n); i++ {
			k := fmt.Sprintf("%s:%d", prefix, i)
			switch x := i % 10; {
			case x < 7:
				p.Set(ctx, k, strings.Repeat(string(rune('a'+i%26)), 100), 0)
			case x == 7:
				for f := range 10 {
					p.HSet(ctx, k, fmt.Sprint("f", f), fmt.Sprint("v", i, f))
				}
			case x == 8 && i%20 < 10:
				for e := range 20 {
					p.SAdd(ctx, k, fmt.Sprint("m", e))
				}
			case x == 8:
				for e := range 20 {
					p.ZAdd(ctx, k, redis.Z{Score: float64(e) + 0.5, Member: fmt.Sprint("m", e)})
				}
			default:
				for e := range 20 {
					p.RPush(ctx, k, fmt.Sprint("e", e))
				}
			}
			if r.IntN(10) < 3 {
				ttl := time.Duration(1+r.IntN(3600)) * time.Second
				if r.IntN(20) == 0 {
					ttl = time.Duration(50+r.IntN(1500)) * time.Millisecond // expires during the copy
				}
				p.PExpire(ctx, k, ttl)
			}
		}
		if _, err := p.Exec(ctx); err != nil {
			tb.Fatalf("seed: %v", err)
		}
	}
}

// mustVerify fails t unless src and dst hold the same data with
// identical absolute expiries.
func mustVerify(t *testing.T, src, dst redis.UniversalClient) Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rep, err := Verify(ctx, src, dst, VerifyOptions{KeysPerSecond: -1})
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	if !rep.Clean() {
		t.Fatalf("verify: %v\n%v", rep, rep.Differences)
	}
	return rep
}

func dbsize(t *testing.T, c redis.UniversalClient) int64 {
	t.Helper()
	ctx := context.Background()
	var n int64
	if cc, ok := c.(*redis.ClusterClient); ok {
		var mu = make(chan int64, 64)
		err := cc.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
			k, err := m.DBSize(ctx).Result()
			mu <- k
			return err
		})
		close(mu)
		if err != nil {
			t.Fatal(err)
		}
		for k := range mu {
			n += k
		}
		return n
	}
	n, err := c.DBSize(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	return n
}
