// config.ts: the service's configuration, from the environment only. Every
// malformed variable is named in the error; no value of a secret is ever
// printed.
import * as os from 'node:os';

export interface RedisNode {
  host: string;
  port: number;
}

export interface Config {
  /** REDIS_NODES: host:port,... of the Redis Cluster; with REDIS_MODE=single or REDIS_URL, the one node. */
  redisNodes: RedisNode[];
  /** REDIS_MODE: cluster (default with REDIS_NODES) or single (default with REDIS_URL=redis://host:port). */
  redisMode: 'cluster' | 'single';
  /** DATABASE_URL: the PostgreSQL DSN of the payments schema (required). */
  databaseUrl: string;
  /** PORT: the HTTP port (default 3000). */
  port: number;
  /** INSTANCE: the name written in charges (default nest-<host>:<pid>). */
  instance: string;
  /** SESSION_SECRET: comma-separated express-session secrets, newest first (rotation). */
  sessionSecrets: string[];
  /** SESSION_PREFIX: connect-redis key prefix (default "sess:"). */
  sessionPrefix: string;
  /** SESSION_TTL: session lifetime in seconds (default 86400). */
  sessionTTL: number;
  /** LOCK_PREFIX: the lock key prefix shared with the Go service (default "payments:lock:"). */
  lockPrefix: string;
  /** LOCK_TTL_MS: the order lock's lease (default 5000, as the Go service). */
  lockTTL: number;
  /** LOCK_WAIT_MS: how long a payment waits for the order's lock (default 15000). */
  lockWait: number;
  /** PROVIDER_DELAY_MS: the simulated payment provider's latency (default 20). */
  providerDelay: number;
  /** QUEUE_PREFIX: the BullMQ prefix of the "payments" queue shared with Go (default "{payments}"). */
  queuePrefix: string;
  /** JOBS_WORKER: "0" runs no @Processor (jobs are left to the Go workers). Default "1". */
  jobsWorker: boolean;
  /** PRODUCT_TTL_MS: how long products stay cached (default 60000). */
  productTTL: number;
}

function int(name: string, def: number, min: number): number {
  const v = process.env[name];
  if (v === undefined || v === '') return def;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) {
    throw new Error(`${name}: want an integer >= ${min}, got ${JSON.stringify(v)}`);
  }
  return n;
}

export function parseNodes(v: string): RedisNode[] {
  return v.split(',').map((a) => {
    const s = a.trim();
    const i = s.lastIndexOf(':');
    const port = Number(s.slice(i + 1));
    if (i <= 0 || !Number.isInteger(port) || port <= 0 || port > 65535) {
      throw new Error(`REDIS_NODES: want host:port,..., got entry ${JSON.stringify(s)}`);
    }
    return { host: s.slice(0, i), port };
  });
}

/** redisTarget reads REDIS_NODES, REDIS_URL and REDIS_MODE (as the Go service's redisconn). */
function redisTarget(): { mode: 'cluster' | 'single'; nodes: RedisNode[] } {
  const nodes = process.env.REDIS_NODES;
  const url = process.env.REDIS_URL;
  const mode = process.env.REDIS_MODE || 'auto';
  if (mode !== 'auto' && mode !== 'cluster' && mode !== 'single') {
    throw new Error(`REDIS_MODE: want auto, cluster or single, got ${JSON.stringify(mode)}`);
  }
  if (nodes && url) throw new Error('REDIS_URL: want either REDIS_URL or REDIS_NODES, not both');
  if (url) {
    const m = /^redis:\/\/([^:/@]+):([0-9]+)\/?$/.exec(url);
    if (!m) throw new Error('REDIS_URL: want redis://host:port (no credentials or database here)');
    if (mode === 'cluster') throw new Error('REDIS_MODE: cluster needs REDIS_NODES');
    return { mode: 'single', nodes: parseNodes(`${m[1]}:${m[2]}`) };
  }
  if (!nodes) throw new Error('REDIS_NODES is required (host:port,... of a Redis Cluster), or REDIS_URL for a single node');
  const parsed = parseNodes(nodes);
  if (mode === 'single' && parsed.length !== 1) throw new Error('REDIS_NODES: REDIS_MODE=single wants exactly one host:port');
  return { mode: mode === 'single' ? 'single' : 'cluster', nodes: parsed };
}

export function loadConfig(): Config {
  const redis = redisTarget();
  const databaseUrl = process.env.DATABASE_URL;
  if (!databaseUrl) throw new Error('DATABASE_URL is required (a PostgreSQL DSN)');
  const secrets = (process.env.SESSION_SECRET || 'rediskit-demo-secret').split(',').filter((s) => s !== '');
  if (secrets.length === 0) throw new Error('SESSION_SECRET: want one or more comma-separated secrets');
  const worker = process.env.JOBS_WORKER ?? '1';
  if (worker !== '0' && worker !== '1') throw new Error(`JOBS_WORKER: want 0 or 1, got ${JSON.stringify(worker)}`);
  return {
    redisNodes: redis.nodes,
    redisMode: redis.mode,
    databaseUrl,
    port: int('PORT', 3000, 0),
    instance: process.env.INSTANCE || `nest-${os.hostname()}:${process.pid}`,
    sessionSecrets: secrets,
    sessionPrefix: process.env.SESSION_PREFIX ?? 'sess:',
    sessionTTL: int('SESSION_TTL', 86400, 1),
    lockPrefix: process.env.LOCK_PREFIX ?? 'payments:lock:',
    lockTTL: int('LOCK_TTL_MS', 5000, 100),
    lockWait: int('LOCK_WAIT_MS', 15000, 0),
    providerDelay: int('PROVIDER_DELAY_MS', 20, 0),
    queuePrefix: process.env.QUEUE_PREFIX || '{payments}',
    jobsWorker: worker === '1',
    productTTL: int('PRODUCT_TTL_MS', 60000, 1),
  };
}

export const CONFIG = Symbol('CONFIG');
