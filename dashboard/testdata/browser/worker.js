// worker.js: a real BullMQ 6.7.0 worker ("node-w1") on the dashboard test
// queue, beside the Go worker. Jobs named "node-bad" fail on their first
// attempt. It also adds NODE_JOBS jobs ("node-ok" and "node-bad") and
// collects BullMQ metrics (the dashboard's charts). Prints "ready" when
// the worker listens; exits on SIGTERM.
//
// Environment: REDIS_ADDRS, CLUSTER=1, PREFIX, QUEUE, NODE_JOBS.
'use strict';
const { Queue, Worker, MetricsTime } = require('bullmq');
const IORedis = require('ioredis');

const addrs = process.env.REDIS_ADDRS.split(',').map(a => {
  const i = a.lastIndexOf(':');
  return { host: a.slice(0, i), port: Number(a.slice(i + 1)) };
});
const connection = () => process.env.CLUSTER === '1'
  ? new IORedis.Cluster(addrs, { redisOptions: { maxRetriesPerRequest: null } })
  : new IORedis({ ...addrs[0], maxRetriesPerRequest: null });
const prefix = process.env.PREFIX;
const name = process.env.QUEUE;

async function main() {
  const worker = new Worker(name, async job => {
    if ((job.name === 'node-bad' || job.name === 'bad') && job.attemptsMade === 0) throw new Error('node declined ' + job.data.n);
    await job.log('handled by node-w1');
    await job.updateProgress(100);
    return { by: 'node', n: job.data.n };
  }, { connection: connection(), prefix, name: 'node-w1', concurrency: 4, metrics: { maxDataPoints: MetricsTime.ONE_HOUR } });
  worker.on('error', e => process.stderr.write('worker error: ' + e.message + '\n'));
  await worker.waitUntilReady();
  const q = new Queue(name, { connection: connection(), prefix });
  const n = Number(process.env.NODE_JOBS || 0);
  const jobs = [];
  for (let i = 0; i < n; i++) jobs.push({ name: i % 5 === 0 ? 'node-bad' : 'node-ok', data: { n: i, customer: i % 5 === 0 ? 'special-node-' + i : 'node-customer-' + i } });
  if (jobs.length) await q.addBulk(jobs);
  process.stdout.write('ready\n');
  process.on('SIGTERM', async () => {
    await worker.close();
    await q.close();
    process.exit(0);
  });
}

main().catch(e => { process.stderr.write(String(e && e.stack || e) + '\n'); process.exit(1); });
