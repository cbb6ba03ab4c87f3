package dashboard_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/redis/go-redis/v9"
	"github.com/rediskit/rediskit/dashboard"
)

// Mount the dashboard under /admin/ of a service, behind basic auth.
// New does no I/O; pages query Redis when they are opened.
func ExampleNew() {
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
	defer client.Close()
	d, err := dashboard.New(client, dashboard.Options{
		Prefix:    "/admin",
		Authorize: dashboard.BasicAuth("ops", "correct horse"),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer d.Close()
	mux := http.NewServeMux()
	mux.Handle("/admin/", d)

	for _, user := range []string{"", "ops"} {
		req := httptest.NewRequest(http.MethodGet, "/admin/api/session", nil)
		if user != "" {
			req.SetBasicAuth(user, "correct horse")
		}
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		fmt.Println(rec.Code)
	}
	// Output:
	// 401
	// 200
}

// A writable dashboard without Authorize is refused.
func ExampleNew_readOnly() {
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
	defer client.Close()
	_, err := dashboard.New(client, dashboard.Options{})
	fmt.Println(err)
	d, err := dashboard.New(client, dashboard.Options{ReadOnly: true})
	fmt.Println(err)
	_ = d.Close()
	// Output:
	// dashboard: a writable dashboard needs Options.Authorize
	// <nil>
}
