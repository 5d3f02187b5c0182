import { iso } from '@haven/testing';
import { expiredSessions, foldSessionDeadline, type SessionDeadlines } from './expiry';

const T0 = Date.parse('2026-01-05T09:00:00.000Z');
const event = (sid: string, type: string, data: Record<string, unknown>) => ({
  stream: `identity.session-${sid}`,
  type: `haven.identity.v1.${type}`,
  data,
});

describe('session deadlines', () => {
  it('given started, refreshed and ended sessions, lists only the active ones past a deadline', () => {
    const d: SessionDeadlines = new Map();
    const start = (sid: string, idle: number, absolute = T0 + 3_600_000) =>
      foldSessionDeadline(
        d,
        event(sid, 'SessionStarted', { idleExpiresAt: iso(idle), absoluteExpiresAt: iso(absolute) }),
      );
    start('idle', T0 + 1000);
    start('refreshed', T0 + 1000);
    foldSessionDeadline(d, event('refreshed', 'TokenRefreshed', { idleExpiresAt: iso(T0 + 60_000) }));
    start('ended', T0 + 1000);
    foldSessionDeadline(d, event('ended', 'SessionEnded', { reason: 'logout' }));
    start('old', T0 + 60_000, T0 + 500);
    foldSessionDeadline(d, {
      stream: 'identity.user-u1',
      type: 'haven.identity.v1.SessionStarted',
      data: {},
    });
    expect(expiredSessions(d, T0 + 1000).sort()).toEqual(['idle', 'old']);
    expect(expiredSessions(d, T0 + 999)).toEqual(['old']);
    expect([...d.keys()].sort()).toEqual(['idle', 'old', 'refreshed']);
  });

  it('counts the idle timeout in force from the last activity when it is given (a clinic changed it)', () => {
    const d: SessionDeadlines = new Map();
    foldSessionDeadline(
      d,
      event('s', 'SessionStarted', {
        idleExpiresAt: iso(T0 + 15 * 60_000),
        absoluteExpiresAt: iso(T0 + 3_600_000),
        at: iso(T0),
      }),
    );
    foldSessionDeadline(
      d,
      event('s', 'TokenRefreshed', { idleExpiresAt: iso(T0 + 16 * 60_000), at: iso(T0 + 60_000) }),
    );
    expect(expiredSessions(d, T0 + 2 * 60_000)).toEqual([]);
    const p = (min: number, since?: number) => ({
      idleTimeoutMs: min * 60_000,
      ...(since !== undefined ? { idleTimeoutSince: since } : {}),
    });
    expect(expiredSessions(d, T0 + 2 * 60_000 - 1, p(1))).toEqual([]);
    expect(expiredSessions(d, T0 + 2 * 60_000, p(1))).toEqual(['s']);
    // Shortened to 1 minute at T0 + 5 min: a minute from the change.
    expect(expiredSessions(d, T0 + 6 * 60_000 - 1, p(1, T0 + 5 * 60_000))).toEqual([]);
    expect(expiredSessions(d, T0 + 6 * 60_000, p(1, T0 + 5 * 60_000))).toEqual(['s']);
    // Longer than when it was written: the longer one applies; never past the absolute end.
    expect(expiredSessions(d, T0 + 16 * 60_000, p(30))).toEqual([]);
    expect(expiredSessions(d, T0 + 3_600_000, p(24 * 60))).toEqual(['s']);
  });
});
