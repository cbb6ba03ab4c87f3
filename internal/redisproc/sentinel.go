package redisproc

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// SentinelOptions describe a sentinel deployment. The zero value is one
// master "mymaster", one replica and three sentinels with a 1 s
// down-after period.
type SentinelOptions struct {
	// MasterName is the monitored name. Empty means "mymaster".
	MasterName string
	// Sentinels is the number of sentinels. Zero means 3.
	Sentinels int
	// DownAfter is down-after-milliseconds. Zero means 1 s.
	DownAfter time.Duration
	// Args are extra directives for the data nodes.
	Args []string
}

// Sentinel is a master, its replica and the sentinels watching them.
type Sentinel struct {
	MasterName string
	Data       []*Server // [0] is the initial master, [1] its replica
	Sentinels  []*Server
}

// StartSentinel starts the data nodes and sentinels and waits until every
// sentinel sees the replica and the other sentinels.
func StartSentinel(ctx context.Context, opts SentinelOptions) (*Sentinel, error) {
	if opts.MasterName == "" {
		opts.MasterName = "mymaster"
	}
	if opts.Sentinels == 0 {
		opts.Sentinels = 3
	}
	if opts.DownAfter == 0 {
		opts.DownAfter = time.Second
	}
	st := &Sentinel{MasterName: opts.MasterName}
	opts.Args = append([]string{"repl-diskless-sync-delay 0"}, opts.Args...)
	master, err := StartServer(ctx, ServerOptions{Args: opts.Args})
	if err != nil {
		return nil, err
	}
	st.Data = append(st.Data, master)
	replica, err := StartServer(ctx, ServerOptions{Args: append([]string{"replicaof 127.0.0.1 " + strconv.Itoa(master.Port())}, opts.Args...)})
	if err != nil {
		_ = st.Close()
		return nil, err
	}
	st.Data = append(st.Data, replica)
	if err := Poll(ctx, 30*time.Second, "replica sync", func(ctx context.Context) (bool, error) {
		cl := replica.Client()
		defer cl.Close()
		info, err := cl.Info(ctx, "replication").Result()
		return err == nil && strings.Contains(info, "master_link_status:up"), nil
	}); err != nil {
		_ = st.Close()
		return nil, err
	}
	quorum := opts.Sentinels/2 + 1
	for range opts.Sentinels {
		conf := fmt.Sprintf("sentinel monitor %s 127.0.0.1 %d %d\nsentinel down-after-milliseconds %s %d\nsentinel failover-timeout %s 5000\nsentinel parallel-syncs %s 1\n",
			opts.MasterName, master.Port(), quorum, opts.MasterName, opts.DownAfter.Milliseconds(), opts.MasterName, opts.MasterName)
		s, err := StartServer(ctx, ServerOptions{Sentinel: true, Config: conf})
		if err != nil {
			_ = st.Close()
			return nil, err
		}
		st.Sentinels = append(st.Sentinels, s)
	}
	err = Poll(ctx, 30*time.Second, "sentinels to discover each other", func(ctx context.Context) (bool, error) {
		for _, s := range st.Sentinels {
			cl := clientFor(s.Addr())
			m, err := cl.Do(ctx, "SENTINEL", "MASTER", opts.MasterName).StringSlice()
			_ = cl.Close()
			if err != nil {
				return false, nil
			}
			kv := pairs(m)
			if kv["num-slaves"] != "1" || kv["num-other-sentinels"] != strconv.Itoa(opts.Sentinels-1) {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		_ = st.Close()
		return nil, err
	}
	return st, nil
}

func pairs(s []string) map[string]string {
	m := make(map[string]string, len(s)/2)
	for i := 0; i+1 < len(s); i += 2 {
		m[s[i]] = s[i+1]
	}
	return m
}

// SentinelAddrs returns the sentinel addresses.
func (st *Sentinel) SentinelAddrs() []string {
	out := make([]string, len(st.Sentinels))
	for i, s := range st.Sentinels {
		out[i] = s.Addr()
	}
	return out
}

// MasterAddr asks the first reachable sentinel for the current master.
func (st *Sentinel) MasterAddr(ctx context.Context) (string, error) {
	var last error
	for _, s := range st.Sentinels {
		cl := clientFor(s.Addr())
		a, err := cl.Do(ctx, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", st.MasterName).StringSlice()
		_ = cl.Close()
		if err == nil && len(a) == 2 {
			return a[0] + ":" + a[1], nil
		}
		last = err
	}
	return "", fmt.Errorf("redisproc: no sentinel answered: %w", last)
}

// Master returns the data node that sentinels currently report as master.
func (st *Sentinel) Master(ctx context.Context) (*Server, error) {
	a, err := st.MasterAddr(ctx)
	if err != nil {
		return nil, err
	}
	for _, s := range st.Data {
		if s.Addr() == a {
			return s, nil
		}
	}
	return nil, fmt.Errorf("redisproc: sentinel reports unknown master %s", a)
}

// KillMaster SIGKILLs the current master and waits until every sentinel
// reports another node as master and that node answers as master.
func (st *Sentinel) KillMaster(ctx context.Context) (*Server, error) {
	old, err := st.Master(ctx)
	if err != nil {
		return nil, err
	}
	if err := old.Kill(); err != nil {
		return nil, err
	}
	var promoted *Server
	err = Poll(ctx, 30*time.Second, "sentinel failover", func(ctx context.Context) (bool, error) {
		for _, s := range st.Sentinels {
			cl := clientFor(s.Addr())
			a, err := cl.Do(ctx, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", st.MasterName).StringSlice()
			_ = cl.Close()
			if err != nil || len(a) != 2 || a[0]+":"+a[1] == old.Addr() {
				return false, nil
			}
		}
		m, err := st.Master(ctx)
		if err != nil {
			return false, nil
		}
		if r, err := Role(ctx, m); err != nil || r != "master" {
			return false, nil
		}
		promoted = m
		return true, nil
	})
	return promoted, err
}

// Close kills every process.
func (st *Sentinel) Close() error {
	var errs []error
	for _, s := range append(append([]*Server{}, st.Sentinels...), st.Data...) {
		errs = append(errs, s.Close())
	}
	return errors.Join(errs...)
}
