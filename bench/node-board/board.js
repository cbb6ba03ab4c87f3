// board.js serves bull-board's API for one BullMQ queue (bench/dashboard.go).
// Environment: REDIS_ADDR, PREFIX, QUEUE. Prints {"port": n} when listening.
'use strict';
const express = require('express');
const { createBullBoard } = require('@bull-board/api');
const { BullMQAdapter } = require('@bull-board/api/bullMQAdapter');
const { ExpressAdapter } = require('@bull-board/express');
const { Queue } = require('bullmq');
const IORedis = require('ioredis');

const [host, port] = process.env.REDIS_ADDR.split(':');
const queue = new Queue(process.env.QUEUE, { connection: new IORedis({ host, port: Number(port), maxRetriesPerRequest: null }), prefix: process.env.PREFIX });
const serverAdapter = new ExpressAdapter();
serverAdapter.setBasePath('/');
createBullBoard({ queues: [new BullMQAdapter(queue)], serverAdapter });
const app = express();
app.use('/', serverAdapter.getRouter());
const srv = app.listen(0, '127.0.0.1', () => process.stdout.write(JSON.stringify({ port: srv.address().port }) + '\n'));
process.on('SIGTERM', () => { srv.close(); queue.close().then(() => process.exit(0)); });
