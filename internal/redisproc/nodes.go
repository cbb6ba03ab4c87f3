package redisproc

import (
	"context"
	"slices"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
	"github.com/rediskit/rediskit/internal/slot"
)

// Slot returns the hash slot of key.
func Slot(key string) int { return slot.Of(key) }

// nodeLine is one line of CLUSTER NODES.
type nodeLine struct {
	id, addr, master string
	flags            []string
	slots            [][2]int
}

func (n nodeLine) has(flag string) bool { return slices.Contains(n.flags, flag) }

func (n nodeLine) ownsSlot(s int) bool {
	for _, r := range n.slots {
		if s >= r[0] && s <= r[1] {
			return true
		}
	}
	return false
}

// ParseClusterNodes parses the output of CLUSTER NODES.
func parseClusterNodes(text string) []nodeLine {
	var out []nodeLine
	for line := range strings.SplitSeq(strings.TrimSpace(text), "\n") {
		f := strings.Fields(line)
		if len(f) < 8 {
			continue
		}
		addr, _, _ := strings.Cut(f[1], "@")
		n := nodeLine{id: f[0], addr: addr, flags: strings.Split(f[2], ","), master: f[3]}
		for _, r := range f[8:] {
			if strings.HasPrefix(r, "[") {
				continue // importing/migrating marker
			}
			lo, hi, isRange := strings.Cut(r, "-")
			a, err := strconv.Atoi(lo)
			if err != nil {
				continue
			}
			b := a
			if isRange {
				if b, err = strconv.Atoi(hi); err != nil {
					continue
				}
			}
			n.slots = append(n.slots, [2]int{a, b})
		}
		out = append(out, n)
	}
	return out
}

func clusterNodes(ctx context.Context, s *Server) ([]nodeLine, error) {
	cl := s.Client()
	defer cl.Close()
	txt, err := cl.ClusterNodes(ctx).Result()
	if err != nil {
		return nil, err
	}
	return parseClusterNodes(txt), nil
}

func sortStrings(s []string) { slices.Sort(s) }

// clientFor returns a plain client for addr (used for sentinels).
func clientFor(addr string) *redis.Client {
	return redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, Protocol: 2, DisableIdentity: true})
}
