package session

import (
	"strconv"
	"strings"
)

// Every Redis key of the package is built here.
//
//	<prefix>{<id>}              hash: one session (fields + "$" metadata); own slot per session
//	<prefix>user:{<userID>}     zset: ids of the user's sessions, scored by the time they were added (unix ms)
//	<prefix>{active}:<bucket>   HyperLogLog: ids created or touched in one idle window (Active)
//
// FormatConnectRedis has one key per session, connect-redis's, and no
// other (Node's store.all() and length() SCAN "<prefix>*" and would trip
// over any other key there):
//
//	<prefix><sid>               string: express-session's session object as JSON
//
// <id> is the base64url SHA-256 of the token, so the token itself is never
// stored. A session's hash is alone in its slot; the user index lives in
// the user's slot, so work across both is done as separate commands.
type keys struct{ prefix string }

// sess is the key of session sid in FormatConnectRedis: connect-redis's
// "<prefix><sid>", no hash tag (every operation on it is single-key).
func (k keys) sess(sid string) string { return k.prefix + sid }

// session is the hash of the session with storage id id.
func (k keys) session(id string) string { return k.prefix + "{" + id + "}" }

// user is the index of userID's sessions.
func (k keys) user(userID string) string { return k.prefix + "user:{" + userID + "}" }

// active is the HyperLogLog of sessions seen in time bucket b. All buckets
// share one hash tag so PFCOUNT can merge two of them in one call.
func (k keys) active(b int64) string {
	return k.prefix + "{active}:" + strconv.FormatInt(b, 10)
}

// validPrefix reports whether p can prefix keys: braces would change the
// hash tag of every key.
func validPrefix(p string) bool { return !strings.ContainsAny(p, "{}") }
