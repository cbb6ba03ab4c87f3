package session_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"

	"github.com/rediskit/rediskit/internal/redistest"
	"github.com/rediskit/rediskit/session"
)

// get fetches url with the browser's cookie jar and prints the body.
func get(browser *http.Client, url string) {
	res, err := browser.Get(url)
	if err != nil {
		log.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	fmt.Print(string(b))
}

func newBrowser() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar}
}

// A counter kept in the session.
func Example() {
	client := redistest.ExampleClient() // in a service: conn.Client from redisconn.Connect
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
	browser := newBrowser()
	get(browser, srv.URL)
	get(browser, srv.URL)
	get(newBrowser(), srv.URL) // another browser, another session
	// Output:
	// visit 1
	// visit 2
	// visit 1
}

// Login renews the token and ties the session to a user; "log out
// everywhere" ends all of the user's sessions on every instance.
func ExampleSession_Renew() {
	client := redistest.ExampleClient()
	defer client.Close()
	m, err := session.New(client, session.Options{Prefix: "example-renew:"})
	if err != nil {
		log.Fatal(err)
	}
	login := func(w http.ResponseWriter, r *http.Request, userID string) error {
		s := m.From(r.Context())
		if err := s.Renew(r.Context()); err != nil {
			return err
		}
		return s.SetUser(r.Context(), userID)
	}
	logoutEverywhere := func(ctx context.Context, userID string) (int, error) {
		return m.DestroyAllForUser(ctx, userID)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/login", func(w http.ResponseWriter, r *http.Request) {
		if err := login(w, r, "ada"); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	})
	mux.HandleFunc("/me", func(w http.ResponseWriter, r *http.Request) {
		user, _ := m.From(r.Context()).UserID(r.Context())
		fmt.Fprintf(w, "user %q\n", user)
	})
	srv := httptest.NewServer(m.Middleware(mux))
	defer srv.Close()
	laptop, phone := newBrowser(), newBrowser()
	get(laptop, srv.URL+"/login")
	get(phone, srv.URL+"/login")
	get(laptop, srv.URL+"/me")
	n, err := logoutEverywhere(context.Background(), "ada")
	fmt.Println("ended", n, err)
	get(phone, srv.URL+"/me")
	// Output:
	// user "ada"
	// ended 2 <nil>
	// user ""
}

// Typed values go through the Manager's Codec (JSON by default).
func ExampleGet() {
	type cart struct{ Items []string }
	client := redistest.ExampleClient()
	defer client.Close()
	m, err := session.New(client, session.Options{})
	if err != nil {
		log.Fatal(err)
	}
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
			return
		}
		fmt.Fprintln(w, c.Items)
	}
	srv := httptest.NewServer(m.Middleware(http.HandlerFunc(handler)))
	defer srv.Close()
	browser := newBrowser()
	get(browser, srv.URL+"?sku=apple")
	get(browser, srv.URL+"?sku=pear")
	// Output:
	// [apple]
	// [apple pear]
}
