/**
 * Revocations leave identity here: a RevocationPublisher on `haven.identity.revocations` in production, so every
 * service refuses the revoked tokens at once.
 */
import type { SessionRevoked } from '@haven/service';

/** Where revocations go (a RevocationPublisher in production). */
export interface RevocationSink {
  publish(revocation: SessionRevoked): Promise<void>;
}

/** Publishes a subject-wide revocation: every token of `sub` issued until `now` is refused. */
export async function revokeSubject(
  deps: { readonly revocations?: RevocationSink | undefined; readonly now: () => number },
  sub: string,
  subKind: 'user' | 'service_account',
  reason: string,
): Promise<void> {
  await deps.revocations?.publish({
    sid: '',
    sub,
    subKind,
    reason,
    revokedAt: new Date(deps.now()).toISOString(),
  });
}
