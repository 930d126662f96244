/**
 * A rate ceiling in units per second (DynamoDB capacity units): a bucket of `burst` tokens refilled
 * at `rate` per second. `take(n)` reserves n tokens and says how long to wait before using them, so
 * callers that share a bucket are spaced out in the order they asked. A request larger than the
 * burst is allowed (it waits for the tokens it lacks) so that no request starves.
 * The clock is injected: the DynamoDB adapter uses real time and sleeps, tests use a fake clock.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    readonly rate: number,
    readonly burst: number = rate,
    private readonly now: () => number = Date.now,
  ) {
    if (!(rate > 0) || !(burst > 0))
      throw new RangeError(`rate and burst must be > 0, got ${rate}, ${burst}`);
    this.tokens = burst;
    this.last = now();
  }

  /** Reserves `units` tokens; returns the milliseconds to wait before spending them (0: now). */
  take(units: number): number {
    const now = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.rate);
    this.last = now;
    this.tokens -= units;
    return this.tokens >= 0 ? 0 : Math.ceil((-this.tokens / this.rate) * 1000);
  }
}

/** Write units of one item of `bytes` (1 per KB, rounded up; at least 1). */
export function writeUnits(bytes: number): number {
  return Math.max(1, Math.ceil(bytes / 1024));
}
