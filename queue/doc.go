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
// RetryFailed, PromoteDelayed, Clean, Drain, Obliterate, Pause/Resume,
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
// failover by itself; WorkerStats.LastOK / Worker.Healthy expose it.
//
// # Cluster
//
// Every key is "<prefix>:<name>:<suffix>"; on a Redis Cluster a hash tag
// must sit in the prefix ("{bull}") or the name ("{emails}") so that all
// keys, job keys included, share a slot. New rejects other queues on a
// cluster client with ErrCrossSlot rather than rewriting keys Node would
// not find.
//
// # Not yet
//
// Job schedulers (repeat) and flows (parent/child) are not implemented:
// the job hash fields they use (rjk, parentKey, parent) are kept intact
// and visible in Job.Fields, and the stalled check already spares
// scheduler jobs as Node does.
package queue
