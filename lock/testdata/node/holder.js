// holder.js: a long-running Node lock holder driven by JSON commands on
// stdin, one per line; every answer is one JSON line.
//
//   {"op":"lock","resource":R,"ttl":ms,"retries":n}  -> {"op":"locked","ms":wait} or {"op":"lock","err":...}
//   {"op":"fence","key":K}   INCR K after acquiring, kept only if R still
//                            carries our value -> {"op":"fence","token":t,"held":bool}
//   {"op":"unlock"}          -> {"op":"unlock","ok":bool,"err":...,"at":wall ms}
//   {"op":"extend","ttl":ms} -> {"op":"extend","ok":bool,"err":...}
//
// Environment: see peer.js.
'use strict';
const readline = require('readline');
const { client, locker, out, wallMs } = require('./peer.js');

const redis = client();
const l = locker(redis);
let held = null;
let resource = '';

async function handle(cmd) {
  switch (cmd.op) {
    case 'lock': {
      const start = wallMs();
      try {
        held = await l.lock(cmd.resource, cmd.ttl, cmd.retries ?? 0);
        resource = cmd.resource;
        out({ op: 'locked', ms: wallMs() - start });
      } catch (err) {
        out({ op: 'lock', err: err.message });
      }
      return;
    }
    case 'fence': {
      // The documented rule: draw the token right after acquiring, keep
      // it only if the lock is still ours.
      const token = await redis.incr(cmd.key);
      const still = (await redis.get(resource)) === held.value;
      out({ op: 'fence', token, held: still });
      return;
    }
    case 'unlock':
      try {
        await l.unlock(held);
        out({ op: 'unlock', ok: true, at: wallMs() });
      } catch (err) {
        out({ op: 'unlock', ok: false, err: err.message, at: wallMs() });
      }
      return;
    case 'extend':
      try {
        held = await l.extend(held, cmd.ttl);
        out({ op: 'extend', ok: true });
      } catch (err) {
        out({ op: 'extend', ok: false, err: err.message });
      }
      return;
    default:
      out({ op: cmd.op, err: 'unknown op' });
  }
}

// Commands run one at a time, in order.
let chain = Promise.resolve();
readline.createInterface({ input: process.stdin })
  .on('line', (line) => {
    chain = chain.then(() => handle(JSON.parse(line))).catch((err) => out({ err: err.message }));
  })
  .on('close', () => chain.then(() => redis.quit()).then(() => process.exit(0)));
redis.ping().then(() => out({ ready: true }));
