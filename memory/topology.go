package memory

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
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

// shards returns the shards of a cluster from CLUSTER SLOTS, one per
// master, ordered by first slot.
func clusterShards(ctx context.Context, cc *redis.ClusterClient) ([]*shard, error) {
	slotsInfo, err := cc.ClusterSlots(ctx).Result()
	if err != nil {
		return nil, fmt.Errorf("memory: cluster slots: %w", err)
	}
	byID := map[string]*shard{}
	var out []*shard
	for _, cs := range slotsInfo {
		if len(cs.Nodes) == 0 {
			continue
		}
		m := cs.Nodes[0]
		id := m.ID
		if id == "" {
			id = m.Addr
		}
		sh := byID[id]
		if sh == nil {
			sh = &shard{id: id, master: m.Addr}
			for _, r := range cs.Nodes[1:] {
				sh.replicas = append(sh.replicas, r.Addr)
			}
			byID[id] = sh
			out = append(out, sh)
		}
		sh.ranges = append(sh.ranges, [2]int{int(cs.Start), int(cs.End)})
	}
	for _, sh := range out {
		slices.SortFunc(sh.ranges, func(a, b [2]int) int { return a[0] - b[0] })
	}
	slices.SortFunc(out, func(a, b *shard) int { return a.ranges[0][0] - b.ranges[0][0] })
	return out, nil
}

// servedBy returns the master and replicas that serve slot now,
// according to CLUSTER SLOTS.
func servedBy(ctx context.Context, cc *redis.ClusterClient, slot int) (master string, replicas []string, err error) {
	slotsInfo, err := cc.ClusterSlots(ctx).Result()
	if err != nil {
		return "", nil, err
	}
	for _, cs := range slotsInfo {
		if int(cs.Start) <= slot && slot <= int(cs.End) && len(cs.Nodes) > 0 {
			for _, r := range cs.Nodes[1:] {
				replicas = append(replicas, r.Addr)
			}
			return cs.Nodes[0].Addr, replicas, nil
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
	kv := parseInfo(info)
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

func parseInfo(s string) map[string]string {
	out := map[string]string{}
	for _, line := range strings.Split(s, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if ok {
			out[k] = v
		}
	}
	return out
}

// sleepCtx waits d or until ctx is done.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
