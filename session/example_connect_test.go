package session_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"time"

	"github.com/rediskit/rediskit/internal/redistest"
	"github.com/rediskit/rediskit/session"
)

// Sharing logins with a NestJS (express-session + connect-redis) app:
// the same Redis keys, the same JSON object, the same signed cookie.
func Example_connectRedis() {
	client := redistest.ExampleClient()
	defer client.Close()
	m, err := session.New(client, session.Options{
		Format:      session.FormatConnectRedis,
		Secrets:     []string{"keyboard cat"}, // express-session's secret option, same order
		Prefix:      "example-connect:",       // connect-redis's prefix option; "sess:" by default
		IdleTimeout: time.Hour,                // express-session's cookie.maxAge
	})
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/login", func(w http.ResponseWriter, r *http.Request) {
		s := m.From(r.Context())
		if err := s.Renew(r.Context()); err != nil { // express-session's regenerate, keeping the data
			http.Error(w, "session unavailable", http.StatusServiceUnavailable)
			return
		}
		// Node's req.session.userId = 5
		if err := session.Set(r.Context(), s, "userId", 5); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, "logged in")
	})
	mux.HandleFunc("/me", func(w http.ResponseWriter, r *http.Request) {
		id, ok, err := session.Get[int](r.Context(), m.From(r.Context()), "userId")
		if err != nil {
			http.Error(w, "session unavailable", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "user", id, ok)
	})
	srv := httptest.NewServer(m.Middleware(mux))
	defer srv.Close()
	browser := newBrowser()
	get(browser, srv.URL+"/login")
	get(browser, srv.URL+"/me")

	// What the Node app finds: the cookie "connect.sid=s:<sid>.<HMAC>"
	// and the JSON object under "<prefix><sid>".
	u, _ := url.Parse(srv.URL)
	cookie, _ := url.PathUnescape(browser.Jar.Cookies(u)[0].Value)
	sid := cookie[2:strings.LastIndexByte(cookie, '.')]
	fmt.Println(browser.Jar.Cookies(u)[0].Name, strings.HasPrefix(cookie, "s:"+sid+"."))
	stored, err := client.Get(context.Background(), "example-connect:"+sid).Result()
	if err != nil {
		log.Fatal(err)
	}
	var obj struct {
		Cookie struct {
			OriginalMaxAge int64
			HTTPOnly       bool `json:"httpOnly"`
			Path           string
		}
		UserID int `json:"userId"`
	}
	_ = json.Unmarshal([]byte(stored), &obj)
	fmt.Printf("%+v\n", obj)
	// Output:
	// logged in
	// user 5 true
	// connect.sid true
	// {Cookie:{OriginalMaxAge:3600000 HTTPOnly:true Path:/} UserID:5}
}
