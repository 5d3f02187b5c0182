/**
 * The throttles in front of every password (and client-secret) check: per client address (an attempt rate, and a
 * back-off after repeated failures) and per account name (a back-off after repeated failures, known and unknown
 * names alike, so the answer says nothing about which exist). The client address is the browser's, passed on by
 * the gateway (see `clientAddressOf` in @haven/service), so one address flooding wrong logins never slows a user
 * at another address, and a flood for unknown names never slows a known account.
 *
 * The persistent per-account lockout (LoginFailed / AccountLocked events) is separate and still applies; the
 * account back-off here starts later (10 failures by default against a lockout at 5) and also covers names that
 * do not exist.
 */
import { createHash } from 'node:crypto';
import { ResourceExhaustedError } from '@haven/errors';
import {
  DEFAULT_IP_THROTTLE,
  FailureBackoff,
  TokenBucketThrottle,
  type BackoffPolicy,
  type ThrottlePolicy,
} from './throttle';

/** The policies of {@link LoginThrottle}. */
export interface LoginThrottlePolicy {
  /** Attempts per client address (all of them, right or wrong). */
  readonly addressRate: ThrottlePolicy;
  /** Back-off per client address after failures. */
  readonly addressBackoff: BackoffPolicy;
  /** Back-off per account name after failures. */
  readonly accountBackoff: BackoffPolicy;
}

const MINUTE = 60_000;

/** Defaults: 20 attempts then one every 3 s per address; back-off after 20 failures per address, 10 per name. */
export const DEFAULT_LOGIN_THROTTLE: LoginThrottlePolicy = Object.freeze({
  addressRate: DEFAULT_IP_THROTTLE,
  addressBackoff: {
    freeFailures: 20,
    baseDelayMs: 1000,
    maxDelayMs: 15 * MINUTE,
    forgetAfterMs: 30 * MINUTE,
    maxKeys: 10_000,
  },
  accountBackoff: {
    freeFailures: 10,
    baseDelayMs: 1000,
    maxDelayMs: 15 * MINUTE,
    forgetAfterMs: 30 * MINUTE,
    maxKeys: 10_000,
  },
});

/** Who is trying: the client address and the account name as typed. */
export interface LoginAttempt {
  readonly address: string;
  readonly account: string;
}

const accountKey = (account: string): string =>
  createHash('sha256').update(account.trim().toLowerCase(), 'utf8').digest('base64url');

/** The throttles of one identity process (in memory). */
export class LoginThrottle {
  private readonly rate: TokenBucketThrottle;
  private readonly byAddress: FailureBackoff;
  private readonly byAccount: FailureBackoff;

  constructor(policy: LoginThrottlePolicy, now: () => number = Date.now) {
    this.rate = new TokenBucketThrottle(policy.addressRate, now);
    this.byAddress = new FailureBackoff(policy.addressBackoff, now);
    this.byAccount = new FailureBackoff(policy.accountBackoff, now);
  }

  /**
   * Lets an attempt through or throws ResourceExhaustedError (with the wait) when its address or its account name
   * must wait. Call before any password check.
   */
  admit(attempt: LoginAttempt, what = 'sign-in'): void {
    const waitMs = Math.max(
      this.byAddress.wait(attempt.address),
      this.byAccount.wait(accountKey(attempt.account)),
      this.rate.take(attempt.address),
    );
    if (waitMs > 0)
      throw new ResourceExhaustedError(`too many ${what} attempts; retry later`, { retryAfterMs: waitMs });
  }

  /** Records a failed attempt (wrong name, password or code). */
  failed(attempt: LoginAttempt): void {
    this.byAddress.fail(attempt.address);
    this.byAccount.fail(accountKey(attempt.account));
  }

  /** Records a successful attempt: the account's failures are forgotten (the address's are not). */
  succeeded(attempt: LoginAttempt): void {
    this.byAccount.succeed(accountKey(attempt.account));
  }
}
