package nodeconn

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rediskit/rediskit/internal/slot"
)

// ErrUnsupportedClient is returned for a UniversalClient that is neither
// a *redis.Client (single node, Sentinel failover) nor a
// *redis.ClusterClient (a Ring, say): it has no masters to connect to.
var ErrUnsupportedClient = errors.New("nodeconn: per-master connections need a *redis.Client or *redis.ClusterClient")

// Node is one master and the options its connections are dialled with:
// the go-redis client's own (dialer, TLS, username, password or
// credentials provider, DB, protocol).
type Node struct {
	// Addr is the master's address (on a Sentinel failover client, the
	// client's placeholder: its dialer finds the current master).
	Addr string
	opt  *redis.Options
}

// Topology is the set of masters of a deployment and, on a cluster, which
// master serves each hash slot. It is immutable.
type Topology struct {
	// Masters are sorted by address.
	Masters []Node
	slots   *[slot.Count]uint16 // index into Masters; nil: one master serves everything
}

// Master returns the index in Masters of the master that serves the key's
// slot s.
func (t *Topology) Master(s int) int {
	if t.slots == nil {
		return 0
	}
	return int(t.slots[s])
}

// MasterOf returns the index in Masters of the master that serves key.
func (t *Topology) MasterOf(key string) int {
	if t.slots == nil {
		return 0
	}
	return int(t.slots[slot.Of(key)])
}

// Addrs returns the masters' addresses.
func (t *Topology) Addrs() []string {
	out := make([]string, len(t.Masters))
	for i, n := range t.Masters {
		out[i] = n.Addr
	}
	return out
}

// Equal reports whether t and o have the same masters serving the same
// slots.
func (t *Topology) Equal(o *Topology) bool {
	if t == nil || o == nil {
		return t == o
	}
	if !slices.EqualFunc(t.Masters, o.Masters, func(a, b Node) bool { return a.Addr == b.Addr && a.opt == b.opt }) {
		return false
	}
	if (t.slots == nil) != (o.slots == nil) {
		return false
	}
	return t.slots == nil || *t.slots == *o.slots
}

// slotKeys holds one key per hash slot, to ask go-redis which master
// serves each slot.
var slotKeys = sync.OnceValue(func() *[slot.Count]string {
	var keys [slot.Count]string
	left := slot.Count
	for i := 0; left > 0; i++ {
		k := strconv.Itoa(i)
		if s := slot.Of(k); keys[s] == "" {
			keys[s] = k
			left--
		}
	}
	return &keys
})

// Discover reads the masters of client from go-redis's own state: on a
// cluster client its slot map (it sends no CLUSTER SLOTS of its own:
// go-redis loads the map once, reloads it on MOVED and every
// ClusterStateReloadInterval), on a *redis.Client its one address.
func Discover(ctx context.Context, client redis.UniversalClient) (*Topology, error) {
	switch c := client.(type) {
	case *redis.Client:
		o := c.Options()
		return &Topology{Masters: []Node{{Addr: o.Addr, opt: o}}}, nil
	case *redis.ClusterClient:
		keys := slotKeys()
		byAddr := map[string]int{}
		var owner [slot.Count]*redis.Client
		for s := range slot.Count {
			n, err := c.MasterForKey(ctx, keys[s])
			if err != nil {
				return nil, fmt.Errorf("nodeconn: master of slot %d: %w", s, err)
			}
			owner[s] = n
			byAddr[n.Options().Addr] = -1
		}
		t := &Topology{slots: new([slot.Count]uint16)}
		for _, addr := range slices.Sorted(func(yield func(string) bool) {
			for a := range byAddr {
				if !yield(a) {
					return
				}
			}
		}) {
			byAddr[addr] = len(t.Masters)
			t.Masters = append(t.Masters, Node{Addr: addr})
		}
		for s, n := range owner {
			i := byAddr[n.Options().Addr]
			t.slots[s] = uint16(i)
			if t.Masters[i].opt == nil {
				t.Masters[i].opt = n.Options()
			}
		}
		return t, nil
	}
	return nil, fmt.Errorf("%w, got %T", ErrUnsupportedClient, client)
}

// unchanged reports whether go-redis's slot map still agrees with t on a
// sample of slots: the first and last slot of each range of t and every
// 256th slot. A full Discover costs 16384 lookups (milliseconds); this
// check runs every interval, and a change it misses inside a range shows
// up as MOVED on the fast path, which kicks a full re-read.
func (t *Topology) unchanged(ctx context.Context, c *redis.ClusterClient) bool {
	if t.slots == nil {
		return false
	}
	keys := slotKeys()
	check := func(s int) bool {
		n, err := c.MasterForKey(ctx, keys[s])
		if err != nil {
			return false
		}
		m := t.Masters[t.slots[s]]
		return n.Options().Addr == m.Addr && n.Options() == m.opt
	}
	for s := 0; s < slot.Count; s++ {
		edge := s == 0 || s == slot.Count-1 || t.slots[s] != t.slots[s-1] || t.slots[s] != t.slots[s+1]
		if (edge || s%256 == 0) && !check(s) {
			return false
		}
	}
	return true
}

// DialOptions configure Dial. The zero value of every field means its
// default.
type DialOptions struct {
	// Protocol is the RESP version of the connection (2 or 3). Default 2;
	// 3 is needed for push messages.
	Protocol int
	// Name is the CLIENT SETNAME of the connection, so that operators
	// (and tests) find it in CLIENT LIST. Default none.
	Name string
	// Timeout bounds the dial and the handshake. Default 5 s.
	Timeout time.Duration
}

// Conn is a connection to one master, ready for commands: authenticated,
// in the client's database, named.
type Conn struct {
	net.Conn
	R *bufio.Reader
	W *bufio.Writer
	// ID is the connection's CLIENT ID.
	ID int64
}

// Dial opens a connection to n with the go-redis client's options: its
// dialer (TLS included), HELLO with the protocol and the username and
// password (or its credentials provider), SELECT of its DB, CLIENT
// SETNAME. A StreamingCredentialsProvider is not supported: Dial says so.
func Dial(ctx context.Context, n Node, o DialOptions) (*Conn, error) {
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Second
	}
	if o.Protocol == 0 {
		o.Protocol = 2
	}
	opt := n.opt
	if opt.StreamingCredentialsProvider != nil {
		return nil, errors.New("nodeconn: a client with a StreamingCredentialsProvider is not supported")
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	user, pass := opt.Username, opt.Password
	switch {
	case opt.CredentialsProviderContext != nil:
		var err error
		if user, pass, err = opt.CredentialsProviderContext(ctx); err != nil {
			return nil, fmt.Errorf("nodeconn: credentials: %w", err)
		}
	case opt.CredentialsProvider != nil:
		user, pass = opt.CredentialsProvider()
	}
	dial := opt.Dialer
	if dial == nil {
		d := net.Dialer{Timeout: o.Timeout, KeepAlive: 30 * time.Second}
		dial = d.DialContext
	}
	network := opt.Network
	if network == "" {
		network = "tcp"
	}
	nc, err := dial(ctx, network, opt.Addr)
	if err != nil {
		return nil, fmt.Errorf("nodeconn: dial %s: %w", n.Addr, err)
	}
	c := &Conn{Conn: nc, R: bufio.NewReaderSize(nc, 64<<10), W: bufio.NewWriterSize(nc, 16<<10)}
	if err := c.handshake(ctx, o, opt.DB, user, pass); err != nil {
		_ = nc.Close()
		return nil, fmt.Errorf("nodeconn: %s: %w", n.Addr, err)
	}
	return c, nil
}

// handshake sends HELLO, SELECT and CLIENT ID in one write and reads
// their replies.
func (c *Conn) handshake(ctx context.Context, o DialOptions, db int, user, pass string) error {
	deadline, _ := ctx.Deadline()
	_ = c.SetDeadline(deadline)
	defer func() { _ = c.SetDeadline(time.Time{}) }()
	hello := []string{"HELLO", strconv.Itoa(o.Protocol)}
	if pass != "" {
		if user == "" {
			user = "default"
		}
		hello = append(hello, "AUTH", user, pass)
	}
	if o.Name != "" {
		hello = append(hello, "SETNAME", o.Name)
	}
	cmds := [][]string{hello}
	if db != 0 {
		cmds = append(cmds, []string{"SELECT", strconv.Itoa(db)})
	}
	cmds = append(cmds, []string{"CLIENT", "ID"})
	var b []byte
	for _, args := range cmds {
		b = AppendCommand(b, args...)
	}
	if _, err := c.W.Write(b); err != nil {
		return err
	}
	if err := c.W.Flush(); err != nil {
		return err
	}
	var first error
	for _, args := range cmds {
		v, err := ReadValue(c.R)
		if err != nil {
			return err
		}
		if e, ok := v.(RespError); ok && first == nil {
			first = &CommandError{Command: args[0], Err: e} // never the arguments: AUTH's are secret
		}
		if id, ok := v.(int64); ok && args[0] == "CLIENT" {
			c.ID = id
		}
	}
	return first
}
