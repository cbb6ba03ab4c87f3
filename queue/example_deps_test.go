package queue_test

import (
	"context"
	"fmt"
	"time"

	"github.com/rediskit/rediskit/internal/redistest"
	"github.com/rediskit/rediskit/queue"
)

// A flow parent's children by outcome, one child detached from it, and
// the others removed while still pending: the parent, left without
// children to wait for, moves to wait.
func ExampleJob_Dependencies() {
	ctx := context.Background()
	rdb := redistest.ExampleClient()
	defer rdb.Close()
	q, err := queue.New(rdb, "orders", queue.Options{Prefix: "{example-deps}"})
	if err != nil {
		panic(err)
	}
	_ = q.Obliterate(ctx, true)
	_, err = q.AddFlow(ctx, queue.FlowJob{Name: "ship", Opts: queue.JobOptions{JobID: "ship-1"}, Children: []queue.FlowJob{
		{Name: "pick", Opts: queue.JobOptions{JobID: "pick-1"}},
		{Name: "pack", Opts: queue.JobOptions{JobID: "pack-1"}},
		{Name: "label", Opts: queue.JobOptions{JobID: "label-1", Delay: time.Hour}},
	}})
	if err != nil {
		panic(err)
	}
	parent, err := q.GetJob(ctx, "ship-1")
	if err != nil {
		panic(err)
	}
	n, err := parent.DependenciesCount(ctx)
	if err != nil {
		panic(err)
	}
	fmt.Println("pending children:", n.Unprocessed)

	label, err := q.GetJob(ctx, "label-1")
	if err != nil {
		panic(err)
	}
	detached, err := label.RemoveChildDependency(ctx)
	if err != nil {
		panic(err)
	}
	d, err := parent.Dependencies(ctx, queue.DependenciesOptions{})
	if err != nil {
		panic(err)
	}
	fmt.Println("label detached:", detached, "- still pending:", len(d.Unprocessed))

	if err := parent.RemoveUnprocessedChildren(ctx); err != nil {
		panic(err)
	}
	s, err := q.State(ctx, "ship-1")
	if err != nil {
		panic(err)
	}
	fmt.Println("parent:", s)
	// Output:
	// pending children: 3
	// label detached: true - still pending: 2
	// parent: waiting
}

// A flow added under an existing job: the job gains the flow's root as a
// child to wait for (a running handler waits with MoveToWaitingChildren).
func ExampleQueue_AddFlow_parent() {
	ctx := context.Background()
	rdb := redistest.ExampleClient()
	defer rdb.Close()
	q, err := queue.New(rdb, "orders", queue.Options{Prefix: "{example-subflow}"})
	if err != nil {
		panic(err)
	}
	_ = q.Obliterate(ctx, true)
	host, err := q.Add(ctx, "ship", nil, queue.WithJobID("ship-2"))
	if err != nil {
		panic(err)
	}
	hostJob, err := q.GetJob(ctx, host.ID)
	if err != nil {
		panic(err)
	}
	ref := hostJob.Ref()
	ids, err := q.AddFlow(ctx, queue.FlowJob{Name: "invoice", Opts: queue.JobOptions{JobID: "invoice-2", Parent: &ref},
		Children: []queue.FlowJob{{Name: "tax", Opts: queue.JobOptions{JobID: "tax-2"}}}})
	if err != nil {
		panic(err)
	}
	n, err := hostJob.DependenciesCount(ctx)
	if err != nil {
		panic(err)
	}
	fmt.Println("added", ids, "- ship-2 waits for", n.Unprocessed)
	// Output:
	// added [invoice-2 tax-2] - ship-2 waits for 1
}

// A flow tree read back, as Node's FlowProducer.getFlow reads it.
func ExampleQueue_GetFlow() {
	ctx := context.Background()
	rdb := redistest.ExampleClient()
	defer rdb.Close()
	q, err := queue.New(rdb, "orders", queue.Options{Prefix: "{example-getflow}"})
	if err != nil {
		panic(err)
	}
	_ = q.Obliterate(ctx, true)
	_, err = q.AddFlow(ctx, queue.FlowJob{Name: "ship", Opts: queue.JobOptions{JobID: "ship-3"}, Children: []queue.FlowJob{
		{Name: "pick", Opts: queue.JobOptions{JobID: "pick-3"},
			Children: []queue.FlowJob{{Name: "count", Opts: queue.JobOptions{JobID: "count-3"}}}},
	}})
	if err != nil {
		panic(err)
	}
	tree, err := q.GetFlow(ctx, "ship-3", queue.GetFlowOptions{})
	if err != nil {
		panic(err)
	}
	var show func(n *queue.FlowNode, indent string)
	show = func(n *queue.FlowNode, indent string) {
		fmt.Println(indent + n.Job.Name + " " + n.Job.ID)
		for _, c := range n.Children {
			show(c, indent+"  ")
		}
	}
	show(tree, "")
	// Output:
	// ship ship-3
	//   pick pick-3
	//     count count-3
}
