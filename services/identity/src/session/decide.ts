/**
 * Session commands and decide(): pure. Token digests are computed by the handler.
 *
 * RefreshSession may *end* the session (idle, absolute, reuse detected, user no longer active):
 * those outcomes are events, not errors, so they are stored; the handler answers UNAUTHENTICATED
 * whenever the decided events end the session.
 */
import { PreconditionError, UnauthenticatedError } from '@haven/errors';
import { digestsEqual } from '../user/decide';
import type { Role } from '../user/user';
import {
  idleDeadline,
  type ExistingSession,
  type SessionEndReason,
  type SessionEvent,
  type SessionPolicy,
  type SessionState,
} from './session';

export type StartSession = {
  type: 'StartSession';
  data: {
    sessionId: string;
    userId: string;
    role: Role;
    refreshTokenHash: string;
    policy: SessionPolicy;
    /** Restricted scope (MFA enrollment); empty for a full session. */
    scope?: string;
    now: number;
  };
};
export type RefreshSession = {
  type: 'RefreshSession';
  data: {
    presentedTokenHash: string;
    newTokenHash: string;
    /** Whether the user is still active (handler reads the User stream). */
    userActive: boolean;
    policy: SessionPolicy;
    now: number;
  };
};
export type EndSession = { type: 'EndSession'; data: { reason: SessionEndReason; now: number } };
/**
 * Ends the session when its idle lifetime (under the session policy in force: the clinic may have changed the idle
 * timeout) or its absolute lifetime is over at `now` (identity's sweeper); else nothing.
 */
export type ExpireSession = { type: 'ExpireSession'; data: { now: number; policy: SessionPolicy } };

/** Every command of the Session aggregate. */
export type SessionCommand = StartSession | RefreshSession | EndSession | ExpireSession;

const iso = (ms: number): string => new Date(ms).toISOString();

/**
 * Decides a session command.
 * Throws PreconditionError when starting an existing session, UnauthenticatedError when refreshing
 * an unknown or ended session or presenting a token the session never issued.
 */
export function decideSession(command: SessionCommand, state: SessionState): SessionEvent[] {
  switch (command.type) {
    case 'StartSession':
      return start(command.data, state);
    case 'RefreshSession':
      return refresh(command.data, state);
    case 'EndSession': {
      if (state.status !== 'active') return [];
      return [
        {
          type: 'SessionEnded',
          data: {
            sessionId: state.sessionId,
            userId: state.userId,
            reason: command.data.reason,
            at: iso(command.data.now),
          },
        },
      ];
    }
    case 'ExpireSession': {
      if (state.status !== 'active') return [];
      const now = command.data.now;
      const reason: SessionEndReason | undefined =
        now >= state.absoluteExpiresAt
          ? 'absolute'
          : now >= idleDeadline(state, command.data.policy)
            ? 'idle'
            : undefined;
      if (reason === undefined) return [];
      return [
        {
          type: 'SessionEnded',
          data: { sessionId: state.sessionId, userId: state.userId, reason, at: iso(now) },
        },
      ];
    }
  }
}

function start(d: StartSession['data'], state: SessionState): SessionEvent[] {
  if (state.status !== 'none') throw new PreconditionError('session already exists');
  const absolute = d.now + d.policy.absoluteLifetimeMs;
  return [
    {
      type: 'SessionStarted',
      data: {
        sessionId: d.sessionId,
        userId: d.userId,
        role: d.role,
        refreshTokenHash: d.refreshTokenHash,
        idleExpiresAt: iso(Math.min(d.now + d.policy.idleTimeoutMs, absolute)),
        absoluteExpiresAt: iso(absolute),
        ...(d.scope ? { scope: d.scope } : {}),
        at: iso(d.now),
      },
    },
  ];
}

/**
 * What a presented refresh token is to an active session: the `current` one; the `previous` one (current
 * immediately before the latest rotation) within the reuse grace; `reused` (rotated away: any older one, or the
 * previous one after the grace); or `unknown` (never issued by this session).
 *
 * The grace is for answers that never reached the browser: identity rotated, but the gateway's deadline passed,
 * the page aborted the request, the network dropped it, or two tabs refreshed with the same cookie at once. The
 * browser still holds the token just rotated away; without a grace its next refresh would end the session as a
 * stolen token's would. The grace use rotates again, and its evolve makes the token whose answer was lost the
 * previous one, so the presented token is then two rotations old: **a second presentation of the same previous
 * token, even within the grace, is reuse.** One grace use covers what the grace is for (one lost answer, one
 * concurrent tab; the web app sends one refresh at a time and retries once), while letting the same old token
 * mint fresh ones for the whole grace would hand a copied token a working session alongside the user's with no
 * alarm. The grace counts from the latest rotation and a grace use never moves the absolute end.
 *
 * Every digest is compared in constant time, all of them whatever matches first.
 */
export function presentedToken(
  state: ExistingSession,
  presentedTokenHash: string,
  now: number,
  policy: Pick<SessionPolicy, 'refreshReuseGraceMs'>,
): 'current' | 'previous' | 'reused' | 'unknown' {
  const current = digestsEqual(state.currentTokenHash, presentedTokenHash);
  const previous = state.previous !== null && digestsEqual(state.previous.tokenHash, presentedTokenHash);
  const used = state.usedTokenHashes.reduce((seen, h) => digestsEqual(h, presentedTokenHash) || seen, false);
  if (current) return 'current';
  const graceMs = policy.refreshReuseGraceMs ?? 0;
  if (previous && graceMs > 0 && state.previous !== null && now < state.previous.rotatedAt + graceMs)
    return 'previous';
  return previous || used ? 'reused' : 'unknown';
}

function refresh(d: RefreshSession['data'], state: SessionState): SessionEvent[] {
  if (state.status === 'none') throw new UnauthenticatedError('invalid refresh token');
  if (state.status === 'ended') throw new UnauthenticatedError('session has ended');
  const end = (reason: SessionEndReason): SessionEvent[] => [
    {
      type: 'SessionEnded',
      data: { sessionId: state.sessionId, userId: state.userId, reason, at: iso(d.now) },
    },
  ];
  const presented = presentedToken(state, d.presentedTokenHash, d.now, d.policy);
  if (presented === 'reused') return end('reuse_detected');
  if (presented === 'unknown') throw new UnauthenticatedError('invalid refresh token');
  if (d.now >= state.absoluteExpiresAt) return end('absolute');
  if (d.now >= idleDeadline(state, d.policy)) return end('idle');
  if (!d.userActive) return end('revoked');
  return [
    {
      type: 'TokenRefreshed',
      data: {
        sessionId: state.sessionId,
        userId: state.userId,
        generation: state.generation + 1,
        refreshTokenHash: d.newTokenHash,
        idleExpiresAt: iso(Math.min(d.now + d.policy.idleTimeoutMs, state.absoluteExpiresAt)),
        graceUsed: presented === 'previous',
        at: iso(d.now),
      },
    },
  ];
}

/** True when the events end the session (the caller must then answer UNAUTHENTICATED). */
export function endsSession(events: readonly SessionEvent[]): SessionEvent | undefined {
  return events.find((e) => e.type === 'SessionEnded');
}
