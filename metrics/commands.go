package metrics

import (
	"context"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// KnownCommands are the command names kept as their own "command" label
// value by the client instrumentation; any other name is "other", so a
// client that sends arbitrary names cannot explode the series count.
var KnownCommands = []string{
	// strings and keys
	"get", "set", "setnx", "setex", "psetex", "getset", "getdel", "getex", "mget", "mset", "msetnx",
	"incr", "incrby", "incrbyfloat", "decr", "decrby", "append", "strlen", "getrange", "setrange",
	"del", "unlink", "exists", "expire", "pexpire", "expireat", "pexpireat", "ttl", "pttl", "persist",
	"type", "rename", "renamenx", "copy", "touch", "object", "dump", "restore", "keys", "scan", "randomkey",
	// hashes
	"hget", "hset", "hsetnx", "hmget", "hmset", "hdel", "hexists", "hgetall", "hkeys", "hvals", "hlen",
	"hincrby", "hincrbyfloat", "hscan", "hstrlen", "hrandfield", "hexpire", "hpexpire", "httl", "hgetdel", "hgetex", "hsetex",
	// lists
	"lpush", "rpush", "lpushx", "rpushx", "lpop", "rpop", "llen", "lrange", "lindex", "lset", "lrem", "ltrim",
	"linsert", "lmove", "blmove", "rpoplpush", "brpoplpush", "blpop", "brpop", "lpos", "lmpop", "blmpop",
	// sets
	"sadd", "srem", "smembers", "sismember", "smismember", "scard", "spop", "srandmember", "smove",
	"sunion", "sinter", "sdiff", "sunionstore", "sinterstore", "sdiffstore", "sintercard", "sscan",
	// sorted sets
	"zadd", "zrem", "zscore", "zmscore", "zincrby", "zcard", "zcount", "zrange", "zrangebyscore", "zrevrange",
	"zrevrangebyscore", "zrangebylex", "zrank", "zrevrank", "zremrangebyscore", "zremrangebyrank",
	"zpopmin", "zpopmax", "bzpopmin", "bzpopmax", "zmpop", "bzmpop", "zrangestore", "zunionstore",
	"zinterstore", "zscan", "zlexcount",
	// streams
	"xadd", "xread", "xreadgroup", "xack", "xdel", "xlen", "xrange", "xrevrange", "xtrim", "xgroup",
	"xclaim", "xautoclaim", "xpending", "xinfo", "xsetid",
	// bitmaps, hyperloglog, geo
	"setbit", "getbit", "bitcount", "bitpos", "bitop", "bitfield", "pfadd", "pfcount", "pfmerge",
	"geoadd", "geodist", "geopos", "geosearch", "geosearchstore",
	// scripting, transactions, pub/sub
	"eval", "evalsha", "eval_ro", "evalsha_ro", "script", "fcall", "fcall_ro", "function",
	"multi", "exec", "discard", "watch", "unwatch",
	"publish", "spublish", "subscribe", "psubscribe", "ssubscribe", "unsubscribe", "punsubscribe", "pubsub",
	// connection and server
	"ping", "echo", "hello", "auth", "select", "client", "readonly", "readwrite", "asking", "quit", "reset",
	"info", "config", "cluster", "command", "dbsize", "flushall", "flushdb", "slowlog", "latency",
	"memory", "time", "role", "wait", "waitaof", "debug", "save", "bgsave", "lastsave", "sort", "sort_ro",
	"migrate", "monitor", "module", "acl", "failover", "replicaof", "sentinel",
}

var knownCommandSet = func() map[string]bool {
	m := make(map[string]bool, len(KnownCommands))
	for _, c := range KnownCommands {
		m[c] = true
	}
	return m
}()

// boundedCommand returns name if it is a known command, else "other".
// Subcommands from commandstats ("client|setname") are kept when their
// parent is known.
func boundedCommand(name string) string {
	parent, _, _ := strings.Cut(name, "|")
	if knownCommandSet[parent] {
		return name
	}
	return "other"
}

// ErrorKind classifies a command error for the "kind" label: "" for nil
// and redis.Nil (a miss is not an error); "canceled", "deadline",
// "timeout", "pool_timeout", "closed", "network", "tx_failed"; for error
// replies the lower-cased prefix when it is one of moved, ask, tryagain,
// clusterdown, loading, readonly, masterdown, crossslot, noscript,
// wrongtype, oom, busy, noauth, wrongpass, noperm, execabort,
// noreplicas, err; any other reply is "reply_other", anything else
// "other".
func ErrorKind(err error) string {
	switch {
	case err == nil || errors.Is(err, redis.Nil):
		return ""
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, context.DeadlineExceeded):
		return "deadline"
	case errors.Is(err, redis.ErrPoolTimeout):
		return "pool_timeout"
	case errors.Is(err, redis.ErrClosed):
		return "closed"
	case errors.Is(err, redis.TxFailedErr):
		return "tx_failed"
	}
	var rerr redis.Error
	if errors.As(err, &rerr) {
		prefix, _, _ := strings.Cut(rerr.Error(), " ")
		switch p := strings.ToLower(prefix); p {
		case "moved", "ask", "tryagain", "clusterdown", "loading", "readonly", "masterdown", "crossslot",
			"noscript", "wrongtype", "oom", "busy", "noauth", "wrongpass", "noperm", "execabort", "noreplicas", "err":
			return p
		}
		return "reply_other"
	}
	var nerr net.Error
	if errors.As(err, &nerr) && nerr.Timeout() {
		return "timeout"
	}
	if nerr != nil || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) {
		return "network"
	}
	return "other"
}

// retryableKind reports whether a cluster client retries an attempt that
// failed with this kind of error.
func retryableKind(kind string) bool {
	switch kind {
	case "moved", "ask", "tryagain", "clusterdown", "loading", "readonly", "masterdown", "network", "timeout", "pool_timeout":
		return true
	}
	return false
}

func parseNum(s string) (float64, bool) {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	return f, err == nil
}
