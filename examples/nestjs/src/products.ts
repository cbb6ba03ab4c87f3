// products.ts: cache-aside over PostgreSQL (Drizzle) through
// @nestjs/cache-manager (cache-manager 7 + Keyv + @keyv/redis 5 on the
// cluster), as the seed article's ProductsService does: read the cache,
// on a miss read PostgreSQL and fill the cache with a TTL.
import { CACHE_MANAGER } from '@nestjs/cache-manager';
import { Controller, Get, Inject, Injectable, Logger, Param, Query, Res } from '@nestjs/common';
import type { Cache } from 'cache-manager';
import { asc, eq } from 'drizzle-orm';
import type { Response } from 'express';
import { CONFIG, Config } from './config.js';
import { DB, DRIZZLE, products } from './db.js';
import { InvalidError, NotFoundError } from './errors.js';

/** ProductJSON is a product as the Go service's API writes it. */
export interface ProductJSON {
  id: number;
  name: string;
  price_cents: number;
  stock: number;
  version: number;
  updated_at: string;
}

function toJSON(p: typeof products.$inferSelect): ProductJSON {
  return {
    id: p.id,
    name: p.name,
    price_cents: p.priceCents,
    stock: p.stock,
    version: p.version,
    updated_at: p.updatedAt.toISOString(),
  };
}

@Injectable()
export class ProductsService {
  private readonly log = new Logger('products');
  hits = 0;
  misses = 0;

  constructor(
    @Inject(DRIZZLE) private readonly db: DB,
    @Inject(CACHE_MANAGER) private readonly cache: Cache,
    @Inject(CONFIG) private readonly cfg: Config,
  ) {}

  /** aside reads key from the cache, else loads it and fills the cache. */
  private async aside<T>(key: string, load: () => Promise<T>): Promise<{ value: T; hit: boolean }> {
    let cached: T | undefined;
    try {
      cached = await this.cache.get<T>(key);
    } catch (err) {
      // The cache is an optimisation: PostgreSQL answers when Redis does not.
      this.log.warn(`cache get ${key}: ${(err as Error).message}`);
    }
    if (cached !== undefined && cached !== null) {
      this.hits++;
      return { value: cached, hit: true };
    }
    this.misses++;
    const value = await load();
    try {
      await this.cache.set(key, value, this.cfg.productTTL);
    } catch (err) {
      this.log.warn(`cache set ${key}: ${(err as Error).message}`);
    }
    return { value, hit: false };
  }

  get(id: number): Promise<{ value: ProductJSON; hit: boolean }> {
    return this.aside(`product:${id}`, async () => {
      const rows = await this.db.select().from(products).where(eq(products.id, id));
      if (rows.length === 0) throw new NotFoundError();
      return toJSON(rows[0]);
    });
  }

  list(limit: number): Promise<{ value: ProductJSON[]; hit: boolean }> {
    return this.aside(`list:${limit}`, async () => {
      const rows = await this.db.select().from(products).orderBy(asc(products.id)).limit(limit);
      return rows.map(toJSON);
    });
  }
}

export function parseId(v: string): number {
  const n = Number(v);
  if (!/^[0-9]+$/.test(v) || !Number.isSafeInteger(n) || n <= 0) throw new InvalidError('bad request: id');
  return n;
}

@Controller('products')
export class ProductsController {
  constructor(private readonly products: ProductsService) {}

  @Get()
  async list(@Query('limit') limit: string | undefined, @Res({ passthrough: true }) res: Response): Promise<ProductJSON[]> {
    const n = limit === undefined ? 20 : parseId(limit);
    if (n > 200) throw new InvalidError('bad request: limit over 200');
    const { value, hit } = await this.products.list(n);
    res.setHeader('X-Cache', hit ? 'hit' : 'miss');
    return value;
  }

  @Get(':id')
  async get(@Param('id') id: string, @Res({ passthrough: true }) res: Response): Promise<ProductJSON> {
    const { value, hit } = await this.products.get(parseId(id));
    res.setHeader('X-Cache', hit ? 'hit' : 'miss');
    return value;
  }
}
