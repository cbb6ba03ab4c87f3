// keyv.js: the cache of a NestJS service (@nestjs/cache-manager 12 builds
// it this way): cache-manager 7 over Keyv 5 over @keyv/redis 5, with the
// Keyv namespace given in NAMESPACE, on REDIS_URL (one node) or
// REDIS_NODES (host:port,... of a cluster).
//
// It prints {"ready":true}, then reads one JSON command a line and answers
// each with one JSON line carrying the command's id:
//   {"id":1,"op":"set","key":"k","value":{...},"ttl":60000}
//       -> {"id":1,"t0":<ms, just before cache.set>,"t1":<ms, after it>}
//       ("buffer":"<base64>" instead of "value" stores a Node Buffer)
//   {"id":2,"op":"get","key":"k"}  -> {"id":2,"found":true,"value":{...}}
//   {"id":3,"op":"ttl","key":"k"}  -> {"id":3,"expires":<ms or null>}
//   {"id":4,"op":"del","key":"k"}  -> {"id":4}
// Errors are answered as {"id":n,"error":"..."}.
'use strict';
const { createCache } = require('cache-manager');
const { Keyv } = require('keyv');
const { default: KeyvRedis, createClient, createCluster } = require('@keyv/redis');

function client() {
  if (process.env.REDIS_NODES) {
    const rootNodes = process.env.REDIS_NODES.split(',').map((a) => ({ url: `redis://${a}` }));
    return createCluster({ rootNodes });
  }
  return createClient({ url: process.env.REDIS_URL });
}

const now = () => performance.timeOrigin + performance.now();

async function main() {
  const keyv = new Keyv({ store: new KeyvRedis(client()), namespace: process.env.NAMESPACE });
  keyv.on('error', (err) => console.error(`keyv: ${err.message}`));
  const cache = createCache({ stores: [keyv] });
  // The first command connects the client; do it before saying ready.
  await cache.get('warm-up');
  console.log(JSON.stringify({ ready: true }));
  const rl = require('readline').createInterface({ input: process.stdin });
  const pending = new Set();
  rl.on('line', (line) => {
    const p = handle(line);
    pending.add(p);
    p.finally(() => pending.delete(p));
  });
  rl.on('close', async () => {
    await Promise.allSettled([...pending]);
    await cache.disconnect();
    process.exit(0);
  });

  async function handle(line) {
    const cmd = JSON.parse(line);
    const out = { id: cmd.id };
    try {
      switch (cmd.op) {
        case 'set':
          out.t0 = now();
          await cache.set(cmd.key, cmd.buffer !== undefined ? Buffer.from(cmd.buffer, 'base64') : cmd.value, cmd.ttl);
          out.t1 = now();
          break;
        case 'get': {
          const v = await cache.get(cmd.key);
          out.found = v !== undefined && v !== null;
          out.value = v;
          break;
        }
        case 'ttl':
          out.expires = (await cache.ttl(cmd.key)) ?? null;
          break;
        case 'del':
          await cache.del(cmd.key);
          break;
        default:
          throw new Error(`unknown op ${cmd.op}`);
      }
    } catch (err) {
      out.error = String(err && err.message ? err.message : err);
    }
    console.log(JSON.stringify(out));
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
