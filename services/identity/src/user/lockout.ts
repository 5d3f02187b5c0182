/**
 * Per-account lockout with exponential back-off. Pure.
 *
 * After `threshold` consecutive failures the account locks for `baseLockMs`; every further failure
 * (after the lock has expired) locks it again for twice as long, up to `maxLockMs`. A successful
 * login resets the count.
 */

/** Lockout policy; see {@link DEFAULT_LOCKOUT_POLICY}. */
export interface LockoutPolicy {
  /** Consecutive failures that trigger the first lock. */
  readonly threshold: number;
  /** Length of the first lock. */
  readonly baseLockMs: number;
  /** Each further lock is this many times longer than the previous. */
  readonly multiplier: number;
  /** Upper bound for one lock. */
  readonly maxLockMs: number;
}

/** 5 failures → 1 min, then 2, 4, 8 … minutes, capped at 1 h. */
export const DEFAULT_LOCKOUT_POLICY: LockoutPolicy = Object.freeze({
  threshold: 5,
  baseLockMs: 60_000,
  multiplier: 2,
  maxLockMs: 3_600_000,
});

/**
 * How long to lock after the `consecutiveFailures`-th failure; 0 when below the threshold.
 */
export function lockDurationMs(policy: LockoutPolicy, consecutiveFailures: number): number {
  if (consecutiveFailures < policy.threshold) return 0;
  const exponent = Math.min(consecutiveFailures - policy.threshold, 60);
  return Math.min(policy.maxLockMs, policy.baseLockMs * Math.pow(policy.multiplier, exponent));
}
