package redisproc

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rediskit/rediskit/internal/redisinfo"
)

// ClusterOptions describe a Redis Cluster. The zero value is 3 masters with
// one replica each, node timeout 2 s, in a temporary directory.
type ClusterOptions struct {
	// Masters is the number of masters. Zero means 3.
	Masters int
	// Replicas is the number of replicas per master. Zero means 1; use -1
	// for none.
	Replicas int
	// NodeTimeout is cluster-node-timeout. Zero means 2 s, which lets a
	// replica take over about 2-4 s after its master dies.
	NodeTimeout time.Duration
	// Dir holds one sub-directory per node. Empty means temporary.
	Dir string
	// Ports fixes the node ports (len = nodes). Empty means free ports.
	Ports []int
	// Args are extra directives for every node ("maxmemory-policy noeviction").
	Args []string
	// Detach leaves the nodes running after this program exits.
	Detach bool
	// TLS, when set, serves TLS only on every node, including the cluster
	// bus and replication links.
	TLS *TLSFiles
}

func (o ClusterOptions) withDefaults() ClusterOptions {
	if o.Masters == 0 {
		o.Masters = 3
	}
	if o.Replicas == 0 {
		o.Replicas = 1
	} else if o.Replicas < 0 {
		o.Replicas = 0
	}
	if o.NodeTimeout == 0 {
		o.NodeTimeout = 2 * time.Second
	}
	return o
}

// Cluster is a running Redis Cluster of Server processes. Safe for
// concurrent use.
type Cluster struct {
	Nodes   []*Server
	opts    ClusterOptions
	tempDir string
}

// StartCluster starts the nodes, assigns slots evenly to the masters,
// attaches replicas and waits until every node reports cluster_state:ok
// with all slots covered and every replica is in sync.
func StartCluster(ctx context.Context, opts ClusterOptions) (*Cluster, error) {
	opts = opts.withDefaults()
	c := &Cluster{opts: opts}
	dir := opts.Dir
	if dir == "" {
		d, err := os.MkdirTemp("", "rediskit-cluster-")
		if err != nil {
			return nil, fmt.Errorf("redisproc: %w", err)
		}
		dir, c.tempDir = d, d
	}
	n := opts.Masters * (1 + opts.Replicas)
	if len(opts.Ports) != 0 && len(opts.Ports) != n {
		return nil, fmt.Errorf("redisproc: %d ports for %d nodes", len(opts.Ports), n)
	}
	for i := range n {
		port := 0
		if len(opts.Ports) > 0 {
			port = opts.Ports[i]
		} else {
			p, err := freeClusterPort()
			if err != nil {
				return nil, err
			}
			port = p
		}
		args := append([]string{
			"cluster-enabled yes",
			"cluster-config-file nodes.conf",
			"cluster-node-timeout " + strconv.FormatInt(opts.NodeTimeout.Milliseconds(), 10),
			"cluster-port " + strconv.Itoa(port+10000),
			"cluster-replica-validity-factor 0",
			"repl-diskless-sync yes",
			"repl-diskless-sync-delay 0",
			"appendonly no",
		}, opts.Args...)
		if opts.TLS != nil {
			args = append(args, "tls-cluster yes", "tls-replication yes")
		}
		s, err := NewServer(ServerOptions{Dir: filepath.Join(dir, strconv.Itoa(port)), Port: port, Args: args, Detach: opts.Detach, TLS: opts.TLS})
		if err != nil {
			_ = c.Close()
			return nil, err
		}
		c.Nodes = append(c.Nodes, s)
	}
	if err := c.startAll(ctx); err != nil {
		_ = c.Close()
		return nil, err
	}
	if err := c.create(ctx); err != nil {
		_ = c.Close()
		return nil, err
	}
	return c, nil
}

func (c *Cluster) startAll(ctx context.Context) error {
	var wg sync.WaitGroup
	errs := make([]error, len(c.Nodes))
	for i, s := range c.Nodes {
		wg.Go(func() { errs[i] = s.Start(ctx) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// create assigns slots, joins the nodes and attaches replicas.
func (c *Cluster) create(ctx context.Context) error {
	m := c.opts.Masters
	ids := make([]string, len(c.Nodes))
	for i, s := range c.Nodes {
		cl := s.Client()
		id, err := cl.Do(ctx, "CLUSTER", "MYID").Text()
		if err == nil {
			err = cl.Do(ctx, "CLUSTER", "SET-CONFIG-EPOCH", i+1).Err()
		}
		if err == nil && i < m {
			lo, hi := i*16384/m, (i+1)*16384/m-1
			err = cl.Do(ctx, "CLUSTER", "ADDSLOTSRANGE", lo, hi).Err()
		}
		_ = cl.Close()
		if err != nil {
			return fmt.Errorf("redisproc: setup %s: %w", s.Addr(), err)
		}
		ids[i] = id
	}
	first := c.Nodes[0].Client()
	defer first.Close()
	for _, s := range c.Nodes[1:] {
		if err := first.ClusterMeet(ctx, "127.0.0.1", strconv.Itoa(s.Port())).Err(); err != nil {
			return fmt.Errorf("redisproc: meet %s: %w", s.Addr(), err)
		}
	}
	// Every node must know every other before replicas can attach.
	if err := c.poll(ctx, 20*time.Second, "all nodes to meet", func(ctx context.Context) (bool, error) {
		for _, s := range c.Nodes {
			nodes, err := clusterNodes(ctx, s)
			if err != nil {
				return false, nil
			}
			if len(nodes) != len(c.Nodes) {
				return false, nil
			}
			for _, n := range nodes {
				if n.Unusable() {
					return false, nil
				}
			}
		}
		return true, nil
	}); err != nil {
		return err
	}
	for i := m; i < len(c.Nodes); i++ {
		master := ids[(i-m)%m]
		cl := c.Nodes[i].Client()
		err := cl.Do(ctx, "CLUSTER", "REPLICATE", master).Err()
		_ = cl.Close()
		if err != nil {
			return fmt.Errorf("redisproc: replicate %s: %w", c.Nodes[i].Addr(), err)
		}
	}
	return c.WaitHealthy(ctx)
}

// Addrs returns the addresses of all nodes.
func (c *Cluster) Addrs() []string {
	out := make([]string, len(c.Nodes))
	for i, s := range c.Nodes {
		out[i] = s.Addr()
	}
	return out
}

// Client returns a new cluster client over all nodes; the caller closes it.
func (c *Cluster) Client() *redis.ClusterClient {
	o := &redis.ClusterOptions{Addrs: c.Addrs(), Protocol: 2, DisableIdentity: true}
	if c.opts.TLS != nil {
		o.TLSConfig, _ = c.opts.TLS.ClientConfig()
	}
	return redis.NewClusterClient(o)
}

// Close kills every node and removes a temporary directory.
func (c *Cluster) Close() error {
	var errs []error
	for _, s := range c.Nodes {
		errs = append(errs, s.Close())
	}
	if c.tempDir != "" {
		_ = os.RemoveAll(c.tempDir)
	}
	return errors.Join(errs...)
}

// WaitHealthy waits until every running node reports cluster_state:ok and
// 16384 slots ok, every node agrees on the masters, and every replica's
// link to its master is up.
func (c *Cluster) WaitHealthy(ctx context.Context) error {
	return c.poll(ctx, 30*time.Second, "cluster to be healthy", func(ctx context.Context) (bool, error) {
		var view string
		for _, s := range c.Nodes {
			if !s.Running() {
				continue
			}
			cl := s.Client()
			info, err := cl.ClusterInfo(ctx).Result()
			if err != nil {
				_ = cl.Close()
				return false, nil
			}
			if !strings.Contains(info, "cluster_state:ok") || !strings.Contains(info, "cluster_slots_ok:16384") {
				_ = cl.Close()
				return false, nil
			}
			repl, err := cl.Info(ctx, "replication").Result()
			_ = cl.Close()
			if err != nil {
				return false, nil
			}
			if strings.Contains(repl, "role:slave") && !strings.Contains(repl, "master_link_status:up") {
				return false, nil
			}
			nodes, err := clusterNodes(ctx, s)
			if err != nil {
				return false, nil
			}
			v := topologyView(nodes)
			if view == "" {
				view = v
			} else if v != view {
				return false, nil
			}
		}
		return true, nil
	})
}

// topologyView is a canonical string of master/replica relations among
// nodes that are not failed.
func topologyView(nodes []redisinfo.Node) string {
	var parts []string
	for _, n := range nodes {
		if n.Failed() {
			continue
		}
		role := "M"
		if n.Has("slave") {
			role = "S" + n.MasterID
		}
		parts = append(parts, n.Addr+"="+role)
	}
	sortStrings(parts)
	return strings.Join(parts, ",")
}

// Masters returns the running nodes that are masters now.
func (c *Cluster) Masters(ctx context.Context) ([]*Server, error) { return c.byRole(ctx, "master") }

// Replicas returns the running nodes that are replicas now.
func (c *Cluster) Replicas(ctx context.Context) ([]*Server, error) { return c.byRole(ctx, "slave") }

func (c *Cluster) byRole(ctx context.Context, role string) ([]*Server, error) {
	var out []*Server
	for _, s := range c.Nodes {
		if !s.Running() {
			continue
		}
		r, err := Role(ctx, s)
		if err != nil {
			return nil, err
		}
		if r == role {
			out = append(out, s)
		}
	}
	return out, nil
}

// Role returns "master" or "slave" for a running server.
func Role(ctx context.Context, s *Server) (string, error) {
	cl := s.Client()
	defer cl.Close()
	v, err := cl.Do(ctx, "ROLE").Slice()
	if err != nil {
		return "", fmt.Errorf("redisproc: role of %s: %w", s.Addr(), err)
	}
	r, _ := v[0].(string)
	return r, nil
}

// MasterForKey returns the running master serving key's slot.
func (c *Cluster) MasterForKey(ctx context.Context, key string) (*Server, error) {
	slot := Slot(key)
	for _, s := range c.Nodes {
		if !s.Running() {
			continue
		}
		nodes, err := clusterNodes(ctx, s)
		if err != nil {
			continue
		}
		for _, n := range nodes {
			if n.IsMaster() && !n.Has("fail") && n.Owns(slot) {
				return c.byAddr(n.Addr)
			}
		}
	}
	return nil, fmt.Errorf("redisproc: no master for slot %d", slot)
}

// ReplicaOf returns the running replicas of master.
func (c *Cluster) ReplicaOf(ctx context.Context, master *Server) ([]*Server, error) {
	var out []*Server
	for _, s := range c.Nodes {
		if s == master || !s.Running() {
			continue
		}
		cl := s.Client()
		info, err := cl.Info(ctx, "replication").Result()
		_ = cl.Close()
		if err != nil {
			continue
		}
		if strings.Contains(info, "master_port:"+strconv.Itoa(master.Port())+"\r") {
			out = append(out, s)
		}
	}
	return out, nil
}

func (c *Cluster) byAddr(addr string) (*Server, error) {
	for _, s := range c.Nodes {
		if s.Addr() == addr {
			return s, nil
		}
	}
	return nil, fmt.Errorf("redisproc: unknown node %s", addr)
}

// KillMaster SIGKILLs master and waits until one of its replicas is
// master and the cluster is healthy again among the running nodes. It
// returns the new master.
func (c *Cluster) KillMaster(ctx context.Context, master *Server) (*Server, error) {
	reps, err := c.ReplicaOf(ctx, master)
	if err != nil {
		return nil, err
	}
	if len(reps) == 0 {
		return nil, fmt.Errorf("redisproc: %s has no replica to take over", master.Addr())
	}
	if err := master.Kill(); err != nil {
		return nil, err
	}
	var promoted *Server
	err = c.poll(ctx, 30*time.Second, "a replica to take over from "+master.Addr(), func(ctx context.Context) (bool, error) {
		for _, r := range reps {
			if role, err := Role(ctx, r); err == nil && role == "master" {
				promoted = r
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		return nil, err
	}
	return promoted, c.waitStateOK(ctx)
}

// waitStateOK waits for cluster_state:ok with all slots on every running node.
func (c *Cluster) waitStateOK(ctx context.Context) error {
	return c.poll(ctx, 30*time.Second, "cluster_state:ok", func(ctx context.Context) (bool, error) {
		for _, s := range c.Nodes {
			if !s.Running() {
				continue
			}
			cl := s.Client()
			info, err := cl.ClusterInfo(ctx).Result()
			_ = cl.Close()
			if err != nil || !strings.Contains(info, "cluster_state:ok") || !strings.Contains(info, "cluster_slots_ok:16384") {
				return false, nil
			}
		}
		return true, nil
	})
}

// Failover runs CLUSTER FAILOVER on replica and waits until it is master.
func (c *Cluster) Failover(ctx context.Context, replica *Server) error {
	cl := replica.Client()
	err := cl.Do(ctx, "CLUSTER", "FAILOVER").Err()
	_ = cl.Close()
	if err != nil {
		return fmt.Errorf("redisproc: failover %s: %w", replica.Addr(), err)
	}
	if err := c.poll(ctx, 30*time.Second, replica.Addr()+" to become master", func(ctx context.Context) (bool, error) {
		r, err := Role(ctx, replica)
		return err == nil && r == "master", nil
	}); err != nil {
		return err
	}
	return c.WaitHealthy(ctx)
}

// RestartNode starts a killed node again; it rejoins with its nodes.conf
// (a former master comes back as a replica). Waits until healthy.
func (c *Cluster) RestartNode(ctx context.Context, s *Server) error {
	if err := s.Restart(ctx); err != nil {
		return err
	}
	return c.WaitHealthy(ctx)
}

// Flush runs FLUSHALL on every running master.
func (c *Cluster) Flush(ctx context.Context) error {
	ms, err := c.Masters(ctx)
	if err != nil {
		return err
	}
	for _, m := range ms {
		cl := m.Client()
		err := cl.FlushAll(ctx).Err()
		_ = cl.Close()
		if err != nil {
			return fmt.Errorf("redisproc: flush %s: %w", m.Addr(), err)
		}
	}
	return nil
}

func (c *Cluster) poll(ctx context.Context, limit time.Duration, what string, ok func(context.Context) (bool, error)) error {
	return Poll(ctx, limit, what, ok)
}

// Poll calls ok every 20 ms until it returns true, an error, or limit passes.
func Poll(ctx context.Context, limit time.Duration, what string, ok func(context.Context) (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	for {
		done, err := ok(ctx)
		if err != nil {
			return err
		}
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("redisproc: waiting for %s: %w", what, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// freeClusterPort returns a port whose cluster bus port (port+10000) was
// free too a moment ago. Both are drawn below the kernel's ephemeral range
// (ip_local_port_range): a port from that range can be taken by any
// process's outgoing connection between this check and the node's bind,
// and with four test binaries at once that made nodes exit at start with
// "Address already in use" (seen in CI, for the bus port most often).
// Only our own harness draws from the lower range, at random.
func freeClusterPort() (int, error) {
	lo, hi := clusterPortLow, ephemeralLow()-10000
	if hi-lo < 1000 {
		lo, hi = 0, 0 // no room below the ephemeral range: any free port
	}
	for range 100 {
		p := 0
		if hi > lo {
			p = lo + rand.IntN(hi-lo)
		} else {
			var err error
			if p, err = FreePort(); err != nil {
				return 0, err
			}
		}
		if portFree(p) && portFree(p+10000) {
			return p, nil
		}
	}
	return 0, errors.New("redisproc: no port with a free cluster bus port")
}

// clusterPortLow is the lowest port freeClusterPort draws.
const clusterPortLow = 10000

// ephemeralLow is the first port of the kernel's ephemeral range (32768
// when it cannot be read).
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 32768
	}
	n, err := strconv.Atoi(f[0])
	if err != nil {
		return 32768
	}
	return n
}

// portFree reports whether port p on 127.0.0.1 could be bound just now.
func portFree(p int) bool {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
	if err != nil {
		return false
	}
	_ = l.Close()
	return true
}
