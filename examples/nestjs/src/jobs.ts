// jobs.ts: the @nestjs/bullmq processor of the "payments" queue shared with
// the Go service: it runs the jobs either side enqueues with the same
// effects as the Go worker (payments/service.go: confirm, receipt, charge),
// each idempotent and counted in job_runs.
import { Processor, WorkerHost } from '@nestjs/bullmq';
import { Inject, Logger } from '@nestjs/common';
import { Job, UnrecoverableError } from 'bullmq';
import { eq, and, isNull, sql } from 'drizzle-orm';
import { charges, DB, DRIZZLE, jobRuns, orders, receipts } from './db.js';
import { PaidError } from './errors.js';
import { PaymentService } from './payments.js';
import { ChargeJobData, JOB_CHARGE, JOB_CONFIRM, JOB_RECEIPT, QUEUE } from './producer.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

@Processor(QUEUE, { concurrency: 8, removeOnComplete: { count: 10000 } })
export class PaymentsProcessor extends WorkerHost {
  private readonly log = new Logger('jobs');

  constructor(
    @Inject(DRIZZLE) private readonly db: DB,
    private readonly payments: PaymentService,
  ) {
    super();
  }

  async process(job: Job): Promise<unknown> {
    this.payments.jobRuns++;
    switch (job.name) {
      case JOB_CONFIRM:
      case JOB_RECEIPT: {
        const d = job.data as Partial<ChargeJobData> | null;
        if (!d || typeof d.chargeId !== 'string' || !UUID.test(d.chargeId)) {
          throw new UnrecoverableError(`bad ${job.name} job ${job.id}: data ${JSON.stringify(job.data)}`);
        }
        const applied = job.name === JOB_CONFIRM ? await this.confirm(d.chargeId) : await this.receipt(d.chargeId);
        await this.recordRun(job, applied);
        return { chargeId: d.chargeId, applied };
      }
      case JOB_CHARGE: {
        const d = job.data as { orderId?: unknown; idempotencyKey?: unknown } | null;
        if (!d || typeof d.orderId !== 'number' || d.orderId <= 0) {
          throw new UnrecoverableError(`bad ${job.name} job ${job.id}: data ${JSON.stringify(job.data)}`);
        }
        const key = typeof d.idempotencyKey === 'string' && d.idempotencyKey !== '' ? d.idempotencyKey : `job-${job.id}`;
        const rows = await this.db.select({ accountId: orders.accountId }).from(orders).where(eq(orders.id, d.orderId));
        if (rows.length === 0) throw new UnrecoverableError(`order ${d.orderId}: not found`);
        try {
          const r = await this.payments.pay(rows[0].accountId, d.orderId, key);
          await this.recordRun(job, !r.replayed);
          return { chargeId: r.charge.id, replayed: r.replayed };
        } catch (err) {
          if (err instanceof PaidError) return { chargeId: err.charge.id, alreadyPaid: true };
          throw err;
        }
      }
      default:
        throw new UnrecoverableError(`unknown job ${JSON.stringify(job.name)}`);
    }
  }

  /** confirm marks a charge confirmed; it reports whether this run did it. */
  private async confirm(chargeId: string): Promise<boolean> {
    const done = await this.db
      .update(charges)
      .set({ confirmedAt: sql`now()`, confirmRuns: sql`${charges.confirmRuns} + 1`, confirmedBy: this.payments.cfg.instance })
      .where(and(eq(charges.id, chargeId), isNull(charges.confirmedAt)))
      .returning({ id: charges.id });
    if (done.length > 0) return true;
    await this.db
      .update(charges)
      .set({ confirmRuns: sql`${charges.confirmRuns} + 1` })
      .where(eq(charges.id, chargeId));
    return false;
  }

  /** receipt records the receipt sent; it reports whether this run did it. */
  private async receipt(chargeId: string): Promise<boolean> {
    const rows = await this.db
      .insert(receipts)
      .values({ chargeId })
      .onConflictDoUpdate({ target: receipts.chargeId, set: { sendRuns: sql`${receipts.sendRuns} + 1` } })
      .returning({ inserted: sql<boolean>`xmax = 0` });
    return rows[0]?.inserted === true;
  }

  private async recordRun(job: Job, effect: boolean): Promise<void> {
    const e = effect ? 1 : 0;
    await this.db
      .insert(jobRuns)
      .values({ jobId: String(job.id), name: job.name, effects: e })
      .onConflictDoUpdate({
        target: jobRuns.jobId,
        set: { runs: sql`${jobRuns.runs} + 1`, effects: sql`${jobRuns.effects} + ${e}`, lastRun: sql`now()` },
      });
    this.log.debug(`job ${job.id} ${job.name} effect=${effect}`);
  }
}
