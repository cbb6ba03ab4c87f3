// contend.js: C contenders in this process increment the plain counter
// COUNTER N times in total, each increment a GET then a SET under the
// lock RESOURCE (a non-atomic read-modify-write: only the lock keeps it
// exact). Prints {"done":N,"ms":elapsed}.
//
// Environment: see peer.js, plus RESOURCE, COUNTER, N, C, TTL (ms).
'use strict';
const { client, locker, out } = require('./peer.js');

async function main() {
  const redis = client();
  const l = locker(redis);
  const resource = process.env.RESOURCE;
  const counter = process.env.COUNTER;
  const n = Number(process.env.N);
  const c = Number(process.env.C);
  const ttl = Number(process.env.TTL || 5000);
  const start = Date.now();
  let left = n;
  let done = 0;
  async function contender() {
    while (left > 0) {
      left--;
      const h = await l.lock(resource, ttl, -1);
      const v = Number((await redis.get(counter)) || 0);
      await redis.set(counter, String(v + 1));
      await l.unlock(h);
      done++;
    }
  }
  await Promise.all(Array.from({ length: c }, contender));
  out({ done, ms: Date.now() - start, lib: l.lib });
  await redis.quit();
}

main().catch((err) => {
  process.stderr.write(`contend: ${err.stack || err}\n`);
  process.exit(1);
});
