package redisproc

import (
	"context"
	"slices"

	"github.com/redis/go-redis/v9"
	"github.com/rediskit/rediskit/internal/redisinfo"
	"github.com/rediskit/rediskit/internal/slot"
)

// Slot returns the hash slot of key.
func Slot(key string) int { return slot.Of(key) }

func clusterNodes(ctx context.Context, s *Server) ([]redisinfo.Node, error) {
	cl := s.Client()
	defer cl.Close()
	txt, err := cl.ClusterNodes(ctx).Result()
	if err != nil {
		return nil, err
	}
	return redisinfo.ParseNodes(txt), nil
}

func sortStrings(s []string) { slices.Sort(s) }

// clientFor returns a plain client for addr (used for sentinels).
func clientFor(addr string) *redis.Client {
	return redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, Protocol: 2, DisableIdentity: true})
}
