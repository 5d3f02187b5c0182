/**
 * In-memory throttles keyed by client address or account name, bounded in size (least recently used keys are
 * dropped first). Pure apart from the injected clock.
 */

export interface ThrottlePolicy {
  /** Bucket size: attempts allowed in a burst. */
  readonly capacity: number;
  /** Tokens added per second. */
  readonly refillPerSec: number;
  /** Most keys tracked; the least recently used are dropped beyond it. */
  readonly maxKeys: number;
}

/** 20 attempts in a burst, then one every 3 s, per IP. */
export const DEFAULT_IP_THROTTLE: ThrottlePolicy = Object.freeze({
  capacity: 20,
  refillPerSec: 1 / 3,
  maxKeys: 10_000,
});

/** Bounded LRU map: `touch` moves a key to the young end; beyond `maxKeys` the oldest key goes. */
class BoundedMap<V> {
  private readonly map = new Map<string, V>();
  constructor(private readonly maxKeys: number) {}
  get(key: string): V | undefined {
    return this.map.get(key);
  }
  set(key: string, value: V): void {
    this.map.delete(key);
    this.map.set(key, value);
    if (this.map.size > this.maxKeys) {
      const oldest = this.map.keys().next();
      if (!oldest.done) this.map.delete(oldest.value);
    }
  }
  delete(key: string): void {
    this.map.delete(key);
  }
}

/** A token bucket per key: every attempt takes a token. */
export class TokenBucketThrottle {
  private readonly buckets: BoundedMap<{ tokens: number; at: number }>;
  constructor(
    private readonly policy: ThrottlePolicy,
    private readonly now: () => number = Date.now,
  ) {
    this.buckets = new BoundedMap(policy.maxKeys);
  }

  /** Takes one token for `key`: 0 when allowed, else how many ms until a token is back (the caller refuses). */
  take(key: string): number {
    const now = this.now();
    const b = this.buckets.get(key) ?? { tokens: this.policy.capacity, at: now };
    const tokens = Math.min(
      this.policy.capacity,
      b.tokens + ((now - b.at) / 1000) * this.policy.refillPerSec,
    );
    const allowed = tokens >= 1;
    this.buckets.set(key, { tokens: allowed ? tokens - 1 : tokens, at: now });
    if (allowed) return 0;
    return this.policy.refillPerSec > 0
      ? Math.ceil(((1 - tokens) / this.policy.refillPerSec) * 1000)
      : 3_600_000;
  }
}

/** Exponential back-off after repeated failures. */
export interface BackoffPolicy {
  /** Failures allowed before the first wait. */
  readonly freeFailures: number;
  /** The first wait, ms; each further failure doubles it. */
  readonly baseDelayMs: number;
  /** The longest wait, ms. */
  readonly maxDelayMs: number;
  /** A key with no failure for this long starts afresh, ms. */
  readonly forgetAfterMs: number;
  /** Most keys tracked. */
  readonly maxKeys: number;
}

/**
 * Failure counting per key with exponential back-off: after `freeFailures` failures each further failure makes the
 * key wait `baseDelayMs · 2^(failures − freeFailures)` (capped) before its next attempt. Only failures count, so
 * many successful sign-ins from one address (a clinic behind one NAT) are never slowed.
 */
export class FailureBackoff {
  private readonly entries: BoundedMap<{ failures: number; lastFailureAt: number; blockedUntil: number }>;
  constructor(
    private readonly policy: BackoffPolicy,
    private readonly now: () => number = Date.now,
  ) {
    this.entries = new BoundedMap(policy.maxKeys);
  }

  /** 0 when `key` may try now, else how many ms it must still wait. */
  wait(key: string): number {
    const entry = this.entries.get(key);
    if (!entry) return 0;
    const now = this.now();
    if (now - entry.lastFailureAt >= this.policy.forgetAfterMs) {
      this.entries.delete(key);
      return 0;
    }
    return Math.max(0, entry.blockedUntil - now);
  }

  /** Records a failure of `key`. */
  fail(key: string): void {
    const now = this.now();
    const previous = this.entries.get(key);
    const failures =
      previous && now - previous.lastFailureAt < this.policy.forgetAfterMs ? previous.failures + 1 : 1;
    const over = failures - this.policy.freeFailures;
    const delay = over >= 0 ? Math.min(this.policy.maxDelayMs, this.policy.baseDelayMs * 2 ** over) : 0;
    this.entries.set(key, { failures, lastFailureAt: now, blockedUntil: now + delay });
  }

  /** Forgets `key`'s failures (a success). */
  succeed(key: string): void {
    this.entries.delete(key);
  }
}
