package dashboard

import (
	"fmt"
	"strings"
)

// queueRef names one BullMQ queue: every key is "<Prefix>:<Name>:<suffix>".
type queueRef struct {
	Prefix, Name string
}

// ID is the queue's id in the API: "<prefix>:<name>" (names have no ':',
// so the last ':' separates them).
func (q queueRef) ID() string { return q.Prefix + ":" + q.Name }

// parseQueueID splits an API queue id.
func parseQueueID(id string) (queueRef, error) {
	i := strings.LastIndexByte(id, ':')
	if i <= 0 || i == len(id)-1 {
		return queueRef{}, fmt.Errorf("%w: queue %q: want <prefix>:<name>", ErrBadRequest, id)
	}
	return queueRef{Prefix: id[:i], Name: id[i+1:]}, nil
}

// queueFromMeta returns the queue whose meta key is key ("<p>:<q>:meta").
func queueFromMeta(key string) (queueRef, bool) {
	base, ok := strings.CutSuffix(key, ":meta")
	if !ok {
		return queueRef{}, false
	}
	q, err := parseQueueID(base)
	return q, err == nil
}

// The BullMQ key suffixes the dashboard reads itself (the queue package
// builds the rest).
const (
	sufWait            = "wait"
	sufActive          = "active"
	sufPaused          = "paused"
	sufPrioritized     = "prioritized"
	sufPC              = "pc"
	sufDelayed         = "delayed"
	sufCompleted       = "completed"
	sufFailed          = "failed"
	sufWaitingChildren = "waiting-children"
	sufMeta            = "meta"
	sufMarker          = "marker"
	sufEvents          = "events"
	sufRepeat          = "repeat"
	sufMetricsDone     = "metrics:completed"
	sufMetricsFailed   = "metrics:failed"
)

// key is "<prefix>:<name>:<suffix>".
func (q queueRef) key(suffix string) string { return q.Prefix + ":" + q.Name + ":" + suffix }

// base is the job key prefix "<prefix>:<name>:".
func (q queueRef) base() string { return q.Prefix + ":" + q.Name + ":" }

func (q queueRef) job(id string) string       { return q.base() + id }
func (q queueRef) jobLock(id string) string   { return q.base() + id + ":lock" }
func (q queueRef) scheduler(id string) string { return q.base() + "repeat:" + id }

// stateKey is the list or zset of a state; "" for an unknown state.
func (q queueRef) stateKey(state string) string {
	switch state {
	case "waiting":
		return q.key(sufWait)
	case "active":
		return q.key(sufActive)
	case "prioritized":
		return q.key(sufPrioritized)
	case "delayed":
		return q.key(sufDelayed)
	case "completed":
		return q.key(sufCompleted)
	case "failed":
		return q.key(sufFailed)
	case "waiting-children":
		return q.key(sufWaitingChildren)
	}
	return ""
}

// states are every state the dashboard lists, in search order.
var states = []string{"failed", "completed", "waiting", "active", "delayed", "prioritized", "waiting-children"}
