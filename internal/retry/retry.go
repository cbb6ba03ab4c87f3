package retry

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"syscall"

	"github.com/redis/go-redis/v9"
)

// Class says what a failed command may have done on the server.
type Class int

const (
	// Fatal errors are not retried: the server answered (script errors,
	// WRONGTYPE, NOSCRIPT — handled by internal/script —, redis.Nil), the
	// caller gave up (context errors), or the error is unknown.
	Fatal Class = iota
	// NotApplied errors prove the command never ran: the dial failed, the
	// pool had no connection, or the server refused it before running it
	// (CLUSTERDOWN, TRYAGAIN, LOADING, MASTERDOWN, READONLY). Any command
	// may be sent again.
	NotApplied
	// MaybeApplied errors lost the reply of a command that was sent: the
	// connection was closed or reset, or the read timed out. Only
	// idempotent work may be sent again.
	MaybeApplied
)

// String names the class.
func (c Class) String() string {
	switch c {
	case NotApplied:
		return "not-applied"
	case MaybeApplied:
		return "maybe-applied"
	default:
		return "fatal"
	}
}

// refusedPrefixes are server replies to a command the server did not run.
var refusedPrefixes = []string{"CLUSTERDOWN", "TRYAGAIN", "LOADING", "MASTERDOWN", "READONLY"}

// Classify sorts err into a Class. A nil error is Fatal (nothing to retry).
func Classify(err error) Class {
	switch {
	case err == nil, errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded), errors.Is(err, redis.Nil):
		return Fatal
	case isDial(err), errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, redis.ErrPoolTimeout),
		errors.Is(err, redis.ErrPoolExhausted):
		return NotApplied
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EPIPE), errors.Is(err, os.ErrDeadlineExceeded), isTimeout(err):
		return MaybeApplied
	}
	if refused(err) {
		return NotApplied
	}
	msg := err.Error()
	switch {
	case strings.Contains(msg, "connection refused"):
		return NotApplied
	case strings.Contains(msg, "connection reset"), strings.Contains(msg, "broken pipe"):
		return MaybeApplied
	}
	return Fatal
}

// Retryable reports whether err may be retried: NotApplied errors always,
// MaybeApplied ones only for idempotent work.
func Retryable(err error, idempotent bool) bool {
	switch Classify(err) {
	case NotApplied:
		return true
	case MaybeApplied:
		return idempotent
	}
	return false
}

// TopologyHint reports errors that suggest a cluster's slot map changed:
// a node that cannot be reached, or a node that no longer serves writes.
// Only the client's owner (redisconn's hook) acts on it by reloading.
func TopologyHint(err error) bool {
	if err == nil {
		return false
	}
	if isDial(err) || errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) {
		return true
	}
	switch serverReply(err) {
	case "CLUSTERDOWN", "READONLY", "MASTERDOWN":
		return true
	}
	return strings.Contains(err.Error(), "connection refused")
}

// serverReply returns the first word of the server's error reply inside
// err (which may be wrapped), or "".
func serverReply(err error) string {
	var re redis.Error
	if !errors.As(err, &re) {
		return ""
	}
	word, _, _ := strings.Cut(re.Error(), " ")
	return word
}

// refused reports a server reply for a command the server did not run.
func refused(err error) bool {
	w := serverReply(err)
	for _, p := range refusedPrefixes {
		if w == p {
			return true
		}
	}
	return false
}

func isDial(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// readOnly lists commands that change nothing on the server, so sending
// one again after a lost reply is harmless. Names are lower case, as
// go-redis's Cmder.Name returns them.
var readOnly = map[string]bool{
	"get": true, "mget": true, "getrange": true, "strlen": true, "exists": true, "type": true,
	"ttl": true, "pttl": true, "expiretime": true, "pexpiretime": true, "dump": true,
	"hget": true, "hmget": true, "hgetall": true, "hlen": true, "hexists": true, "hkeys": true, "hvals": true,
	"hstrlen": true, "hscan": true, "hrandfield": true,
	"lrange": true, "llen": true, "lindex": true, "lpos": true,
	"smembers": true, "sismember": true, "smismember": true, "scard": true, "sscan": true,
	"srandmember": true, "sinter": true, "sunion": true, "sdiff": true, "sintercard": true,
	"zrange": true, "zrangebyscore": true, "zrevrange": true, "zrevrangebyscore": true, "zrangebylex": true,
	"zscore": true, "zmscore": true, "zcard": true, "zcount": true, "zrank": true, "zrevrank": true,
	"zscan": true, "zlexcount": true, "zrandmember": true,
	"xrange": true, "xrevrange": true, "xlen": true, "xread": true, "xinfo": true, "xpending": true,
	"scan": true, "dbsize": true, "ping": true, "echo": true, "info": true, "time": true,
	"memory": true, "object": true, "slowlog": true, "latency": true,
	"evalsha_ro": true, "eval_ro": true, "fcall_ro": true, "bitcount": true, "getbit": true, "bitpos": true,
	"pfcount": true, "geopos": true, "geodist": true, "geohash": true, "georadius_ro": true, "geosearch": true,
	"hello": true, "select": true, "readonly": true, "command": true,
}

// Idempotent reports whether a command (its arguments as go-redis's
// Cmder.Args gives them, name first) may be sent twice with the effect
// and reply of once: the read-only commands, and a plain SET (no NX, XX,
// GET or KEEPTTL), which writes the same value and answers OK again.
// Everything else, scripts included, is a write whose lost reply must not
// be retried.
func Idempotent(args []any) bool {
	if len(args) == 0 {
		return false
	}
	name, _ := args[0].(string)
	name = strings.ToLower(name)
	if readOnly[name] {
		return true
	}
	if name != "set" || len(args) < 3 {
		return false
	}
	for _, a := range args[3:] {
		s, ok := a.(string)
		if !ok {
			continue
		}
		switch strings.ToUpper(s) {
		case "NX", "XX", "GET", "KEEPTTL":
			return false
		}
	}
	return true
}
