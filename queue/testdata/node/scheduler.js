// scheduler.js drives BullMQ 6.7.0 job schedulers for the Go tests.
//
//   node scheduler.js <mode> <queue>
//
// Environment as fixture.js (REDIS_ADDRS, CLUSTER, PREFIX, ARGS).
// Modes:
//   upsert  ARGS {schedulers: [{id, repeat, template}]}: one line {id, jobId} each
//   remove  ARGS {ids: [...]}: one line {id, removed} each
//   list    one line {schedulers: [...]} (getJobSchedulers, soonest first)
'use strict';
const { Queue } = require('bullmq');
const IORedis = require('ioredis');

const [mode, name] = process.argv.slice(2);
const args = JSON.parse(process.env.ARGS || '{}') || {};
const prefix = process.env.PREFIX || 'bull';
const addrs = (process.env.REDIS_ADDRS || '127.0.0.1:6379').split(',').map(a => {
  const i = a.lastIndexOf(':');
  return { host: a.slice(0, i), port: Number(a.slice(i + 1)) };
});
const connection = () => process.env.CLUSTER === '1'
  ? new IORedis.Cluster(addrs, { redisOptions: { maxRetriesPerRequest: null } })
  : new IORedis({ ...addrs[0], maxRetriesPerRequest: null });
const out = obj => process.stdout.write(JSON.stringify(obj) + '\n');

async function main() {
  const q = new Queue(name, { connection: connection(), prefix });
  if (mode === 'upsert') {
    for (const s of args.schedulers) {
      const job = await q.upsertJobScheduler(s.id, s.repeat, s.template);
      out({ id: s.id, jobId: job ? job.id : null });
    }
  } else if (mode === 'remove') {
    for (const id of args.ids) out({ id, removed: await q.removeJobScheduler(id) });
  } else if (mode === 'list') {
    out({ schedulers: await q.getJobSchedulers(0, -1, true) });
  } else {
    throw new Error('unknown mode ' + mode);
  }
  await q.close();
}
main().then(() => process.exit(0)).catch(err => { console.error(err); process.exit(1); });
