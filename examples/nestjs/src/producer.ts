// producer.ts: the @nestjs/bullmq producer of the "payments" queue that the
// Go service shares (BullMQ 6.7.0 wire format; Go's queue package reads and
// writes the same keys). Job names, ids, data, priorities and retries are
// the Go service's (payments/service.go), so either side's workers run
// either side's jobs.
import { InjectQueue } from '@nestjs/bullmq';
import { Injectable } from '@nestjs/common';
import type { Queue } from 'bullmq';
import type { ChargeJSON } from './payments.js';

export const QUEUE = 'payments';
export const JOB_CONFIRM = 'confirm-payment';
export const JOB_RECEIPT = 'send-receipt';
export const JOB_CHARGE = 'charge-order';
export const PRIORITY_PAYMENT = 1;
export const PRIORITY_RECEIPT = 100;

/** ChargeJobData is the data of the confirmation and receipt jobs. */
export interface ChargeJobData {
  chargeId: string;
  orderId: number;
  amountCents: number;
}

@Injectable()
export class PaymentJobsProducer {
  constructor(@InjectQueue(QUEUE) private readonly queue: Queue) {}

  /**
   * enqueue adds the confirmation and receipt jobs of a charge. Their ids
   * derive from the charge, so adding them again (a replay, or the Go
   * service doing the same) is a no-op.
   */
  async enqueue(c: ChargeJSON): Promise<void> {
    const data: ChargeJobData = { chargeId: c.id, orderId: c.order_id, amountCents: c.amount_cents };
    await this.queue.addBulk([
      {
        name: JOB_CONFIRM,
        data,
        opts: { jobId: `confirm-${c.id}`, priority: PRIORITY_PAYMENT, attempts: 5, backoff: { type: 'exponential', delay: 200 } },
      },
      {
        name: JOB_RECEIPT,
        data,
        opts: { jobId: `receipt-${c.id}`, priority: PRIORITY_RECEIPT, attempts: 5, backoff: { type: 'exponential', delay: 500 } },
      },
    ]);
  }
}

