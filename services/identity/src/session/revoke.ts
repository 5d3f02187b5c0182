/**
 * Ending and revoking sessions, for every slice that must: logout, refresh and idle logoff (session), deactivation
 * and role change (user), an MFA reset (credential).
 */
import type { RevocationReason } from '@haven/service';
import type { IdentityDeps } from '../shared/deps';
import { identityEvent, run, type CommandContext } from '../shared/streams';
import type { UserState } from '../user/user';
import { sessionDecider } from './decider';
import { sessionStream, type SessionEndReason } from './session';

type RevokeDeps = Pick<IdentityDeps, 'store' | 'now' | 'revocations'>;

/** Appends SessionRevoked to the session stream and publishes it on `haven.identity.revocations`. */
export async function revokeSession(
  deps: RevokeDeps,
  ctx: CommandContext,
  sid: string,
  sub: string,
  reason: string,
): Promise<void> {
  const revokedAt = new Date(deps.now()).toISOString();
  await deps.store.append(sessionStream(sid), 'any', [
    identityEvent('SessionRevoked', { sid, sub, reason, at: revokedAt }, ctx),
  ]);
  await deps.revocations?.publish({ sid, sub, reason, revokedAt });
}

/** Ends every session of a user (`revoked`) and revokes those that were still running. */
export async function endSessionsOf(
  deps: RevokeDeps,
  ctx: CommandContext,
  state: UserState,
  reason: RevocationReason,
): Promise<void> {
  if (state.status === 'none') return;
  const endReason: SessionEndReason = 'revoked';
  for (const sid of state.sessionIds) {
    const ended = await run(
      deps.store,
      sessionStream(sid),
      sessionDecider,
      { type: 'EndSession', data: { reason: endReason, now: deps.now() } },
      ctx,
    );
    if (ended.events.length > 0) await revokeSession(deps, ctx, sid, state.userId, reason);
  }
}
