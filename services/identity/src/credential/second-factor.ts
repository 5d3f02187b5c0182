/** The second factor of a login: a TOTP code or a one-time recovery code, each accepted once. */
import { ConcurrencyError } from '@haven/errors';
import type { IdentityDeps } from '../shared/deps';
import type { CommandContext } from '../shared/streams';
import { digestsEqual } from '../user/decide';
import { runUser } from '../user/user-stream';
import type { CredentialEvent } from './credential';
import type { LoadedCredentials } from './credential-store';
import { looksLikeTotp, recoveryCodeDigest, verifyTotp } from './totp';

/**
 * Checks the second factor of an enrolled user: a TOTP code newer than the last accepted one, or an unused
 * recovery code (consumed, with RecoveryCodeUsed). Returns false when neither matches, and when another login
 * used the same code at the same moment (the append expects the revision loaded: a code counts once).
 */
export async function checkSecondFactor(
  deps: Pick<IdentityDeps, 'store' | 'credentialStore'>,
  ctx: CommandContext,
  userId: string,
  loaded: LoadedCredentials,
  code: string,
  now: number,
): Promise<boolean> {
  const cred = loaded.state;
  if (code === '' || code.length > 64 || cred.totpSecret === null) return false;
  const at = new Date(now).toISOString();
  const consume = async (event: CredentialEvent): Promise<boolean> => {
    try {
      await deps.credentialStore.append(ctx, userId, [event], loaded.revision);
      return true;
    } catch (error) {
      if (error instanceof ConcurrencyError) return false;
      throw error;
    }
  };
  if (looksLikeTotp(code)) {
    const step = await verifyTotp(cred.totpSecret, code, {
      afterTimeStep: cred.lastTotpTimeStep,
      nowMs: now,
    });
    if (step === null) return false;
    return consume({ type: 'TotpCodeAccepted', data: { userId, timeStep: step, at } });
  }
  const digest = recoveryCodeDigest(code);
  const index = cred.recoveryCodeHashes.findIndex((h) => h !== null && digestsEqual(h, digest));
  if (index < 0) return false;
  if (!(await consume({ type: 'RecoveryCodeConsumed', data: { userId, index, at } }))) return false;
  const remaining = cred.recoveryCodeHashes.filter((h) => h !== null).length - 1;
  await runUser(deps.store, userId, { type: 'RecordRecoveryCodeUse', data: { remaining, now } }, ctx);
  return true;
}
