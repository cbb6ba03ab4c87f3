package cache

import (
	"errors"
	"fmt"
	"strings"

	"github.com/rediskit/rediskit/internal/slot"
)

// Every key of one cache entry shares the hash tag {<key>}, so the value,
// its lease and its write markers live in one slot and the Lua scripts
// that touch several of them work on a cluster. Entries of one namespace
// spread over all slots (a namespace-wide tag would put the whole cache
// on one node). Tag sets use their own tag {<tag>}.
//
//	rk:c:<ns>:{<key>}      value (envelope + payload)
//	rk:c:<ns>:{<key>}:l    load lease (token)
//	rk:c:<ns>:{<key>}:p    writers in flight (counter)
//	rk:c:<ns>:{<key>}:d    "writes overlapped" marker
//	rk:ct:<ns>:{<tag>}     tag set (members are user keys)
//	rk:ct:<ns>:{<tag>}:t   time of the tag's last invalidation (Unix ms)
//
// Tracking prefix (BCAST): rk:c:<ns>: — it covers the value and lease keys
// but not the tag sets.
//
// FormatKeyv: the value key is Keyv's, with no hash tag (its slot is the
// CRC16 of the whole key); the keys of ours that go with it carry a tag
// chosen to hash to that same slot (slot.TagFor), so the same Lua scripts
// work on a cluster. They live outside the Keyv namespace, where Keyv's
// clear() and iterator do not see them.
//
//	<ns>::<ns>:<key>                value, written by Keyv and by us
//	rk:ck:<ns>:{<slottag>}:<key>:l  load lease
//	rk:ck:<ns>:{<slottag>}:<key>:p  writers in flight
//	rk:ck:<ns>:{<slottag>}:<key>:d  "writes overlapped" marker
//	rk:ckt:<ns>:{<tag>}             tag set
//	rk:ckt:<ns>:{<tag>}:t           tag's last invalidation
//
// Tracking prefixes: <ns>::<ns>: (values, whoever writes them) and
// rk:ck:<ns>: (leases, so a waiter wakes when a loader gives up).

var errBadNamespace = errors.New("cache: namespace must be non-empty and must not contain '{', '}' or ':'")

func checkNamespace(ns string) error {
	if ns == "" || strings.ContainsAny(ns, "{}:") {
		return errBadNamespace
	}
	return nil
}

// trackPrefix is the key prefix of every value and lease key of ns.
func trackPrefix(ns string) string { return "rk:c:" + ns + ":" }

func valueKey(ns, key string) string { return "rk:c:" + ns + ":{" + key + "}" }
func leaseKey(ns, key string) string { return "rk:c:" + ns + ":{" + key + "}:l" }
func pendKey(ns, key string) string  { return "rk:c:" + ns + ":{" + key + "}:p" }
func dirtyKey(ns, key string) string { return "rk:c:" + ns + ":{" + key + "}:d" }
func tagKey(ns, tag string) string   { return "rk:ct:" + ns + ":{" + tag + "}" }
func tagStamp(ns, tag string) string { return "rk:ct:" + ns + ":{" + tag + "}:t" }

// keyspace builds every Redis key of one Cache in its Format.
type keyspace struct {
	ns   string
	keyv bool
}

func newKeyspace(f Format, ns string) (keyspace, error) {
	if err := checkNamespace(ns); err != nil {
		return keyspace{}, err
	}
	if err := (Options{Format: f}).checkFormat(); err != nil {
		return keyspace{}, err
	}
	return keyspace{ns: ns, keyv: f == FormatKeyv}, nil
}

func (k keyspace) keyvPrefix() string { return k.ns + "::" + k.ns + ":" }
func (k keyspace) auxPrefix() string  { return "rk:ck:" + k.ns + ":" }

func (k keyspace) value(key string) string {
	if k.keyv {
		return k.keyvPrefix() + key
	}
	return valueKey(k.ns, key)
}

// aux is the stem of the lease and marker keys of a Keyv entry: hashed to
// the slot of the Keyv key.
func (k keyspace) aux(key string) string {
	return k.auxPrefix() + "{" + slot.TagFor(slot.Of(k.value(key))) + "}:" + key
}

func (k keyspace) lease(key string) string {
	if k.keyv {
		return k.aux(key) + ":l"
	}
	return leaseKey(k.ns, key)
}

// markers returns the writers-in-flight and overlap marker keys.
func (k keyspace) markers(key string) (pend, dirty string) {
	if k.keyv {
		a := k.aux(key)
		return a + ":p", a + ":d"
	}
	return pendKey(k.ns, key), dirtyKey(k.ns, key)
}

// tag returns a tag's set and stamp keys.
func (k keyspace) tag(t string) (set, stamp string) {
	if k.keyv {
		set = "rk:ckt:" + k.ns + ":{" + t + "}"
		return set, set + ":t"
	}
	return tagKey(k.ns, t), tagStamp(k.ns, t)
}

// prefixes are the tracking prefixes of the Cache.
func (k keyspace) prefixes() []string {
	if k.keyv {
		return []string{k.keyvPrefix(), k.auxPrefix()}
	}
	return []string{trackPrefix(k.ns)}
}

// checkKey refuses keys the format cannot hold.
func (k keyspace) checkKey(key string) error {
	if key == "" {
		return ErrEmptyKey
	}
	if k.keyv && strings.HasPrefix(key, k.ns+":") {
		return fmt.Errorf("cache: key %q starts with the Keyv namespace %q: Keyv stores it as the key without that prefix; pass that key instead", key, k.ns+":")
	}
	return nil
}

// userKey maps a tracked key of this Cache back to its cache key; false
// for other keys (write markers).
func (k keyspace) userKey(rk string) (string, bool) {
	if !k.keyv {
		return userKey(trackPrefix(k.ns), rk)
	}
	if key, ok := strings.CutPrefix(rk, k.keyvPrefix()); ok {
		return key, true
	}
	rest, ok := strings.CutPrefix(rk, k.auxPrefix()+"{")
	if !ok {
		return "", false
	}
	i := strings.Index(rest, "}:")
	if i < 0 {
		return "", false
	}
	return strings.CutSuffix(rest[i+2:], ":l")
}

// prefixOf returns the tracking prefix a tracked key belongs to, in
// either format.
func prefixOf(rk string) (string, bool) {
	for _, root := range []string{"rk:c:", "rk:ck:"} {
		if rest, ok := strings.CutPrefix(rk, root); ok {
			i := strings.IndexByte(rest, ':')
			if i < 0 {
				return "", false
			}
			return rk[:len(root)+i+1], true
		}
	}
	i := strings.Index(rk, "::")
	if i <= 0 {
		return "", false
	}
	p := keyspace{ns: rk[:i], keyv: true}.keyvPrefix()
	if !strings.HasPrefix(rk, p) {
		return "", false
	}
	return p, true
}

// userKey maps a tracked Redis key back to the cache key it belongs to.
// It reports false for keys that are not value or lease keys of the
// prefix (write markers).
func userKey(prefix, redisKey string) (string, bool) {
	rest, ok := strings.CutPrefix(redisKey, prefix)
	if !ok || len(rest) < 2 || rest[0] != '{' {
		return "", false
	}
	rest = rest[1:]
	if k, ok := strings.CutSuffix(rest, "}"); ok {
		return k, true
	}
	if k, ok := strings.CutSuffix(rest, "}:l"); ok {
		return k, true
	}
	return "", false
}
