package session_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"

	"github.com/redis/go-redis/v9"
	"github.com/rediskit/rediskit/session"
)

// A counter kept in the session. Needs a Redis server, so it has no
// Output line.
func Example() {
	client := redis.NewClient(&redis.Options{Addr: "localhost:6379"})
	defer client.Close()
	m, err := session.New(client, session.Options{})
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s := m.From(r.Context())
		n, err := s.Incr(r.Context(), "visits", 1)
		if err != nil {
			http.Error(w, "session unavailable", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintf(w, "visit %d\n", n)
	})
	srv := httptest.NewServer(m.Middleware(mux))
	defer srv.Close()
	res, err := srv.Client().Get(srv.URL)
	if err != nil {
		log.Fatal(err)
	}
	res.Body.Close()
}

// Login renews the token and ties the session to a user; "log out
// everywhere" ends all of the user's sessions on every instance.
func ExampleSession_Renew() {
	var m *session.Manager // from session.New
	login := func(w http.ResponseWriter, r *http.Request, userID string) error {
		s := m.From(r.Context())
		if err := s.Renew(r.Context()); err != nil {
			return err
		}
		return s.SetUser(r.Context(), userID)
	}
	logoutEverywhere := func(ctx context.Context, userID string) error {
		_, err := m.DestroyAllForUser(ctx, userID)
		return err
	}
	_, _ = login, logoutEverywhere
}

// Typed values go through the Manager's Codec (JSON by default).
func ExampleGet() {
	type cart struct{ Items []string }
	var m *session.Manager // from session.New
	handler := func(w http.ResponseWriter, r *http.Request) {
		s := m.From(r.Context())
		c, _, err := session.Get[cart](r.Context(), s, "cart")
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		c.Items = append(c.Items, r.FormValue("sku"))
		if err := session.Put(r.Context(), s, "cart", c); err != nil {
			http.Error(w, err.Error(), http.StatusRequestEntityTooLarge)
		}
	}
	_ = handler
}
