// app.module.ts: the application's modules, built from the configuration.
import { createClient as createKeyvClient, createCluster as createKeyvCluster } from '@keyv/redis';
import KeyvRedis from '@keyv/redis';
import { BullModule } from '@nestjs/bullmq';
import { CacheModule } from '@nestjs/cache-manager';
import { Controller, DynamicModule, Get, Logger, Module } from '@nestjs/common';
import { Keyv } from 'keyv';
import { AuthController, AuthService } from './auth.js';
import { CONFIG, Config } from './config.js';
import { DbModule } from './db.js';
import { PaymentsProcessor } from './jobs.js';
import { PaymentJobsProducer, QUEUE } from './producer.js';
import { LockService } from './lock.js';
import { OrdersController, PaymentService } from './payments.js';
import { ProductsController, ProductsService } from './products.js';
import { createRedis, nodeRedisURLs, RedisModule } from './redis.provider.js';

@Controller()
class HealthController {
  constructor(
    private readonly products: ProductsService,
    private readonly payments: PaymentService,
    private readonly locks: LockService,
  ) {}

  @Get('healthz')
  health(): { status: string } {
    return { status: 'ok' };
  }

  @Get('stats')
  stats(): Record<string, unknown> {
    const p = this.payments;
    return {
      instance: p.cfg.instance,
      charges: p.charges,
      replays: p.replays,
      fenced: p.fenced,
      job_runs: p.jobRuns,
      cache: { hits: this.products.hits, misses: this.products.misses },
      lock: this.locks.stats,
    };
  }
}

@Module({})
export class AppModule {
  static forRoot(cfg: Config): DynamicModule {
    const log = new Logger('cache');
    return {
      module: AppModule,
      imports: [
        RedisModule.forRoot(cfg),
        DbModule,
        // BullMQ gets its own client: its blocking commands need
        // maxRetriesPerRequest null, which the shared client keeps at the
        // default so an HTTP request fails instead of hanging.
        BullModule.forRoot({
          connection: createRedis(cfg, true),
          prefix: cfg.queuePrefix,
        }),
        BullModule.registerQueue({ name: QUEUE }),
        CacheModule.registerAsync({
          inject: [CONFIG],
          useFactory: async (c: Config) => {
            const client =
              c.redisMode === 'single' ? createKeyvClient(nodeRedisURLs(c)[0]) : createKeyvCluster({ rootNodes: nodeRedisURLs(c) });
            // Connected before the first request: @keyv/redis connects
            // lazily, and two first requests at once would both start the
            // cluster client (node-redis then fails one of them).
            await client.connect();
            const keyv = new Keyv({ store: new KeyvRedis(client), namespace: 'products' });
            keyv.on('error', (err: Error) => log.warn(`keyv: ${err.message}`));
            return { stores: [keyv], ttl: c.productTTL };
          },
        }),
      ],
      controllers: [HealthController, AuthController, ProductsController, OrdersController],
      providers: [
        LockService,
        AuthService,
        ProductsService,
        PaymentService,
        PaymentJobsProducer,
        ...(cfg.jobsWorker ? [PaymentsProcessor] : []),
      ],
    };
  }
}
