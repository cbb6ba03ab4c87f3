// auth.ts: login, logout and /me over express-session 1.19 + connect-redis
// 10 (the session lives in Redis under SESSION_PREFIX, the cookie is the
// signed "connect.sid"). Passwords are checked against the accounts the Go
// service seeds: PBKDF2-SHA256, 4096 rounds, 32 bytes (payments/postgres).
import { Body, Controller, Get, HttpCode, Inject, Injectable, Post, Req } from '@nestjs/common';
import { eq } from 'drizzle-orm';
import type { Request } from 'express';
import { pbkdf2, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';
import { accounts, DB, DRIZZLE } from './db.js';
import { BadCredentialsError, InvalidError, NotFoundError, UnauthenticatedError } from './errors.js';

declare module 'express-session' {
  interface SessionData {
    /** userId is the logged-in account's id. */
    userId: number;
  }
}

const pbkdf2Async = promisify(pbkdf2);

export interface AccountJSON {
  id: number;
  email: string;
  name: string;
}

@Injectable()
export class AuthService {
  constructor(@Inject(DRIZZLE) private readonly db: DB) {}

  async authenticate(email: string, password: string): Promise<AccountJSON> {
    const rows = await this.db.select().from(accounts).where(eq(accounts.email, email));
    if (rows.length === 0) throw new BadCredentialsError();
    const a = rows[0];
    const got = await pbkdf2Async(password, a.passwordSalt, 4096, 32, 'sha256');
    if (got.length !== a.passwordHash.length || !timingSafeEqual(got, a.passwordHash)) throw new BadCredentialsError();
    return { id: a.id, email: a.email, name: a.name };
  }

  async account(id: number): Promise<AccountJSON> {
    const rows = await this.db
      .select({ id: accounts.id, email: accounts.email, name: accounts.name })
      .from(accounts)
      .where(eq(accounts.id, id));
    if (rows.length === 0) throw new NotFoundError();
    return rows[0];
  }
}

/** userOf returns the logged-in account id of a request. */
export function userOf(req: Request): number {
  const id = req.session?.userId;
  if (typeof id !== 'number') throw new UnauthenticatedError();
  return id;
}

function call(fn: (cb: (err?: unknown) => void) => void): Promise<void> {
  return new Promise((resolve, reject) => fn((err) => (err ? reject(err) : resolve())));
}

@Controller()
export class AuthController {
  constructor(private readonly auth: AuthService) {}

  @Post('login')
  @HttpCode(200)
  async login(@Body() body: { email?: unknown; password?: unknown }, @Req() req: Request): Promise<AccountJSON> {
    if (typeof body?.email !== 'string' || typeof body?.password !== 'string') {
      throw new InvalidError('bad request: want {"email","password"}');
    }
    const acct = await this.auth.authenticate(body.email, body.password);
    // A new session id at login defeats session fixation.
    await call((cb) => req.session.regenerate(cb));
    req.session.userId = acct.id;
    await call((cb) => req.session.save(cb));
    return acct;
  }

  @Post('logout')
  @HttpCode(204)
  async logout(@Req() req: Request): Promise<void> {
    await call((cb) => req.session.destroy(cb));
  }

  @Get('me')
  me(@Req() req: Request): Promise<AccountJSON> {
    return this.auth.account(userOf(req));
  }
}
