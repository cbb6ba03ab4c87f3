// producer.js: the NestJS-to-Go story in one file.
//
// A Node (NestJS) application keeps its BullMQ producer; the charge itself
// moves to the Go payments service, whose worker consumes the same queue
// with rediskit's BullMQ-compatible worker. Nothing changes on the Node
// side but the queue's prefix, which carries a hash tag ("{payments}") so
// that every key of the queue lives in one slot of a Redis Cluster.
//
// In a NestJS module this is:
//
//   @Module({ imports: [BullModule.forRoot({ connection, prefix: '{payments}' }),
//                       BullModule.registerQueue({ name: 'payments' })],
//             providers: [PaymentsProducer] })
//
//   @Injectable()
//   export class PaymentsProducer {
//     constructor(@InjectQueue('payments') private readonly queue: Queue) {}
//     requestCharge(orderId: number, idempotencyKey: string) { ... as below ... }
//   }
//
// Run:  REDIS_NODES=127.0.0.1:7000,127.0.0.1:7001 ORDER_ID=42 node producer.js
//
// Environment: REDIS_NODES (host:port,... of a cluster) or REDIS_URL (a
// single node), QUEUE_PREFIX (default "{payments}"), QUEUE_NAME (default
// "payments"), ORDER_ID (required), IDEMPOTENCY_KEY (default a random one),
// WAIT=1 to wait for the Go worker's result. Prints one JSON line.
'use strict';
const { Queue, QueueEvents } = require('bullmq');
const IORedis = require('ioredis');
const crypto = require('crypto');

function connection() {
  if (process.env.REDIS_NODES) {
    const nodes = process.env.REDIS_NODES.split(',').map(a => {
      const i = a.lastIndexOf(':');
      return { host: a.slice(0, i), port: Number(a.slice(i + 1)) };
    });
    // The seed article's retry strategy: min(times * 100, 3000) ms.
    return new IORedis.Cluster(nodes, {
      clusterRetryStrategy: times => Math.min(times * 100, 3000),
      redisOptions: { maxRetriesPerRequest: null },
    });
  }
  return new IORedis(process.env.REDIS_URL || 'redis://127.0.0.1:6379', { maxRetriesPerRequest: null });
}

// PaymentsProducer is the injectable service of the NestJS application.
class PaymentsProducer {
  constructor(queue) {
    this.queue = queue;
  }

  // requestCharge asks the Go service to charge an order once. The job id
  // derives from the idempotency key, so a retried request adds nothing;
  // the Go side also enforces the key and fences the charge in PostgreSQL.
  requestCharge(orderId, idempotencyKey) {
    return this.queue.add(
      'charge-order',
      { orderId, idempotencyKey },
      {
        jobId: `charge-${idempotencyKey}`,
        priority: 1, // payments first; receipts run at 100
        attempts: 5,
        backoff: { type: 'exponential', delay: 200 },
        removeOnComplete: 1000,
      },
    );
  }
}

async function main() {
  const orderId = Number(process.env.ORDER_ID);
  if (!orderId) throw new Error('ORDER_ID is required');
  const key = process.env.IDEMPOTENCY_KEY || crypto.randomUUID();
  const name = process.env.QUEUE_NAME || 'payments';
  const prefix = process.env.QUEUE_PREFIX || '{payments}';
  const conn = connection();
  const queue = new Queue(name, { connection: conn, prefix });
  const evConn = process.env.WAIT === '1' ? connection() : null;
  let events = null;
  try {
    if (evConn) {
      // Read events from the stream's current end, taken before the add:
      // a QueueEvents starting at '$' may issue its first XREAD after the
      // Go worker already completed the job, and miss it.
      const last = await conn.xrevrange(`${prefix}:${name}:events`, '+', '-', 'COUNT', 1);
      const lastEventId = last.length ? last[0][0] : '0-0';
      events = new QueueEvents(name, { connection: evConn, prefix, lastEventId });
      await events.waitUntilReady();
    }
    const producer = new PaymentsProducer(queue);
    const job = await producer.requestCharge(orderId, key);
    const out = { jobId: job.id, orderId, idempotencyKey: key };
    if (events) {
      out.result = await job.waitUntilFinished(events, 30000);
    }
    process.stdout.write(JSON.stringify(out) + '\n');
  } finally {
    await queue.close();
    if (events) await events.close();
    // Connections passed in are the caller's to close (as in a Nest
    // module's onApplicationShutdown).
    conn.disconnect();
    if (evConn) evConn.disconnect();
  }
}

main().catch(err => {
  process.stderr.write(`producer: ${err.stack || err}\n`);
  process.exit(1);
});
