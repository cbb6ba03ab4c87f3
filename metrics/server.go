package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/rediskit/rediskit/internal/redisinfo"
)

// ErrUnsupportedClient is returned by NewServerCollector for a client
// type it cannot discover nodes from (a *redis.Ring).
var ErrUnsupportedClient = errors.New("metrics: unsupported client type")

// failoverAddr is the Addr go-redis gives the options of a sentinel
// (failover) client.
const failoverAddr = "FailoverClient"

// ServerOptions configure a ServerCollector. The zero value is ready to use.
type ServerOptions struct {
	// NodeTimeout bounds the dial and the commands sent to one node per
	// scrape. Zero means 2 s.
	NodeTimeout time.Duration
	// ScrapeTimeout bounds one whole collection; nodes that have not
	// answered by then are reported with up 0. Zero means 2*NodeTimeout
	// plus 1 s (a discovery round and a probe round).
	ScrapeTimeout time.Duration
	// SlowlogEntries is how many of the most recent SLOWLOG entries per
	// node are summarized per command. Zero means 32; negative skips
	// SLOWLOG GET (the length is still exported).
	SlowlogEntries int
	// DangerousCommands are the commands whose calls are exported as
	// rediskit_redis_dangerous_command_calls_total. Nil means
	// DefaultDangerousCommands.
	DangerousCommands []string
	// LatencyHistograms names the commands ("get", "evalsha") whose
	// LATENCY HISTOGRAM (Redis 7) is exported per node as the histogram
	// rediskit_redis_command_latency_seconds (24 power-of-two buckets
	// from 1 µs). Nil means none: each command costs 26 series per node.
	LatencyHistograms []string
	// ForgetAfter is how long a node that no cluster member reports any
	// more keeps being exported as down. Zero means 10 minutes.
	ForgetAfter time.Duration
	// Logger receives one debug line per failed node probe. Nil means
	// no logging.
	Logger *slog.Logger
	// RedisExporterNames also exports the redis_* families of
	// redis_exporter v1.x (names, label names, units), each with an addr
	// label naming the node, so Grafana dashboard 763 and the common
	// alert rules work unchanged (see compat.go). False means only
	// rediskit_redis_*.
	RedisExporterNames bool
}

// DefaultDangerousCommands are O(N) or destructive commands worth an
// alert when an application runs them against a shared deployment.
var DefaultDangerousCommands = []string{
	"keys", "flushall", "flushdb", "smembers", "hgetall", "hkeys", "hvals",
	"lrange", "sunion", "sinter", "sdiff", "sunionstore", "sinterstore",
	"sdiffstore", "zrange", "zrangebyscore", "zrevrange", "sort", "debug",
	"save", "migrate",
}

func (o ServerOptions) withDefaults() ServerOptions {
	if o.NodeTimeout <= 0 {
		o.NodeTimeout = 2 * time.Second
	}
	if o.ScrapeTimeout <= 0 {
		o.ScrapeTimeout = 2*o.NodeTimeout + time.Second
	}
	if o.SlowlogEntries == 0 {
		o.SlowlogEntries = 32
	}
	if o.DangerousCommands == nil {
		o.DangerousCommands = DefaultDangerousCommands
	}
	if o.ForgetAfter <= 0 {
		o.ForgetAfter = 10 * time.Minute
	}
	return o
}

type topology int

const (
	topoSingle topology = iota
	topoCluster
	topoFailover
)

// ServerCollector is a prometheus.Collector that scrapes every node of
// the deployment behind one go-redis client on each collection: all
// masters and replicas of a cluster (found with CLUSTER NODES, so failed
// nodes are reported too), a single node and its replicas, or the
// current master and replicas of a sentinel (failover) client. Every
// series carries the labels addr and role ("master", "replica" or
// "unknown" for a node never reached).
//
// It dials the nodes with its own small clients (copied from the given
// client's options: auth, TLS, dialer), so scrapes never use the
// application's pool or show up in its instrumentation. Close releases
// them. Safe for concurrent use.
type ServerCollector struct {
	opts      ServerOptions
	topo      topology
	base      *redis.Options // template for node clients
	seeds     []string
	dangerous map[string]bool
	descs     serverDescs
	compat    *compatDescs // RedisExporterNames, with addr
	target    *compatDescs // /scrape?target=, without addr

	mu    sync.Mutex
	nodes map[string]*node // by key: address, or failoverAddr
	// slots lists the nodes of a client with a custom slot map.
	slots func(context.Context) ([]redis.ClusterSlot, error)
	// lastPrimary is the address the failover client's master resolved
	// to at the previous scrape.
	lastPrimary string
	closed      bool
	wg          sync.WaitGroup // probes in flight
}

// node is one Redis server the collector knows.
type node struct {
	key      string
	client   *redis.Client
	resolved atomic.Value // string: real address (failover primary)
	role     string       // last known role
	seen     time.Time    // last time it answered or was listed
	seed     bool
}

func (n *node) addr() string {
	if a, ok := n.resolved.Load().(string); ok && a != "" {
		return a
	}
	if n.key == failoverAddr {
		return "primary"
	}
	return n.key
}

var _ prometheus.Collector = (*ServerCollector)(nil)

// NewServerCollector returns a collector for the deployment behind c.
// It does no I/O: nodes are discovered on each collection. It returns
// ErrUnsupportedClient for a *redis.Ring.
func NewServerCollector(c redis.UniversalClient, opts ServerOptions) (*ServerCollector, error) {
	opts = opts.withDefaults()
	s := &ServerCollector{opts: opts, nodes: map[string]*node{}, dangerous: map[string]bool{}, descs: newServerDescs()}
	if opts.RedisExporterNames {
		s.compat, s.target = newCompatDescs("addr"), newCompatDescs()
	}
	for _, d := range opts.DangerousCommands {
		s.dangerous[strings.ToLower(d)] = true
	}
	switch c := c.(type) {
	case *redis.ClusterClient:
		o := c.Options()
		s.topo = topoCluster
		s.base = &redis.Options{
			Dialer: o.Dialer, Username: o.Username, Password: o.Password,
			CredentialsProvider: o.CredentialsProvider, CredentialsProviderContext: o.CredentialsProviderContext,
			TLSConfig: o.TLSConfig,
		}
		s.seeds = slices.Clone(o.Addrs)
		if o.ClusterSlots != nil {
			// Not a Redis Cluster but a client with its own slot map (a
			// sentinel failover cluster client that reads from
			// replicas): its slot map names the master and replicas;
			// discovery then works as for a single node.
			s.topo = topoSingle
			s.slots = o.ClusterSlots
		}
	case *redis.Client:
		o := c.Options()
		s.base = &redis.Options{
			Username: o.Username, Password: o.Password, CredentialsProvider: o.CredentialsProvider,
			CredentialsProviderContext: o.CredentialsProviderContext, TLSConfig: o.TLSConfig,
		}
		s.seeds = []string{o.Addr}
		s.topo = topoSingle
		if o.Addr == failoverAddr {
			s.topo = topoFailover
		} else {
			s.base.Dialer = o.Dialer
		}
		if o.Addr == failoverAddr || o.Dialer != nil {
			// The primary keeps the client's own dialer (for a failover
			// client it asks the sentinels for the current master).
			s.nodes[o.Addr] = s.newNode(o.Addr, o.Dialer, true)
		}
	default:
		return nil, fmt.Errorf("%w: %T", ErrUnsupportedClient, c)
	}
	return s, nil
}

// newNode builds a node with its own client. dial, when not nil,
// replaces the template's dialer; the real remote address is recorded.
func (s *ServerCollector) newNode(key string, dial func(ctx context.Context, network, addr string) (net.Conn, error), seed bool) *node {
	n := &node{key: key, seed: seed, role: "unknown", seen: time.Now()}
	o := *s.base
	o.Addr = key
	if dial == nil {
		dial = o.Dialer
	}
	if dial == nil {
		d := &net.Dialer{Timeout: s.opts.NodeTimeout, KeepAlive: 30 * time.Second}
		dial = d.DialContext
	}
	o.Dialer = func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := dial(ctx, network, addr)
		if err == nil && key == failoverAddr {
			n.resolved.Store(conn.RemoteAddr().String())
		}
		return conn, err
	}
	o.Protocol = 2
	o.DisableIdentity = true
	o.ClientName = "rediskit-metrics"
	o.DialTimeout = s.opts.NodeTimeout
	o.ReadTimeout = s.opts.NodeTimeout
	o.WriteTimeout = s.opts.NodeTimeout
	o.PoolTimeout = s.opts.NodeTimeout
	o.ContextTimeoutEnabled = true
	o.MaxRetries = -1
	o.PoolSize = 2
	o.MaxIdleConns = 2
	n.client = redis.NewClient(&o)
	return n
}

// Close closes the collector's node clients after any probe in flight
// ends. A collection after Close reports nothing.
func (s *ServerCollector) Close() error {
	s.mu.Lock()
	s.closed = true
	nodes := s.nodes
	s.nodes = map[string]*node{}
	s.mu.Unlock()
	s.wg.Wait()
	var errs []error
	for _, n := range nodes {
		errs = append(errs, n.client.Close())
	}
	return errors.Join(errs...)
}

// Describe sends every descriptor the collector may emit.
func (s *ServerCollector) Describe(ch chan<- *prometheus.Desc) {
	s.descs.describe(ch)
	if s.compat != nil {
		s.compat.describe(ch)
	}
}

// Collect scrapes every node, bounded by ScrapeTimeout.
func (s *ServerCollector) Collect(ch chan<- prometheus.Metric) {
	s.collectWithin(ch, s.opts.ScrapeTimeout)
}

// collectWithin scrapes every node, bounded by timeout.
func (s *ServerCollector) collectWithin(ch chan<- prometheus.Metric, timeout time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	start := time.Now()
	results := s.scrape(ctx)
	for _, r := range results {
		s.emit(ch, r)
		if s.compat != nil {
			s.compat.emit(ch, r, r.addr)
		}
	}
	emitReplicationLag(ch, &s.descs, results)
	ch <- prometheus.MustNewConstMetric(s.descs.scrapeDuration, prometheus.GaugeValue, time.Since(start).Seconds())
}

// probe is the outcome of scraping one node.
type probe struct {
	node       *node
	addr       string
	role       string
	err        error
	took       time.Duration
	info       info
	cluster    map[string]string
	members    []clusterNode
	slowLen    int64
	slowlog    []redis.SlowLog
	histograms map[string]latencyHistogram
}

// scrape probes every known node once (discovering new ones from the
// answers) and returns one probe per node, sorted by address. A node
// that did not answer before ctx ends has a non-nil err.
func (s *ServerCollector) scrape(ctx context.Context) []*probe {
	var fromSlots []string
	if s.slots != nil {
		sctx, cancel := context.WithTimeout(ctx, s.opts.NodeTimeout)
		slots, err := s.slots(sctx)
		cancel()
		if err == nil {
			for _, sl := range slots {
				for _, n := range sl.Nodes {
					fromSlots = append(fromSlots, n.Addr)
				}
			}
		}
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	for _, a := range fromSlots {
		if _, ok := s.nodes[a]; !ok {
			s.nodes[a] = s.newNode(a, nil, false)
		}
	}
	for _, a := range s.seeds {
		if _, ok := s.nodes[a]; !ok && a != failoverAddr {
			s.nodes[a] = s.newNode(a, nil, true)
		}
	}
	todo := make([]*node, 0, len(s.nodes))
	for _, n := range s.nodes {
		todo = append(todo, n)
	}
	s.mu.Unlock()

	done := map[string]*probe{} // by node key
	listed := map[string]string{}
	for round := 0; round < 3 && len(todo) > 0; round++ {
		for _, p := range s.probeAll(ctx, todo) {
			done[p.node.key] = p
		}
		todo = todo[:0]
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return nil
		}
		resolved := map[string]bool{}
		for _, p := range done {
			resolved[p.addr] = true
		}
		found := s.discovered(done, listed)
		if p, ok := done[failoverAddr]; ok && p.err == nil {
			// The sentinels moved the master: keep probing the old one,
			// so it shows as down (or as a replica once it is back).
			if s.lastPrimary != "" && s.lastPrimary != p.addr {
				found = append(found, s.lastPrimary)
			}
			s.lastPrimary = p.addr
		}
		for _, a := range found {
			if resolved[a] {
				continue
			}
			n, ok := s.nodes[a]
			if !ok {
				n = s.newNode(a, nil, false)
				s.nodes[a] = n
			}
			if _, ok := done[a]; !ok {
				todo = append(todo, n)
			}
		}
		s.mu.Unlock()
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	anyUp := false
	for _, p := range done {
		if p.err == nil {
			anyUp = true
		}
	}
	// Answers first, then by key, so duplicates below keep the answer.
	keys := slices.SortedFunc(maps.Keys(done), func(a, b string) int {
		if ea, eb := done[a].err != nil, done[b].err != nil; ea != eb {
			if ea {
				return 1
			}
			return -1
		}
		return strings.Compare(a, b)
	})
	out := make([]*probe, 0, len(done))
	seenAddr := map[string]bool{}
	seenRun := map[string]bool{}
	for _, key := range keys {
		p := done[key]
		n := p.node
		if _, listedNow := listed[p.addr]; p.err == nil || listedNow || !anyUp {
			n.seen = now
		}
		if p.err == nil {
			n.role = p.role
		} else if r, ok := listed[p.addr]; ok {
			n.role = r
		}
		p.role = n.role
		if !n.seed && now.Sub(n.seen) > s.opts.ForgetAfter {
			delete(s.nodes, key)
			_ = n.client.Close()
			continue
		}
		// One server reached under two names (a failover primary that a
		// replica also names, "localhost" and the announced IP) is
		// reported once: same address or same run_id.
		runID := p.info.fields["run_id"]
		if seenAddr[p.addr] || (runID != "" && seenRun[runID]) {
			continue
		}
		seenAddr[p.addr] = true
		if runID != "" {
			seenRun[runID] = true
		}
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b *probe) int { return strings.Compare(a.addr, b.addr) })
	return out
}

// discovered returns the addresses named by the probes' answers (CLUSTER
// NODES members, INFO replica lines and master_host) and fills listed
// with the role other nodes give each cluster member.
func (s *ServerCollector) discovered(done map[string]*probe, listed map[string]string) []string {
	set := map[string]bool{}
	for _, p := range done {
		if p.err != nil {
			continue
		}
		for _, m := range p.members {
			set[m.addr] = true
			role := "replica"
			if m.master {
				role = "master"
			}
			if !m.myself || listed[m.addr] == "" {
				listed[m.addr] = role
			}
		}
		if s.topo == topoCluster {
			continue
		}
		for _, r := range p.info.replicas {
			if r.addr != "" {
				set[r.addr] = true
			}
		}
		if h, ok := p.info.fields["master_host"]; ok {
			set[net.JoinHostPort(h, p.info.fields["master_port"])] = true
		}
	}
	return slices.Sorted(func(yield func(string) bool) {
		for a := range set {
			if !yield(a) {
				return
			}
		}
	})
}

// probeAll probes nodes concurrently and returns when all have answered
// or ctx ends; late nodes get ctx's error.
func (s *ServerCollector) probeAll(ctx context.Context, nodes []*node) []*probe {
	type res struct {
		i int
		p *probe
	}
	ch := make(chan res, len(nodes))
	for i, n := range nodes {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			ch <- res{i, s.probe(ctx, n)}
		}()
	}
	out := make([]*probe, len(nodes))
	for range nodes {
		select {
		case r := <-ch:
			out[r.i] = r.p
		case <-ctx.Done():
			for i, n := range nodes {
				if out[i] == nil {
					out[i] = &probe{node: n, addr: n.addr(), err: fmt.Errorf("metrics: scrape %s: %w", n.addr(), ctx.Err())}
				}
			}
			return out
		}
	}
	return out
}

// probe sends one pipeline to n: INFO ALL, SLOWLOG LEN, SLOWLOG GET and,
// on a cluster, CLUSTER INFO and CLUSTER NODES.
func (s *ServerCollector) probe(ctx context.Context, n *node) *probe {
	ctx, cancel := context.WithTimeout(ctx, s.opts.NodeTimeout)
	defer cancel()
	start := time.Now()
	p := &probe{node: n}
	pipe := n.client.Pipeline()
	infoCmd := pipe.Info(ctx, "all")
	slowLen := pipe.SlowLogLen(ctx)
	var slowGet *redis.SlowLogCmd
	if s.opts.SlowlogEntries > 0 {
		slowGet = pipe.SlowLogGet(ctx, int64(s.opts.SlowlogEntries))
	}
	var clusterInfo, clusterNodes *redis.StringCmd
	if s.topo == topoCluster {
		clusterInfo = pipe.ClusterInfo(ctx)
		clusterNodes = pipe.ClusterNodes(ctx)
	}
	var hist *redis.Cmd
	if len(s.opts.LatencyHistograms) > 0 {
		args := []any{"LATENCY", "HISTOGRAM"}
		for _, c := range s.opts.LatencyHistograms {
			args = append(args, c)
		}
		hist = pipe.Do(ctx, args...)
	}
	// Only INFO decides whether the node is up: the other commands may be
	// renamed, disabled or too new (LATENCY HISTOGRAM is Redis 7).
	_, _ = pipe.Exec(ctx)
	p.took = time.Since(start)
	p.addr = n.addr()
	if err := infoCmd.Err(); err != nil {
		p.err = fmt.Errorf("metrics: scrape %s: %w", p.addr, err)
		if s.opts.Logger != nil {
			s.opts.Logger.Debug("metrics: node scrape failed", "addr", p.addr, "err", err)
		}
		return p
	}
	p.info = parseInfo(infoCmd.Val())
	p.role = "master"
	if r := p.info.fields["role"]; r == "slave" || r == "replica" {
		p.role = "replica"
	}
	if slowLen.Err() == nil {
		p.slowLen = slowLen.Val()
	}
	if slowGet != nil && slowGet.Err() == nil {
		p.slowlog = slowGet.Val()
	}
	if clusterInfo != nil && clusterInfo.Err() == nil {
		p.cluster = redisinfo.ParseInfo(clusterInfo.Val())
	}
	if clusterNodes != nil && clusterNodes.Err() == nil {
		p.members = parseClusterNodes(clusterNodes.Val())
		for _, m := range p.members {
			if m.myself && m.addr != p.addr {
				// A seed given by another name ("localhost:7000"): label
				// it as the cluster announces it, now and when it is down.
				n.resolved.Store(m.addr)
				p.addr = m.addr
			}
		}
	}
	if hist != nil && hist.Err() == nil {
		p.histograms = parseLatencyHistogram(hist.Val())
	}
	return p
}
