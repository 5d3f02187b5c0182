import { given, iso } from '@haven/testing';
import { PreconditionError, UnauthenticatedError } from '@haven/errors';
import { decideSession, endsSession, type SessionCommand } from './decide';
import { evolveSession, initialSessionState, type SessionEvent, type SessionPolicy } from './session';

const spec = { decide: decideSession, evolve: evolveSession, initialState: initialSessionState };
const T0 = Date.parse('2026-01-05T09:00:00.000Z');
/** The reuse grace of these specs: 30 s, the deployment default. */
const GRACE_MS = 30_000;
const policy: SessionPolicy = {
  idleTimeoutMs: 15 * 60_000,
  absoluteLifetimeMs: 12 * 3_600_000,
  refreshReuseGraceMs: GRACE_MS,
};
const H = (c: string) => c.repeat(64);
const started: SessionEvent = {
  type: 'SessionStarted',
  data: {
    sessionId: 's1',
    userId: 'u1',
    role: 'clinician',
    refreshTokenHash: H('a'),
    idleExpiresAt: iso(T0 + 15 * 60_000),
    absoluteExpiresAt: iso(T0 + 12 * 3_600_000),
    at: iso(T0),
  },
};
const refreshed: SessionEvent = {
  type: 'TokenRefreshed',
  data: {
    sessionId: 's1',
    userId: 'u1',
    generation: 1,
    refreshTokenHash: H('b'),
    idleExpiresAt: iso(T0 + 60_000 + 15 * 60_000),
    graceUsed: false,
    at: iso(T0 + 60_000),
  },
};
const refresh = (
  presented: string,
  now: number,
  userActive = true,
  newTokenHash = H('c'),
  policyChanges: Partial<SessionPolicy> = {},
): SessionCommand => ({
  type: 'RefreshSession',
  data: {
    presentedTokenHash: presented,
    newTokenHash,
    userActive,
    policy: { ...policy, ...policyChanges },
    now,
  },
});
/** The TokenRefreshed of generation `generation` at `at`, to token `hash`. */
const rotated = (generation: number, hash: string, at: number, graceUsed: boolean): SessionEvent => ({
  type: 'TokenRefreshed',
  data: {
    sessionId: 's1',
    userId: 'u1',
    generation,
    refreshTokenHash: hash,
    idleExpiresAt: iso(at + 15 * 60_000),
    graceUsed,
    at: iso(at),
  },
});
/** When the token b replaced a (T0 + 1 min). */
const ROTATED_AT = T0 + 60_000;
const ended = (reason: string, at: number): SessionEvent =>
  ({ type: 'SessionEnded', data: { sessionId: 's1', userId: 'u1', reason, at: iso(at) } }) as SessionEvent;

describe('Session decider', () => {
  it('starts a session with idle and absolute deadlines', () => {
    given(spec, [])
      .when({
        type: 'StartSession',
        data: { sessionId: 's1', userId: 'u1', role: 'clinician', refreshTokenHash: H('a'), policy, now: T0 },
      })
      .then([started]);
    given(spec, [started])
      .when({
        type: 'StartSession',
        data: { sessionId: 's1', userId: 'u1', role: 'clinician', refreshTokenHash: H('a'), policy, now: T0 },
      })
      .thenThrows(PreconditionError);
  });

  describe('when refreshing', () => {
    it('rotates the refresh token and slides the idle deadline', () => {
      given(spec, [started])
        .when(refresh(H('a'), T0 + 60_000, true, H('b')))
        .then([refreshed]);
    });
    it('ends the session when a rotated-away token is presented again after the grace (reuse detection)', () => {
      const events = given(spec, [started, refreshed])
        .when(refresh(H('a'), ROTATED_AT + GRACE_MS))
        .result();
      expect(events).toEqual([ended('reuse_detected', ROTATED_AT + GRACE_MS)]);
      expect(endsSession(events)).toBeDefined();
    });
    it('ends the session after the idle timeout', () => {
      given(spec, [started])
        .when(refresh(H('a'), T0 + 15 * 60_000))
        .then([ended('idle', T0 + 15 * 60_000)]);
    });
    it('ends the session at the absolute lifetime even when active', () => {
      given(spec, [started])
        .when(refresh(H('a'), T0 + 12 * 3_600_000))
        .then([ended('absolute', T0 + 12 * 3_600_000)]);
    });
    it('ends the session when the user is no longer active', () => {
      given(spec, [started])
        .when(refresh(H('a'), T0 + 1000, false))
        .then([ended('revoked', T0 + 1000)]);
    });
    it('refuses an unknown token, an unknown session and an ended session without events', () => {
      given(spec, [started])
        .when(refresh(H('f'), T0 + 1000))
        .thenThrows(UnauthenticatedError);
      given(spec, [])
        .when(refresh(H('a'), T0 + 1000))
        .thenThrows(UnauthenticatedError);
      given(spec, [started, ended('logout', T0 + 10)])
        .when(refresh(H('a'), T0 + 1000))
        .thenThrows(UnauthenticatedError, /ended/);
    });
  });

  describe('when the token current before the latest rotation comes back (its answer was lost, two tabs)', () => {
    it('rotates again within the grace, saying the grace was used', () => {
      given(spec, [started, refreshed])
        .when(refresh(H('a'), ROTATED_AT + GRACE_MS - 1))
        .then([rotated(2, H('c'), ROTATED_AT + GRACE_MS - 1, true)]);
    });
    it('makes the token whose answer was lost the previous one: it too comes back once within the grace', () => {
      // Two tabs: one got b, the other c; the browser keeps whichever answer came last.
      const graceUse = rotated(2, H('c'), ROTATED_AT + 1000, true);
      given(spec, [started, refreshed, graceUse])
        .when(refresh(H('b'), ROTATED_AT + 2000, true, H('d')))
        .then([rotated(3, H('d'), ROTATED_AT + 2000, true)]);
      // c, current, rotates as usual.
      given(spec, [started, refreshed, graceUse])
        .when(refresh(H('c'), ROTATED_AT + 2000, true, H('d')))
        .then([rotated(3, H('d'), ROTATED_AT + 2000, false)]);
    });
    it('ends the session when the previous token comes back a second time, even within the grace', () => {
      given(spec, [started, refreshed, rotated(2, H('c'), ROTATED_AT + 1000, true)])
        .when(refresh(H('a'), ROTATED_AT + 2000, true, H('d')))
        .then([ended('reuse_detected', ROTATED_AT + 2000)]);
    });
    it('ends the session when a token two rotations old comes back, however soon', () => {
      given(spec, [started, refreshed, rotated(2, H('c'), ROTATED_AT + 1000, false)])
        .when(refresh(H('a'), ROTATED_AT + 1001, true, H('d')))
        .then([ended('reuse_detected', ROTATED_AT + 1001)]);
    });
    it('counts the grace from the latest rotation: the token it replaced ends the session from then on', () => {
      const graceUse = rotated(2, H('c'), ROTATED_AT + 1000, true);
      given(spec, [started, refreshed, graceUse])
        .when(refresh(H('b'), ROTATED_AT + 1000 + GRACE_MS - 1, true, H('d')))
        .then([rotated(3, H('d'), ROTATED_AT + 1000 + GRACE_MS - 1, true)]);
      given(spec, [started, refreshed, graceUse])
        .when(refresh(H('b'), ROTATED_AT + 1000 + GRACE_MS, true, H('d')))
        .then([ended('reuse_detected', ROTATED_AT + 1000 + GRACE_MS)]);
    });
    it('has no grace when it is 0 (or not set)', () => {
      given(spec, [started, refreshed])
        .when(refresh(H('a'), ROTATED_AT + 1, true, H('c'), { refreshReuseGraceMs: 0 }))
        .then([ended('reuse_detected', ROTATED_AT + 1)]);
      given(spec, [started, refreshed])
        .when({
          type: 'RefreshSession',
          data: {
            presentedTokenHash: H('a'),
            newTokenHash: H('c'),
            userActive: true,
            policy: { idleTimeoutMs: policy.idleTimeoutMs, absoluteLifetimeMs: policy.absoluteLifetimeMs },
            now: ROTATED_AT + 1,
          },
        })
        .then([ended('reuse_detected', ROTATED_AT + 1)]);
    });
    it('gives no grace to the first token of a session that never rotated (there is no previous token)', () => {
      given(spec, [started])
        .when(refresh(H('b'), T0 + 1))
        .thenThrows(UnauthenticatedError, /invalid refresh token/);
    });
    it('never extends the absolute lifetime: the grace use ends a session past it, saying absolute', () => {
      const late = T0 + 12 * 3_600_000 - 10_000;
      const lateRotation = rotated(1, H('b'), late, false);
      given(spec, [started, lateRotation])
        .when(refresh(H('a'), late + 10_000))
        .then([ended('absolute', late + 10_000)]);
      // Just before it, the new idle deadline stops at the absolute end.
      const events = given(spec, [started, lateRotation])
        .when(refresh(H('a'), late + 5000))
        .result();
      expect(events).toEqual([
        {
          type: 'TokenRefreshed',
          data: expect.objectContaining({
            graceUsed: true,
            idleExpiresAt: iso(T0 + 12 * 3_600_000),
          }) as unknown,
        },
      ]);
    });
    it('never revives an ended session, nor keeps a deactivated user in', () => {
      given(spec, [started, refreshed, ended('logout', ROTATED_AT + 100)])
        .when(refresh(H('a'), ROTATED_AT + 200))
        .thenThrows(UnauthenticatedError, /ended/);
      given(spec, [started, refreshed, ended('reuse_detected', ROTATED_AT + 100)])
        .when(refresh(H('b'), ROTATED_AT + 200))
        .thenThrows(UnauthenticatedError, /ended/);
      given(spec, [started, refreshed])
        .when(refresh(H('a'), ROTATED_AT + 200, false))
        .then([ended('revoked', ROTATED_AT + 200)]);
    });
    it('refuses a grace use of a session idle past its deadline, saying idle', () => {
      given(spec, [started, refreshed])
        .when(refresh(H('a'), ROTATED_AT + 10_000, true, H('c'), { idleTimeoutMs: 10_000 }))
        .then([ended('idle', ROTATED_AT + 10_000)]);
    });
    it('records no token material beyond the new digest', () => {
      const [event] = given(spec, [started, refreshed])
        .when(refresh(H('a'), ROTATED_AT + 1000))
        .result();
      expect(JSON.stringify(event)).not.toContain(H('a'));
      expect(JSON.stringify(event)).not.toContain(H('b'));
    });
  });

  it('logout ends an active session once', () => {
    given(spec, [started])
      .when({ type: 'EndSession', data: { reason: 'logout', now: T0 + 5 } })
      .then([ended('logout', T0 + 5)]);
    given(spec, [started, ended('logout', T0 + 5)])
      .when({ type: 'EndSession', data: { reason: 'logout', now: T0 + 6 } })
      .then([]);
  });

  describe('when identity sweeps for expired sessions', () => {
    const expire = (
      now: number,
      idleTimeoutMs = policy.idleTimeoutMs,
      idleTimeoutSince?: number,
    ): SessionCommand => ({
      type: 'ExpireSession',
      data: {
        now,
        policy: { ...policy, idleTimeoutMs, ...(idleTimeoutSince !== undefined ? { idleTimeoutSince } : {}) },
      },
    });
    it('ends a session idle past its deadline, saying idle', () => {
      given(spec, [started])
        .when(expire(T0 + 15 * 60_000))
        .then([ended('idle', T0 + 15 * 60_000)]);
    });
    it('leaves a session refreshed in the meantime alone (the sweeper may have read an older deadline)', () => {
      given(spec, [started, refreshed])
        .when(expire(T0 + 15 * 60_000 + 1))
        .then([]);
    });
    it('ends a session past its absolute lifetime, saying absolute', () => {
      given(spec, [started])
        .when(expire(T0 + 12 * 3_600_000))
        .then([ended('absolute', T0 + 12 * 3_600_000)]);
    });
    describe('when the clinic changed the idle timeout since the last refresh', () => {
      it('ends the session once it is idle past the shorter timeout, counted from its last activity', () => {
        given(spec, [started, refreshed])
          .when(expire(T0 + 60_000 + 2 * 60_000 - 1, 2 * 60_000))
          .then([]);
        given(spec, [started, refreshed])
          .when(expire(T0 + 60_000 + 2 * 60_000, 2 * 60_000))
          .then([ended('idle', T0 + 60_000 + 2 * 60_000)]);
      });
      it('gives a session idle at the change the new timeout from the change, never more than it had', () => {
        // Changed to 2 min at T0 + 10 min: idle since T0 + 1 min, it lives until T0 + 12 min, not T0 + 3 min.
        const since = T0 + 10 * 60_000;
        given(spec, [started, refreshed])
          .when(expire(since + 2 * 60_000 - 1, 2 * 60_000, since))
          .then([]);
        given(spec, [started, refreshed])
          .when(expire(since + 2 * 60_000, 2 * 60_000, since))
          .then([ended('idle', since + 2 * 60_000)]);
        // Changed at T0 + 15 min to 10 min: its own deadline (T0 + 16 min) comes first.
        given(spec, [started, refreshed])
          .when(expire(T0 + 16 * 60_000, 10 * 60_000, T0 + 15 * 60_000))
          .then([ended('idle', T0 + 16 * 60_000)]);
      });
      it('keeps it past the deadline it wrote under a longer timeout', () => {
        given(spec, [started])
          .when(expire(T0 + 20 * 60_000, 30 * 60_000))
          .then([]);
      });
      it('refuses a refresh idle past the shorter timeout, saying idle', () => {
        given(spec, [started])
          .when(refresh(H('a'), T0 + 60_000, true, H('c'), { idleTimeoutMs: 60_000 }))
          .then([ended('idle', T0 + 60_000)]);
      });
    });
    it('records nothing for an ended or unknown session', () => {
      given(spec, [started, ended('logout', T0 + 1000)])
        .when(expire(T0 + 16 * 60_000))
        .then([]);
      given(spec, []).when(expire(T0)).then([]);
    });
  });
});
