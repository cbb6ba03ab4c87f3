// db.ts: Drizzle over node-postgres, on the payments schema that the Go
// service migrates (payments/postgres/migrations). This app never creates or
// alters a table: the Go side owns the schema.
import { Global, Inject, Injectable, Module, OnApplicationShutdown } from '@nestjs/common';
import { bigint, bigserial, customType, integer, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core';
import { drizzle, NodePgDatabase } from 'drizzle-orm/node-postgres';
import { Pool } from 'pg';
import { CONFIG, Config } from './config.js';

const bytea = customType<{ data: Buffer }>({ dataType: () => 'bytea' });

export const products = pgTable('products', {
  id: bigint('id', { mode: 'number' }).primaryKey(),
  name: text('name').notNull(),
  priceCents: bigint('price_cents', { mode: 'number' }).notNull(),
  stock: bigint('stock', { mode: 'number' }).notNull(),
  version: bigint('version', { mode: 'number' }).notNull(),
  updatedAt: timestamp('updated_at', { withTimezone: true }).notNull(),
});

export const accounts = pgTable('accounts', {
  id: bigserial('id', { mode: 'number' }).primaryKey(),
  email: text('email').notNull(),
  name: text('name').notNull(),
  passwordSalt: bytea('password_salt').notNull(),
  passwordHash: bytea('password_hash').notNull(),
});

export const orders = pgTable('orders', {
  id: bigserial('id', { mode: 'number' }).primaryKey(),
  accountId: bigint('account_id', { mode: 'number' }).notNull(),
  productId: bigint('product_id', { mode: 'number' }).notNull(),
  quantity: integer('quantity').notNull(),
  amountCents: bigint('amount_cents', { mode: 'number' }).notNull(),
  status: text('status').notNull(),
  fence: bigint('fence', { mode: 'number' }).notNull(),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull(),
  paidAt: timestamp('paid_at', { withTimezone: true }),
});

export const charges = pgTable('charges', {
  id: uuid('id').primaryKey().defaultRandom(),
  orderId: bigint('order_id', { mode: 'number' }).notNull(),
  accountId: bigint('account_id', { mode: 'number' }).notNull(),
  amountCents: bigint('amount_cents', { mode: 'number' }).notNull(),
  fence: bigint('fence', { mode: 'number' }).notNull(),
  idempotencyKey: text('idempotency_key').notNull(),
  instance: text('instance').notNull(),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  confirmedAt: timestamp('confirmed_at', { withTimezone: true }),
  confirmRuns: integer('confirm_runs').notNull().default(0),
  /** confirmedBy: the instance (either side) that ran the confirmation job. */
  confirmedBy: text('confirmed_by'),
});

export const ledger = pgTable('ledger', {
  id: bigserial('id', { mode: 'number' }).primaryKey(),
  orderId: bigint('order_id', { mode: 'number' }).notNull(),
  chargeId: uuid('charge_id').notNull(),
  amountCents: bigint('amount_cents', { mode: 'number' }).notNull(),
  fence: bigint('fence', { mode: 'number' }).notNull(),
});

export const receipts = pgTable('receipts', {
  chargeId: uuid('charge_id').primaryKey(),
  sendRuns: integer('send_runs').notNull().default(1),
});

export const idempotencyKeys = pgTable('idempotency_keys', {
  accountId: bigint('account_id', { mode: 'number' }).notNull(),
  key: text('key').notNull(),
  orderId: bigint('order_id', { mode: 'number' }).notNull(),
  chargeId: uuid('charge_id').notNull(),
});

export const jobRuns = pgTable('job_runs', {
  jobId: text('job_id').primaryKey(),
  name: text('name').notNull(),
  runs: integer('runs').notNull().default(1),
  effects: integer('effects').notNull().default(0),
  lastRun: timestamp('last_run', { withTimezone: true }).notNull().defaultNow(),
});

export const schema = { products, accounts, orders, charges, ledger, receipts, idempotencyKeys, jobRuns };
export type DB = NodePgDatabase<typeof schema>;
export const DRIZZLE = Symbol('DRIZZLE');
const PG_POOL = Symbol('PG_POOL');

@Injectable()
class PoolShutdown implements OnApplicationShutdown {
  constructor(@Inject(PG_POOL) private readonly pool: Pool) {}

  async onApplicationShutdown(): Promise<void> {
    await this.pool.end();
  }
}

@Global()
@Module({
  providers: [
    { provide: PG_POOL, inject: [CONFIG], useFactory: (cfg: Config) => new Pool({ connectionString: cfg.databaseUrl, max: 10 }) },
    { provide: DRIZZLE, inject: [PG_POOL], useFactory: (pool: Pool) => drizzle(pool, { schema }) },
    PoolShutdown,
  ],
  exports: [DRIZZLE],
})
export class DbModule {}

/** pgCode returns the SQLSTATE of a pg error, also when Drizzle wrapped it. */
export function pgCode(err: unknown): string | undefined {
  for (let e: any = err; e; e = e.cause) {
    if (typeof e.code === 'string' && /^[0-9A-Z]{5}$/.test(e.code)) return e.code;
  }
  return undefined;
}
