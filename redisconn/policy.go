package redisconn

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"
)

// Role is what a deployment is used for; each role needs a different
// maxmemory-policy, so "allkeys-lru for the cache, noeviction for queues"
// means separate deployments.
type Role string

// Roles.
const (
	RoleCache   Role = "cache"
	RoleQueue   Role = "queue"
	RoleLock    Role = "lock"
	RoleSession Role = "session"
)

// Severity of a policy finding.
type Severity string

// Severities.
const (
	Warning Severity = "warning"
	Error   Severity = "error"
)

// Finding is one problem on one node.
type Finding struct {
	Node     string
	Severity Severity
	// Problem says what is wrong; Fix says the command or setting that
	// mends it.
	Problem, Fix string
}

func (f Finding) String() string {
	return fmt.Sprintf("%s: %s: %s (fix: %s)", f.Severity, f.Node, f.Problem, f.Fix)
}

// ErrPolicy is matched by the error CheckPolicy returns when a node's
// policy is unfit for the role.
var ErrPolicy = errors.New("redisconn: memory policy unfit for role")

// PolicyError lists the findings of severity Error.
type PolicyError struct {
	Role     Role
	Findings []Finding
}

func (e *PolicyError) Error() string {
	parts := make([]string, len(e.Findings))
	for i, f := range e.Findings {
		parts[i] = f.String()
	}
	return fmt.Sprintf("redisconn: role %s: %s", e.Role, strings.Join(parts, "; "))
}

// Unwrap makes errors.Is(err, ErrPolicy) true.
func (e *PolicyError) Unwrap() error { return ErrPolicy }

// CheckPolicy reads maxmemory and maxmemory-policy on every master and
// returns the findings for role. Queues, locks and sessions must never
// lose keys to eviction: anything but noeviction is an Error. Caches want
// allkeys-lru or allkeys-lfu with maxmemory set: noeviction is an Error
// (writes fail when full), volatile-* and a missing maxmemory are
// Warnings. The error is a *PolicyError when any finding is an Error.
func CheckPolicy(ctx context.Context, c redis.UniversalClient, role Role) ([]Finding, error) {
	switch role {
	case RoleCache, RoleQueue, RoleLock, RoleSession:
	default:
		return nil, fmt.Errorf("redisconn: unknown role %q (want cache, queue, lock or session)", role)
	}
	topo, err := Describe(ctx, c)
	if err != nil {
		return nil, err
	}
	return PolicyFindings(topo, role), policyErr(role, PolicyFindings(topo, role))
}

// PolicyFindings checks a Topology already described.
func PolicyFindings(t Topology, role Role) []Finding {
	var out []Finding
	for _, n := range t.Masters() {
		out = append(out, nodeFindings(n, role)...)
	}
	return out
}

func nodeFindings(n Node, role Role) []Finding {
	if n.Err != nil {
		return []Finding{{Node: n.Addr, Severity: Warning, Problem: "node did not answer; policy unknown", Fix: "check the node"}}
	}
	p := n.Policy
	switch role {
	case RoleCache:
		var out []Finding
		switch {
		case p == "allkeys-lru" || p == "allkeys-lfu":
		case p == "noeviction":
			out = append(out, Finding{n.Addr, Error, "maxmemory-policy noeviction makes cache writes fail when memory is full",
				"CONFIG SET maxmemory-policy allkeys-lru (or allkeys-lfu)"})
		case strings.HasPrefix(p, "volatile-"):
			out = append(out, Finding{n.Addr, Warning, "maxmemory-policy " + p + " evicts only keys with a TTL; cache keys without TTL are never evicted",
				"CONFIG SET maxmemory-policy allkeys-lru"})
		default:
			out = append(out, Finding{n.Addr, Warning, "maxmemory-policy " + p + " is not an LRU/LFU policy", "CONFIG SET maxmemory-policy allkeys-lru"})
		}
		if n.MaxMemory == 0 {
			out = append(out, Finding{n.Addr, Warning, "maxmemory is 0 (unlimited): the cache grows until the machine runs out of memory",
				"CONFIG SET maxmemory <bytes> (e.g. 75% of the node's memory)"})
		}
		return out
	default:
		if p != "noeviction" {
			return []Finding{{n.Addr, Error, fmt.Sprintf("maxmemory-policy %s may evict %s keys and lose them", p, role),
				"CONFIG SET maxmemory-policy noeviction (use a separate deployment for caches)"}}
		}
		return nil
	}
}

func policyErr(role Role, fs []Finding) error {
	var errs []Finding
	for _, f := range fs {
		if f.Severity == Error {
			errs = append(errs, f)
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return &PolicyError{Role: role, Findings: errs}
}
