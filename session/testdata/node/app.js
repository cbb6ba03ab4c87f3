// app.js: express 5 apps with express-session 1.19 + connect-redis 10
// over node-redis 5, as a NestJS service sets them up: one app per entry
// of APPS, all on one Redis client. Long-running: it prints
// {"ports":[N,...]} then {"ready":true}, and serves HTTP until stdin
// closes. Stdin commands (one JSON line each):
//   {"cmd":"saveloop","app":I,"sid":S,"n":N}  N whole-session saves on
//     app I (store.get, change "nodeN", store.set), as a request that
//     modifies the session does; answers {"done":"saveloop","last":N-1}
//
// Environment: REDIS_ADDRS (comma-separated host:port), CLUSTER=1, APPS:
// a JSON array of {prefix, secrets, maxAge (ms; absent for a
// browser-session cookie), ttl (connect-redis ttl option, s), resave,
// rolling}.
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
  const apps = JSON.parse(process.env.APPS);
  const stores = [];
  const servers = [];
  for (const cfg of apps) {
    const store = new RedisStore({ client, prefix: cfg.prefix, ttl: cfg.ttl });
    stores.push(store);
    servers.push(await listen(newApp(store, cfg)));
  }
  out({ ports: servers.map((s) => s.address().port) });
  out({ ready: true });

  const rl = readline.createInterface({ input: process.stdin });
  rl.on('line', async (line) => {
    const c = JSON.parse(line);
    try {
      if (c.cmd === 'saveloop') {
        const store = stores[c.app];
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
    for (const s of servers) s.close();
    await client.quit();
    process.exit(0);
  });
}

function newApp(store, cfg) {
  const cookie = { secure: false, sameSite: 'lax' };
  if (cfg.maxAge) cookie.maxAge = cfg.maxAge;
  const app = express();
  app.use(session({
    store,
    secret: cfg.secrets,
    resave: Boolean(cfg.resave),
    rolling: Boolean(cfg.rolling),
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
  return app;
}

function listen(app) {
  return new Promise((resolve) => {
    const server = app.listen(0, '127.0.0.1', () => resolve(server));
  });
}

main().catch((e) => {
  process.stderr.write(String(e.stack || e) + '\n');
  process.exit(1);
});
