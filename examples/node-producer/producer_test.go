// Package nodeproducer holds the test of the Node producer example: a real
// BullMQ 6.7.0 producer enqueues a payment job that the Go payments
// service processes.
package nodeproducer

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rediskit/rediskit/internal/pgtest"
	"github.com/rediskit/rediskit/internal/redistest"
	"github.com/rediskit/rediskit/payments"
	"github.com/rediskit/rediskit/payments/postgres"
	"github.com/rediskit/rediskit/queue"
)

func TestMain(m *testing.M) {
	code := m.Run()
	redistest.Shutdown()
	pgtest.Shutdown()
	os.Exit(code)
}

func needNode(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("node is not installed: skipping the Node producer example (install Node.js 20+, e.g. scripts/deps.sh)")
	}
	dir, _ := filepath.Abs(".")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "bullmq", "package.json")); err != nil {
		cmd := exec.Command("npm", "ci", "--no-audit", "--no-fund")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("npm ci in %s: %v\n%s", dir, err, out)
		}
	}
	return dir
}

// TestNodeProducer: node producer.js enqueues a charge-order job on the
// cluster (hash-tagged prefix); the Go service's worker charges the order
// once, queues the confirmation and receipt, and BullMQ's QueueEvents in
// Node sees the job complete with the Go handler's return value.
func TestNodeProducer(t *testing.T) {
	dir := needNode(t)
	ctx := context.Background()
	tg := redistest.ClusterTarget(t)
	client := tg.Client(t)
	st, err := postgres.Open(ctx, pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Seed(ctx, 5, 2, "demo"); err != nil {
		t.Fatal(err)
	}
	acct, err := st.Authenticate(ctx, "user1@example.com", "demo")
	if err != nil {
		t.Fatal(err)
	}
	o, err := st.CreateOrder(ctx, acct.ID, 3, 2)
	if err != nil {
		t.Fatal(err)
	}
	prefix := "{pay-" + redistest.Unique(t) + "}"
	svc, err := payments.New(st, client, payments.Options{Instance: "go-worker", QueuePrefix: prefix, ProviderDelay: -1})
	if err != nil {
		t.Fatal(err)
	}
	wctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- svc.Run(wctx) }()
	defer func() {
		stop()
		<-done
		svc.Close()
	}()

	run := func(key string) map[string]any {
		t.Helper()
		cctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		defer cancel()
		cmd := exec.CommandContext(cctx, "node", "producer.js")
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "REDIS_NODES="+strings.Join(tg.Addrs, ","), "QUEUE_PREFIX="+prefix,
			"ORDER_ID="+strconv.FormatInt(o.ID, 10), "IDEMPOTENCY_KEY="+key, "WAIT=1")
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("node producer.js: %v\n%s", err, stderr.String())
		}
		var res map[string]any
		if err := json.Unmarshal(out, &res); err != nil {
			t.Fatalf("producer output %q: %v", out, err)
		}
		return res
	}
	res := run("nest-42")
	t.Logf("node: %v", res)
	result, _ := res["result"].(map[string]any)
	c, err := st.ChargeForOrder(ctx, o.ID)
	if err != nil {
		t.Fatalf("order %d not charged: %v", o.ID, err)
	}
	if result["chargeId"] != c.ID || c.IdempotencyKey != "nest-42" || c.Instance != "go-worker" {
		t.Fatalf("node saw %v, charge %+v", result, c)
	}
	if res["jobId"] != "charge-nest-42" {
		t.Fatalf("job id %v", res["jobId"])
	}
	// The same request again (a retried NestJS call) charges nothing: the
	// job id exists already, and the Go side answers from the key.
	again := run("nest-42")
	if r, _ := again["result"].(map[string]any); r["chargeId"] != c.ID {
		t.Fatalf("retry: %v", again)
	}
	// Another key for the paid order is refused as already paid.
	other := run("nest-43")
	if r, _ := other["result"].(map[string]any); r["alreadyPaid"] != true || r["chargeId"] != c.ID {
		t.Fatalf("other key: %v", other)
	}
	q, _ := queue.New(client, "payments", queue.Options{Prefix: prefix})
	redistest.Eventually(t, 20*time.Second, "confirmation and receipt jobs done", func() bool {
		a, err := st.Audit(ctx)
		return err == nil && a.Confirmed == 1 && a.Receipts == 1
	})
	a, _ := st.Audit(ctx)
	if a.Charges != 1 || a.LedgerRows != 1 || a.DoubleCharges != 0 {
		t.Fatalf("audit %+v", a)
	}
	if stt, err := q.State(ctx, "charge-nest-42"); err != nil || stt != queue.StateCompleted {
		t.Fatalf("job state %q, %v", stt, err)
	}
}
