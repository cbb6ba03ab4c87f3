// conn.js: what the Go tests' Node scripts share, read from their
// environment: REDIS_ADDRS (host:port[,host:port...]), CLUSTER=1 for a
// Redis Cluster, PREFIX (default "bull"), ARGS (a JSON object).
'use strict';
const IORedis = require('ioredis');

const nodes = (process.env.REDIS_ADDRS || '127.0.0.1:6379').split(',').map(a => {
  const i = a.lastIndexOf(':');
  return { host: a.slice(0, i), port: Number(a.slice(i + 1)) };
});

module.exports = {
  args: JSON.parse(process.env.ARGS || '{}') || {},
  prefix: process.env.PREFIX || 'bull',
  // connection opens a new ioredis client (a Cluster with CLUSTER=1), with
  // the maxRetriesPerRequest BullMQ workers require.
  connection: () => process.env.CLUSTER === '1'
    ? new IORedis.Cluster(nodes, { redisOptions: { maxRetriesPerRequest: null } })
    : new IORedis({ ...nodes[0], maxRetriesPerRequest: null }),
  // out prints one JSON line on stdout.
  out: obj => process.stdout.write(JSON.stringify(obj) + '\n'),
};
