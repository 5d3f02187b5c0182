import { PreconditionError, UnauthenticatedError } from '@haven/errors';
import { deciderSpec } from '../testing/given-when-then';
import { decideSession, endsSession, type SessionCommand } from './decide';
import {
  evolveSession,
  initialSessionState,
  type SessionEvent,
  type SessionPolicy,
  type SessionState,
} from './session';

const spec = deciderSpec<SessionCommand, SessionEvent, SessionState>({
  decide: decideSession,
  evolve: evolveSession,
  initialState: initialSessionState,
});
const T0 = Date.parse('2026-01-05T09:00:00.000Z');
const iso = (ms: number) => new Date(ms).toISOString();
const policy: SessionPolicy = { idleTimeoutMs: 15 * 60_000, absoluteLifetimeMs: 12 * 3_600_000 };
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
    at: iso(T0 + 60_000),
  },
};
const refresh = (
  presented: string,
  now: number,
  userActive = true,
  newTokenHash = H('c'),
): SessionCommand => ({
  type: 'RefreshSession',
  data: { presentedTokenHash: presented, newTokenHash, userActive, policy, now },
});
const ended = (reason: string, at: number): SessionEvent =>
  ({ type: 'SessionEnded', data: { sessionId: 's1', userId: 'u1', reason, at: iso(at) } }) as SessionEvent;

describe('Session decider', () => {
  it('starts a session with idle and absolute deadlines', () => {
    spec
      .given([])
      .when({
        type: 'StartSession',
        data: { sessionId: 's1', userId: 'u1', role: 'clinician', refreshTokenHash: H('a'), policy, now: T0 },
      })
      .then([started]);
    spec
      .given([started])
      .when({
        type: 'StartSession',
        data: { sessionId: 's1', userId: 'u1', role: 'clinician', refreshTokenHash: H('a'), policy, now: T0 },
      })
      .thenThrows(PreconditionError);
  });

  describe('when refreshing', () => {
    it('rotates the refresh token and slides the idle deadline', () => {
      spec
        .given([started])
        .when(refresh(H('a'), T0 + 60_000, true, H('b')))
        .then([refreshed]);
    });
    it('ends the session when a rotated-away token is presented again (reuse detection)', () => {
      const events = spec
        .given([started, refreshed])
        .when(refresh(H('a'), T0 + 120_000))
        .events();
      expect(events).toEqual([ended('reuse_detected', T0 + 120_000)]);
      expect(endsSession(events)).toBeDefined();
    });
    it('ends the session after the idle timeout', () => {
      spec
        .given([started])
        .when(refresh(H('a'), T0 + 15 * 60_000))
        .then([ended('idle', T0 + 15 * 60_000)]);
    });
    it('ends the session at the absolute lifetime even when active', () => {
      spec
        .given([started])
        .when(refresh(H('a'), T0 + 12 * 3_600_000))
        .then([ended('absolute', T0 + 12 * 3_600_000)]);
    });
    it('ends the session when the user is no longer active', () => {
      spec
        .given([started])
        .when(refresh(H('a'), T0 + 1000, false))
        .then([ended('revoked', T0 + 1000)]);
    });
    it('refuses an unknown token, an unknown session and an ended session without events', () => {
      spec
        .given([started])
        .when(refresh(H('f'), T0 + 1000))
        .thenThrows(UnauthenticatedError);
      spec
        .given([])
        .when(refresh(H('a'), T0 + 1000))
        .thenThrows(UnauthenticatedError);
      spec
        .given([started, ended('logout', T0 + 10)])
        .when(refresh(H('a'), T0 + 1000))
        .thenThrows(UnauthenticatedError, /ended/);
    });
  });

  it('logout ends an active session once', () => {
    spec
      .given([started])
      .when({ type: 'EndSession', data: { reason: 'logout', now: T0 + 5 } })
      .then([ended('logout', T0 + 5)]);
    spec
      .given([started, ended('logout', T0 + 5)])
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
      spec
        .given([started])
        .when(expire(T0 + 15 * 60_000))
        .then([ended('idle', T0 + 15 * 60_000)]);
    });
    it('leaves a session refreshed in the meantime alone (the sweeper may have read an older deadline)', () => {
      spec
        .given([started, refreshed])
        .when(expire(T0 + 15 * 60_000 + 1))
        .then([]);
    });
    it('ends a session past its absolute lifetime, saying absolute', () => {
      spec
        .given([started])
        .when(expire(T0 + 12 * 3_600_000))
        .then([ended('absolute', T0 + 12 * 3_600_000)]);
    });
    describe('when the clinic changed the idle timeout since the last refresh', () => {
      it('ends the session once it is idle past the shorter timeout, counted from its last activity', () => {
        spec
          .given([started, refreshed])
          .when(expire(T0 + 60_000 + 2 * 60_000 - 1, 2 * 60_000))
          .then([]);
        spec
          .given([started, refreshed])
          .when(expire(T0 + 60_000 + 2 * 60_000, 2 * 60_000))
          .then([ended('idle', T0 + 60_000 + 2 * 60_000)]);
      });
      it('gives a session idle at the change the new timeout from the change, never more than it had', () => {
        // Changed to 2 min at T0 + 10 min: idle since T0 + 1 min, it lives until T0 + 12 min, not T0 + 3 min.
        const since = T0 + 10 * 60_000;
        spec
          .given([started, refreshed])
          .when(expire(since + 2 * 60_000 - 1, 2 * 60_000, since))
          .then([]);
        spec
          .given([started, refreshed])
          .when(expire(since + 2 * 60_000, 2 * 60_000, since))
          .then([ended('idle', since + 2 * 60_000)]);
        // Changed at T0 + 15 min to 10 min: its own deadline (T0 + 16 min) comes first.
        spec
          .given([started, refreshed])
          .when(expire(T0 + 16 * 60_000, 10 * 60_000, T0 + 15 * 60_000))
          .then([ended('idle', T0 + 16 * 60_000)]);
      });
      it('keeps it past the deadline it wrote under a longer timeout', () => {
        spec
          .given([started])
          .when(expire(T0 + 20 * 60_000, 30 * 60_000))
          .then([]);
      });
      it('refuses a refresh idle past the shorter timeout, saying idle', () => {
        spec
          .given([started])
          .when({
            type: 'RefreshSession',
            data: {
              presentedTokenHash: H('a'),
              newTokenHash: H('c'),
              userActive: true,
              policy: { ...policy, idleTimeoutMs: 60_000 },
              now: T0 + 60_000,
            },
          })
          .then([ended('idle', T0 + 60_000)]);
      });
    });
    it('records nothing for an ended or unknown session', () => {
      spec
        .given([started, ended('logout', T0 + 1000)])
        .when(expire(T0 + 16 * 60_000))
        .then([]);
      spec.given([]).when(expire(T0)).then([]);
    });
  });
});
