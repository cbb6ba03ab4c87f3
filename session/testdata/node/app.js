// app.js: an express 5 app with express-session 1.19 + connect-redis 10
// over node-redis 5, as a NestJS service sets them up. Long-running: it
// prints {"port":N} then {"ready":true}, and serves HTTP until stdin
// closes. Stdin commands (one JSON line each):
//   {"cmd":"saveloop","sid":S,"n":N}  N whole-session saves (store.get,
//     change "nodeN", store.set), as a request that modifies the session
//     does; answers {"done":"saveloop","last":N-1}
//
// Environment: REDIS_ADDRS (comma-separated host:port), CLUSTER=1,
// SECRETS (JSON array), PREFIX, MAXAGE (ms; empty for a browser-session
// cookie), RESAVE=1, ROLLING=1, TTL (connect-redis ttl option, seconds).
'use strict';
const express = require('express');
const session = require('express-session');
const { RedisStore } = require('connect-redis');
const { createClient, createCluster } = require('redis');
const readline = require('readline');

const out = (v) => process.stdout.write(JSON.stringify(v) + '\n');

async function main() {
  const addrs = process.env.REDIS_ADDRS.split(',');
  const client = process.env.CLUSTER === '1'
    ? createCluster({ rootNodes: addrs.map((a) => ({ url: 'redis://' + a })) })
    : createClient({ url: 'redis://' + addrs[0] });
  client.on('error', (e) => process.stderr.write('redis: ' + e + '\n'));
  await client.connect();
  const store = new RedisStore({
    client,
    prefix: process.env.PREFIX || 'sess:',
    ttl: process.env.TTL ? Number(process.env.TTL) : undefined,
  });
  const cookie = { secure: false, sameSite: 'lax' };
  if (process.env.MAXAGE) cookie.maxAge = Number(process.env.MAXAGE);
  const app = express();
  app.use(session({
    store,
    secret: JSON.parse(process.env.SECRETS),
    resave: process.env.RESAVE === '1',
    rolling: process.env.ROLLING === '1',
    saveUninitialized: false,
    cookie,
  }));
  app.get('/login', (req, res, next) => {
    req.session.regenerate((err) => {
      if (err) return next(err);
      req.session.userId = Number(req.query.user);
      req.session.save((err) => (err ? next(err) : res.json({ sid: req.sessionID })));
    });
  });
  app.get('/me', (req, res) => {
    const { cookie: _c, ...data } = req.session;
    res.json({ sid: req.sessionID, userId: req.session.userId ?? null, data });
  });
  app.get('/set', (req, res) => {
    req.session[req.query.k] = JSON.parse(req.query.v);
    res.json({ sid: req.sessionID });
  });
  app.get('/logout', (req, res, next) => {
    req.session.destroy((err) => (err ? next(err) : res.json({ ok: true })));
  });
  app.use((err, req, res, _next) => {
    res.status(500).json({ error: String(err) });
  });
  const server = app.listen(0, '127.0.0.1', () => {
    out({ port: server.address().port });
    out({ ready: true });
  });

  const rl = readline.createInterface({ input: process.stdin });
  rl.on('line', async (line) => {
    const c = JSON.parse(line);
    try {
      if (c.cmd === 'saveloop') {
        const key = c.sid;
        let i = 0;
        for (; i < c.n; i++) {
          const sess = await store.get(key);
          if (!sess) break;
          sess.nodeN = i;
          await store.set(key, sess);
        }
        out({ done: 'saveloop', last: i - 1 });
      }
    } catch (e) {
      out({ error: String(e) });
    }
  });
  rl.on('close', async () => {
    server.close();
    await client.quit();
    process.exit(0);
  });
}

main().catch((e) => {
  process.stderr.write(String(e.stack || e) + '\n');
  process.exit(1);
});
