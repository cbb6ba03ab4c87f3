// payments.ts: orders and payments over the Go service's schema, under the
// Go service's lock names and PostgreSQL fence rule, so a charge can never
// double whichever side takes it:
//
//   1. an idempotency key per account: a key already used for this order
//      replays its charge (200), for another order is refused (422); an
//      order paid under another key is refused (409);
//   2. PaymentService.processPayment runs under @DistributedLock on
//      "payments:lock:{order:<id>}" — the key Go's lock.Locker uses — and
//      takes its fencing token from the counter Go INCRs;
//   3. the token is claimed in PostgreSQL (UPDATE orders SET fence = $t
//      WHERE fence < $t) before the provider call, and the commit
//      (UPDATE ... WHERE fence = $t AND status = 'pending') lands only while
//      it is still the newest: a stale holder of either side is refused;
//   4. charges.order_id is UNIQUE: the last line of defence.
import { Body, Controller, Get, Headers, HttpCode, Inject, Injectable, Logger, Param, Post, Req, Res } from '@nestjs/common';
import { and, eq, lt, sql } from 'drizzle-orm';
import type { Request, Response } from 'express';
import { userOf } from './auth.js';
import { CONFIG, Config } from './config.js';
import { charges, DB, DRIZZLE, idempotencyKeys, ledger, orders, pgCode, products } from './db.js';
import { FencedError, InvalidError, KeyReusedError, NoKeyError, NotFoundError, PaidError } from './errors.js';
import { PaymentJobsProducer } from './producer.js';
import { currentLease, DistributedLock, LockService } from './lock.js';
import { parseId } from './products.js';

export interface OrderJSON {
  id: number;
  account_id: number;
  product_id: number;
  quantity: number;
  amount_cents: number;
  status: string;
  fence: number;
  created_at: string;
  paid_at?: string;
}

export interface ChargeJSON {
  id: string;
  order_id: number;
  account_id: number;
  amount_cents: number;
  fence: number;
  idempotency_key: string;
  instance: string;
  created_at: string;
  confirmed_at?: string;
}

export interface PayResult {
  charge: ChargeJSON;
  /** replayed: the charge was made earlier under the same key; nothing was charged now. */
  replayed: boolean;
}

function orderJSON(o: typeof orders.$inferSelect): OrderJSON {
  const out: OrderJSON = {
    id: o.id,
    account_id: o.accountId,
    product_id: o.productId,
    quantity: o.quantity,
    amount_cents: o.amountCents,
    status: o.status,
    fence: o.fence,
    created_at: o.createdAt.toISOString(),
  };
  if (o.paidAt) out.paid_at = o.paidAt.toISOString();
  return out;
}

function chargeJSON(c: typeof charges.$inferSelect): ChargeJSON {
  const out: ChargeJSON = {
    id: c.id,
    order_id: c.orderId,
    account_id: c.accountId,
    amount_cents: c.amountCents,
    fence: c.fence,
    idempotency_key: c.idempotencyKey,
    instance: c.instance,
    created_at: c.createdAt.toISOString(),
  };
  if (c.confirmedAt) out.confirmed_at = c.confirmedAt.toISOString();
  return out;
}

class PaidMarker extends Error {}

@Injectable()
export class PaymentService {
  private readonly log = new Logger('payments');
  charges = 0;
  replays = 0;
  fenced = 0;
  /** jobRuns counts the payments-queue jobs this instance's processor ran. */
  jobRuns = 0;

  constructor(
    @Inject(DRIZZLE) private readonly db: DB,
    @Inject(CONFIG) readonly cfg: Config,
    // @DistributedLock uses this property.
    readonly locks: LockService,
    private readonly jobs: PaymentJobsProducer,
  ) {}

  async createOrder(accountId: number, productId: unknown, quantity: unknown): Promise<OrderJSON> {
    const q = quantity === undefined || quantity === 0 ? 1 : quantity;
    if (typeof productId !== 'number' || !Number.isSafeInteger(productId) || typeof q !== 'number' || !Number.isInteger(q) || q <= 0 || q > 100) {
      throw new InvalidError();
    }
    const p = await this.db.select({ price: products.priceCents }).from(products).where(eq(products.id, productId));
    if (p.length === 0) throw new NotFoundError();
    const rows = await this.db
      .insert(orders)
      .values({ accountId, productId, quantity: q, amountCents: p[0].price * q, status: 'pending', fence: 0, createdAt: sql`now()` })
      .returning();
    if (rows.length === 0) throw new NotFoundError();
    return orderJSON(rows[0]);
  }

  private async orderRow(accountId: number, orderId: number): Promise<typeof orders.$inferSelect> {
    const rows = await this.db.select().from(orders).where(eq(orders.id, orderId));
    if (rows.length === 0 || rows[0].accountId !== accountId) throw new NotFoundError();
    return rows[0];
  }

  async order(accountId: number, orderId: number): Promise<OrderJSON> {
    return orderJSON(await this.orderRow(accountId, orderId));
  }

  /** pay charges an order of accountId once (see the file comment). */
  async pay(accountId: number, orderId: number, key: string | undefined): Promise<PayResult> {
    if (!key || key.length > 200) throw new NoKeyError();
    const o = await this.orderRow(accountId, orderId);
    const done = await this.settled(o.id, o.accountId, key);
    const res = done ?? (await this.processPayment(o.id, o.accountId, o.amountCents, key));
    if (res.replayed) this.replays++;
    // Jobs have ids derived from the charge: adding them again is a no-op,
    // and a replay repairs a crash between the commit and the first add.
    await this.jobs.enqueue(res.charge).catch((err: Error) => {
      this.log.warn(`charge ${res.charge.id} committed, jobs not queued: ${err.message}`);
    });
    return res;
  }

  /** processPayment is the article's locked section: one holder per order across Node and Go. */
  @DistributedLock({ name: (orderId: number) => `order:${orderId}` })
  async processPayment(orderId: number, accountId: number, amountCents: number, key: string): Promise<PayResult> {
    // Inside the lock: a holder before us (of either side) may have paid.
    const done = await this.settled(orderId, accountId, key);
    if (done) return done;
    const { token, signal } = currentLease();
    await this.claimFence(orderId, token);
    await this.provider(signal);
    try {
      const c = await this.commitCharge(orderId, accountId, amountCents, token, key);
      this.charges++;
      return { charge: c, replayed: false };
    } catch (err) {
      if (err instanceof PaidError && err.charge.idempotency_key === key) return { charge: err.charge, replayed: true };
      if (err instanceof FencedError) this.fenced++;
      throw err;
    }
  }

  /** settled returns the payment that needs no charge, or null. */
  private async settled(orderId: number, accountId: number, key: string): Promise<PayResult | null> {
    const byKey = await this.db
      .select({ c: charges })
      .from(idempotencyKeys)
      .innerJoin(charges, eq(charges.id, idempotencyKeys.chargeId))
      .where(and(eq(idempotencyKeys.accountId, accountId), eq(idempotencyKeys.key, key)));
    if (byKey.length > 0) {
      if (byKey[0].c.orderId !== orderId) throw new KeyReusedError();
      return { charge: chargeJSON(byKey[0].c), replayed: true };
    }
    const c = await this.chargeForOrder(orderId);
    if (!c) return null;
    // Committed between the two reads by a request with this key.
    if (c.idempotency_key === key) return { charge: c, replayed: true };
    throw new PaidError(c);
  }

  private async chargeForOrder(orderId: number): Promise<ChargeJSON | null> {
    const rows = await this.db.select().from(charges).where(eq(charges.orderId, orderId));
    return rows.length > 0 ? chargeJSON(rows[0]) : null;
  }

  /** claimFence makes token the order's newest fence, or fails when a token >= it was seen. */
  private async claimFence(orderId: number, token: number): Promise<void> {
    const rows = await this.db
      .update(orders)
      .set({ fence: token })
      .where(and(eq(orders.id, orderId), lt(orders.fence, token)))
      .returning({ id: orders.id });
    if (rows.length === 0) {
      this.fenced++;
      throw new FencedError(`order ${orderId}, token ${token}`);
    }
  }

  /** provider simulates the payment provider's latency; it stops when the lock is lost. */
  private async provider(signal: AbortSignal): Promise<void> {
    if (this.cfg.providerDelay > 0) {
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(resolve, this.cfg.providerDelay);
        signal.addEventListener('abort', () => (clearTimeout(t), reject(signal.reason)), { once: true });
      });
    }
    if (signal.aborted) throw signal.reason;
  }

  /** commitCharge moves the money, records the charge and the key and marks the order paid, in one transaction. */
  private async commitCharge(orderId: number, accountId: number, amountCents: number, token: number, key: string): Promise<ChargeJSON> {
    try {
      return await this.db.transaction(async (tx) => {
        // The fence check and the state change are one statement: its row
        // lock orders it against every other claim and commit.
        const paid = await tx
          .update(orders)
          .set({ status: 'paid', paidAt: sql`now()` })
          .where(and(eq(orders.id, orderId), eq(orders.fence, token), eq(orders.status, 'pending')))
          .returning({ id: orders.id });
        if (paid.length === 0) {
          const now = await tx.select({ status: orders.status, fence: orders.fence }).from(orders).where(eq(orders.id, orderId));
          if (now.length === 0) throw new NotFoundError();
          if (now[0].fence !== token) throw new FencedError(`order ${orderId}, token ${token}, newest ${now[0].fence}`);
          throw new PaidMarker();
        }
        const [c] = await tx
          .insert(charges)
          .values({ orderId, accountId, amountCents, fence: token, idempotencyKey: key, instance: this.cfg.instance })
          .returning();
        // The "payment provider": the money moves in the same transaction.
        await tx.insert(ledger).values({ orderId, chargeId: c.id, amountCents, fence: token });
        try {
          await tx.insert(idempotencyKeys).values({ accountId, key, orderId, chargeId: c.id });
        } catch (err) {
          if (pgCode(err) === '23505') throw new KeyReusedError();
          throw err;
        }
        return chargeJSON(c);
      });
    } catch (err) {
      if (err instanceof PaidMarker || pgCode(err) === '23505') {
        // Paid under this token already, or the UNIQUE(order_id) defence.
        const c = await this.chargeForOrder(orderId);
        if (c) throw new PaidError(c);
      }
      throw err;
    }
  }
}

@Controller('orders')
export class OrdersController {
  constructor(private readonly payments: PaymentService) {}

  @Post()
  @HttpCode(201)
  create(@Req() req: Request, @Body() body: { product_id?: unknown; quantity?: unknown }): Promise<OrderJSON> {
    const uid = userOf(req);
    return this.payments.createOrder(uid, body?.product_id, body?.quantity);
  }

  @Get(':id')
  get(@Req() req: Request, @Param('id') id: string): Promise<OrderJSON> {
    return this.payments.order(userOf(req), parseId(id));
  }

  @Post(':id/pay')
  async pay(
    @Req() req: Request,
    @Param('id') id: string,
    @Headers('idempotency-key') key: string | undefined,
    @Res({ passthrough: true }) res: Response,
  ): Promise<PayResult> {
    const r = await this.payments.pay(userOf(req), parseId(id), key);
    if (r.replayed) {
      res.status(200);
      res.setHeader('Idempotent-Replayed', 'true');
    } else {
      res.status(201);
    }
    return r;
  }
}
