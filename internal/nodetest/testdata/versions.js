// Prints the installed version of every peer package as one JSON line, then
// echoes stdin lines back when started with "echo".
'use strict';
const names = ['express-session', 'connect-redis', 'redis', 'ioredis', 'redlock',
  '@sesamecare-oss/redlock', 'cache-manager', 'keyv', '@keyv/redis', 'cookie-signature'];
if (process.argv[2] === 'echo') {
  console.log(JSON.stringify({ ready: true }));
  const rl = require('readline').createInterface({ input: process.stdin });
  rl.on('line', (l) => console.log(JSON.stringify({ echo: JSON.parse(l) })));
} else {
  const out = {};
  const fs = require('fs');
  const path = require('path');
  const base = process.env.NODE_PATH;
  for (const n of names) out[n] = JSON.parse(fs.readFileSync(path.join(base, n, 'package.json'), 'utf8')).version;
  console.log(JSON.stringify(out));
}
