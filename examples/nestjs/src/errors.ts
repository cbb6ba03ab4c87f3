// errors.ts: the domain errors, each with the HTTP status the Go service's
// httpapi gives it, and the filter that answers JSON {"error": ...}.
import { ArgumentsHost, Catch, ExceptionFilter, HttpException, Logger } from '@nestjs/common';
import type { Response } from 'express';
import type { ChargeJSON } from './payments.js';

export class DomainError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = new.target.name;
  }
}

export class NotFoundError extends DomainError {
  constructor() {
    super('payments: not found', 404);
  }
}
export class BadCredentialsError extends DomainError {
  constructor() {
    super('payments: bad credentials', 401);
  }
}
export class UnauthenticatedError extends DomainError {
  constructor() {
    super('not logged in', 401);
  }
}
export class InvalidError extends DomainError {
  constructor(what = 'payments: invalid request') {
    super(what, 400);
  }
}
export class NoKeyError extends DomainError {
  constructor() {
    super('payments: missing idempotency key', 400);
  }
}
export class KeyReusedError extends DomainError {
  constructor() {
    super('payments: idempotency key already used for another order', 422);
  }
}
/** The order was paid by another request (another key): 409 with the charge. */
export class PaidError extends DomainError {
  constructor(readonly charge: ChargeJSON) {
    super(`payments: order already paid by charge ${charge.id}`, 409, { charge_id: charge.id });
  }
}
/** PostgreSQL refused the charge: a newer lock holder claimed the order. Nothing was charged. */
export class FencedError extends DomainError {
  constructor(detail: string) {
    super(`payments: fenced out by a newer lock holder (${detail})`, 503);
  }
}
/** The order's lock stayed taken for the whole wait, or was lost. Nothing was charged. */
export class LockError extends DomainError {
  constructor(message: string) {
    super(message, 503);
  }
}

const transient = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', '57P01', '57P03', '08006', '08001']);

@Catch()
export class ErrorFilter implements ExceptionFilter {
  private readonly log = new Logger('http');

  catch(err: unknown, host: ArgumentsHost): void {
    const res = host.switchToHttp().getResponse<Response>();
    let status = 500;
    let body: Record<string, unknown> = { error: String((err as Error)?.message ?? err) };
    if (err instanceof DomainError) {
      status = err.status;
      body = { error: err.message, ...err.extra };
    } else if (err instanceof HttpException) {
      status = err.getStatus();
      // Body parser errors (malformed JSON) and unknown routes.
      body = { error: err.message };
    } else if (transient.has((err as any)?.code) || /CLUSTERDOWN|TRYAGAIN|LOADING|MASTERDOWN|READONLY|Connection is closed/.test(body.error as string)) {
      status = 503;
    }
    if (status === 503) res.setHeader('Retry-After', '1');
    if (status >= 500 && status !== 503) this.log.error(`request failed: ${(err as Error)?.stack ?? err}`);
    res.status(status).json(body);
  }
}
