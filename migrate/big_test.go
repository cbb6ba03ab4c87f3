package migrate

import (
	"context"
	"os"
	"testing"
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
