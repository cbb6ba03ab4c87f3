// queue.js: the BullMQ 6.7.0 side of `go run . queue` (bench/queue.go).
//
//   node queue.js worker|addbulk|flow
//
// Env: REDIS_ADDR host:port, QUEUE name, PREFIX, N (jobs to pre-fill),
// WARMUP_MS, MEASURE_MS, CONCURRENCY. Prints one JSON line
// {"jobs": <measured jobs>, "seconds": <measured time>} so the caller
// computes the corrected rate (measured jobs / measured time only); the
// worker mode adds "usec" and "done": Redis CPU time (µs, INFO cpu) spent
// while the worker ran and the jobs it finished meanwhile. The flow mode
// adds one flow at a time (a parent in QUEUE-p with FLOW_CHILDREN children
// in QUEUE-c, FlowProducer) and waits for its parent to complete; "jobs"
// counts the flows completed in the measured window.
'use strict';
const { Queue, Worker, FlowProducer } = require('bullmq');
const IORedis = require('ioredis');

const [host, port] = (process.env.REDIS_ADDR || '127.0.0.1:6379').split(':');
const connection = { host, port: Number(port), maxRetriesPerRequest: null };
const name = process.env.QUEUE || 'bench';
const prefix = process.env.PREFIX || 'bull';
const N = Number(process.env.N || 100000);
const warmup = Number(process.env.WARMUP_MS || 500);
const measure = Number(process.env.MEASURE_MS || 3000);
const conc = Number(process.env.CONCURRENCY || 100);
const sleep = ms => new Promise(r => setTimeout(r, ms));

// usec is the Redis server's CPU time (used_cpu_user + used_cpu_sys in
// INFO cpu) in microseconds. Summing INFO commandstats instead counts a
// script's inner commands twice (in their own line and in EVALSHA's).
async function usec(client) {
  const info = await client.info('cpu');
  let t = 0;
  for (const m of info.matchAll(/^used_cpu_(?:user|sys):([0-9.]+)/gm)) t += Number(m[1]);
  return t * 1e6;
}

async function fill(q, n) {
  const batch = 1000;
  for (let i = 0; i < n; i += batch) {
    const jobs = [];
    for (let k = i; k < Math.min(n, i + batch); k++) jobs.push({ name: 't', data: { k } });
    await q.addBulk(jobs);
  }
}

async function worker() {
  const q = new Queue(name, { connection, prefix });
  await fill(q, N);
  const client = new IORedis(connection);
  const u0 = await usec(client);
  let done = 0;
  const w = new Worker(name, async job => ({ ok: job.id }), { connection, prefix, concurrency: conc, autorun: false });
  w.on('completed', () => { done++; });
  w.run();
  await sleep(warmup);
  const c0 = done, t0 = process.hrtime.bigint();
  let t1 = t0, c1 = c0;
  const end = Date.now() + measure;
  while (Date.now() < end) {
    await sleep(20);
    c1 = done; t1 = process.hrtime.bigint();
    if (done >= N) break;
  }
  await w.close(true);
  const u1 = await usec(client);
  console.log(JSON.stringify({ jobs: c1 - c0, seconds: Number(t1 - t0) / 1e9, usec: u1 - u0, done }));
  client.disconnect();
  await q.close();
}

async function addbulk() {
  const q = new Queue(name, { connection, prefix });
  let added = 0, counting = false;
  let stop = false;
  const loop = async () => {
    while (!stop) {
      const jobs = [];
      for (let k = 0; k < 50; k++) jobs.push({ name: 't', data: { k } });
      await q.addBulk(jobs);
      if (counting) added += 50;
    }
  };
  const loops = [];
  for (let i = 0; i < conc; i++) loops.push(loop());
  await sleep(warmup);
  counting = true;
  const t0 = process.hrtime.bigint();
  await sleep(measure);
  counting = false;
  const t1 = process.hrtime.bigint();
  const n = added;
  stop = true;
  await Promise.all(loops);
  console.log(JSON.stringify({ jobs: n, seconds: Number(t1 - t0) / 1e9 }));
  await q.close();
}

async function flow() {
  const children = Number(process.env.FLOW_CHILDREN || 100);
  const fp = new FlowProducer({ connection, prefix });
  const waiters = new Map(), early = new Set();
  const cw = new Worker(name + '-c', async job => ({ ok: job.id }), { connection, prefix, concurrency: conc });
  const pw = new Worker(name + '-p', async job => ({ n: job.id }), { connection, prefix, concurrency: 1 });
  pw.on('completed', job => {
    const w = waiters.get(job.id);
    if (w) { waiters.delete(job.id); w(); } else early.add(job.id);
  });
  await Promise.all([cw.waitUntilReady(), pw.waitUntilReady()]);
  let done = 0, counting = false, stop = false;
  const loop = async () => {
    for (let i = 0; !stop; i++) {
      const kids = [];
      for (let k = 0; k < children; k++) kids.push({ name: 'c', queueName: name + '-c', data: { k } });
      const tree = await fp.add({ name: 'p', queueName: name + '-p', data: { i }, children: kids });
      await new Promise(r => {
        if (early.delete(tree.job.id)) r(); else waiters.set(tree.job.id, r);
      });
      if (counting) done++;
    }
  };
  const running = loop();
  await sleep(warmup);
  counting = true;
  const c0 = done, t0 = process.hrtime.bigint();
  await sleep(measure);
  const c1 = done, t1 = process.hrtime.bigint();
  counting = false;
  stop = true;
  await running;
  console.log(JSON.stringify({ jobs: c1 - c0, seconds: Number(t1 - t0) / 1e9 }));
  await Promise.all([cw.close(), pw.close(), fp.close()]);
}

const modes = { worker, addbulk, flow };
modes[process.argv[2]]().then(() => process.exit(0)).catch(err => { console.error(err); process.exit(1); });
