// server.ts: boot the NestJS application: the express-session middleware on
// connect-redis (node-redis 5 cluster client, which connect-redis 10
// requires), the error filter, and the HTTP server. Prints one line
// "listening on http://host:port" when it serves.
import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { RedisStore } from 'connect-redis';
import type { NextFunction, Request, Response } from 'express';
import session from 'express-session';
import { createClient, createCluster } from 'redis';
import { AppModule } from './app.module.js';
import type { Config } from './config.js';
import { nodeRedisURLs } from './redis.provider.js';
import { ErrorFilter } from './errors.js';

/** start serves until SIGTERM or SIGINT. */
export async function start(cfg: Config): Promise<void> {
  const log = new Logger('main');
  const app = await NestFactory.create<NestExpressApplication>(AppModule.forRoot(cfg), {
    logger: ['log', 'warn', 'error'],
  });
  const sessions =
    cfg.redisMode === 'single' ? createClient(nodeRedisURLs(cfg)[0]) : createCluster({ rootNodes: nodeRedisURLs(cfg) });
  sessions.on('error', (err: Error) => log.warn(`session store: ${err.message}`));
  await sessions.connect();
  app.use(
    session({
      store: new RedisStore({ client: sessions, prefix: cfg.sessionPrefix, ttl: cfg.sessionTTL }),
      secret: cfg.sessionSecrets,
      resave: false,
      saveUninitialized: false,
      cookie: { httpOnly: true, sameSite: 'lax', maxAge: cfg.sessionTTL * 1000 },
    }),
  );
  // A session store that fails (Redis unreachable) answers 503, never a
  // crash or an HTML 500.
  app.use((err: Error, _req: Request, res: Response, next: NextFunction) => {
    if (res.headersSent) return next(err);
    log.warn(`session: ${err.message}`);
    res.status(503).setHeader('Retry-After', '1');
    res.json({ error: `session store unavailable: ${err.message}` });
  });
  app.useGlobalFilters(new ErrorFilter());
  app.enableShutdownHooks();
  const host = process.env.HOST || '0.0.0.0';
  await app.listen(cfg.port, host);
  const addr = app.getHttpServer().address();
  const port = typeof addr === 'object' && addr ? addr.port : cfg.port;
  process.stdout.write(`listening on http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}\n`);
  const stop = async () => {
    await app.close().catch((err: Error) => log.warn(`close: ${err.message}`));
    await sessions.close().catch(() => undefined);
    process.exit(0);
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}
