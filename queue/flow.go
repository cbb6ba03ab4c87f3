package queue

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"
)

// FlowJob is one node of a flow (BullMQ FlowProducer): a job that runs
// after all its Children completed (it waits in "waiting-children" until
// then) and whose handler can read their results (Job.ChildrenValues).
type FlowJob struct {
	Name string
	Data any
	// Queue is the node's queue name; "" means the queue AddFlow is called
	// on. Every queue of a flow shares that queue's prefix.
	Queue string
	// Opts are the job options; Opts.JobID "" gives the node a random
	// UUID (as BullMQ 6 does), and the parent-failure policies
	// (FailParentOnFailure, ...) of a child apply to its parent.
	// Opts.Parent of a child is its flow parent (any value set is
	// replaced); of the root, an existing job to add the flow under.
	// Deduplication is for a root without Parent or Children only (a flow
	// of one job, then added as Add adds it): BullMQ 6.7.0 refuses it on a
	// node with a parent or with children, and so does AddFlow
	// (ErrInvalidOption).
	Opts     JobOptions
	Children []FlowJob
}

// AddFlow adds a flow, the whole tree in one atomic call, and returns the
// job ids in tree order (each parent before its children). Node workers
// run it as one added by Node's FlowProducer. On a cluster every queue of
// the flow must share one hash tag: put it in the prefix ("{bull}"), or
// give all queues the same tagged name part; otherwise ErrCrossSlot.
//
// A node whose custom id exists already is not added again: as with
// Node's FlowProducer, the existing job (event "duplicated", state left as
// it is) becomes a child of its new parent, counted as processed at once
// when it is completed, else as pending, unless it is the child of another
// parent that still exists (it stays that parent's; the new parent does
// not wait for it). Children of an existing node are added under it. A
// parent left without pending children after that leaves waiting-children.
//
// A root with Opts.Parent is added under that existing job, as Node's
// FlowProducer.add with opts.parent: the job gains the root as a pending
// dependency and its state is left as it is (a job in waiting-children
// waits for the root too; a job waiting, delayed or active is not moved,
// as in Node, so an active one's handler calls MoveToWaitingChildren to
// wait for it). A missing parent fails with ErrParent (nothing added), as
// does a root whose id exists as another live parent's child (Node throws
// too, after adding the rest of the flow under the existing root).
//
// A flow of one job (a root without Children or Parent) may have
// Opts.Deduplication: it is added as Add adds it, as Node's FlowProducer
// does, and the id returned is the job holding the dedup id when that job
// absorbs the add.
func (q *Queue) AddFlow(ctx context.Context, root FlowJob) ([]string, error) {
	if root.Opts.Deduplication != nil && len(root.Children) == 0 && root.Opts.Parent == nil {
		return q.addLeafRoot(ctx, root)
	}
	var args []any
	var ids []string
	var tags []string
	count := 0
	var add func(n *FlowJob, parent *JobRef) error
	add = func(n *FlowJob, parent *JobRef) error {
		name := n.Queue
		if name == "" {
			name = q.name
		}
		if err := checkName(name); err != nil {
			return err
		}
		o := n.Opts
		if err := o.validate(); err != nil {
			return err
		}
		if parent != nil {
			// a child's parent is its flow node; the root keeps its own
			o.Parent = parent
		}
		switch {
		case o.Deduplication != nil && len(n.Children) > 0:
			return fmt.Errorf("%w: flow job %q: deduplication options cannot be used on flow nodes with children", ErrInvalidOption, n.Name)
		case o.Deduplication != nil:
			return fmt.Errorf("%w: flow job %q: deduplication and parent options cannot be used together", ErrInvalidOption, n.Name)
		}
		if o.JobID == "" {
			o.JobID = uuid4()
		}
		data, err := encodeData(n.Data)
		if err != nil {
			return fmt.Errorf("queue: flow job %q data: %w", n.Name, err)
		}
		opts, err := json.Marshal(wireOpts{JobOptions: o, DelayMS: o.Delay.Milliseconds()})
		if err != nil {
			return fmt.Errorf("queue: flow job %q options: %w", n.Name, err)
		}
		base := newKeys(q.opts.prefix(), name).base
		tags = append(tags, hashTag(base))
		lifo, kids := "0", "0"
		if o.LIFO {
			lifo = "1"
		}
		if len(n.Children) > 0 {
			kids = "1"
		}
		node := make([]any, flowNodeSize)
		node[flowBase], node[flowID], node[flowName], node[flowData], node[flowOpts] = base, o.JobID, n.Name, data, string(opts)
		node[flowDelay], node[flowPriority], node[flowLIFO] = o.Delay.Milliseconds(), o.Priority, lifo
		parentKey, parentJSON := "", ""
		if o.Parent != nil {
			parentKey, parentJSON = o.Parent.key(), parentField(&o)
			tags = append(tags, hashTag(o.Parent.Queue+":"))
		}
		node[flowParentKey], node[flowParent], node[flowHasChildren] = parentKey, parentJSON, kids
		args = append(args, node...)
		ids = append(ids, o.JobID)
		count++
		for i := range n.Children {
			if err := add(&n.Children[i], &JobRef{ID: o.JobID, Queue: strings.TrimSuffix(base, ":")}); err != nil {
				return err
			}
		}
		return nil
	}
	if err := add(&root, nil); err != nil {
		return nil, err
	}
	if _, ok := q.rdb.(*redis.ClusterClient); ok {
		for _, tg := range tags {
			if tg == "" || tg != tags[0] {
				return nil, fmt.Errorf("%w: a flow's queues must share one hash tag (got %q)", ErrCrossSlot, tags)
			}
		}
	}
	head := make([]any, argFlowNodes-1, argFlowNodes-1+len(args))
	head[argFlowNow-1], head[argFlowCount-1] = q.now().UnixMilli(), count
	err := flowScript.Run(ctx, q.rdb, []string{q.k.meta}, append(head, args...)...).Err()
	if err != nil {
		err = flowScript.Err(err)
		if isCode(err, "parent") {
			return nil, fmt.Errorf("%w: flow: %w", ErrParent, err)
		}
		return nil, fmt.Errorf("queue: add flow: %w", err)
	}
	return ids, nil
}

// addLeafRoot adds a flow that is one deduplicated job: Node's
// FlowProducer adds it as Queue.add does.
func (q *Queue) addLeafRoot(ctx context.Context, root FlowJob) ([]string, error) {
	rq := q
	if root.Queue != "" && root.Queue != q.name {
		var err error
		if rq, err = New(q.rdb, root.Queue, q.opts); err != nil {
			return nil, err
		}
		rq.now = q.now
	}
	if root.Opts.JobID == "" {
		root.Opts.JobID = uuid4()
	}
	a, err := rq.Add(ctx, root.Name, root.Data, WithOptions(root.Opts))
	if err != nil {
		return nil, err
	}
	return []string{a.ID}, nil
}

// sameSlot refuses, on a cluster, a queue key ("<prefix>:<name>") whose
// hash tag differs from this queue's: a script touching both would fail.
func (q *Queue) sameSlot(queueKey string) error {
	if _, ok := q.rdb.(*redis.ClusterClient); !ok {
		return nil
	}
	if t := hashTag(queueKey + ":"); t == "" || t != hashTag(q.k.base) {
		return fmt.Errorf("%w: queue %q and this queue %q do not share one hash tag", ErrCrossSlot, queueKey, q.k.base)
	}
	return nil
}

// hashTag returns the first complete hash tag of key ("" when none).
func hashTag(key string) string {
	s := strings.IndexByte(key, '{')
	if s < 0 {
		return ""
	}
	e := strings.IndexByte(key[s+1:], '}')
	if e <= 0 {
		return ""
	}
	return key[s : s+e+2]
}

// uuid4 returns a random RFC 4122 version 4 UUID.
func uuid4() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}
