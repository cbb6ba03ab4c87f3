package session

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rediskit/rediskit/internal/redisproc"
	"github.com/rediskit/rediskit/internal/redistest"
)

// TestFailover kills the master that holds some sessions while requests
// run. Requests on that master fail with the ErrorFunc's 500 until a
// replica takes over; no session is ever seen half-written (two fields
// written by one save always agree), none loses its metadata or TTL, and
// every session works again afterwards.
func TestFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a private cluster")
	}
	t.Run("default", func(t *testing.T) { testFailover(t, PipeliningAuto) })
	t.Run("plain", func(t *testing.T) { testFailover(t, PipeliningOff) })
	t.Run("autopipeline", func(t *testing.T) { testFailover(t, PipeliningOn) })
}

func testFailover(t *testing.T, pipelining Pipelining) {
	cl := redistest.NewCluster(t, redisproc.ClusterOptions{})
	rdb := redis.NewClusterClient(&redis.ClusterOptions{
		Addrs:                      cl.Addrs(),
		ClusterStateReloadInterval: 200 * time.Millisecond, // see FIELD-NOTES: dial errors do not reload
		DialTimeout:                200 * time.Millisecond,
		ReadTimeout:                500 * time.Millisecond,
		WriteTimeout:               500 * time.Millisecond,
	})
	t.Cleanup(func() { _ = rdb.Close() })
	m, err := New(rdb, Options{Prefix: "fo:", Cookie: CookieOptions{Insecure: true}, Logger: quiet, Pipelining: pipelining})
	if err != nil {
		t.Fatal(err)
	}
	a := &app{t: t, m: m, rdb: rdb}
	mux := http.NewServeMux()
	mux.Handle("/", a.routes())
	mux.HandleFunc("/pair", func(w http.ResponseWriter, r *http.Request) {
		s := m.From(r.Context())
		for _, k := range []string{"a", "b"} {
			if err := s.Set(r.Context(), k, []byte(r.FormValue("n"))); err != nil {
				fail(w, err)
				return
			}
		}
		io.WriteString(w, "ok")
	})
	mux.HandleFunc("/check", func(w http.ResponseWriter, r *http.Request) {
		s := m.From(r.Context())
		x, _, err := s.Get(r.Context(), "a")
		if err != nil {
			fail(w, err)
			return
		}
		y, _, _ := s.Get(r.Context(), "b")
		fmt.Fprintf(w, "%s,%s", x, y)
	})
	a.srv = newTestServer(t, m.Middleware(mux))

	const n = 12
	browsers := make([]*browser, n)
	for i := range browsers {
		browsers[i] = &browser{}
		mustCode(t, browsers[i].do(t, a, "/pair", kv("n", "0")), 200)
	}
	ctx := context.Background()
	victim, err := cl.MasterForKey(ctx, m.keys.session(storageID(browsers[0].tok())))
	if err != nil {
		t.Fatal(err)
	}

	var killed atomic.Bool
	var errs, corrupt, other atomic.Int64
	okAfter := make([]atomic.Bool, n)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i, b := range browsers {
		wg.Go(func() {
			for k := 1; ; k++ {
				select {
				case <-stop:
					return
				default:
				}
				after := killed.Load()
				r, err := b.try(a, "/pair", kv("n", strconv.Itoa(k)))
				if err != nil {
					other.Add(1)
					continue
				}
				switch r.code {
				case 200:
				case 500:
					errs.Add(1)
					continue
				default:
					other.Add(1)
					continue
				}
				r, err = b.try(a, "/check", nil)
				if err != nil || r.code != 200 {
					errs.Add(1)
					continue
				}
				x, y, _ := strings.Cut(r.body, ",")
				if x != y {
					corrupt.Add(1)
					t.Errorf("session %d half-written: a=%q b=%q", i, x, y)
				}
				if after {
					okAfter[i].Store(true)
				}
			}
		})
	}
	if _, err := cl.KillMaster(ctx, victim); err != nil {
		close(stop)
		wg.Wait()
		t.Fatal(err)
	}
	killed.Store(true)
	redistest.Eventually(t, 40*time.Second, "every session to work after the failover", func() bool {
		for i := range okAfter {
			if !okAfter[i].Load() {
				return false
			}
		}
		return true
	})
	close(stop)
	wg.Wait()
	t.Logf("errors during failover: %d (500s), transport errors: %d", errs.Load(), other.Load())
	if errs.Load() == 0 {
		t.Error("no request failed while a master was down: errors are being hidden")
	}
	if other.Load() != 0 {
		t.Errorf("%d requests failed without a clean HTTP error", other.Load())
	}
	for i, b := range browsers {
		h, err := rdb.HGetAll(ctx, m.keys.session(storageID(b.tok()))).Result()
		if err != nil {
			t.Fatal(err)
		}
		if h["a"] != h["b"] || h[fAbs] == "" || h[fExp] == "" || h[fCreated] == "" {
			t.Errorf("session %d corrupted: %v", i, h)
		}
		if ttl := rdb.PTTL(ctx, m.keys.session(storageID(b.tok()))).Val(); ttl <= 0 {
			t.Errorf("session %d has TTL %v", i, ttl)
		}
	}
}
