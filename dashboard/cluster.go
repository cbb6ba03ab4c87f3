package dashboard

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rediskit/rediskit/internal/redisinfo"
	"github.com/rediskit/rediskit/redisconn"
)

// failoverAddr is the Addr go-redis gives a sentinel (failover) client.
const failoverAddr = "FailoverClient"

// nodePool holds one small client per server address, so the cluster page
// can ask every node with its own timeout (a paused node then costs one
// NodeTimeout, not the whole page). Safe for concurrent use.
type nodePool struct {
	rdb     redis.UniversalClient
	base    redis.Options
	timeout time.Duration

	mu      sync.Mutex
	clients map[string]*redis.Client
	known   []string // addresses seen so far, probed on each refresh
	closed  bool
}

func newNodePool(c redis.UniversalClient, timeout time.Duration) *nodePool {
	p := &nodePool{rdb: c, timeout: timeout, clients: map[string]*redis.Client{}}
	switch c := c.(type) {
	case *redis.ClusterClient:
		o := c.Options()
		p.base = redis.Options{Username: o.Username, Password: o.Password, TLSConfig: o.TLSConfig, Dialer: o.Dialer}
		p.known = slices.Clone(o.Addrs)
	case *redis.Client:
		o := c.Options()
		p.base = redis.Options{Username: o.Username, Password: o.Password, TLSConfig: o.TLSConfig, DB: o.DB}
		if o.Addr != failoverAddr {
			p.base.Dialer = o.Dialer
		}
		p.known = []string{o.Addr}
	}
	return p
}

// client returns the client of addr; the failover client's placeholder
// address is the application's client itself.
func (p *nodePool) client(addr string) (*redis.Client, error) {
	if addr == failoverAddr {
		if c, ok := p.rdb.(*redis.Client); ok {
			return c, nil
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, errors.New("dashboard: closed")
	}
	if c, ok := p.clients[addr]; ok {
		return c, nil
	}
	o := p.base
	o.Addr = addr
	o.DialTimeout, o.ReadTimeout, o.WriteTimeout = p.timeout, p.timeout, p.timeout
	o.MaxRetries = -1
	o.PoolSize = 2
	o.DisableIdentity = true
	c := redis.NewClient(&o)
	p.clients[addr] = c
	return c, nil
}

func (p *nodePool) seeds() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.known)
}

func (p *nodePool) remember(addrs []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, a := range addrs {
		if !slices.Contains(p.known, a) {
			p.known = append(p.known, a)
		}
	}
}

func (p *nodePool) close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	var errs []error
	for _, c := range p.clients {
		errs = append(errs, c.Close())
	}
	p.clients = nil
	return errors.Join(errs...)
}

// SlowEntry is one SLOWLOG entry.
type SlowEntry struct {
	ID       int64     `json:"id"`
	Time     time.Time `json:"time"`
	Micros   int64     `json:"micros"`
	Command  string    `json:"command"`
	ClientIP string    `json:"client,omitempty"`
}

// NodeView is one server on the cluster page.
type NodeView struct {
	Addr string `json:"addr"`
	ID   string `json:"id,omitempty"`
	// Role is "master" or "replica" (from the node itself when it answers,
	// else from what the other nodes say).
	Role   string `json:"role"`
	Master string `json:"master,omitempty"`
	// Up is false when the node did not answer within NodeTimeout.
	Up bool `json:"up"`
	// Err says why a node is down or marked failed.
	Err        string   `json:"err,omitempty"`
	Flags      []string `json:"flags,omitempty"`
	Slots      int      `json:"slots"`
	SlotRanges string   `json:"slotRanges,omitempty"`
	Version    string   `json:"version,omitempty"`
	Uptime     int64    `json:"uptimeSeconds,omitempty"`
	OpsPerSec  float64  `json:"opsPerSec"`
	Commands   int64    `json:"commandsTotal"`
	UsedMemory int64    `json:"usedMemory"`
	MaxMemory  int64    `json:"maxMemory"`
	Policy     string   `json:"policy,omitempty"`
	Frag       float64  `json:"fragmentation"`
	// HitRate is hits/(hits+misses) since start; -1 without lookups.
	HitRate  float64 `json:"hitRate"`
	Clients  int64   `json:"clients"`
	Blocked  int64   `json:"blocked"`
	Keys     int64   `json:"keys"`
	Replicas int64   `json:"replicas"`
	// LinkUp is a replica's link to its master.
	LinkUp bool `json:"linkUp"`
	// LagBytes and LagSeconds are a replica's lag as its master reports it.
	LagBytes   int64       `json:"lagBytes"`
	LagSeconds int64       `json:"lagSeconds"`
	Slowlog    []SlowEntry `json:"slowlog,omitempty"`
	SlowlogLen int64       `json:"slowlogLen"`
	TookMS     float64     `json:"tookMs"`
}

// PolicyFit is the memory-policy verdict for one role.
type PolicyFit struct {
	Role string `json:"role"`
	// Fit is "fits", "warning" or "unfit".
	Fit      string              `json:"fit"`
	Findings []redisconn.Finding `json:"findings,omitempty"`
}

// ClusterView is GET /api/cluster.
type ClusterView struct {
	Mode         string      `json:"mode"`
	ClusterState string      `json:"clusterState,omitempty"`
	SlotsOK      int         `json:"slotsOk,omitempty"`
	Nodes        []NodeView  `json:"nodes"`
	Policy       []PolicyFit `json:"policy"`
	Time         time.Time   `json:"time"`
}

type nodeProbe struct {
	view    NodeView
	info    map[string]string
	members []redisinfo.Node
	cinfo   map[string]string
}

// probe asks one node for INFO, SLOWLOG and (on a cluster) CLUSTER NODES
// and INFO, bounded by NodeTimeout.
func (d *Dashboard) probe(ctx context.Context, addr string, cluster bool) nodeProbe {
	p := nodeProbe{view: NodeView{Addr: addr, HitRate: -1}}
	c, err := d.nodes.client(addr)
	if err != nil {
		p.view.Err = err.Error()
		return p
	}
	ctx, cancel := context.WithTimeout(ctx, d.o.NodeTimeout)
	defer cancel()
	start := time.Now()
	pipe := c.Pipeline()
	info := pipe.Info(ctx, "server", "clients", "memory", "stats", "replication", "keyspace")
	slowLen := pipe.SlowLogLen(ctx)
	slow := pipe.SlowLogGet(ctx, 10)
	var nodes, cinfo *redis.StringCmd
	if cluster {
		nodes = pipe.ClusterNodes(ctx)
		cinfo = pipe.ClusterInfo(ctx)
	}
	_, _ = pipe.Exec(ctx)
	p.view.TookMS = float64(time.Since(start).Microseconds()) / 1000
	if err := info.Err(); err != nil {
		p.view.Err = "does not answer: " + err.Error()
		return p
	}
	if addr == failoverAddr {
		if a := clientAddr(ctx, c); a != "" {
			p.view.Addr = a
		}
	}
	p.view.Up = true
	f := redisinfo.ParseInfo(info.Val())
	p.info = f
	v := &p.view
	i64 := func(k string) int64 { n, _ := strconv.ParseInt(f[k], 10, 64); return n }
	f64 := func(k string) float64 { n, _ := strconv.ParseFloat(f[k], 64); return n }
	v.Version = f["redis_version"]
	v.Uptime = i64("uptime_in_seconds")
	v.OpsPerSec = f64("instantaneous_ops_per_sec")
	v.Commands = i64("total_commands_processed")
	v.UsedMemory, v.MaxMemory = i64("used_memory"), i64("maxmemory")
	v.Policy = f["maxmemory_policy"]
	v.Frag = f64("mem_fragmentation_ratio")
	if h, m := f64("keyspace_hits"), f64("keyspace_misses"); h+m > 0 {
		v.HitRate = h / (h + m)
	}
	v.Clients, v.Blocked = i64("connected_clients"), i64("blocked_clients")
	v.Replicas = i64("connected_slaves")
	for k, val := range f {
		if strings.HasPrefix(k, "db") {
			for kv := range strings.SplitSeq(val, ",") {
				if n, ok := strings.CutPrefix(kv, "keys="); ok {
					x, _ := strconv.ParseInt(n, 10, 64)
					v.Keys += x
				}
			}
		}
	}
	if f["role"] == "slave" {
		v.Role = "replica"
		v.Master = net.JoinHostPort(f["master_host"], f["master_port"])
		v.LinkUp = f["master_link_status"] == "up"
		if !v.LinkUp {
			v.Err = "link to master " + v.Master + " is down"
		}
	} else {
		v.Role, v.LinkUp = "master", true
	}
	if slowLen.Err() == nil {
		v.SlowlogLen = slowLen.Val()
	}
	if slow.Err() == nil {
		for _, e := range slow.Val() {
			cmd := strings.Join(e.Args, " ")
			if len(cmd) > 120 {
				cmd = cmd[:120] + "…"
			}
			v.Slowlog = append(v.Slowlog, SlowEntry{ID: e.ID, Time: e.Time, Micros: e.Duration.Microseconds(), Command: cmd, ClientIP: e.ClientAddr})
		}
	}
	if nodes != nil && nodes.Err() == nil {
		p.members = redisinfo.ParseNodes(nodes.Val())
	}
	if cinfo != nil && cinfo.Err() == nil {
		p.cinfo = redisinfo.ParseInfo(cinfo.Val())
	}
	return p
}

// clientAddr is the server's address as seen on this connection.
func clientAddr(ctx context.Context, c *redis.Client) string {
	ci, err := c.Do(ctx, "CLIENT", "INFO").Text()
	if err != nil {
		return ""
	}
	for f := range strings.FieldsSeq(ci) {
		if a, ok := strings.CutPrefix(f, "laddr="); ok {
			return a
		}
	}
	return ""
}

func (d *Dashboard) probeAll(ctx context.Context, addrs []string, cluster bool) []nodeProbe {
	out := make([]nodeProbe, len(addrs))
	var wg sync.WaitGroup
	for i, a := range addrs {
		wg.Go(func() { out[i] = d.probe(ctx, a, cluster) })
	}
	wg.Wait()
	return out
}

func (d *Dashboard) apiCluster(ctx context.Context, _ *http.Request) (any, error) {
	return d.Cluster(ctx)
}

// Cluster describes every node: one round over the known nodes, a second
// over nodes the first round discovered. Each node has NodeTimeout.
func (d *Dashboard) Cluster(ctx context.Context) (ClusterView, error) {
	_, isCluster := d.rdb.(*redis.ClusterClient)
	cv := ClusterView{Mode: clientMode(d.rdb), Time: time.Now()}
	probes := map[string]nodeProbe{}
	todo := d.nodes.seeds()
	var listed []redisinfo.Node
	for round := 0; round < 2 && len(todo) > 0; round++ {
		for _, p := range d.probeAll(ctx, todo, isCluster) {
			probes[p.view.Addr] = p
			if len(p.members) > 0 && len(listed) == 0 {
				listed = p.members
			}
		}
		var next []string
		seen := func(a string) bool { _, ok := probes[a]; return ok }
		for _, p := range probes {
			for _, m := range p.members {
				if !m.Unusable() && !seen(m.Addr) && !slices.Contains(next, m.Addr) {
					next = append(next, m.Addr)
				}
			}
			if !isCluster && p.info != nil {
				for k, v := range p.info {
					if a := replicaAddr(k, v); a != "" && !seen(a) && !slices.Contains(next, a) {
						next = append(next, a)
					}
				}
			}
		}
		todo = next
	}
	byID := map[string]redisinfo.Node{}
	for _, m := range listed {
		byID[m.ID] = m
	}
	var addrs []string
	for a := range probes {
		addrs = append(addrs, a)
	}
	if isCluster {
		// Only nodes the cluster lists (a seed given as "localhost:7000"
		// is reported under its announced address).
		addrs = addrs[:0]
		for _, m := range listed {
			if !m.Unusable() {
				addrs = append(addrs, m.Addr)
			}
		}
		if len(listed) == 0 {
			for a := range probes {
				addrs = append(addrs, a)
			}
		}
	}
	d.nodes.remember(addrs)
	for _, a := range addrs {
		p := probes[a]
		v := p.view
		v.Addr = a
		for _, m := range listed {
			if m.Addr != a {
				continue
			}
			v.ID, v.Flags, v.Slots = m.ID, m.Flags, m.SlotCount()
			v.SlotRanges = slotRanges(m.Slots)
			if !v.Up {
				v.Role = map[bool]string{true: "master", false: "replica"}[m.IsMaster()]
				if mm, ok := byID[m.MasterID]; ok {
					v.Master = mm.Addr
				}
			}
			if m.Failed() {
				v.Err = strings.TrimSpace("marked " + strings.Join(m.Flags, ",") + " by the cluster; " + v.Err)
			}
		}
		if v.Role == "" {
			v.Role = "unknown"
		}
		if p.cinfo != nil && v.Role == "master" && cv.ClusterState != "fail" {
			cv.ClusterState = p.cinfo["cluster_state"]
			cv.SlotsOK, _ = strconv.Atoi(p.cinfo["cluster_slots_ok"])
		}
		cv.Nodes = append(cv.Nodes, v)
	}
	// Replication lag as each master reports its replicas.
	for _, p := range probes {
		if p.info == nil || p.view.Role != "master" {
			continue
		}
		off, _ := strconv.ParseInt(p.info["master_repl_offset"], 10, 64)
		for k, val := range p.info {
			a := replicaAddr(k, val)
			if a == "" {
				continue
			}
			kv := fieldsKV(val)
			for i := range cv.Nodes {
				if cv.Nodes[i].Addr == a {
					ro, _ := strconv.ParseInt(kv["offset"], 10, 64)
					cv.Nodes[i].LagBytes = max(0, off-ro)
					cv.Nodes[i].LagSeconds, _ = strconv.ParseInt(kv["lag"], 10, 64)
				}
			}
		}
	}
	slices.SortFunc(cv.Nodes, func(a, b NodeView) int {
		if a.Role != b.Role {
			if a.Role == "master" {
				return -1
			}
			if b.Role == "master" {
				return 1
			}
		}
		return strings.Compare(a.Addr, b.Addr)
	})
	topo := redisconn.Topology{Mode: redisconn.ModeSingle}
	if isCluster {
		topo.Mode = redisconn.ModeCluster
	}
	for _, n := range cv.Nodes {
		rn := redisconn.Node{Addr: n.Addr, Role: n.Role, Policy: n.Policy, MaxMemory: n.MaxMemory, Slots: n.Slots}
		if !n.Up {
			rn.Err = errors.New(n.Err)
		}
		if n.Role == "master" && (n.Slots > 0 || !isCluster || !n.Up) {
			topo.Nodes = append(topo.Nodes, rn)
		}
	}
	for _, role := range []redisconn.Role{redisconn.RoleQueue, redisconn.RoleLock, redisconn.RoleSession, redisconn.RoleCache} {
		fs := redisconn.PolicyFindings(topo, role)
		fit := "fits"
		for _, f := range fs {
			if f.Severity == redisconn.Error {
				fit = "unfit"
			} else if fit == "fits" {
				fit = "warning"
			}
		}
		cv.Policy = append(cv.Policy, PolicyFit{Role: string(role), Fit: fit, Findings: fs})
	}
	if len(cv.Nodes) == 0 {
		return cv, fmt.Errorf("dashboard: no node answered")
	}
	return cv, nil
}

// replicaAddr returns the address of an INFO replication "slaveN" line.
func replicaAddr(k, v string) string {
	if !strings.HasPrefix(k, "slave") || !strings.Contains(v, "ip=") {
		return ""
	}
	kv := fieldsKV(v)
	return net.JoinHostPort(kv["ip"], kv["port"])
}

func fieldsKV(v string) map[string]string {
	kv := map[string]string{}
	for f := range strings.SplitSeq(v, ",") {
		a, b, _ := strings.Cut(f, "=")
		kv[a] = b
	}
	return kv
}

func slotRanges(rs [][2]int) string {
	parts := make([]string, 0, len(rs))
	for _, r := range rs {
		if r[0] == r[1] {
			parts = append(parts, strconv.Itoa(r[0]))
		} else {
			parts = append(parts, fmt.Sprintf("%d-%d", r[0], r[1]))
		}
	}
	return strings.Join(parts, ",")
}
