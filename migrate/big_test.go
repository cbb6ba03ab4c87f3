package migrate

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/redis/go-redis/v9"
)

// bigTests gates the slow cases (500k keys, a 200 MB key): set
// REDISKIT_MIGRATE_BIG=1.
func bigTests(t *testing.T) {
	t.Helper()
	if os.Getenv("REDISKIT_MIGRATE_BIG") == "" {
		t.Skip("set REDISKIT_MIGRATE_BIG=1 for the 500k-key and 200 MB-key cases")
	}
}

func TestCopy500kClusterToCluster(t *testing.T) {
	bigTests(t)
	_, src := newCluster(t, 3, -1)
	_, dst := newCluster(t, 3, -1)
	seed(t, src, "k", 500000)
	sum, err := New(src, dst, Options{}).Copy(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Log(sum)
	rep := mustVerify(t, src, dst)
	t.Log(rep)
}

// TestCopy200MBKeyBoundedRSS copies a 200 MB list and a 50 MB zset in a
// child process and checks its peak RSS stays under 128 MiB.
func TestCopy200MBKeyBoundedRSS(t *testing.T) {
	bigTests(t)
	srcSrv, src := newSingle(t)
	dstCl, dst := newCluster(t, 3, -1)
	ctx := context.Background()
	item := strings.Repeat("x", 100)
	for lo := 0; lo < 2_000_000; lo += 10000 {
		p := src.Pipeline()
		for j := lo; j < lo+10000; j += 1000 {
			vs := make([]any, 1000)
			for k := range vs {
				vs[k] = item
			}
			p.RPush(ctx, "big:list", vs...)
			zs := make([]redis.Z, 250)
			for k := range zs {
				zs[k] = redis.Z{Score: float64(j + k), Member: fmt.Sprintf("%s-%d", item[:80], j+k)}
			}
			p.ZAdd(ctx, "big:zset", zs...)
		}
		if _, err := p.Exec(ctx); err != nil {
			t.Fatal(err)
		}
	}
	mem, _ := src.MemoryUsage(ctx, "big:list").Result()
	t.Logf("big:list uses %d MiB on the source", mem>>20)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"=copy-default", "HELPER_SRC="+srcSrv.Addr(), "HELPER_DST="+strings.Join(dstCl.Addrs(), ","))
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	t.Logf("migrator peak RSS %d MiB", ru.Maxrss>>10)
	if ru.Maxrss>>10 > 128 {
		t.Errorf("peak RSS %d MiB, want at most 128", ru.Maxrss>>10)
	}
	rep, err := Verify(ctx, src, dst, VerifyOptions{KeysPerSecond: -1})
	if err != nil || !rep.Clean() {
		t.Fatalf("verify: %v %v", rep, err)
	}
	if n, _ := dst.LLen(ctx, "big:list").Result(); n != 2_000_000 {
		t.Fatalf("big:list has %d items on the target", n)
	}
}
