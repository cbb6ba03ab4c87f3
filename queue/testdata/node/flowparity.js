// flowparity.js: real BullMQ 6.7.0 removal calls for the Go flow parity
// tests (queue/flow_parity_test.go). CommonJS.
//
//   node flowparity.js <mode> <queue>
//
// Environment as fixture.js: REDIS_ADDRS, CLUSTER=1, PREFIX, ARGS (JSON).
// Modes (one JSON line each, then exit):
//   remove  ARGS {id, removeChildren}  -> {code} or {error}
//   clean   ARGS {grace, limit, type}  -> {ids}
//   drain   ARGS {delayed}             -> {drained: true}
//   jobcall ARGS {calls: [{id, queue, op, arg}]} -> {results: [{result} or {error}]}:
//           Job methods, on job id of queue (default: <queue>) (getDependencies, getDependenciesCount,
//           removeChildDependency, removeUnprocessedChildren) in order
//   flows   ARGS {flows}               -> {results: [{ids} or {error}]}: one
//           FlowProducer.add per flow, in order
//   getflow ARGS {calls: [{id, depth, maxChildren}]} -> {trees: [{id, queue,
//           children} or null]}: FlowProducer.getFlow of job id of <queue>
//           (0 or no depth, maxChildren: Node's defaults)
'use strict';
const { Queue, FlowProducer } = require('bullmq');
const IORedis = require('ioredis');

const [mode, name] = process.argv.slice(2);
const args = JSON.parse(process.env.ARGS || '{}') || {};
const prefix = process.env.PREFIX || 'bull';
const nodes = (process.env.REDIS_ADDRS || '127.0.0.1:6379').split(',').map(a => {
  const at = a.lastIndexOf(':');
  return { host: a.slice(0, at), port: Number(a.slice(at + 1)) };
});
const conn = process.env.CLUSTER === '1'
  ? new IORedis.Cluster(nodes, { redisOptions: { maxRetriesPerRequest: null } })
  : new IORedis({ ...nodes[0], maxRetriesPerRequest: null });
const print = v => process.stdout.write(JSON.stringify(v) + '\n');

async function main() {
  const q = new Queue(name, { connection: conn, prefix });
  try {
    if (mode === 'remove') {
      print({ code: await q.remove(args.id, { removeChildren: args.removeChildren !== false }) });
    } else if (mode === 'clean') {
      print({ ids: await q.clean(args.grace || 0, args.limit || 0, args.type) });
    } else if (mode === 'jobcall') {
      const results = [];
      const qs = { [name]: q };
      for (const c of args.calls) {
        const qn = c.queue || name;
        if (!qs[qn]) qs[qn] = new Queue(qn, { connection: conn, prefix });
        const j = await qs[qn].getJob(c.id);
        try {
          const r = await j[c.op](c.arg);
          results.push({ result: r === undefined ? null : r });
        } catch (err) {
          results.push({ error: String(err.message || err) });
        }
      }
      print({ results });
      for (const qn of Object.keys(qs)) if (qn !== name) await qs[qn].close();
    } else if (mode === 'flows') {
      const fp = new FlowProducer({ connection: conn, prefix });
      const results = [];
      for (const f of args.flows) {
        const ids = [];
        const walk = n => { ids.push(n.job.id); for (const c of n.children || []) walk(c); };
        try {
          walk(await fp.add(f));
          results.push({ ids });
        } catch (err) {
          results.push({ error: String(err.message || err) });
        }
      }
      await fp.close();
      print({ results });
    } else if (mode === 'getflow') {
      const fp = new FlowProducer({ connection: conn, prefix });
      const tree = n => n && ({ id: n.job.id, queue: n.job.queueName, children: (n.children || []).map(tree) });
      const trees = [];
      for (const c of args.calls) {
        const opts = { id: c.id, queueName: name };
        if (c.depth) opts.depth = c.depth;
        if (c.maxChildren) opts.maxChildren = c.maxChildren;
        trees.push(tree(await fp.getFlow(opts)) || null);
      }
      print({ trees });
      await fp.close();
    } else if (mode === 'drain') {
      await q.drain(!!args.delayed);
      print({ drained: true });
    } else {
      throw new Error('unknown mode ' + mode);
    }
  } catch (err) {
    print({ error: String(err.message || err) });
  }
  await q.close();
  conn.disconnect();
}

main().then(() => process.exit(0), err => { console.error(err); process.exit(1); });
