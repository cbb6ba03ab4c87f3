// The part of redlock 4.2.0's API this app uses (the package ships no types).
declare module 'redlock' {
  namespace Redlock {
    interface Options {
      driftFactor?: number;
      retryCount?: number;
      retryDelay?: number;
      retryJitter?: number;
    }
    interface Lock {
      resource: string;
      value: string;
      expiration: number;
      unlock(): Promise<void>;
      /** extend returns a new Lock: use it from then on. */
      extend(ttl: number): Promise<Lock>;
    }
  }
  class Redlock {
    constructor(clients: unknown[], options?: Redlock.Options);
    lock(resource: string, ttl: number): Promise<Redlock.Lock>;
  }
  export = Redlock;
}
