// fixture.js drives real BullMQ 6.7.0 for the Go interop tests.
//
//   node fixture.js <mode> <queue>
//
// Environment: REDIS_ADDRS (host:port[,host:port...]), CLUSTER=1 for a
// Redis Cluster, PREFIX (default "bull"), ARGS (a JSON object, per mode).
// Every result is one JSON line on stdout; "ready" lines announce that a
// long-running mode is listening.
'use strict';
const { Queue, Worker, QueueEvents, FlowProducer, UnrecoverableError } = require('bullmq');
const IORedis = require('ioredis');

const [mode, name] = process.argv.slice(2);
const args = JSON.parse(process.env.ARGS || '{}') || {};
const prefix = process.env.PREFIX || 'bull';
const addrs = (process.env.REDIS_ADDRS || '127.0.0.1:6379').split(',').map(a => {
  const i = a.lastIndexOf(':');
  return { host: a.slice(0, i), port: Number(a.slice(i + 1)) };
});

function connection() {
  if (process.env.CLUSTER === '1') {
    return new IORedis.Cluster(addrs, { redisOptions: { maxRetriesPerRequest: null } });
  }
  return new IORedis({ ...addrs[0], maxRetriesPerRequest: null });
}

const out = obj => process.stdout.write(JSON.stringify(obj) + '\n');
const clean = o => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
const sleep = ms => new Promise(r => setTimeout(r, ms));

async function produce() {
  const q = new Queue(name, { connection: connection(), prefix });
  if (args.generate) {
    const { n, batch = 500 } = args.generate;
    for (let i = 0; i < n; i += batch) {
      const jobs = [];
      for (let k = i; k < Math.min(n, i + batch); k++) jobs.push({ name: 'gen', data: { k } });
      await q.addBulk(jobs);
    }
    out({ added: n });
  } else if (args.bulk) {
    const jobs = await q.addBulk(args.jobs);
    for (const j of jobs) out({ id: j.id, name: j.name });
  } else {
    for (const j of args.jobs) {
      const job = await q.add(j.name, j.data, j.opts || {});
      out({ id: job.id, name: job.name });
    }
  }
  await q.close();
}

async function work() {
  const seen = new Map();
  const worker = new Worker(name, async job => {
    const d = job.data || {};
    out({ event: 'start', id: job.id, name: job.name, data: d, attemptsMade: job.attemptsMade, at: Date.now(), opts: job.opts });
    if (d.sleep) await sleep(d.sleep);
    if (d.logs) for (const l of d.logs) await job.log(l);
    if (d.childrenValues) return await job.getChildrenValues();
    if (d.unrecoverable) throw new UnrecoverableError(d.unrecoverable);
    if (d.failTimes && job.attemptsMade < d.failTimes) throw new Error('fail ' + job.attemptsMade);
    if (d.fail) throw new Error(d.fail);
    return d.ret !== undefined ? d.ret : { by: 'node', id: job.id };
  }, clean({
    connection: connection(), prefix, concurrency: args.concurrency || 1, name: args.name,
    limiter: args.limiter, lockDuration: args.lockDuration, stalledInterval: args.stalledInterval,
    removeOnComplete: args.removeOnComplete, removeOnFail: args.removeOnFail, drainDelay: args.drainDelay || 1,
    metrics: args.metrics,
  }));
  worker.on('completed', (job, rv) => out({ event: 'completed', id: job.id, rv }));
  worker.on('failed', (job, err) => out({ event: 'failed', id: job && job.id, reason: err.message, attemptsMade: job && job.attemptsMade }));
  worker.on('error', err => out({ event: 'error', error: String(err) }));
  await worker.waitUntilReady();
  out({ ready: true });
  const stop = async () => { await worker.close(); process.exit(0); };
  process.on('SIGTERM', stop);
  process.stdin.on('end', stop);
  process.stdin.resume();
}

async function events() {
  const qe = new QueueEvents(name, { connection: connection(), prefix, lastEventId: args.lastEventId || '$' });
  for (const ev of ['added', 'waiting', 'active', 'completed', 'failed', 'delayed', 'progress', 'stalled', 'paused', 'resumed', 'drained', 'duplicated', 'retries-exhausted']) {
    qe.on(ev, (a) => out({ event: ev, ...(typeof a === 'object' ? a : { value: a }) }));
  }
  await qe.waitUntilReady();
  await sleep(200);
  out({ ready: true });
  const stop = async () => { await qe.close(); process.exit(0); };
  process.on('SIGTERM', stop);
  process.stdin.on('end', stop);
  process.stdin.resume();
}

async function inspect() {
  const q = new Queue(name, { connection: connection(), prefix });
  const r = {};
  r.counts = await q.getJobCounts('waiting', 'active', 'completed', 'failed', 'delayed', 'prioritized', 'paused');
  if (args.ids) {
    r.jobs = {};
    for (const id of args.ids) {
      const j = await q.getJob(id);
      r.jobs[id] = j ? { ...j.asJSON(), data: j.data, returnvalue: j.returnvalue, stacktrace: j.stacktrace, opts: j.opts, state: await j.getState(), failedReason: j.failedReason, processedBy: j.processedBy, attemptsMade: j.attemptsMade, progress: j.progress } : null;
    }
  }
  if (args.workers) r.workers = (await q.getWorkers()).map(w => w.name);
  if (args.logs) r.logs = await q.getJobLogs(args.logs);
  if (args.metrics) r.metrics = { completed: await q.getMetrics('completed'), failed: await q.getMetrics('failed') };
  if (args.pause) await q.pause();
  if (args.resume) await q.resume();
  if (args.globalConcurrency) await q.setGlobalConcurrency(args.globalConcurrency);
  if (args.globalRateLimit) await q.setGlobalRateLimit(args.globalRateLimit.max, args.globalRateLimit.duration);
  r.isPaused = await q.isPaused();
  out(r);
  await q.close();
}

// flow adds args.flow (a FlowProducer tree), or args.flows (addBulk), and
// prints the ids.
async function flow() {
  const fp = new FlowProducer({ connection: connection(), prefix });
  const ids = [];
  const walk = n => { ids.push(n.job.id); for (const c of n.children || []) walk(c); };
  if (args.flows) for (const t of await fp.addBulk(args.flows)) walk(t);
  else walk(await fp.add(args.flow));
  out({ ids });
  await fp.close();
}

// jobops runs job calls in order: args.ops = [{id, op, arg}] with op one of
// updateData, changePriority, changeDelay, promote; prints each result.
async function jobops() {
  const q = new Queue(name, { connection: connection(), prefix });
  for (const o of args.ops) {
    const j = await q.getJob(o.id);
    try {
      await j[o.op](o.arg);
      out({ id: o.id, op: o.op, ok: true });
    } catch (err) {
      out({ id: o.id, op: o.op, error: String(err.message || err) });
    }
  }
  await q.close();
}

// parentwork runs a worker whose jobs may add flow children while they
// run (data.spawn: [{name, queue, data, opts}]) and wait for them with
// moveToWaitingChildren + WaitingChildrenError; once back (data.spawned)
// a job returns its children's values, or data.ret.
async function parentwork() {
  const { WaitingChildrenError } = require('bullmq');
  const queues = new Map();
  const queueOf = n => {
    if (!queues.has(n)) queues.set(n, new Queue(n, { connection: connection(), prefix }));
    return queues.get(n);
  };
  const worker = new Worker(name, async (job, token) => {
    const d = job.data || {};
    out({ event: 'start', id: job.id, spawned: !!d.spawned });
    if (d.spawn && !d.spawned) {
      for (const c of d.spawn) {
        await queueOf(c.queue).add(c.name, c.data || {}, { ...(c.opts || {}), parent: { id: job.id, queue: job.queueQualifiedName } });
      }
      await job.updateData({ ...d, spawned: true });
      const moved = await job.moveToWaitingChildren(token);
      out({ event: 'moved', id: job.id, moved });
      if (moved) throw new WaitingChildrenError();
    }
    if (d.spawn) return await job.getChildrenValues();
    return d.ret !== undefined ? d.ret : { by: 'node', id: job.id };
  }, { connection: connection(), prefix, concurrency: args.concurrency || 1, drainDelay: 1 });
  worker.on('completed', (job, rv) => out({ event: 'completed', id: job.id, rv }));
  worker.on('failed', (job, err) => out({ event: 'failed', id: job && job.id, reason: err.message }));
  await worker.waitUntilReady();
  out({ ready: true });
  const stop = async () => { await worker.close(); for (const q of queues.values()) await q.close(); process.exit(0); };
  process.on('SIGTERM', stop);
  process.stdin.on('end', stop);
  process.stdin.resume();
}

const modes = { produce, work, events, inspect, flow, jobops, parentwork };
if (!modes[mode]) { console.error('unknown mode ' + mode); process.exit(2); }
modes[mode]().then(() => { if (mode === 'produce' || mode === 'inspect' || mode === 'flow' || mode === 'jobops') process.exit(0); }).catch(err => { console.error(err); process.exit(1); });
