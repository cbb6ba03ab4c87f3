// mixedpool.js runs BullMQ 6.7.0 workers on several queues in one process,
// for the Go tests of mixed Node/Go pools (one Node start-up instead of
// one per queue).
//
//   node mixedpool.js work <queue>[,<queue>...]
//
// Environment as conn.js reads it (REDIS_ADDRS, CLUSTER, PREFIX, ARGS). ARGS:
// {concurrency, lockDuration, stalledInterval}. The processor reads the
// job's data as fixture.js's does: sleep (ms), fail (message),
// childrenValues (return getChildrenValues()), ret (return value).
// Lines: {ready:true} once every worker is ready, then {event:"start",
// queue, id} per run and {event:"completed"|"failed", queue, id}.
'use strict';
const { Worker } = require('bullmq');
const { args, prefix, connection, out } = require('./conn');

const [mode, names] = process.argv.slice(2);
const pause = ms => new Promise(r => setTimeout(r, ms));

async function processJob(queue, job) {
  const d = job.data || {};
  out({ event: 'start', queue, id: job.id, at: Date.now() });
  if (d.sleep) await pause(d.sleep);
  if (d.childrenValues) return await job.getChildrenValues();
  if (d.fail) throw new Error(d.fail);
  return d.ret !== undefined ? d.ret : { by: 'node', id: job.id };
}

async function work() {
  const opts = { prefix, concurrency: args.concurrency || 1, drainDelay: 1 };
  if (args.lockDuration) opts.lockDuration = args.lockDuration;
  if (args.stalledInterval) opts.stalledInterval = args.stalledInterval;
  const workers = names.split(',').map(queue => {
    const w = new Worker(queue, job => processJob(queue, job), { ...opts, connection: connection() });
    w.on('completed', job => out({ event: 'completed', queue, id: job.id }));
    w.on('failed', (job, err) => out({ event: 'failed', queue, id: job && job.id, reason: err.message }));
    w.on('error', err => out({ event: 'error', queue, error: String(err) }));
    return w;
  });
  await Promise.all(workers.map(w => w.waitUntilReady()));
  out({ ready: true });
  const stop = async () => { await Promise.all(workers.map(w => w.close())); process.exit(0); };
  process.on('SIGTERM', stop);
  process.stdin.on('end', stop);
  process.stdin.resume();
}

if (mode !== 'work') { console.error('unknown mode ' + mode); process.exit(2); }
work().catch(err => { console.error(err); process.exit(1); });
