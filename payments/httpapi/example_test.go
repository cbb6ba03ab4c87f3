package httpapi_test

import (
	"net/http"

	"github.com/redis/go-redis/v9"
	"github.com/rediskit/rediskit/payments"
	"github.com/rediskit/rediskit/payments/httpapi"
	"github.com/rediskit/rediskit/session"
)

// Mounting the API: sessions in Redis, errors of the session store
// answered with 503.
func ExampleNew() {
	var client redis.UniversalClient // from redisconn.Connect
	var svc *payments.Service        // from payments.New
	sessions, err := session.New(client, session.Options{ErrorFunc: httpapi.SessionError})
	if err != nil {
		return
	}
	api := httpapi.New(svc, httpapi.Options{Sessions: sessions})
	_ = http.ListenAndServe(":8080", api)
}
