// redis.provider.ts: the seed article's RedisProvider — one ioredis Cluster
// built from REDIS_NODES, reconnecting after min(times * 100, 3000) ms.
import { DynamicModule, Global, Inject, Injectable, Module, OnApplicationShutdown, Provider } from '@nestjs/common';
import { Cluster, ClusterOptions, Redis } from 'ioredis';
import { CONFIG, Config } from './config.js';

export const REDIS_CLIENT = Symbol('REDIS_CLIENT');

/** The article's clusterRetryStrategy: min(times * 100, 3000) ms. */
export function clusterRetryStrategy(times: number): number {
  return Math.min(times * 100, 3000);
}

/** createCluster builds an ioredis Cluster over the configured nodes. */
export function createCluster(cfg: Config, extra: ClusterOptions = {}): Cluster {
  return new Cluster(cfg.redisNodes, {
    clusterRetryStrategy,
    enableReadyCheck: true,
    scaleReads: 'master',
    ...extra,
  });
}

/** RedisClient is the shared client: a Cluster, or one node's Redis with REDIS_MODE=single. */
export type RedisClient = Cluster | Redis;

/**
 * createRedis builds the configured client; blocking (BullMQ's connection)
 * sets maxRetriesPerRequest null, which its blocking commands need.
 */
export function createRedis(cfg: Config, blocking = false): RedisClient {
  const extra = blocking ? { maxRetriesPerRequest: null } : {};
  if (cfg.redisMode === 'single') {
    const n = cfg.redisNodes[0];
    return new Redis({ host: n.host, port: n.port, ...extra });
  }
  return createCluster(cfg, { redisOptions: extra });
}

/** nodeRedisURLs are the nodes as node-redis URLs (connect-redis, @keyv/redis). */
export function nodeRedisURLs(cfg: Config): { url: string }[] {
  return cfg.redisNodes.map((n) => ({ url: `redis://${n.host}:${n.port}` }));
}

export const RedisProvider: Provider = {
  provide: REDIS_CLIENT,
  inject: [CONFIG],
  useFactory: (cfg: Config) => createRedis(cfg),
};

@Injectable()
class RedisShutdown implements OnApplicationShutdown {
  constructor(@Inject(REDIS_CLIENT) private readonly redis: RedisClient) {}

  async onApplicationShutdown(): Promise<void> {
    this.redis.disconnect();
  }
}

/** RedisModule provides the configuration and the shared Cluster to every module. */
@Global()
@Module({})
export class RedisModule {
  static forRoot(cfg: Config): DynamicModule {
    return {
      module: RedisModule,
      providers: [{ provide: CONFIG, useValue: cfg }, RedisProvider, RedisShutdown],
      exports: [CONFIG, REDIS_CLIENT],
    };
  }
}
