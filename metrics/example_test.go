package metrics_test

import (
	"context"
	"fmt"
	"log"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"
	"github.com/rediskit/rediskit/cache"
	"github.com/rediskit/rediskit/lock"
	"github.com/rediskit/rediskit/metrics"
	"github.com/rediskit/rediskit/queue"
)

func ExampleInstrumentClient() {
	client := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{"127.0.0.1:7000"}})
	defer client.Close()
	reg := prometheus.NewRegistry()
	// Right after creating the client, so every node client gets the
	// redirect hook.
	if _, err := metrics.InstrumentClient(client, reg, metrics.ClientOptions{Name: "api"}); err != nil {
		log.Fatal(err)
	}
	http.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
}

func ExampleNewServerCollector() {
	client := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{"127.0.0.1:7000"}})
	defer client.Close()
	sc, err := metrics.NewServerCollector(client, metrics.ServerOptions{})
	if err != nil {
		log.Fatal(err)
	}
	defer sc.Close()
	prometheus.MustRegister(sc) // one scrape covers every node
}

func ExampleExporterHandler() {
	client := redis.NewFailoverClient(&redis.FailoverOptions{MasterName: "mymaster", SentinelAddrs: []string{"127.0.0.1:26379"}})
	defer client.Close()
	exp, err := metrics.ExporterHandler(client, metrics.ExporterOptions{Username: "prometheus", Password: "secret"})
	if err != nil {
		log.Fatal(err)
	}
	defer exp.Close()
	log.Fatal(http.ListenAndServe(":9121", exp))
}

func ExampleErrorKind() {
	fmt.Println(metrics.ErrorKind(redis.Nil) == "")
	fmt.Println(metrics.ErrorKind(context.DeadlineExceeded))
	// Output:
	// true
	// deadline
}

func ExampleNewPatternCollector() {
	client := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{"127.0.0.1:7000"}})
	defer client.Close()
	users, err := cache.New[string](client, cache.Options{Namespace: "users"})
	if err != nil {
		log.Fatal(err)
	}
	locker := lock.New(client, lock.Options{})
	emails, err := queue.New(client, "{emails}", queue.Options{})
	if err != nil {
		log.Fatal(err)
	}
	pc := metrics.NewPatternCollector(metrics.PatternOptions{})
	pc.AddCache(users).AddLocker(locker).AddQueue(emails)
	prometheus.MustRegister(pc)
}
