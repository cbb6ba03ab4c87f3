package redisconn

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rediskit/rediskit/internal/redisinfo"
)

// ErrUnhealthy is matched when the deployment answered but is not fit for
// use: cluster_state is not ok, slots are uncovered, or a node is down.
var ErrUnhealthy = errors.New("redisconn: deployment not healthy")

// ErrUnreachable is matched when no node (or sentinel) could be reached.
var ErrUnreachable = errors.New("redisconn: no node reachable")

// Conn is a verified client and what Connect found. Client is safe for
// concurrent use; Topology is a snapshot taken at connect time (call
// Describe for a fresh one).
type Conn struct {
	// Client is *redis.ClusterClient (cluster, or sentinel with
	// ReadFromReplicas) or *redis.Client (single, sentinel).
	Client redis.UniversalClient
	// Mode is the resolved mode (never ModeAuto).
	Mode Mode
	// Topology describes the nodes at connect time.
	Topology Topology
	stats    *retryStats
}

// Close closes the client.
func (c *Conn) Close() error { return c.Client.Close() }

// Stats are counters of the resilience layer.
type Stats struct {
	// Retries counts commands sent again after a retryable failure.
	Retries int64
	// TopologyReloads counts reloads requested because of an error.
	TopologyReloads int64
}

// Stats returns counters since Connect. Safe for concurrent use.
func (c *Conn) Stats() Stats {
	return Stats{Retries: c.stats.retries.Load(), TopologyReloads: c.stats.reloads.Load()}
}

// TLSConfig builds the client TLS configuration from cfg, or nil when TLS
// is off.
func (c Config) TLSConfig() (*tls.Config, error) {
	if !c.TLS {
		return nil, nil
	}
	t := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: c.TLSServerName, InsecureSkipVerify: c.TLSInsecure} //nolint:gosec // explicit opt-out only
	if c.TLSCA != "" {
		pem, err := os.ReadFile(c.TLSCA)
		if err != nil {
			return nil, &ConfigError{Var: "REDIS_TLS_CA", Value: c.TLSCA, Want: "a readable PEM file", Err: err}
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, &ConfigError{Var: "REDIS_TLS_CA", Value: c.TLSCA, Want: "PEM-encoded CA certificates"}
		}
		t.RootCAs = pool
	}
	if c.TLSCert != "" {
		pair, err := tls.LoadX509KeyPair(c.TLSCert, c.TLSKey)
		if err != nil {
			return nil, &ConfigError{Var: "REDIS_TLS_CERT", Value: c.TLSCert, Want: "a certificate matching REDIS_TLS_KEY", Err: err}
		}
		t.Certificates = []tls.Certificate{pair}
	}
	return t, nil
}

func (c Config) withDefaults() Config {
	if c.DialTimeout == 0 {
		c.DialTimeout = 2 * time.Second
	}
	if c.ReadTimeout == 0 {
		c.ReadTimeout = 3 * time.Second
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = c.ReadTimeout
	}
	if c.MaxRetries == 0 {
		c.MaxRetries = 10
	} else if c.MaxRetries < 0 {
		c.MaxRetries = 0
	}
	if c.RetryStep == 0 {
		c.RetryStep = 100 * time.Millisecond
	}
	if c.RetryCap == 0 {
		c.RetryCap = 3 * time.Second
	}
	if c.RetryBackoff == nil {
		c.RetryBackoff = LinearBackoff(c.RetryStep, c.RetryCap)
	}
	if c.TopologyRefresh == 0 {
		c.TopologyRefresh = 10 * time.Second
	}
	return c
}

// NewClient builds the client for an explicit mode without contacting
// the servers (Connect detects the mode and verifies). mode must not be
// ModeAuto.
func NewClient(cfg Config, mode Mode) (*Conn, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	tlsConf, err := cfg.TLSConfig()
	if err != nil {
		return nil, err
	}
	conn := &Conn{Mode: mode, stats: &retryStats{}}
	// go-redis retries each failed dial 5 times by default; the retry hook
	// owns retries (and re-checks the topology between them) instead.
	hook := retryHook{max: cfg.MaxRetries, backoff: cfg.RetryBackoff, stats: conn.stats, recheck: 100 * time.Millisecond}
	for i := 1; i <= cfg.MaxRetries; i++ {
		hook.budget += cfg.RetryBackoff(i)
	}
	switch mode {
	case ModeCluster:
		cc := redis.NewClusterClient(&redis.ClusterOptions{
			Addrs: cfg.Nodes, Username: cfg.Username, Password: cfg.Password, TLSConfig: tlsConf,
			ClientName: cfg.ClientName, DialTimeout: cfg.DialTimeout, ReadTimeout: cfg.ReadTimeout,
			WriteTimeout: cfg.WriteTimeout, PoolSize: cfg.PoolSize, ReadOnly: cfg.ReadFromReplicas,
			RouteRandomly: cfg.ReadFromReplicas, MaxRetries: -1, MinRetryBackoff: -1, MaxRetryBackoff: -1, DialerRetries: 1,
			ClusterStateReloadInterval: cfg.TopologyRefresh,
		})
		hook.reload = func() { cc.ReloadState(context.Background()) }
		conn.Client = cc
	case ModeSentinel:
		fo := &redis.FailoverOptions{
			MasterName: cfg.SentinelMaster, SentinelAddrs: cfg.SentinelAddrs,
			SentinelUsername: cfg.SentinelUsername, SentinelPassword: cfg.SentinelPassword,
			Username: cfg.Username, Password: cfg.Password, DB: cfg.DB, TLSConfig: tlsConf,
			ClientName: cfg.ClientName, DialTimeout: cfg.DialTimeout, ReadTimeout: cfg.ReadTimeout,
			WriteTimeout: cfg.WriteTimeout, PoolSize: cfg.PoolSize, MaxRetries: -1,
			MinRetryBackoff: -1, MaxRetryBackoff: -1, DialerRetries: 1,
		}
		if cfg.ReadFromReplicas {
			fo.RouteRandomly = true
			conn.Client = redis.NewFailoverClusterClient(fo)
		} else {
			conn.Client = redis.NewFailoverClient(fo)
		}
	case ModeSingle:
		conn.Client = redis.NewClient(&redis.Options{
			Addr: cfg.Nodes[0], Username: cfg.Username, Password: cfg.Password, DB: cfg.DB, TLSConfig: tlsConf,
			ClientName: cfg.ClientName, DialTimeout: cfg.DialTimeout, ReadTimeout: cfg.ReadTimeout,
			WriteTimeout: cfg.WriteTimeout, PoolSize: cfg.PoolSize, MaxRetries: -1,
			MinRetryBackoff: -1, MaxRetryBackoff: -1, DialerRetries: 1,
		})
	default:
		return nil, &ConfigError{Var: "REDIS_MODE", Value: string(mode), Want: "cluster, sentinel or single"}
	}
	conn.Client.AddHook(hook)
	return conn, nil
}

// Connect resolves the mode (asking the servers when it is auto), builds
// the client and verifies the deployment: every node answers, a cluster
// reports cluster_state:ok with all 16384 slots covered, a sentinel
// deployment has a reachable master. The error names what failed.
func Connect(ctx context.Context, cfg Config) (*Conn, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	mode := cfg.mode()
	if mode == ModeAuto {
		m, err := Detect(ctx, cfg)
		if err != nil {
			return nil, err
		}
		mode = m
	}
	if mode == ModeCluster && cfg.DB != 0 {
		return nil, &ConfigError{Var: "REDIS_DB", Value: strconv.Itoa(cfg.DB), Want: "0: a cluster has only database 0"}
	}
	conn, err := NewClient(cfg, mode)
	if err != nil {
		return nil, err
	}
	topo, err := Describe(ctx, conn.Client)
	if err == nil {
		err = topo.Healthy()
	}
	if err != nil {
		_ = conn.Close()
		return nil, err
	}
	conn.Topology = topo
	return conn, nil
}

// Detect asks the configured servers what they are: sentinel when
// sentinels are configured, else "cluster" or "single" from the first
// node that answers INFO server.
func Detect(ctx context.Context, cfg Config) (Mode, error) {
	if len(cfg.SentinelAddrs) > 0 {
		return ModeSentinel, nil
	}
	cfg = cfg.withDefaults()
	tlsConf, err := cfg.TLSConfig()
	if err != nil {
		return "", err
	}
	var errs []error
	for _, a := range cfg.Nodes {
		c := redis.NewClient(&redis.Options{Addr: a, Username: cfg.Username, Password: cfg.Password, TLSConfig: tlsConf,
			DialTimeout: cfg.DialTimeout, ReadTimeout: cfg.ReadTimeout, MaxRetries: -1, DisableIdentity: true})
		info, err := c.Info(ctx, "server").Result()
		_ = c.Close()
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", a, err))
			if ctx.Err() != nil {
				break
			}
			continue
		}
		switch redisinfo.ParseInfo(info)["redis_mode"] {
		case "cluster":
			return ModeCluster, nil
		case "sentinel":
			return "", &ConfigError{Var: "REDIS_NODES", Value: a, Want: "data nodes; this is a sentinel: put it in REDIS_SENTINEL_ADDRS"}
		default:
			if len(cfg.Nodes) > 1 {
				return "", &ConfigError{Var: "REDIS_NODES", Value: strings.Join(cfg.Nodes, ","), Want: "cluster nodes; " + a + " is standalone (set REDIS_MODE=single to use the first node only)"}
			}
			return ModeSingle, nil
		}
	}
	return "", fmt.Errorf("%w: %w", ErrUnreachable, errors.Join(errs...))
}

// Node is one server as Describe saw it.
type Node struct {
	Addr string
	// Role is "master" or "replica".
	Role string
	// MasterAddr is the master of a replica.
	MasterAddr string
	// Slots is the number of hash slots a cluster master serves.
	Slots int
	// LinkUp is false for a replica whose link to its master is down.
	LinkUp  bool
	Version string
	// UsedMemory and MaxMemory in bytes; MaxMemory 0 means unlimited.
	UsedMemory, MaxMemory int64
	// Policy is maxmemory-policy ("" when CONFIG is not allowed).
	Policy        string
	Fragmentation float64
	Clients       int
	// Err is set when the node did not answer.
	Err error
}

// servesData reports whether n is a master that clients need: any
// master outside a cluster, a master with slots inside one.
func (n Node) servesData(m Mode) bool {
	return n.Role == "master" && (n.Slots > 0 || m != ModeCluster)
}

// Topology is what a deployment looks like.
type Topology struct {
	Mode Mode
	// ClusterState is cluster_state ("ok", "fail"); empty outside a cluster.
	ClusterState string
	// SlotsOK is cluster_slots_ok.
	SlotsOK int
	Nodes   []Node
}

// Warnings lists problems that do not stop service: replicas that are
// down or out of sync, failed nodes that serve no slots.
func (t Topology) Warnings() []string {
	var w []string
	for _, n := range t.Nodes {
		switch {
		case n.Err != nil && !n.servesData(t.Mode):
			w = append(w, fmt.Sprintf("%s %s does not answer: %v", n.Role, n.Addr, n.Err))
		case n.Err == nil && n.Role == "replica" && !n.LinkUp:
			w = append(w, fmt.Sprintf("replica %s has no link to its master %s", n.Addr, n.MasterAddr))
		}
	}
	return w
}

// Masters returns the master nodes.
func (t Topology) Masters() []Node {
	var out []Node
	for _, n := range t.Nodes {
		if n.Role == "master" {
			out = append(out, n)
		}
	}
	return out
}

// Healthy returns nil or an error matching ErrUnhealthy that names what
// is wrong: a master that serves slots does not answer, cluster_state is
// not ok, or slots are uncovered. Degraded redundancy (a replica down) is
// reported by Warnings instead.
func (t Topology) Healthy() error {
	var probs []string
	for _, n := range t.Nodes {
		if n.Err != nil && n.servesData(t.Mode) {
			probs = append(probs, fmt.Sprintf("master %s does not answer: %v", n.Addr, n.Err))
		}
	}
	if t.Mode == ModeCluster {
		if t.ClusterState != "ok" {
			probs = append(probs, "cluster_state is "+t.ClusterState)
		}
		if t.SlotsOK != 16384 {
			probs = append(probs, fmt.Sprintf("only %d of 16384 slots are served", t.SlotsOK))
		}
	}
	if len(t.Masters()) == 0 {
		probs = append(probs, "no master answered")
	}
	if len(probs) > 0 {
		return fmt.Errorf("%w: %s", ErrUnhealthy, strings.Join(probs, "; "))
	}
	return nil
}

// Describe reports every node of the deployment behind c (each master and
// replica of a cluster; the master and its replicas for a single or
// sentinel client).
func Describe(ctx context.Context, c redis.UniversalClient) (Topology, error) {
	switch cc := c.(type) {
	case *redis.ClusterClient:
		return describeCluster(ctx, cc)
	case *redis.Client:
		return describeSingle(ctx, cc)
	default:
		return Topology{}, fmt.Errorf("redisconn: cannot describe %T", c)
	}
}

func describeCluster(ctx context.Context, cc *redis.ClusterClient) (Topology, error) {
	t := Topology{Mode: ModeCluster}
	// CLUSTER NODES, not go-redis's slot map: Redis 7 hides replicas that
	// have replicated nothing yet from CLUSTER SLOTS, and failed nodes must
	// show up as failed.
	var text string
	var once sync.Once
	err := cc.ForEachMaster(ctx, func(ctx context.Context, n *redis.Client) error {
		txt, err := n.ClusterNodes(ctx).Result()
		if err == nil {
			once.Do(func() { text = txt })
		}
		return nil
	})
	if err != nil || text == "" {
		return t, fmt.Errorf("%w: no master answered CLUSTER NODES: %v", ErrUnreachable, err)
	}
	var lines []redisinfo.Node
	for _, l := range redisinfo.ParseNodes(text) {
		if !l.Unusable() {
			lines = append(lines, l)
		}
	}
	byID := map[string]string{}
	for _, l := range lines {
		byID[l.ID] = l.Addr
	}
	o := cc.Options()
	t.Nodes = make([]Node, len(lines))
	var wg sync.WaitGroup
	var mu sync.Mutex
	for i, l := range lines {
		wg.Go(func() {
			n := redis.NewClient(&redis.Options{Addr: l.Addr, Username: o.Username, Password: o.Password, TLSConfig: o.TLSConfig,
				DialTimeout: o.DialTimeout, ReadTimeout: o.ReadTimeout, MaxRetries: -1, DisableIdentity: true})
			defer n.Close()
			node := describeNode(ctx, n)
			node.Slots = l.SlotCount()
			if node.Err == nil && l.Failed() {
				node.Err = errors.New("marked failed by the cluster")
			}
			if node.Err != nil {
				node.Role = map[bool]string{true: "master", false: "replica"}[l.IsMaster()]
				node.MasterAddr = byID[l.MasterID]
			}
			if node.Err == nil && node.Role == "master" {
				if info, err := n.ClusterInfo(ctx).Result(); err == nil {
					mu.Lock()
					if t.ClusterState != "fail" {
						ci := redisinfo.ParseInfo(info)
						t.ClusterState = ci["cluster_state"]
						t.SlotsOK, _ = strconv.Atoi(ci["cluster_slots_ok"])
					}
					mu.Unlock()
				}
			}
			t.Nodes[i] = node
		})
	}
	wg.Wait()
	sortNodes(t.Nodes)
	return t, nil
}

func describeSingle(ctx context.Context, c *redis.Client) (Topology, error) {
	t := Topology{Mode: ModeSingle}
	m := describeNode(ctx, c)
	if m.Err != nil {
		return t, fmt.Errorf("%w: %s: %w", ErrUnreachable, m.Addr, m.Err)
	}
	t.Nodes = append(t.Nodes, m)
	repl, err := c.Info(ctx, "replication").Result()
	if err != nil {
		return t, nil
	}
	for line := range strings.SplitSeq(repl, "\n") {
		// slave0:ip=127.0.0.1,port=6380,state=online,offset=..,lag=0
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok || !strings.HasPrefix(k, "slave") || !strings.Contains(v, "ip=") {
			continue
		}
		kv := map[string]string{}
		for f := range strings.SplitSeq(v, ",") {
			a, b, _ := strings.Cut(f, "=")
			kv[a] = b
		}
		t.Nodes = append(t.Nodes, Node{Addr: kv["ip"] + ":" + kv["port"], Role: "replica", MasterAddr: m.Addr, LinkUp: kv["state"] == "online"})
	}
	return t, nil
}

func describeNode(ctx context.Context, n *redis.Client) Node {
	node := Node{Addr: n.Options().Addr}
	info, err := n.Info(ctx, "server", "replication", "memory", "clients").Result()
	if err != nil {
		node.Err = err
		return node
	}
	if _, _, err := net.SplitHostPort(node.Addr); err != nil {
		// A sentinel-managed client's Addr is a placeholder: the server's
		// side of this connection is the real address.
		if ci, err := n.Do(ctx, "CLIENT", "INFO").Text(); err == nil {
			for f := range strings.FieldsSeq(ci) {
				if a, ok := strings.CutPrefix(f, "laddr="); ok {
					node.Addr = a
				}
			}
		}
	}
	f := redisinfo.ParseInfo(info)
	node.Version = f["redis_version"]
	if f["role"] == "slave" {
		node.Role = "replica"
		node.MasterAddr = f["master_host"] + ":" + f["master_port"]
		node.LinkUp = f["master_link_status"] == "up"
	} else {
		node.Role, node.LinkUp = "master", true
	}
	node.UsedMemory, _ = strconv.ParseInt(f["used_memory"], 10, 64)
	node.MaxMemory, _ = strconv.ParseInt(f["maxmemory"], 10, 64)
	node.Fragmentation, _ = strconv.ParseFloat(f["mem_fragmentation_ratio"], 64)
	node.Clients, _ = strconv.Atoi(f["connected_clients"])
	node.Policy = f["maxmemory_policy"]
	return node
}

func sortNodes(ns []Node) {
	sort.Slice(ns, func(i, j int) bool {
		if ns[i].Role != ns[j].Role {
			return ns[i].Role == "master"
		}
		return ns[i].Addr < ns[j].Addr
	})
}
