import { ResourceExhaustedError } from '@haven/errors';
import { DEFAULT_LOGIN_THROTTLE, LoginThrottle } from './login-throttle';
import { FailureBackoff, TokenBucketThrottle } from './throttle';

const retryAfter = (fn: () => void): number => {
  try {
    fn();
  } catch (error) {
    if (error instanceof ResourceExhaustedError) return error.retryAfterMs;
    throw error;
  }
  return 0;
};

describe('FailureBackoff', () => {
  const policy = { freeFailures: 3, baseDelayMs: 1000, maxDelayMs: 8000, forgetAfterMs: 60_000, maxKeys: 2 };

  it('lets the free failures through, then doubles the wait up to the cap', () => {
    let now = 0;
    const b = new FailureBackoff(policy, () => now);
    const waits: number[] = [];
    for (let i = 0; i < 7; i++) {
      waits.push(b.wait('k'));
      now += b.wait('k');
      b.fail('k');
    }
    expect(waits).toEqual([0, 0, 0, 1000, 2000, 4000, 8000]);
    expect(b.wait('other')).toBe(0);
  });

  it('forgets a key after a success or a quiet period', () => {
    let now = 0;
    const b = new FailureBackoff(policy, () => now);
    for (let i = 0; i < 3; i++) b.fail('k');
    expect(b.wait('k')).toBe(1000);
    b.succeed('k');
    expect(b.wait('k')).toBe(0);
    for (let i = 0; i < 3; i++) b.fail('k');
    now += 60_000;
    expect(b.wait('k')).toBe(0);
    b.fail('k');
    expect(b.wait('k')).toBe(0);
  });

  it('holds at most maxKeys keys (the least recently failed go first)', () => {
    const b = new FailureBackoff(policy, () => 0);
    for (const k of ['a', 'b', 'c']) for (let i = 0; i < 3; i++) b.fail(k);
    expect([b.wait('a'), b.wait('b'), b.wait('c')]).toEqual([0, 1000, 1000]);
  });
});

describe('TokenBucketThrottle', () => {
  it('answers how long until the next token', () => {
    let now = 0;
    const t = new TokenBucketThrottle({ capacity: 2, refillPerSec: 0.5, maxKeys: 10 }, () => now);
    expect([t.take('a'), t.take('a')]).toEqual([0, 0]);
    expect(t.take('a')).toBe(2000);
    now += 2000;
    expect(t.take('a')).toBe(0);
  });
});

describe('LoginThrottle', () => {
  const address = (n: number) => `198.51.100.${n}`;

  it('a flood of failures from one address and for unknown names never slows another account at another address', () => {
    const t = new LoginThrottle(DEFAULT_LOGIN_THROTTLE, () => 0);
    for (let i = 0; i < 20; i++) {
      const attempt = { address: address(1), account: `nobody-${i}` };
      t.admit(attempt);
      t.failed(attempt);
    }
    expect(retryAfter(() => t.admit({ address: address(1), account: 'dr.rivera' }))).toBeGreaterThan(0);
    expect(retryAfter(() => t.admit({ address: address(2), account: 'dr.rivera' }))).toBe(0);
  });

  it('backs an account name off after its failures from any addresses, known or not alike', () => {
    const t = new LoginThrottle(DEFAULT_LOGIN_THROTTLE, () => 0);
    for (let i = 0; i < 10; i++) t.failed({ address: address(i), account: 'Dr.Rivera ' });
    expect(retryAfter(() => t.admit({ address: address(99), account: 'dr.rivera' }))).toBe(1000);
    expect(retryAfter(() => t.admit({ address: address(99), account: 'frontdesk' }))).toBe(0);
  });

  it('does not slow many successful sign-ins from one address beyond the attempt rate', () => {
    let now = 0;
    const t = new LoginThrottle(DEFAULT_LOGIN_THROTTLE, () => now);
    for (let i = 0; i < 100; i++) {
      now += 3000;
      const attempt = { address: address(7), account: `user-${i}` };
      t.admit(attempt);
      t.succeeded(attempt);
    }
  });
});
