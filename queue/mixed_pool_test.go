package queue

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rediskit/rediskit/internal/redisproc"
	"github.com/rediskit/rediskit/internal/redistest"
)

// runCounter counts handler runs per job id, from Go handlers and from
// the "start" lines of Node workers.
type runCounter struct {
	mu     sync.Mutex
	runs   map[string]int
	bySide map[string]int
}

func newRunCounter() *runCounter {
	return &runCounter{runs: map[string]int{}, bySide: map[string]int{}}
}

func (c *runCounter) note(side, id string) {
	c.mu.Lock()
	c.runs[id]++
	c.bySide[side]++
	c.mu.Unlock()
}

// follow counts the runs a Node worker reports until its output ends.
func (c *runCounter) follow(wg *sync.WaitGroup, p *nodeProc) {
	wg.Go(func() {
		for m := range p.Lines {
			if m["event"] == "start" {
				c.note("node", fmt.Sprint(m["id"]))
			}
		}
	})
}

// mixedFlows are the flows of the mixed run: Node trees of depth 3 (a
// root, two middles, two leaves each) and Go trees of depth 2 (a root and
// three children), all in queue q.
const (
	mixedNodeFlows = 40
	mixedGoFlows   = 40
	mixedNodeTree  = 7
	mixedGoTree    = 4
)

func mixedNodeFlowTrees() []any {
	var flows []any
	for i := range mixedNodeFlows {
		var mids []any
		for m := range 2 {
			var leaves []any
			for l := range 2 {
				leaves = append(leaves, map[string]any{"name": "leaf", "queueName": "q", "data": map[string]any{"f": i, "m": m, "l": l}})
			}
			mids = append(mids, map[string]any{"name": "mid", "queueName": "q", "data": map[string]any{"f": i, "m": m, "childrenValues": true}, "children": leaves})
		}
		flows = append(flows, map[string]any{"name": "root", "queueName": "q", "data": map[string]any{"f": i, "childrenValues": true}, "children": mids})
	}
	return flows
}

// TestMixedPoolFailover: on a private 3+3 cluster, a Node producer and a
// Go producer add 10,000 jobs to one queue worked by two Node workers
// (BullMQ Workers sharing one Node process) and two Go workers, with job schedulers (every and cron, from Node and Go) and
// flows (depth 3 from Node's FlowProducer, depth 2 from Queue.AddFlow;
// every parent returns its children's values) live, and a manual master failover in the middle. Every job completes;
// each runs once, except jobs whose lock was lost in the failover (moved
// back by the stalled check, so their stalled counter is set), which the
// test counts and bounds by the jobs in flight; every flow parent runs
// after all its children finished; every scheduler keeps producing runs
// after the failover; no job is left active.
func TestMixedPoolFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a private cluster")
	}
	needNode(t)
	const (
		plain       = 10000
		concurrency = 20
	)
	cl := redistest.NewCluster(t, redisproc.ClusterOptions{})
	e := clusterEnv(t, cl, "{mix}")
	tg := e.tg
	ctx := context.Background()
	rc := newRunCounter()
	h := func(ctx context.Context, j *Job) (any, error) {
		rc.note("go", j.ID)
		var d struct{ ChildrenValues bool }
		if err := j.Decode(&d); err != nil {
			return nil, err
		}
		if d.ChildrenValues {
			return j.ChildrenValues(ctx)
		}
		return j.ID, nil
	}
	wo := WorkerOptions{Concurrency: concurrency, LockDuration: 5 * time.Second, StalledInterval: time.Second}
	gw := []*Worker{e.run(t, h, wo), e.run(t, h, wo)}
	// Two BullMQ Workers on q, in one Node process (one start-up).
	var wg sync.WaitGroup
	node := startNodeScript(t, tg, "mixedpool.js", e.prefix, "work", e.name+","+e.name,
		map[string]any{"concurrency": concurrency, "lockDuration": 5000, "stalledInterval": 1000})
	rc.follow(&wg, node)

	// Schedulers from both sides, then the flows, then 10,000 jobs from
	// both producers at once.
	scheds := []schedSpec{
		{ID: "node-every", Repeat: Repeat{Every: 300 * time.Millisecond}, NodeTemplate: map[string]any{"name": "tick"}},
		{ID: "node-cron", Repeat: Repeat{Pattern: "* * * * * *", TZ: "Europe/Berlin"}, NodeTemplate: map[string]any{"name": "cron"}},
	}
	e.upsertSchedulers(t, "node", scheds)
	e.upsertSchedulers(t, "go", []schedSpec{{ID: "go-every", Repeat: Repeat{Every: 400 * time.Millisecond}, Template: JobTemplate{Name: "gotick"}}})
	schedIDs := []string{"node-every", "node-cron", "go-every"}
	runNode(t, tg, e.prefix, "flow", e.name, map[string]any{"flows": mixedNodeFlowTrees()})
	for i := range mixedGoFlows {
		root := FlowJob{Name: "root", Data: map[string]any{"f": i, "childrenValues": true}}
		for c := range mixedGoTree - 1 {
			root.Children = append(root.Children, FlowJob{Name: "child", Data: map[string]int{"f": i, "c": c}})
		}
		if _, err := e.q.AddFlow(ctx, root); err != nil {
			t.Fatal(err)
		}
	}
	flowJobs := mixedNodeFlows*mixedNodeTree + mixedGoFlows*mixedGoTree
	total := int64(plain + flowJobs)
	doneJobs := func() int64 {
		ids, _ := e.rdb.ZRange(ctx, e.q.k.completed, 0, -1).Result()
		n := int64(0)
		for _, id := range ids {
			if !strings.HasPrefix(id, "repeat:") {
				n++
			}
		}
		return n
	}
	// Both producers add 10,000 jobs in two halves; the second half is
	// added while the queue's master fails over (manually, so no write is
	// lost), once 1,000 jobs are done.
	produce := func() {
		goAdd := make(chan error, 1)
		go func() {
			var bulk []BulkJob
			for k := range plain / 4 {
				bulk = append(bulk, BulkJob{Name: "gen", Data: map[string]int{"k": k}})
			}
			_, err := e.q.AddBulk(ctx, bulk)
			goAdd <- err
		}()
		runNode(t, tg, e.prefix, "produce", e.name, map[string]any{"generate": map[string]any{"n": plain / 4}})
		if err := <-goAdd; err != nil {
			t.Fatal(err)
		}
	}
	produce()
	redistest.Eventually(t, 60*time.Second, "1,000 jobs done", func() bool { return doneJobs() >= 1000 })
	master, err := cl.MasterForKey(ctx, e.q.k.wait)
	if err != nil {
		t.Fatal(err)
	}
	reps, err := cl.ReplicaOf(ctx, master)
	if err != nil || len(reps) == 0 {
		t.Fatalf("replicas of %s: %v %v", master.Addr(), reps, err)
	}
	atStart, started := doneJobs(), time.Now()
	failover := make(chan error, 1)
	go func() { failover <- cl.Failover(ctx, reps[0]) }()
	produce()
	if err := <-failover; err != nil {
		t.Fatal(err)
	}
	failedOver := time.Now()
	t.Logf("failed over %s -> %s in %v: %d of %d jobs done before, %d after", master.Addr(), reps[0].Addr(),
		failedOver.Sub(started).Round(time.Millisecond), atStart, total, doneJobs())

	redistest.Eventually(t, 120*time.Second, "every job completed", func() bool { return doneJobs() == total })
	// Each scheduler produces runs after the failover.
	redistest.Eventually(t, 30*time.Second, "3 scheduler runs after the failover each", func() bool {
		ids, _ := e.rdb.ZRange(ctx, e.q.k.completed, 0, -1).Result()
		for _, sid := range schedIDs {
			n := 0
			for _, ms := range runsOf(t, ids, sid) {
				if ms > failedOver.UnixMilli() {
					n++
				}
			}
			if n < 3 {
				return false
			}
		}
		return true
	})
	for _, sid := range schedIDs {
		if err := e.q.RemoveScheduler(ctx, sid); err != nil {
			t.Fatal(err)
		}
	}
	redistest.Eventually(t, 30*time.Second, "nothing left to run", func() bool {
		c, err := e.q.Counts(ctx)
		wc, _ := e.rdb.ZCard(ctx, e.q.k.waitingChildren).Result()
		return err == nil && c.Active+c.Waiting+c.Prioritized+c.Failed+wc == 0
	})
	node.Stop()
	wg.Wait()

	checkMixedRuns(t, e, rc, total, schedIDs, concurrency*4)
	checkFlowOrder(t, e, flowJobs)
	for _, w := range gw {
		st := w.Stats()
		t.Logf("go worker: completed %d, lost locks %d, stalled moved %d, errors %d", st.Completed, st.LostLocks, st.Stalled, st.Errors)
	}
}

// checkMixedRuns: every completed job ran, once unless the stalled check
// moved it (its lock was lost), and at most inFlight jobs ran twice.
func checkMixedRuns(t *testing.T, e *env, rc *runCounter, total int64, schedIDs []string, inFlight int) {
	t.Helper()
	ctx := context.Background()
	completed, err := e.rdb.ZRange(ctx, e.q.k.completed, 0, -1).Result()
	if err != nil {
		t.Fatal(err)
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var plainDone int64
	for _, id := range completed {
		if !strings.HasPrefix(id, "repeat:") {
			plainDone++
		}
		if rc.runs[id] == 0 {
			t.Errorf("job %s completed without a run", id)
		}
	}
	if plainDone != total {
		t.Errorf("%d jobs completed, want %d", plainDone, total)
	}
	var twice []string
	for id, n := range rc.runs {
		if n > 1 {
			twice = append(twice, id)
		}
	}
	pipe := e.rdb.Pipeline()
	stc := make([]*redis.StringCmd, len(twice))
	for i, id := range twice {
		stc[i] = pipe.HGet(ctx, e.q.k.job(id), "stc")
	}
	_, _ = pipe.Exec(ctx)
	for i, id := range twice {
		if n, _ := strconv.Atoi(stc[i].Val()); n < 1 {
			t.Errorf("job %s ran %d times but its lock was never lost (stc %q)", id, rc.runs[id], stc[i].Val())
		}
	}
	if len(twice) > inFlight {
		t.Errorf("%d jobs ran twice, more than the %d in flight", len(twice), inFlight)
	}
	gaps := 0
	for _, sid := range schedIDs {
		runs := runsOf(t, completed, sid)
		for i := 1; i < len(runs); i++ {
			if runs[i] == runs[i-1] {
				t.Errorf("scheduler %s: run %d twice", sid, runs[i])
			}
		}
		gaps += len(runs)
	}
	t.Logf("runs: go %d, node %d; jobs run twice after a lost lock: %d; scheduler runs: %d", rc.bySide["go"], rc.bySide["node"], len(twice), gaps)
}

// checkFlowOrder: every parent completed, and its return value (its
// children's values, read by the run) holds every child: it ran after all
// its children had finished.
func checkFlowOrder(t *testing.T, e *env, flowJobs int) {
	t.Helper()
	ctx := context.Background()
	ids, err := e.rdb.ZRange(ctx, e.q.k.completed, 0, -1).Result()
	if err != nil {
		t.Fatal(err)
	}
	pipe := e.rdb.Pipeline()
	cmds := make([]*redis.SliceCmd, len(ids))
	for i, id := range ids {
		cmds[i] = pipe.HMGet(ctx, e.q.k.job(id), "parentKey", "returnvalue")
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	returned := map[string]string{}
	parentOf := map[string]string{}
	for i, id := range ids {
		v := cmds[i].Val()
		key := e.q.k.job(id)
		returned[key], _ = v[1].(string)
		if pk, _ := v[0].(string); pk != "" {
			parentOf[key] = pk
		}
	}
	inFlow := map[string]bool{}
	for child, parent := range parentOf {
		inFlow[child], inFlow[parent] = true, true
		rv, ok := returned[parent]
		if !ok {
			t.Errorf("%s: parent %s not completed", child, parent)
			continue
		}
		var seen map[string]json.RawMessage
		if err := json.Unmarshal([]byte(rv), &seen); err != nil || seen[child] == nil {
			t.Errorf("parent %s ran without the value of its child %s (it saw %s)", parent, child, rv)
		}
	}
	if len(inFlow) != flowJobs {
		t.Errorf("%d completed flow jobs, want %d", len(inFlow), flowJobs)
	}
}
