package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"
)

// Dependencies are a flow parent's children by outcome, keyed or listed
// by child job key ("<prefix>:<queue>:<id>"), as Node's
// job.getDependencies() returns them.
type Dependencies struct {
	// Processed maps each completed child to its return value (JSON).
	Processed map[string]json.RawMessage
	// Unprocessed lists the children still pending.
	Unprocessed []string
	// Ignored maps each child that failed under IgnoreDependencyOnFailure
	// or ContinueParentOnFailure to its failure reason.
	Ignored map[string]string
	// Failed lists the children that failed under FailParentOnFailure.
	Failed []string
	// NextProcessed, NextUnprocessed, NextIgnored and NextFailed are the
	// cursors of the next pages in the paged form; 0 when that kind was
	// read to its end (or not asked for).
	NextProcessed, NextUnprocessed, NextIgnored, NextFailed uint64
}

// DependenciesPage asks for one page of one kind of children: from
// Cursor (0 for the first page, then the Next cursor returned) about
// Count of them (0 means 20, Node's default). For Processed, Unprocessed
// and Ignored, Count is a hint to HSCAN/SSCAN, as in Node: a small hash or
// set comes back whole.
type DependenciesPage struct {
	Cursor uint64
	Count  int
}

// DependenciesOptions selects the paged form of Job.Dependencies: only the
// kinds given are read, one page each. The zero value reads every kind
// whole.
type DependenciesOptions struct {
	Processed, Unprocessed, Ignored, Failed *DependenciesPage
}

// defaultDepCount is Node's page size for getDependencies.
const defaultDepCount = 20

func (p *DependenciesPage) count() int64 {
	if p.Count <= 0 {
		return defaultDepCount
	}
	return int64(p.Count)
}

// Dependencies returns the job's flow children by outcome, as Node's
// job.getDependencies(opts): with zero opts every kind whole, else one
// page of each kind opts names (cursors as Node's; Failed is paged by
// rank: Node 6.7.0 reads ranks Cursor..Count-1 there, which is empty for
// any page after the first, while this reads Cursor..Cursor+Count-1). A
// job without children (or gone) has none.
func (j *Job) Dependencies(ctx context.Context, opts DependenciesOptions) (Dependencies, error) {
	dk := j.q.k.deps(j.ID)
	p := j.q.rdb.Pipeline()
	var d Dependencies
	full := opts == DependenciesOptions{}
	var processed, ignored *redis.MapStringStringCmd
	var unprocessed, failed *redis.StringSliceCmd
	var pScan, uScan, iScan *redis.ScanCmd
	switch {
	case full:
		processed = p.HGetAll(ctx, dk.processed)
		unprocessed = p.SMembers(ctx, dk.dependencies)
		ignored = p.HGetAll(ctx, dk.failed)
		failed = p.ZRange(ctx, dk.unsuccessful, 0, -1)
	default:
		if o := opts.Processed; o != nil {
			pScan = p.HScan(ctx, dk.processed, o.Cursor, "", o.count())
		}
		if o := opts.Unprocessed; o != nil {
			uScan = p.SScan(ctx, dk.dependencies, o.Cursor, "", o.count())
		}
		if o := opts.Ignored; o != nil {
			iScan = p.HScan(ctx, dk.failed, o.Cursor, "", o.count())
		}
		if o := opts.Failed; o != nil {
			start := int64(o.Cursor)
			failed = p.ZRange(ctx, dk.unsuccessful, start, start+o.count())
		}
	}
	if _, err := p.Exec(ctx); err != nil {
		return Dependencies{}, fmt.Errorf("queue: job %s dependencies: %w", j.ID, err)
	}
	pairs := func(kv []string) map[string]string {
		m := make(map[string]string, len(kv)/2)
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	raw := func(m map[string]string) map[string]json.RawMessage {
		out := make(map[string]json.RawMessage, len(m))
		for k, v := range m {
			out[k] = json.RawMessage(v)
		}
		return out
	}
	if full {
		d.Processed, d.Unprocessed, d.Ignored, d.Failed = raw(processed.Val()), unprocessed.Val(), ignored.Val(), failed.Val()
		return d, nil
	}
	if pScan != nil {
		kv, next := pScan.Val()
		d.Processed, d.NextProcessed = raw(pairs(kv)), next
	}
	if uScan != nil {
		d.Unprocessed, d.NextUnprocessed = uScan.Val()
	}
	if iScan != nil {
		kv, next := iScan.Val()
		d.Ignored, d.NextIgnored = pairs(kv), next
	}
	if failed != nil {
		// one more than the page was read: it tells whether a next page exists
		got, n := failed.Val(), opts.Failed.count()
		if int64(len(got)) > n {
			got, d.NextFailed = got[:n], opts.Failed.Cursor+uint64(n)
		}
		d.Failed = got
	}
	return d, nil
}

// DependencyCounts are the number of a flow parent's children by outcome
// (see Dependencies).
type DependencyCounts struct {
	Processed, Unprocessed, Ignored, Failed int64
}

// DependenciesCount counts the job's flow children by outcome in one round
// trip, as Node's job.getDependenciesCount().
func (j *Job) DependenciesCount(ctx context.Context) (DependencyCounts, error) {
	dk := j.q.k.deps(j.ID)
	p := j.q.rdb.Pipeline()
	pr := p.HLen(ctx, dk.processed)
	un := p.SCard(ctx, dk.dependencies)
	ig := p.HLen(ctx, dk.failed)
	fa := p.ZCard(ctx, dk.unsuccessful)
	if _, err := p.Exec(ctx); err != nil {
		return DependencyCounts{}, fmt.Errorf("queue: job %s dependencies count: %w", j.ID, err)
	}
	return DependencyCounts{Processed: pr.Val(), Unprocessed: un.Val(), Ignored: ig.Val(), Failed: fa.Val()}, nil
}

// RemoveChildDependency detaches the job, a pending flow child, from its
// parent, as Node's job.removeChildDependency(): it leaves the parent's
// dependencies and loses its parent fields, and a parent left without
// pending children moves from waiting-children to wait. It returns false
// when the job was not a pending child of that parent (it has finished,
// or was detached already); ErrJobNotFound when the job is gone, ErrParent
// when it has no parent or its parent is gone.
func (j *Job) RemoveChildDependency(ctx context.Context) (bool, error) {
	pk := j.Fields["parentKey"]
	if pk == "" {
		return false, fmt.Errorf("%w: job %s has no parent", ErrParent, j.ID)
	}
	if i := strings.LastIndexByte(pk, ':'); i > 0 {
		if err := j.q.sameSlot(pk[:i]); err != nil {
			return false, err
		}
	}
	c, err := childDepScript.Run(ctx, j.q.rdb, []string{j.q.k.job(j.ID), pk}).Int64()
	if err != nil {
		return false, fmt.Errorf("queue: job %s remove child dependency: %w", j.ID, childDepScript.Err(err))
	}
	switch c {
	case 0:
		delete(j.Fields, "parentKey")
		delete(j.Fields, "parent")
		return true, nil
	case 1:
		return false, nil
	case -5:
		return false, fmt.Errorf("%w: parent %s of job %s is gone", ErrParent, pk, j.ID)
	}
	return false, j.jobCode("remove child dependency", c)
}

// RemoveUnprocessedChildren removes the job's pending flow children, as
// Node's job.removeUnprocessedChildren(): each one that no worker holds
// and that is not in failed is removed with its own pending children (any
// depth; events "removed"); completed and failed children stay. A parent
// left without pending children moves to wait, as when its children are
// removed one by one. A job without children (or gone) is left as it is.
func (j *Job) RemoveUnprocessedChildren(ctx context.Context) error {
	k := j.q.k
	args, set := argv(argRmSize)
	set(argRmPrefix, k.base)
	set(argRmID, j.ID)
	set(argRmChildren, "1")
	set(argRmPending, "1")
	if err := removeScript.Run(ctx, j.q.rdb, []string{k.job(j.ID), k.repeat}, args...).Err(); err != nil {
		return fmt.Errorf("queue: job %s remove unprocessed children: %w", j.ID, removeScript.Err(err))
	}
	return nil
}

// FlowNode is one job of a flow tree as GetFlow reads it, with its
// children (completed, pending, failed and ignored ones, in Node's order).
type FlowNode struct {
	Job      *Job
	Children []*FlowNode
}

// GetFlowOptions bounds GetFlow; the zero value is Node's default.
type GetFlowOptions struct {
	// Depth is the number of levels read, the root's included (0 means
	// 10); deeper children are not read.
	Depth int
	// MaxChildren is about how many children of each kind are read per
	// job (0 means 20), a hint to HSCAN/SSCAN as in Node.
	MaxChildren int
}

// GetFlow reads the flow tree under job id, as Node's
// FlowProducer.getFlow({id, queueName, depth, maxChildren}): each job with
// up to MaxChildren children of each kind, Depth levels deep, children in
// any queue of the prefix they name. A child whose job is gone is left
// out (Node puts undefined there). ErrJobNotFound when job id is gone.
func (q *Queue) GetFlow(ctx context.Context, id string, o GetFlowOptions) (*FlowNode, error) {
	if o.Depth <= 0 {
		o.Depth = 10
	}
	if o.MaxChildren <= 0 {
		o.MaxChildren = defaultDepCount
	}
	j, err := q.GetJob(ctx, id)
	if err != nil {
		return nil, err
	}
	queues := map[string]*Queue{strings.TrimSuffix(q.k.base, ":"): q}
	return q.flowNode(ctx, j, o.Depth, int64(o.MaxChildren), queues)
}

// flowNode reads job j's node of a flow tree, depth levels deep; queues
// holds the queues met so far by queue key.
func (q *Queue) flowNode(ctx context.Context, j *Job, depth int, perKind int64, queues map[string]*Queue) (*FlowNode, error) {
	n := &FlowNode{Job: j}
	if depth <= 1 {
		return n, nil
	}
	keys, err := j.childKeys(ctx, perKind)
	if err != nil {
		return nil, err
	}
	for _, ck := range keys {
		i := strings.LastIndexByte(ck, ':')
		if i <= 0 {
			continue
		}
		qk, cid := ck[:i], ck[i+1:]
		cq, ok := queues[qk]
		if !ok {
			p := strings.LastIndexByte(qk, ':')
			if p < 0 {
				return nil, fmt.Errorf("%w: flow child key %q names no queue", ErrCorruptJob, ck)
			}
			if cq, err = New(q.rdb, qk[p+1:], Options{Prefix: qk[:p]}); err != nil {
				return nil, err
			}
			queues[qk] = cq
		}
		cj, err := cq.GetJob(ctx, cid)
		if errors.Is(err, ErrJobNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		c, err := cq.flowNode(ctx, cj, depth-1, perKind, queues)
		if err != nil {
			return nil, err
		}
		n.Children = append(n.Children, c)
	}
	return n, nil
}

// childKeys reads up to about perKind children keys of each kind, in Node's
// getFlow order: completed, pending, failed (failParentOnFailure), then
// ignored.
func (j *Job) childKeys(ctx context.Context, perKind int64) ([]string, error) {
	dk := j.q.k.deps(j.ID)
	p := j.q.rdb.Pipeline()
	processed := p.HScan(ctx, dk.processed, 0, "", perKind)
	pending := p.SScan(ctx, dk.dependencies, 0, "", perKind)
	failed := p.ZRange(ctx, dk.unsuccessful, 0, perKind-1)
	ignored := p.HScan(ctx, dk.failed, 0, "", perKind)
	if _, err := p.Exec(ctx); err != nil {
		return nil, fmt.Errorf("queue: job %s children: %w", j.ID, err)
	}
	var keys []string
	fields := func(kv []string) {
		for i := 0; i < len(kv); i += 2 {
			keys = append(keys, kv[i])
		}
	}
	kv, _ := processed.Val()
	fields(kv)
	members, _ := pending.Val()
	keys = append(keys, members...)
	keys = append(keys, failed.Val()...)
	kv, _ = ignored.Val()
	fields(kv)
	return keys, nil
}
