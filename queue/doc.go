// Package queue is a job queue that is wire-compatible with BullMQ 6.7.0
// (Node): Go and Node producers and workers share one queue — same keys,
// same encodings, same events — so services can move from Node to Go one
// worker at a time.
//
// # Tour
//
// Producer:
//
//	q, err := queue.New(rdb, "emails", queue.Options{Prefix: "{bull}"})
//	added, err := q.Add(ctx, "welcome", map[string]string{"to": "a@b.c"},
//		queue.WithAttempts(3), queue.WithBackoff(queue.Backoff{Type: "exponential", Delay: 1000}))
//	_, err = q.AddBulk(ctx, jobs) // one round trip per 1,000 jobs
//
// Worker:
//
//	w, err := queue.NewWorker(rdb, "emails", func(ctx context.Context, j *queue.Job) (any, error) {
//		var msg Email
//		if err := j.Decode(&msg); err != nil {
//			return nil, fmt.Errorf("%w: %w", queue.ErrUnrecoverable, err)
//		}
//		return send(ctx, msg) // stored as the job's returnvalue
//	}, queue.WorkerOptions{Options: queue.Options{Prefix: "{bull}"}, Concurrency: 50})
//	err = w.Run(ctx) // until ctx ends; in-flight jobs finish first
//
// Events and inspection: NewEvents reads the events stream Node's
// QueueEvents reads; Queue.Counts, GetJob, Jobs/JobIDs (paged), Remove,
// RetryFailed, PromoteDelayed, Clean (active jobs no worker holds too),
// Drain, Obliterate, Pause/Resume,
// SetGlobalConcurrency, SetGlobalRateLimit.
//
// # How the worker works
//
// A worker keeps Concurrency slots. One fetch script moves up to all free
// slots' worth of jobs to active at once (promoting due delayed jobs,
// honouring pause, global concurrency and rate limits). Finished jobs are
// collected and completed, failed or retried in batches by one script
// that also fetches the next jobs: at steady state a round trip carries
// many jobs. When nothing is ready the worker blocks on BZPOPMIN on the
// queue's marker (on a connection of its own, named for Node's
// getWorkers()), never polling; producers, Go or Node, wake it. Held locks
// are renewed for all jobs in one call on their own timer, whatever the
// handlers do; a job whose lock is lost has its context cancelled with
// ErrLockLost and its late result is refused and counted, not retried.
// The stalled-job check runs every StalledInterval across all workers.
// Redis errors are retried with backoff, so a worker rides through a
// failover by itself (on a cluster its blocking connection reloads its
// slot map when an error hints at a topology change, finding a promoted
// replica in well under a second; give the worker a redisconn client so
// that its other commands do too); WorkerStats.LastOK / Worker.Healthy
// expose it.
//
// # Cluster
//
// Every key is "<prefix>:<name>:<suffix>"; on a Redis Cluster a hash tag
// must sit in the prefix ("{bull}") or the name ("{emails}") so that all
// keys, job keys included, share a slot. New rejects other queues on a
// cluster client with ErrCrossSlot rather than rewriting keys Node would
// not find.
//
// # Flows, deduplication, logs, metrics
//
// Queue.AddFlow writes a parent with its children (any depth, one atomic
// call, one hash tag per flow on a cluster) as Node's FlowProducer does.
// Finishing a child, on either side, updates its parent (":processed",
// ":dependencies", the failure policies fpof/cpof/idof/rdof) and moves it
// on when nothing is pending; Job.ChildrenValues reads what Node's
// getChildrenValues reads. A running job can add children of its own
// (WithParent(j.Ref())) and wait for them: Job.MoveToWaitingChildren,
// then return ErrWaitingChildren (Node's moveToWaitingChildren and
// WaitingChildrenError); it runs again, on a Go or Node worker, when they
// are done. Queue.Remove removes a job with its children (KeepChildren to
// keep them) and releases a parent whose last pending child it removes;
// Queue.Clean and Drain of a child delete a parent left without children
// in the same queue and move one in another queue to wait, as Node's
// remove, clean and drain do. Job.Dependencies and DependenciesCount read
// a parent's children by outcome (Node's getDependencies, whole or
// paged); Job.RemoveChildDependency detaches a pending child and
// Job.RemoveUnprocessedChildren removes the pending ones, a parent left
// without pending children moving to wait; AddFlow with a root Parent adds
// a flow under an existing job, as Node's FlowProducer.add with
// opts.parent, and links nodes whose ids exist as Node does;
// Queue.GetFlow reads a tree as Node's getFlow.
// JobOptions.Deduplication covers simple, throttle, extend,
// debounce (replace), reschedule and keepLastIfActive, and the dedup id
// is released on completion, final failure, Remove and Clean as Node does.
// Like Node, a flow takes deduplication only on a root without children
// or parent. Job.Log honours keepLogs; WorkerOptions.Metrics writes
// metrics:* for Queue.Metrics, Node's getMetrics and bull-board. Job.UpdateData,
// ChangePriority, ChangeDelay, Promote and Queue.Workers match Node's.
//
// A job with an option this worker does not know (a newer BullMQ, BullMQ
// Pro) fails without running, its reason naming the option; Run refuses a
// queue whose meta.version is not BullMQ 6 (ErrUnsupported).
//
// # Job schedulers
//
// UpsertScheduler creates or replaces a BullMQ job scheduler (Node's
// upsertJobScheduler): Every or a cron Pattern with TZ, a Limit,
// StartDate/EndDate, and a JobTemplate for its runs. Each run is a job
// "repeat:<id>:<millis>"; whichever worker takes a run, Go or Node, adds
// the next one before the handler runs, so a failed run does not stop the
// schedule and schedulers created on either side run on workers of either
// side. When the next run cannot be added (after retries) the taken run is
// neither run nor finished: the stalled check offers it again later, as
// with Node's worker. Patterns follow cron-parser 5.10 (BullMQ's) to the millisecond,
// DST included; without TZ a pattern uses the zone of the process that
// computes the next run (time.Local here, the host zone in Node), so set
// TZ when both sides work one queue. RemoveScheduler, GetScheduler and
// Schedulers manage them.
//
//	_, err := q.UpsertScheduler(ctx, "daily-report",
//		queue.Repeat{Pattern: "0 30 7 * * 1-5", TZ: "Europe/Berlin"},
//		queue.JobTemplate{Name: "report", Data: params})
//
// # Not yet
//
//   - Job schedulers: H (hashed) cron values are refused with ErrCron
//     (Node draws a new random value each parse); a Node worker's custom
//     settings.repeatStrategy is unknown to Go workers, which use the
//     default.
//   - Flows: AddFlow of a root whose id exists as the child of another
//     live parent fails with ErrParent and adds nothing; Node's
//     FlowProducer throws too, but only after adding the rest of the flow
//     under the existing root.
package queue
