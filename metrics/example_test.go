package metrics_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"
	"github.com/rediskit/rediskit/cache"
	"github.com/rediskit/rediskit/internal/redistest"
	"github.com/rediskit/rediskit/lock"
	"github.com/rediskit/rediskit/metrics"
	"github.com/rediskit/rediskit/queue"
)

// total sums the samples of the family called name in reg whose labels
// include the given label name/value pairs: counter and gauge values,
// histogram and summary counts.
func total(reg prometheus.Gatherer, name string, labels ...string) float64 {
	mfs, err := reg.Gather()
	if err != nil {
		log.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, l := range m.GetLabel() {
					found = found || l.GetName() == labels[i] && l.GetValue() == labels[i+1]
				}
				if !found {
					continue metrics
				}
			}
			sum += m.GetCounter().GetValue() + m.GetGauge().GetValue() +
				float64(m.GetHistogram().GetSampleCount()) + float64(m.GetSummary().GetSampleCount())
		}
	}
	return sum
}

func ExampleInstrumentClient() {
	client := redistest.ExampleClient() // in a service: conn.Client from redisconn.Connect
	defer client.Close()
	reg := prometheus.NewRegistry()
	// Right after creating the client, so every node client gets the
	// redirect hook.
	if _, err := metrics.InstrumentClient(client, reg, metrics.ClientOptions{Name: "api"}); err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux() // the service's mux
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))

	client.Get(context.Background(), "example:missing") // a miss is not an error
	fmt.Println("GET commands:", total(reg, "rediskit_client_command_duration_seconds", "command", "get"))
	fmt.Println("GET errors:", total(reg, "rediskit_client_command_errors_total", "command", "get"))
	// Output:
	// GET commands: 1
	// GET errors: 0
}

func ExampleNewServerCollector() {
	client := redistest.ExampleClient()
	defer client.Close()
	sc, err := metrics.NewServerCollector(client, metrics.ServerOptions{})
	if err != nil {
		log.Fatal(err)
	}
	defer sc.Close()
	reg := prometheus.NewRegistry() // or prometheus.MustRegister(sc)
	reg.MustRegister(sc)            // one scrape covers every node
	fmt.Println("nodes up:", total(reg, "rediskit_redis_up"))
	// Output: nodes up: 1
}

func ExampleExporterHandler() {
	client := redistest.ExampleClient() // any deployment: cluster, sentinel, single
	defer client.Close()
	exp, err := metrics.ExporterHandler(client, metrics.ExporterOptions{Username: "prometheus", Password: "secret"})
	if err != nil {
		log.Fatal(err)
	}
	defer exp.Close()
	srv := httptest.NewServer(exp) // in a service: http.ListenAndServe(":9121", exp)
	defer srv.Close()

	res, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		log.Fatal(err)
	}
	res.Body.Close()
	fmt.Println("without credentials:", res.StatusCode)
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/metrics", nil)
	req.SetBasicAuth("prometheus", "secret")
	res, err = http.DefaultClient.Do(req)
	if err != nil {
		log.Fatal(err)
	}
	res.Body.Close()
	fmt.Println("with credentials:", res.StatusCode)
	// Output:
	// without credentials: 401
	// with credentials: 200
}

func ExampleErrorKind() {
	fmt.Println(metrics.ErrorKind(redis.Nil) == "")
	fmt.Println(metrics.ErrorKind(context.DeadlineExceeded))
	// Output:
	// true
	// deadline
}

func ExampleNewPatternCollector() {
	client := redistest.ExampleClient()
	defer client.Close()
	users, err := cache.New[string](client, cache.Options{Namespace: "users"})
	if err != nil {
		log.Fatal(err)
	}
	defer users.Close()
	locker := lock.New(client, lock.Options{})
	defer locker.Close()
	emails, err := queue.New(client, "{emails}", queue.Options{})
	if err != nil {
		log.Fatal(err)
	}
	pc := metrics.NewPatternCollector(metrics.PatternOptions{})
	pc.AddCache(users).AddLocker(locker).AddQueue(emails)
	reg := prometheus.NewRegistry() // or prometheus.MustRegister(pc)
	reg.MustRegister(pc)
	_ = emails.Obliterate(context.Background(), true) // the example starts from an empty queue
	_, _ = emails.Add(context.Background(), "welcome", nil)
	fmt.Println("cache hits:", total(reg, "rediskit_cache_hits_total"))
	fmt.Println("queued jobs:", total(reg, "rediskit_queue_jobs"))
	// Output:
	// cache hits: 0
	// queued jobs: 1
}
