/**
 * The deadlines of every active session, folded from the session events (pure): what identity's idle-logoff
 * sweeper looks at to find sessions whose idle or absolute lifetime is over. It may lag the store; the sweeper
 * re-decides on the session's own stream (ExpireSession), so a stale deadline never ends a live session.
 */
import { idleDeadline, type SessionPolicy } from './session';

/** When an active session idles out (as written, and from its last activity) and when it ends regardless. */
export interface SessionDeadline {
  readonly idleExpiresAt: number;
  readonly lastActivityAt: number;
  readonly absoluteExpiresAt: number;
}

/** Active sessions by id. Mutable for speed: one per sweeper. */
export type SessionDeadlines = Map<string, SessionDeadline>;

const SESSION_STREAM = /^identity\.session-(.+)$/;
const PREFIX = 'haven.identity.v1.';

/** Folds one stored event (of any identity stream) into the deadlines. Ignores everything but session events. */
export function foldSessionDeadline(
  deadlines: SessionDeadlines,
  event: { readonly stream: string; readonly type: string; readonly data: Record<string, unknown> },
): void {
  const sid = SESSION_STREAM.exec(event.stream)?.[1];
  if (sid === undefined) return;
  const d = event.data;
  switch (event.type.slice(PREFIX.length)) {
    case 'SessionStarted': {
      const idle = Date.parse(String(d['idleExpiresAt']));
      const absolute = Date.parse(String(d['absoluteExpiresAt']));
      if (Number.isFinite(idle) && Number.isFinite(absolute))
        deadlines.set(sid, {
          idleExpiresAt: idle,
          lastActivityAt: Date.parse(String(d['at'])),
          absoluteExpiresAt: absolute,
        });
      return;
    }
    case 'TokenRefreshed': {
      const current = deadlines.get(sid);
      const idle = Date.parse(String(d['idleExpiresAt']));
      if (current && Number.isFinite(idle))
        deadlines.set(sid, { ...current, idleExpiresAt: idle, lastActivityAt: Date.parse(String(d['at'])) });
      return;
    }
    case 'SessionEnded':
      deadlines.delete(sid);
      return;
    default:
      return;
  }
}

/**
 * The sessions whose idle or absolute deadline is at or before `now`. With `policy` (the idle timeout in force and
 * when it changed) the idle deadline counts from each session's last activity ({@link idleDeadline}), else it is
 * the one written.
 */
export function expiredSessions(
  deadlines: SessionDeadlines,
  now: number,
  policy?: Pick<SessionPolicy, 'idleTimeoutMs' | 'idleTimeoutSince'>,
): string[] {
  const out: string[] = [];
  for (const [sid, d] of deadlines) {
    const idle = policy === undefined ? d.idleExpiresAt : idleDeadline(d, policy);
    if (now >= Math.min(idle, d.absoluteExpiresAt)) out.push(sid);
  }
  return out;
}
