/** An in-memory token bucket per key (client IP), bounded in size. */

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

export class TokenBucketThrottle {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  constructor(
    private readonly policy: ThrottlePolicy,
    private readonly now: () => number = Date.now,
  ) {}

  /** Takes one token for `key`; false when the bucket is empty (the caller must refuse). */
  take(key: string): boolean {
    const now = this.now();
    const b = this.buckets.get(key) ?? { tokens: this.policy.capacity, at: now };
    this.buckets.delete(key);
    const tokens = Math.min(
      this.policy.capacity,
      b.tokens + ((now - b.at) / 1000) * this.policy.refillPerSec,
    );
    const allowed = tokens >= 1;
    this.buckets.set(key, { tokens: allowed ? tokens - 1 : tokens, at: now });
    if (this.buckets.size > this.policy.maxKeys) {
      const oldest = this.buckets.keys().next();
      if (!oldest.done) this.buckets.delete(oldest.value);
    }
    return allowed;
  }
}

/** The IP of a grpc-js peer string (`ipv4:1.2.3.4:5678`, `ipv6:[::1]:5678`), or the whole string. */
export function peerIp(peer: string): string {
  const v6 = /^ipv6:\[([^\]]+)\]/.exec(peer);
  if (v6?.[1]) return v6[1];
  const v4 = /^ipv4:([^:]+):/.exec(peer);
  if (v4?.[1]) return v4[1];
  return peer;
}
