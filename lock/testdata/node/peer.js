// peer.js: what the lock interop scripts share. It connects ioredis 5 to
// the test's Redis (a Cluster when CLUSTER=1) and wraps the two Node lock
// libraries behind one small API:
//
//   LIB=redlock  redlock 4.2 (redlock.lock(resource, ttl), lock.unlock())
//   LIB=sesame   @sesamecare-oss/redlock 1.4 (acquire([resource], ttl),
//                lock.release())
//
// Environment: REDIS_ADDRS (host:port[,host:port...]), CLUSTER=1, LIB,
// RETRY_DELAY (ms between lock attempts, default 10).
'use strict';
const IORedis = require('ioredis');

const addrs = (process.env.REDIS_ADDRS || '127.0.0.1:6379').split(',').map((a) => {
  const i = a.lastIndexOf(':');
  return { host: a.slice(0, i), port: Number(a.slice(i + 1)) };
});

function client() {
  if (process.env.CLUSTER === '1') return new IORedis.Cluster(addrs);
  return new IORedis(addrs[0]);
}

const out = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');

// wallMs is the wall clock in ms with sub-ms precision, comparable with
// Go's time.Now() on the same machine.
const wallMs = () => performance.timeOrigin + performance.now();

// locker returns { lib, lock(resource, ttl, retries), unlock(h), extend(h, ttl) }
// where h is the library's lock object and h.value its random value.
// retries = -1 retries for ever, 0 makes one attempt.
function locker(redis) {
  const delay = Number(process.env.RETRY_DELAY || 10);
  const lib = process.env.LIB || 'redlock';
  if (lib === 'redlock') {
    const Redlock = require('redlock');
    const rl = new Redlock([redis], { retryCount: 0, retryDelay: delay, retryJitter: Math.floor(delay / 2) });
    return {
      lib,
      lock: (resource, ttl, retries) => rl.lockWithOptions(resource, ttl, { retryCount: retries, retryDelay: delay }),
      unlock: (h) => h.unlock(),
      extend: (h, ttl) => h.extend(ttl),
    };
  }
  if (lib === 'sesame') {
    const { Redlock } = require('@sesamecare-oss/redlock');
    const rl = new Redlock([redis], { retryCount: 0, retryDelay: delay, retryJitter: Math.floor(delay / 2) });
    return {
      lib,
      lock: (resource, ttl, retries) => rl.acquire([resource], ttl, { retryCount: retries, retryDelay: delay }),
      unlock: (h) => rl.release(h, { retryCount: 0 }),
      extend: (h, ttl) => rl.extend(h, ttl, { retryCount: 0 }),
    };
  }
  throw new Error(`LIB ${lib}: want redlock or sesame`);
}

module.exports = { client, locker, out, wallMs };
