// lock.ts: distributed locks over redlock 4 on the shared ioredis Cluster,
// under the SAME keys as the Go service's lock package, and the
// @DistributedLock() decorator of the seed article.
//
// Key layout shared with Go (lock/keys.go): lock name N under prefix P is the
// key "P{N}" (the Go holder writes "<owner>:<token>:<holder>", redlock a
// random hex value: neither side can release or extend the other's lock),
// and its fencing counter is "P{N}:fence", an INCR counter that never
// expires. Go draws its token with INCR in the script that sets the lock;
// here the token is drawn right after the lock is set and kept only if the
// lock still carries our value afterwards, so tokens of both sides grow in
// the order the lock was held.
import { AsyncLocalStorage } from 'node:async_hooks';
import { Inject, Injectable, Logger } from '@nestjs/common';
// redlock 4 is CommonJS (`module.exports = Redlock`): its default import.
import Redlock from 'redlock';
import { CONFIG, Config } from './config.js';
import { LockError } from './errors.js';
import { REDIS_CLIENT, type RedisClient } from './redis.provider.js';

/** Lease is what the code under a lock sees of it. */
export interface Lease {
  /** The lock key ("payments:lock:{order:42}"). */
  resource: string;
  /** The fencing token: send it with every write to the guarded resource. */
  token: number;
  /** Aborted when an extension fails: the lock may be someone else's now. */
  signal: AbortSignal;
}

const current = new AsyncLocalStorage<Lease>();

/** currentLease returns the lease of the innermost @DistributedLock around the caller. */
export function currentLease(): Lease {
  const l = current.getStore();
  if (!l) throw new Error('currentLease: not called under @DistributedLock');
  return l;
}

@Injectable()
export class LockService {
  private readonly log = new Logger('lock');
  private readonly redlock: Redlock;
  /** Counters for /stats: callers waiting for a lock now, acquisitions, losses, timeouts. */
  readonly stats = { waiting: 0, held: 0, acquired: 0, lost: 0, timeouts: 0 };

  constructor(
    @Inject(REDIS_CLIENT) private readonly redis: RedisClient,
    @Inject(CONFIG) private readonly cfg: Config,
  ) {
    const retryDelay = 50;
    // One deployment (one cluster): a quorum of one, as Go's lock.New.
    this.redlock = new Redlock([redis as any], {
      driftFactor: 0.01,
      retryDelay,
      retryJitter: 25,
      retryCount: Math.max(1, Math.ceil(cfg.lockWait / retryDelay)),
    });
  }

  /** key returns the Redis key of lock name (the Go lock package's layout). */
  key(name: string): string {
    if (name === '' || /[{}]/.test(name)) throw new Error(`lock: invalid name ${JSON.stringify(name)}`);
    return `${this.cfg.lockPrefix}{${name}}`;
  }

  /**
   * run holds lock name while fn runs: it waits up to LOCK_WAIT_MS, draws a
   * fencing token from the counter Go uses, extends the lease every ttl/3
   * and releases when fn settles.
   */
  async run<T>(name: string, ttl: number, fn: () => Promise<T>): Promise<T> {
    const resource = this.key(name);
    let lock: Redlock.Lock;
    this.stats.waiting++;
    try {
      lock = await this.redlock.lock(resource, ttl);
    } catch (err) {
      this.stats.timeouts++;
      throw new LockError(`lock: ${resource} still taken after ${this.cfg.lockWait} ms: ${(err as Error).message}`);
    } finally {
      this.stats.waiting--;
    }
    this.stats.acquired++;
    this.stats.held++;
    const lost = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    try {
      const token = await this.redis.incr(resource + ':fence');
      if ((await this.redis.get(resource)) !== lock.value) {
        throw new LockError(`lock: ${resource} expired before its token was drawn`);
      }
      timer = setInterval(() => {
        // redlock 4's extend returns a NEW lock object: keep it, or the
        // release below would use the old one.
        lock.extend(ttl).then(
          (l: Redlock.Lock) => (lock = l),
          (err: Error) => {
            this.log.warn(`lock ${resource} lost: ${err.message}`);
            clearInterval(timer);
            this.stats.lost++;
            lost.abort(new LockError(`lock: ${resource} lost`));
          },
        );
      }, Math.max(10, Math.floor(ttl / 3)));
      return await current.run({ resource, token, signal: lost.signal }, fn);
    } finally {
      clearInterval(timer);
      this.stats.held--;
      // A lock that expired or went to another holder is left alone:
      // redlock's release deletes only a key that still carries our value.
      await lock.unlock().catch((err: Error) => this.log.warn(`unlock ${resource}: ${err.message}`));
    }
  }
}

export interface DistributedLockOptions {
  /** name derives the lock name from the method's arguments. */
  name: (...args: any[]) => string;
  /** ttl is the lease in ms (default: the service's LOCK_TTL_MS). */
  ttl?: number;
}

/**
 * DistributedLock runs the decorated method under a distributed lock. The
 * class must have a `locks: LockService` property (inject it). Inside the
 * method, currentLease() gives the fencing token.
 */
export function DistributedLock(opts: DistributedLockOptions): MethodDecorator {
  return (_target, _key, descriptor: PropertyDescriptor) => {
    const original = descriptor.value as (...args: any[]) => Promise<unknown>;
    descriptor.value = function (this: { locks?: LockService; cfg?: Config }, ...args: any[]) {
      const locks = this.locks;
      if (!(locks instanceof LockService)) {
        throw new Error('@DistributedLock: the class has no `locks: LockService` property');
      }
      const ttl = opts.ttl ?? this.cfg?.lockTTL ?? 5000;
      return locks.run(opts.name(...args), ttl, () => original.apply(this, args));
    };
    return descriptor;
  };
}
