package main

// Area "session": one middleware round trip (load a session, change one
// field, save) under 100 concurrent clients, rediskit/session vs scs v2
// with its goredisstore on the single node (scs has no cluster store),
// and rediskit/session on the cluster compared with itself on the single
// node (peer = rediskit on single; ratio = cluster/single).
//
// Both sides are driven the same way: the handler chain is called in
// process with an httptest request carrying the session cookie and an
// httptest recorder (no sockets, so the figures measure the session
// layer and Redis, not net/http). Both are configured alike: 30 min idle
// timeout, 24 h lifetime, token hashed in the store, the same go-redis
// client options, and sessions pre-filled with the same 8 fields. The
// handler reads the integer "n" and writes n+1. scs rewrites its whole
// blob on every request (its idle timeout forces a save); rediskit writes
// one field and refreshes the idle deadline only every IdleTimeout/10.
//
// Cases: ours with default options (PipeliningAuto: a call goes through
// the client's async auto-pipeliner only while other calls of the Manager
// are in flight) vs scs (both on one plain go-redis client each, same
// options); ours with PipeliningOff (every call on its own round trip);
// ours with Options.AutoPipeline (PipeliningOn: every call through the
// client's blocking auto-pipeliner); and ours on the cluster vs ours on
// the single node, both ways. Until the PipeliningAuto change the
// "default options" case ran with PipeliningOff forced. Every side
// runs in short alternating slices so the load of the shared machine
// falls on all alike.

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/alexedwards/scs/goredisstore"
	"github.com/alexedwards/scs/v2"
	"github.com/redis/go-redis/v9"
	"github.com/rediskit/rediskit/session"
)

const sessionClients = 100

// sessionFields is the data every benchmark session starts with.
var sessionFields = map[string]string{
	"user_id": "184467", "name": "Ada Lovelace", "email": "ada@example.com",
	"role": "admin", "csrf": "k3JH8s9d0fj2lKJH3k4j5h6g7f8d9s0a",
	"locale": "en-GB", "theme": "dark", "cart": `["sku-1","sku-22","sku-333"]`,
}

func init() {
	register("session", func(ctx context.Context, cfg Config, emit func(Result)) error {
		single, err := cfg.Env.Single(ctx)
		if err != nil {
			return err
		}
		cluster, err := cfg.Env.Cluster(ctx)
		if err != nil {
			return err
		}
		// Every side gets its own client with the same options.
		newSingle := func() *redis.Client {
			return redis.NewClient(&redis.Options{Addr: single.Addr(), PoolSize: sessionClients})
		}
		newCluster := func() *redis.ClusterClient {
			return redis.NewClusterClient(&redis.ClusterOptions{Addrs: cluster.Addrs(), PoolSize: sessionClients})
		}
		var closers []func() error
		defer func() {
			for i := len(closers) - 1; i >= 0; i-- {
				_ = closers[i]()
			}
		}()
		client := func(c redis.UniversalClient) redis.UniversalClient {
			closers = append(closers, c.Close)
			return c
		}
		ours, err := oursSessionSide(ctx, client(newSingle()), "bench:ours:", session.PipeliningAuto)
		if err != nil {
			return err
		}
		scsClient := newSingle()
		client(scsClient)
		peer, err := scsSessionSide(ctx, scsClient, "bench:scs:")
		if err != nil {
			return err
		}
		oursAP, err := oursSessionSide(ctx, client(newSingle()), "bench:oursap:", session.PipeliningOn)
		if err != nil {
			return err
		}
		oursOff, err := oursSessionSide(ctx, client(newSingle()), "bench:oursoff:", session.PipeliningOff)
		if err != nil {
			return err
		}
		oursCl, err := oursSessionSide(ctx, client(newCluster()), "bench:ours:", session.PipeliningAuto)
		if err != nil {
			return err
		}
		oursClAP, err := oursSessionSide(ctx, client(newCluster()), "bench:oursap:", session.PipeliningOn)
		if err != nil {
			return err
		}

		// Warm up, then run every side in short alternating slices so that
		// the shared machine's changing load hits all sides alike.
		sides := []*sessionSide{ours, peer, oursOff, oursAP, oursCl, oursClAP}
		for _, s := range sides {
			if _, _, err := s.run(ctx, 300*time.Millisecond); err != nil {
				return fmt.Errorf("%s warm-up: %w", s.name, err)
			}
		}
		const slice = 250 * time.Millisecond
		n := max(int(2*cfg.Duration/slice), 2)
		for i := range n {
			for j := range sides {
				s := sides[(i+j)%len(sides)] // rotate who goes first
				if err := s.measure(ctx, slice); err != nil {
					return fmt.Errorf("%s: %w", s.name, err)
				}
			}
		}
		// One client: latency without concurrency (auto-pipelining has a
		// cost here).
		solo := []*sessionSide{ours, peer, oursAP, oursOff}
		soloLat := make([][]time.Duration, len(solo))
		for i := range max(n/2, 1) {
			for j := range solo {
				k := (i + j) % len(solo)
				_, lat, err := solo[k].runClients(ctx, 1, slice)
				if err != nil {
					return fmt.Errorf("%s: %w", solo[k].name, err)
				}
				soloLat[k] = append(soloLat[k], lat...)
			}
		}
		p50 := func(i int) float64 { return us(Percentile(soloLat[i], 50)) }

		const scsName = "scs v2 goredisstore"
		emit(Rate("session", "round trip (get+put one field), 100 clients, single, same plain go-redis client", ours.rate(), peer.rate(), scsName, "req/s"))
		emit(Latency("session", "round trip p99, 100 clients, single, same plain go-redis client", ours.p99(), peer.p99(), scsName, "us"))
		emit(Rate("session", "round trip, 100 clients, single, same plain client, ours with PipeliningOff", oursOff.rate(), peer.rate(), scsName, "req/s"))
		emit(Rate("session", "round trip, 100 clients, single, same plain client, ours with Options.AutoPipeline", oursAP.rate(), peer.rate(), scsName, "req/s"))
		emit(Latency("session", "round trip p99, 100 clients, single, same plain client, ours with Options.AutoPipeline", oursAP.p99(), peer.p99(), scsName, "us"))
		emit(Latency("session", "round trip p50, 1 client, single", p50(0), p50(1), scsName, "us"))
		emit(Latency("session", "round trip p50, 1 client, single, ours with Options.AutoPipeline", p50(2), p50(1), scsName, "us"))
		emit(Latency("session", "round trip p50, 1 client, single, ours with PipeliningOff", p50(3), p50(1), scsName, "us"))
		emit(Rate("session", "round trip, 100 clients, cluster (peer: rediskit on single, default options)", oursCl.rate(), ours.rate(), "rediskit single node", "req/s"))
		emit(Rate("session", "round trip, 100 clients, cluster, Options.AutoPipeline (peer: rediskit on single, AutoPipeline)", oursClAP.rate(), oursAP.rate(), "rediskit single node", "req/s"))
		return nil
	})
}

var quietLog = slog.New(slog.DiscardHandler)

func quietError(w http.ResponseWriter, _ *http.Request, err error) {
	http.Error(w, err.Error(), http.StatusInternalServerError)
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// sessionSide is one implementation behind its middleware, with one
// pre-filled session per client, and what was measured so far.
type sessionSide struct {
	name    string
	handler http.Handler
	cookies []*http.Cookie
	rates   []float64
	lats    []time.Duration
}

// measure runs one slice and records it.
func (s *sessionSide) measure(ctx context.Context, d time.Duration) error {
	r, lat, err := s.run(ctx, d)
	s.rates = append(s.rates, r)
	s.lats = append(s.lats, lat...)
	return err
}

// rate is the mean over equal-length slices.
func (s *sessionSide) rate() float64 {
	t := 0.0
	for _, r := range s.rates {
		t += r
	}
	return t / float64(max(len(s.rates), 1))
}

func (s *sessionSide) p99() float64 { return us(Percentile(s.lats, 99)) }

// run drives the handler from sessionClients goroutines for d and returns
// requests per second and sampled latencies.
func (s *sessionSide) run(ctx context.Context, d time.Duration) (float64, []time.Duration, error) {
	return s.runClients(ctx, sessionClients, d)
}

// runClients drives the handler from n goroutines (n <= sessionClients).
func (s *sessionSide) runClients(ctx context.Context, n int, d time.Duration) (float64, []time.Duration, error) {
	lats := make([][]time.Duration, n)
	rate, err := Throughput(ctx, n, d, func(ctx context.Context, g int) error {
		req := httptest.NewRequestWithContext(ctx, "GET", "/bump", nil)
		req.AddCookie(s.cookies[g])
		rec := httptest.NewRecorder()
		start := time.Now()
		s.handler.ServeHTTP(rec, req)
		lats[g] = append(lats[g], time.Since(start))
		if rec.Code != http.StatusOK {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("status %d: %s", rec.Code, rec.Body.String())
		}
		return nil
	})
	var all []time.Duration
	for _, l := range lats {
		all = append(all, l...)
	}
	return rate, all, err
}

// fill creates one session per client through a "/fill" request and
// keeps its cookie.
func (s *sessionSide) fill(ctx context.Context, cookieName string) error {
	for range sessionClients {
		req := httptest.NewRequestWithContext(ctx, "GET", "/fill", nil)
		rec := httptest.NewRecorder()
		s.handler.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			return fmt.Errorf("%s fill: status %d: %s", s.name, rec.Code, rec.Body.String())
		}
		var got *http.Cookie
		for _, c := range rec.Result().Cookies() {
			if c.Name == cookieName {
				got = c
			}
		}
		if got == nil {
			return fmt.Errorf("%s fill: no session cookie", s.name)
		}
		s.cookies = append(s.cookies, &http.Cookie{Name: got.Name, Value: got.Value})
	}
	return nil
}

func oursSessionSide(ctx context.Context, rdb redis.UniversalClient, prefix string, pipelining session.Pipelining) (*sessionSide, error) {
	name := map[session.Pipelining]string{
		session.PipeliningAuto: "rediskit", session.PipeliningOn: "rediskit autopipeline", session.PipeliningOff: "rediskit pipelining off",
	}[pipelining]
	m, err := session.New(rdb, session.Options{
		Prefix: prefix, IdleTimeout: 30 * time.Minute, Lifetime: 24 * time.Hour,
		Pipelining: pipelining,
		Logger:     quietLog, // requests cut off at the end of a phase fail; both sides stay quiet
		ErrorFunc:  quietError,
	})
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/fill", func(w http.ResponseWriter, r *http.Request) {
		s := m.From(r.Context())
		for k, v := range sessionFields {
			if err := session.Set(r.Context(), s, k, v); err != nil {
				http.Error(w, err.Error(), 500)
				return
			}
		}
		if err := session.Set(r.Context(), s, "n", 0); err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		_, _ = io.WriteString(w, "ok")
	})
	mux.HandleFunc("/bump", func(w http.ResponseWriter, r *http.Request) {
		s := m.From(r.Context())
		n, _, err := session.Get[int](r.Context(), s, "n")
		if err == nil {
			err = session.Set(r.Context(), s, "n", n+1)
		}
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		_, _ = io.WriteString(w, "ok")
	})
	side := &sessionSide{name: name, handler: m.Middleware(mux)}
	return side, side.fill(ctx, "session")
}

func scsSessionSide(ctx context.Context, rdb *redis.Client, prefix string) (*sessionSide, error) {
	sm := scs.New()
	sm.Store = goredisstore.NewWithPrefix(rdb, prefix)
	sm.IdleTimeout = 30 * time.Minute
	sm.Lifetime = 24 * time.Hour
	sm.HashTokenInStore = true
	sm.ErrorFunc = quietError
	mux := http.NewServeMux()
	mux.HandleFunc("/fill", func(w http.ResponseWriter, r *http.Request) {
		for k, v := range sessionFields {
			sm.Put(r.Context(), k, v)
		}
		sm.Put(r.Context(), "n", 0)
		_, _ = io.WriteString(w, "ok")
	})
	mux.HandleFunc("/bump", func(w http.ResponseWriter, r *http.Request) {
		n := sm.GetInt(r.Context(), "n")
		sm.Put(r.Context(), "n", n+1)
		_, _ = io.WriteString(w, "ok")
	})
	side := &sessionSide{name: "scs", handler: sm.LoadAndSave(mux)}
	return side, side.fill(ctx, sm.Cookie.Name)
}
