/**
 * The Session aggregate (`identity.session-<sid>`): one login, its rotating refresh token and its
 * end. Pure. Refresh tokens are stored only as SHA-256 digests (`refreshTokenHash`) of a 256-bit
 * random secret, so the events hold nothing that can be replayed.
 */
import type { Role } from '../user/user';

/** Why a session ended. */
export const SessionEndReason = {
  Logout: 'logout',
  Idle: 'idle',
  Absolute: 'absolute',
  Revoked: 'revoked',
  ReuseDetected: 'reuse_detected',
} as const;
export type SessionEndReason = (typeof SessionEndReason)[keyof typeof SessionEndReason];

/** Idle and absolute lifetime of a session. */
export interface SessionPolicy {
  /** A session with no refresh for this long ends (`idle`). Default 15 min. */
  readonly idleTimeoutMs: number;
  /** A session ends this long after it started, whatever happens (`absolute`). Default 12 h. */
  readonly absoluteLifetimeMs: number;
  /**
   * When the clinic last changed the idle timeout (epoch ms); absent: never (the deployment's applies). A session
   * idle then keeps at least the new timeout from this moment (see {@link idleDeadline}).
   */
  readonly idleTimeoutSince?: number;
  /**
   * The refresh-token reuse grace, ms: for this long after a rotation, the token it replaced may come back once
   * (its answer was lost, or two tabs refreshed with it at once) and rotates again instead of ending the session
   * as reuse (decide.ts `presentedToken`, docs/adr/0021-refresh-reuse-grace.md). Absent or 0: no grace.
   * Default 30 s (HAVEN_REFRESH_REUSE_GRACE_SEC).
   */
  readonly refreshReuseGraceMs?: number;
}

export const DEFAULT_SESSION_POLICY: SessionPolicy = Object.freeze({
  idleTimeoutMs: 15 * 60_000,
  absoluteLifetimeMs: 12 * 3_600_000,
  refreshReuseGraceMs: 30_000,
});

/** `identity.session-<sid>`. */
export function sessionStream(sessionId: string): string {
  return `identity.session-${sessionId}`;
}

export type SessionStarted = {
  type: 'SessionStarted';
  data: {
    sessionId: string;
    userId: string;
    role: Role;
    refreshTokenHash: string;
    idleExpiresAt: string;
    absoluteExpiresAt: string;
    /** Scope of the session's access tokens; `identity.mfa.enroll` while MFA enrollment is pending. */
    scope?: string;
    at: string;
  };
};
export type TokenRefreshed = {
  type: 'TokenRefreshed';
  data: {
    sessionId: string;
    userId: string;
    generation: number;
    refreshTokenHash: string;
    idleExpiresAt: string;
    /**
     * The presented token was the one current before the latest rotation, within the reuse grace (not the current
     * one). Absent in events written before the grace existed (false).
     */
    graceUsed?: boolean;
    at: string;
  };
};
export type SessionEnded = {
  type: 'SessionEnded';
  data: { sessionId: string; userId: string; reason: SessionEndReason; at: string };
};

/** The revocation broadcast for an ended session (also published on `haven.identity.revocations`). */
export type SessionRevoked = {
  type: 'SessionRevoked';
  data: { sid: string; sub: string; reason: string; at: string };
};

/** Every event of the Session aggregate. */
export type SessionEvent = SessionStarted | TokenRefreshed | SessionEnded | SessionRevoked;

export interface ExistingSession {
  readonly status: 'active' | 'ended';
  readonly sessionId: string;
  readonly userId: string;
  readonly role: Role;
  readonly generation: number;
  readonly currentTokenHash: string;
  /** Digests of refresh tokens already rotated away; presenting one is reuse (but see `previous`). */
  readonly usedTokenHashes: readonly string[];
  /**
   * The token current immediately before the latest rotation, and when that rotation happened: within the reuse
   * grace it may come back once (decide.ts `presentedToken`). Null until the first rotation.
   */
  readonly previous: { readonly tokenHash: string; readonly rotatedAt: number } | null;
  /** The deadline written with the last start or refresh (under the idle timeout in force then). */
  readonly idleExpiresAt: number;
  /** The last start or refresh: the idle timeout in force now counts from here ({@link idleDeadline}). */
  readonly lastActivityAt: number;
  readonly absoluteExpiresAt: number;
  readonly endReason: SessionEndReason | null;
  readonly scope: string;
}
export type SessionState = { readonly status: 'none' } | ExistingSession;

export const initialSessionState: SessionState = { status: 'none' };

/** Folds one session event. */
export function evolveSession(state: SessionState, event: SessionEvent): SessionState {
  if (event.type === 'SessionStarted') {
    const d = event.data;
    return {
      status: 'active',
      sessionId: d.sessionId,
      userId: d.userId,
      role: d.role,
      generation: 0,
      currentTokenHash: d.refreshTokenHash,
      usedTokenHashes: [],
      previous: null,
      idleExpiresAt: Date.parse(d.idleExpiresAt),
      lastActivityAt: Date.parse(d.at),
      absoluteExpiresAt: Date.parse(d.absoluteExpiresAt),
      endReason: null,
      scope: d.scope ?? '',
    };
  }
  if (state.status === 'none') return state;
  switch (event.type) {
    case 'TokenRefreshed':
      return {
        ...state,
        generation: event.data.generation,
        usedTokenHashes: [...state.usedTokenHashes, state.currentTokenHash],
        // After a grace use too: the token whose answer was lost is now the one before the latest rotation (two
        // tabs: the browser may keep either answer), and the token presented is two rotations old.
        previous: { tokenHash: state.currentTokenHash, rotatedAt: Date.parse(event.data.at) },
        currentTokenHash: event.data.refreshTokenHash,
        idleExpiresAt: Date.parse(event.data.idleExpiresAt),
        lastActivityAt: Date.parse(event.data.at),
      };
    case 'SessionEnded':
      return { ...state, status: 'ended', endReason: event.data.reason };
    case 'SessionRevoked':
      return state;
  }
}

/**
 * When a session idles out under the idle timeout in force now (the clinic's setting may have changed since its
 * last refresh, either way): its last activity plus the timeout — but a change never ends a session sooner than
 * the new timeout after the change (its page must learn the new value first; a clinician in a visit keeps the
 * session active a third of the timeout at a time), nor later than the deadline it already had. Never after the
 * absolute end. A session whose events carry no readable activity time keeps the deadline they wrote.
 */
export function idleDeadline(
  session: Pick<ExistingSession, 'idleExpiresAt' | 'lastActivityAt' | 'absoluteExpiresAt'>,
  policy: Pick<SessionPolicy, 'idleTimeoutMs' | 'idleTimeoutSince'>,
): number {
  if (!Number.isFinite(session.lastActivityAt)) return session.idleExpiresAt;
  const fromActivity = session.lastActivityAt + policy.idleTimeoutMs;
  const since = policy.idleTimeoutSince;
  const deadline =
    since === undefined
      ? fromActivity
      : Math.max(fromActivity, Math.min(session.idleExpiresAt, since + policy.idleTimeoutMs));
  return Math.min(deadline, session.absoluteExpiresAt);
}
