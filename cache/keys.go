package cache

import (
	"errors"
	"strings"
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
