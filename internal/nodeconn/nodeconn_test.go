package nodeconn

import (
	"context"
	"crypto/tls"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rediskit/rediskit/internal/redisproc"
	"github.com/rediskit/rediskit/internal/redistest"
	"github.com/rediskit/rediskit/internal/slot"
)

func TestMain(m *testing.M) { redistest.Main(m) }

// Dial uses the client's own TLS, ACL user and DB; a wrong password is
// refused without the password appearing in the error.
func TestDialWithClientOptions(t *testing.T) {
	ctx := context.Background()
	files, err := redisproc.GenerateTLS(t.TempDir(), "redis.test")
	if err != nil {
		t.Fatal(err)
	}
	s := redistest.NewSingle(t, redisproc.ServerOptions{TLS: files})
	admin := s.Client()
	defer admin.Close()
	if err := admin.Do(ctx, "ACL", "SETUSER", "app", "on", ">s3cret-pw", "~*", "&*", "+@all").Err(); err != nil {
		t.Fatal(err)
	}
	tc, err := files.ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	tc.ServerName = "redis.test"
	mk := func(pass string) *redis.Client {
		c := redis.NewClient(&redis.Options{Addr: s.Addr(), Username: "app", Password: pass, DB: 2, TLSConfig: tc.Clone()})
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	top, err := Discover(ctx, mk("s3cret-pw"))
	if err != nil || len(top.Masters) != 1 {
		t.Fatalf("Discover = %+v, %v", top, err)
	}
	conn, err := Dial(ctx, top.Masters[0], DialOptions{Name: "nodeconn-test"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, ok := conn.Conn.(*tls.Conn); !ok {
		t.Fatalf("connection is %T, want TLS", conn.Conn)
	}
	v, err := Call(conn.R, conn.W, "CLIENT", "INFO")
	if err != nil {
		t.Fatal(err)
	}
	info, _ := v.(string)
	for _, want := range []string{" db=2 ", " user=app ", " name=nodeconn-test "} {
		if !strings.Contains(" "+info+" ", want) {
			t.Fatalf("CLIENT INFO %q lacks %q", info, want)
		}
	}
	if conn.ID == 0 {
		t.Fatal("no CLIENT ID")
	}

	bad, err := Discover(ctx, mk("wrong-pw-xyz"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = Dial(ctx, bad.Masters[0], DialOptions{})
	if err == nil || !strings.Contains(err.Error(), "WRONGPASS") {
		t.Fatalf("Dial with a wrong password = %v; want WRONGPASS", err)
	}
	if strings.Contains(err.Error(), "wrong-pw-xyz") {
		t.Fatalf("error %q contains the password", err)
	}
}

// Discover reads go-redis's slot map: every slot's master is the one the
// cluster reports.
func TestDiscoverCluster(t *testing.T) {
	ctx := context.Background()
	tg := redistest.ClusterTarget(t)
	client := tg.Client(t).(*redis.ClusterClient)
	top, err := Discover(ctx, client)
	if err != nil {
		t.Fatal(err)
	}
	if len(top.Masters) != 3 {
		t.Fatalf("masters = %v; want 3", top.Addrs())
	}
	slots, err := client.ClusterSlots(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range slots {
		for _, s := range []int{r.Start, (r.Start + r.End) / 2, r.End} {
			if got := top.Masters[top.Master(s)].Addr; got != r.Nodes[0].Addr {
				t.Fatalf("slot %d: master %s; want %s", s, got, r.Nodes[0].Addr)
			}
		}
	}
	if k := "{user42}:x"; top.MasterOf(k) != top.Master(slot.Of(k)) {
		t.Fatal("MasterOf disagrees with Master")
	}
	again, err := Discover(ctx, client)
	if err != nil || !again.Equal(top) {
		t.Fatalf("second Discover differs: %v", err)
	}
}

// A Watcher tells its subscribers the topology once, then only changes.
func TestWatcherSubscribe(t *testing.T) {
	tg := redistest.ClusterTarget(t)
	w := NewWatcher(tg.Client(t), 20*time.Millisecond, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	calls := make(chan *Topology, 16)
	unsubscribe := w.Subscribe(func(t *Topology) { calls <- t })
	defer unsubscribe()
	select {
	case top := <-calls:
		if len(top.Masters) != 3 {
			t.Fatalf("masters = %v", top.Addrs())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no topology")
	}
	w.Kick()
	wait := time.NewTimer(200 * time.Millisecond)
	defer wait.Stop()
	select {
	case top := <-calls:
		t.Fatalf("called again with an unchanged topology %v", top.Addrs())
	case <-wait.C: // ten re-reads at the interval: none may call
	}
}

func BenchmarkDiscoverCluster(b *testing.B) {
	client := redistest.ClusterTarget(b).Client(b)
	ctx := context.Background()
	for b.Loop() {
		if _, err := Discover(ctx, client); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkUnchangedCluster(b *testing.B) {
	client := redistest.ClusterTarget(b).Client(b).(*redis.ClusterClient)
	ctx := context.Background()
	top, err := Discover(ctx, client)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if !top.unchanged(ctx, client) {
			b.Fatal("changed")
		}
	}
}

// Acquire shares one Watcher per client and stops it with the last
// release.
func TestAcquireShares(t *testing.T) {
	client := redistest.SingleTarget(t).Client(t)
	w1, r1 := Acquire(client, 0, nil)
	w2, r2 := Acquire(client, 0, nil)
	if w1 != w2 {
		t.Fatal("two watchers for one client")
	}
	select {
	case <-w1.Ready():
	case <-time.After(5 * time.Second):
		t.Fatal("watcher never ready")
	}
	r1()
	r1() // idempotent
	shared.Lock()
	_, running := shared.m[client]
	shared.Unlock()
	if !running {
		t.Fatal("stopped while a user remains")
	}
	r2()
	shared.Lock()
	_, running = shared.m[client]
	shared.Unlock()
	if running {
		t.Fatal("still running after the last release")
	}
}
