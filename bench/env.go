package main

import (
	"context"
	"sync"
	"time"

	"github.com/rediskit/rediskit/internal/redisproc"
)

// Env starts servers lazily, once per run, and stops them at the end.
type Env struct {
	mu      sync.Mutex
	cluster *redisproc.Cluster
	single  *redisproc.Server
	extra   []func() error
}

// Cluster returns the run's 3-master, 3-replica cluster.
func (e *Env) Cluster(ctx context.Context) (*redisproc.Cluster, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.cluster == nil {
		ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
		c, err := redisproc.StartCluster(ctx, redisproc.ClusterOptions{Args: []string{"maxmemory-policy noeviction"}})
		if err != nil {
			return nil, err
		}
		e.cluster = c
	}
	return e.cluster, nil
}

// Single returns the run's single node.
func (e *Env) Single(ctx context.Context) (*redisproc.Server, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.single == nil {
		s, err := redisproc.StartServer(ctx, redisproc.ServerOptions{Args: []string{"maxmemory-policy noeviction"}})
		if err != nil {
			return nil, err
		}
		e.single = s
	}
	return e.single, nil
}

// OnClose registers a cleanup run by Close.
func (e *Env) OnClose(f func() error) {
	e.mu.Lock()
	e.extra = append(e.extra, f)
	e.mu.Unlock()
}

// Close stops everything the run started.
func (e *Env) Close() {
	e.mu.Lock()
	defer e.mu.Unlock()
	for i := len(e.extra) - 1; i >= 0; i-- {
		_ = e.extra[i]()
	}
	if e.cluster != nil {
		_ = e.cluster.Close()
	}
	if e.single != nil {
		_ = e.single.Close()
	}
}
