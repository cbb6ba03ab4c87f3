package memory

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
	"github.com/rediskit/rediskit/internal/redisinfo"
)

// node is what the analyser needs from one Redis server connection.
type node interface {
	redis.Cmdable
	Do(ctx context.Context, args ...any) *redis.Cmd
}

// shard is one set of slot ranges served by one master (or the whole
// keyspace of a non-cluster deployment).
type shard struct {
	id       string   // master's node id at the start, or "single"
	ranges   [][2]int // slot ranges; nil for a non-cluster deployment
	master   string   // address of the master now
	replicas []string // addresses of its replicas now
	current  string   // address of the node being scanned
	replica  bool     // current is a replica (READONLY connections)
}

func (s *shard) slots() string {
	if s.ranges == nil {
		return "all"
	}
	parts := make([]string, len(s.ranges))
	for i, r := range s.ranges {
		if r[0] == r[1] {
			parts[i] = strconv.Itoa(r[0])
		} else {
			parts[i] = strconv.Itoa(r[0]) + "-" + strconv.Itoa(r[1])
		}
	}
	return strings.Join(parts, ",")
}

// clusterNode is one line of CLUSTER NODES.
type clusterNode struct {
	id, addr, master string
	isMaster, failed bool
	ranges           [][2]int
}

// clusterNodes parses CLUSTER NODES as seen by some node. (CLUSTER SLOTS
// is not used: Redis 7.0 leaves out replicas that have not gossiped a
// replication offset yet.)
func clusterNodes(ctx context.Context, cc *redis.ClusterClient) ([]clusterNode, error) {
	txt, err := cc.ClusterNodes(ctx).Result()
	if err != nil {
		return nil, fmt.Errorf("memory: cluster nodes: %w", err)
	}
	var out []clusterNode
	for _, n := range redisinfo.ParseNodes(txt) {
		out = append(out, clusterNode{id: n.ID, addr: n.Addr, master: n.MasterID, isMaster: n.IsMaster(),
			failed: n.Failed() || n.Unusable(), ranges: n.Slots})
	}
	return out, nil
}

// clusterShards returns the shards of a cluster, one per master that
// serves slots, ordered by first slot.
func clusterShards(ctx context.Context, cc *redis.ClusterClient) ([]*shard, error) {
	nodes, err := clusterNodes(ctx, cc)
	if err != nil {
		return nil, err
	}
	var out []*shard
	for _, n := range nodes {
		if !n.isMaster || n.failed || len(n.ranges) == 0 {
			continue
		}
		sh := &shard{id: n.id, master: n.addr, ranges: n.ranges, replicas: replicasOf(nodes, n.id)}
		slices.SortFunc(sh.ranges, func(a, b [2]int) int { return a[0] - b[0] })
		out = append(out, sh)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("memory: cluster nodes: no master serves slots")
	}
	slices.SortFunc(out, func(a, b *shard) int { return a.ranges[0][0] - b.ranges[0][0] })
	return out, nil
}

func replicasOf(nodes []clusterNode, id string) []string {
	var out []string
	for _, r := range nodes {
		if !r.isMaster && !r.failed && r.master == id {
			out = append(out, r.addr)
		}
	}
	return out
}

// servedBy returns the master and replicas that serve slot now,
// according to CLUSTER NODES of some node.
func servedBy(ctx context.Context, cc *redis.ClusterClient, slot int) (master string, replicas []string, err error) {
	nodes, err := clusterNodes(ctx, cc)
	if err != nil {
		return "", nil, err
	}
	for _, n := range nodes {
		if !n.isMaster || n.failed {
			continue
		}
		for _, r := range n.ranges {
			if r[0] <= slot && slot <= r[1] {
				return n.addr, replicasOf(nodes, n.id), nil
			}
		}
	}
	return "", nil, fmt.Errorf("memory: no node serves slot %d", slot)
}

// nodeClients opens one small client per node address with the cluster
// client's credentials, TLS and timeouts; replicas get READONLY on every
// connection so that MEMORY USAGE and friends run on them.
type nodeClients struct {
	opt     *redis.ClusterOptions
	clients map[string]*redis.Client
}

func (n *nodeClients) get(addr string, replica bool) *redis.Client {
	k := addr
	if replica {
		k += "/ro"
	}
	if c := n.clients[k]; c != nil {
		return c
	}
	o := n.opt
	opt := &redis.Options{
		Addr:                       addr,
		Dialer:                     o.Dialer,
		Protocol:                   o.Protocol,
		Username:                   o.Username,
		Password:                   o.Password,
		CredentialsProvider:        o.CredentialsProvider,
		CredentialsProviderContext: o.CredentialsProviderContext,
		DialTimeout:                o.DialTimeout,
		ReadTimeout:                o.ReadTimeout,
		WriteTimeout:               o.WriteTimeout,
		ContextTimeoutEnabled:      o.ContextTimeoutEnabled,
		TLSConfig:                  o.TLSConfig,
		DisableIdentity:            o.DisableIdentity,
		MaxRetries:                 -1, // a dead node must fail fast: the analyser recovers itself
		PoolSize:                   2,
		DialerRetries:              1, // and fail fast when it is down
	}
	if replica {
		onConnect := o.OnConnect
		opt.OnConnect = func(ctx context.Context, cn *redis.Conn) error {
			if onConnect != nil {
				if err := onConnect(ctx, cn); err != nil {
					return err
				}
			}
			return cn.ReadOnly(ctx).Err()
		}
	} else {
		opt.OnConnect = o.OnConnect
	}
	if n.clients == nil {
		n.clients = map[string]*redis.Client{}
	}
	c := redis.NewClient(opt)
	n.clients[k] = c
	return c
}

func (n *nodeClients) close() {
	for _, c := range n.clients {
		_ = c.Close()
	}
}

// role returns "master" or "slave".
func role(ctx context.Context, c node) (string, error) {
	v, err := c.Do(ctx, "ROLE").Slice()
	if err != nil {
		return "", err
	}
	if len(v) == 0 {
		return "", errors.New("memory: empty ROLE reply")
	}
	r, _ := v[0].(string)
	return r, nil
}

// nodeFacts reads INFO memory, the encoding thresholds and DBSIZE.
func nodeFacts(ctx context.Context, c node, nr *NodeReport) {
	info, err := c.Info(ctx, "memory").Result()
	if err != nil {
		nr.Err = err.Error()
		return
	}
	kv := redisinfo.ParseInfo(info)
	nr.UsedMemory, _ = strconv.ParseInt(kv["used_memory"], 10, 64)
	nr.UsedMemoryRSS, _ = strconv.ParseInt(kv["used_memory_rss"], 10, 64)
	nr.Fragmentation, _ = strconv.ParseFloat(kv["mem_fragmentation_ratio"], 64)
	nr.MaxMemory, _ = strconv.ParseInt(kv["maxmemory"], 10, 64)
	nr.MaxMemoryPolicy = kv["maxmemory_policy"]
	cfg := map[string]string{}
	for _, p := range []string{"hash-max-*", "set-max-intset-entries", "zset-max-*", "list-max-*"} {
		m, err := c.ConfigGet(ctx, p).Result()
		if err != nil {
			nr.Err = "config get: " + err.Error()
			break
		}
		for k, v := range m {
			if !strings.Contains(k, "ziplist") {
				cfg[k] = v
			}
		}
	}
	nr.Config = cfg
}
