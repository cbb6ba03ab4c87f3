package metrics_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/redis/go-redis/v9"
	"github.com/rediskit/rediskit/metrics"
)

// A drop-in for redis_exporter: the redis_* families on /metrics and the
// multi-target /scrape, which refuses servers outside the deployment.
func ExampleExporterHandler_redisExporter() {
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"}) // nothing listens here
	defer client.Close()
	exp, err := metrics.ExporterHandler(client, metrics.ExporterOptions{
		Server: metrics.ServerOptions{RedisExporterNames: true},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer exp.Close()
	for _, path := range []string{"/scrape", "/scrape?target=redis://10.1.2.3:6379"} {
		rec := httptest.NewRecorder()
		exp.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		fmt.Println(path, rec.Code)
	}
	// Output:
	// /scrape 400
	// /scrape?target=redis://10.1.2.3:6379 403
}
