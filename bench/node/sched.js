// sched.js: the BullMQ 6.7.0 side of the scheduler-heavy case of
// `go run . queue` (bench/queue_sched.go).
//
//   node sched.js
//
// Env: REDIS_ADDR host:port, QUEUE, SCHEDULERS (how many), EVERY_MS,
// WARMUP_MS, MEASURE_MS, CONCURRENCY. Upserts the schedulers, runs one
// Worker and prints one JSON line {"upsertMs", "jobs", "seconds",
// "lateMs": [...]} where lateMs are start - scheduled times of the runs in
// the measured window.
'use strict';
const { Queue, Worker } = require('bullmq');

const [host, port] = (process.env.REDIS_ADDR || '127.0.0.1:6379').split(':');
const connection = { host, port: Number(port), maxRetriesPerRequest: null };
const name = process.env.QUEUE || 'sched';
const n = Number(process.env.SCHEDULERS || 1000);
const every = Number(process.env.EVERY_MS || 1000);
const warmup = Number(process.env.WARMUP_MS || 1000);
const measure = Number(process.env.MEASURE_MS || 3000);
const conc = Number(process.env.CONCURRENCY || 100);
const sleep = ms => new Promise(r => setTimeout(r, ms));

async function main() {
  const q = new Queue(name, { connection });
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) await q.upsertJobScheduler('s' + i, { every }, { name: 't', data: { i } });
  const upsertMs = Number(process.hrtime.bigint() - t0) / 1e6;
  let counting = false, done = 0;
  const late = [];
  const w = new Worker(name, async job => {
    if (counting) {
      done++;
      late.push(Date.now() - Number(job.id.slice(job.id.lastIndexOf(':') + 1)));
    }
    return null;
  }, { connection, concurrency: conc });
  await sleep(warmup);
  counting = true;
  const m0 = process.hrtime.bigint();
  await sleep(measure);
  counting = false;
  const seconds = Number(process.hrtime.bigint() - m0) / 1e9;
  await w.close();
  await q.close();
  console.log(JSON.stringify({ upsertMs, jobs: done, seconds, lateMs: late }));
}
main().then(() => process.exit(0)).catch(err => { console.error(err); process.exit(1); });
