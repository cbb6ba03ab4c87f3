// Package redisinfo parses the text replies every part of rediskit reads
// about servers: CLUSTER NODES and "key:value" replies (INFO, CLUSTER
// INFO). One parser, so a format quirk (hostnames after the address,
// migrating-slot markers, CRLF) is handled once.
package redisinfo

import (
	"slices"
	"strconv"
	"strings"
)

// Node is one line of CLUSTER NODES.
type Node struct {
	ID string
	// Addr is ip:port, without the bus port or announced hostname.
	Addr string
	// MasterID is the master's ID for a replica, "-" for a master.
	MasterID string
	Flags    []string
	// Slots are the served ranges, inclusive; migrating and importing
	// markers are left out.
	Slots [][2]int
}

// Has reports whether the node carries flag.
func (n Node) Has(flag string) bool { return slices.Contains(n.Flags, flag) }

// IsMaster reports the master flag.
func (n Node) IsMaster() bool { return n.Has("master") }

// Failed reports the fail or fail? flag.
func (n Node) Failed() bool { return n.Has("fail") || n.Has("fail?") }

// Unusable reports a node without a usable address yet (noaddr,
// handshake, or an empty host).
func (n Node) Unusable() bool {
	return n.Has("noaddr") || n.Has("handshake") || n.Addr == "" || strings.HasPrefix(n.Addr, ":")
}

// SlotCount is the number of slots served.
func (n Node) SlotCount() int {
	c := 0
	for _, r := range n.Slots {
		c += r[1] - r[0] + 1
	}
	return c
}

// Owns reports whether the node serves slot s.
func (n Node) Owns(s int) bool {
	for _, r := range n.Slots {
		if s >= r[0] && s <= r[1] {
			return true
		}
	}
	return false
}

// ParseNodes parses CLUSTER NODES. Lines with fewer than 8 fields are
// skipped; every other line is returned, usable or not.
func ParseNodes(text string) []Node {
	var out []Node
	for line := range strings.SplitSeq(text, "\n") {
		f := strings.Fields(line)
		if len(f) < 8 {
			continue
		}
		addr, _, _ := strings.Cut(f[1], "@") // ip:port@cport
		addr, _, _ = strings.Cut(addr, ",")  // ip:port,hostname (7.0+)
		n := Node{ID: f[0], Addr: addr, MasterID: f[3], Flags: strings.Split(f[2], ",")}
		for _, r := range f[8:] {
			if strings.HasPrefix(r, "[") {
				continue
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
			n.Slots = append(n.Slots, [2]int{a, b})
		}
		out = append(out, n)
	}
	return out
}

// ParseInfo parses "key:value" lines (INFO sections, CLUSTER INFO);
// section headers and blank lines are skipped.
func ParseInfo(text string) map[string]string {
	out := map[string]string{}
	for line := range strings.SplitSeq(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		if k, v, ok := strings.Cut(line, ":"); ok {
			out[k] = v
		}
	}
	return out
}
