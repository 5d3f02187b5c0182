/**
 * The credential use cases of a user: change the password, enroll and confirm TOTP (with recovery codes), and an
 * admin's MFA reset. Secrets live only in the credential stream (sealed); the User stream records that they
 * changed. The second factor of a login is checked in `second-factor.ts`.
 */
import { newEventId } from '@haven/eventstore';
import { NotFoundError, PreconditionError, UnauthenticatedError } from '@haven/errors';
import { RevocationReason } from '@haven/service';
import { endSessionsOf } from '../session/revoke';
import type { IdentityDeps } from '../shared/deps';
import type { CommandContext } from '../shared/streams';
import { decideUser, type UserCommand } from '../user/decide';
import { loadUser, runUser } from '../user/user-stream';
import { identityParts, userView, type UserView } from '../user/view';
import { PASSWORD_HISTORY, type CredentialEvent } from './credential';
import { assertPasswordAcceptable } from './password/policy';
import { newRecoveryCodes, newTotpSecret, totpUri, verifyTotp } from './totp';

/** The credential use cases. */
export class CredentialService {
  constructor(private readonly deps: IdentityDeps) {}

  /**
   * Changes the password after verifying the current one; refuses reuse of the last N.
   * Throws UnauthenticatedError (wrong current), ValidationError (policy, reuse).
   */
  async changePassword(
    ctx: CommandContext,
    userId: string,
    input: { currentPassword: string; newPassword: string },
  ): Promise<{ expiresAt: number | null }> {
    const { store, credentialStore, hasher, policies } = this.deps;
    const { state } = await loadUser(store, userId);
    if (state.status === 'none') throw new NotFoundError('user not found');
    const { state: cred, revision: credRevision } = await credentialStore.load(userId);
    const currentPasswordValid =
      cred.passwordHash !== null && (await hasher.verify(cred.passwordHash, input.currentPassword));
    if (!currentPasswordValid) throw new UnauthenticatedError('current password is wrong');
    assertPasswordAcceptable(input.newPassword, 'new_password', {
      policy: policies.password,
      commonPasswords: policies.commonPasswords,
      identity: identityParts(state),
    });
    const history = cred.history.slice(-Math.min(policies.password.historySize, PASSWORD_HISTORY));
    const reusesRecentPassword = await hasher.matchesAny(history, input.newPassword);
    const now = this.deps.now();
    const command: UserCommand = {
      type: 'ChangePassword',
      data: { verification: { kind: 'self', currentPasswordValid }, reusesRecentPassword, now },
    };
    decideUser(command, state); // validate before storing the hash
    const hash = await hasher.hash(input.newPassword);
    // Expecting the revision read above: of two changes racing, the second appends nothing (ABORTED).
    await credentialStore.append(
      ctx,
      userId,
      [{ type: 'PasswordHashSet', data: { userId, hash, at: new Date(now).toISOString() } }],
      credRevision,
    );
    await runUser(store, userId, command, ctx);
    return {
      expiresAt:
        policies.password.maxAgeDays === null ? null : now + policies.password.maxAgeDays * 86_400_000,
    };
  }

  /** Clears a user's MFA (admin / CLI). */
  async resetMfa(ctx: CommandContext, userId: string): Promise<UserView> {
    const { credentialStore } = this.deps;
    const result = await runUser(
      this.deps.store,
      userId,
      { type: 'ResetMfa', data: { by: ctx.actor.id, now: this.deps.now() } },
      ctx,
    );
    const { state: cred } = await credentialStore.load(userId);
    if (cred.totpSecret !== null) {
      const revoked: CredentialEvent = {
        type: 'TotpSecretRevoked',
        data: { userId, at: new Date(this.deps.now()).toISOString() },
      };
      await credentialStore.append(ctx, userId, [revoked], 'any');
      // Crypto-shredding: the secret and recovery codes sealed in the immutable events become unreadable.
      if (cred.totpEnrollmentId !== null)
        await credentialStore.shredEnrollment(userId, cred.totpEnrollmentId);
    }
    // A reset usually means a lost or compromised device: the user's sessions end too.
    if (result.events.length > 0)
      await endSessionsOf(this.deps, ctx, result.state, RevocationReason.MfaReset);
    return userView(this.deps, userId, result.state);
  }

  /**
   * Starts TOTP enrollment: a new secret (stored only in the credential stream) and its otpauth URI, shown
   * once. Throws PreconditionError when TOTP is already enrolled or the user is not active.
   */
  async enrollTotp(ctx: CommandContext, userId: string): Promise<{ secret: string; otpauthUri: string }> {
    const { store, credentialStore } = this.deps;
    const now = this.deps.now();
    const { state } = await loadUser(store, userId);
    decideUser({ type: 'StartTotpEnrollment', data: { now } }, state); // validate before storing a secret
    if (state.status === 'none') throw new NotFoundError('user not found');
    const { state: previous, revision } = await credentialStore.load(userId);
    const secret = newTotpSecret();
    const enrollmentId = newEventId();
    // The secret is the decision: expecting the revision read above, of two enrollments racing only one
    // stores a secret; the other answers ABORTED having appended nothing. The user stream's step after it
    // cannot refuse (`secretStored`): a deactivation racing in between wins there, and this call stays OK.
    const issued: CredentialEvent = {
      type: 'TotpSecretIssued',
      data: { userId, enrollmentId, secret, at: new Date(now).toISOString() },
    };
    try {
      await credentialStore.append(ctx, userId, [issued], revision);
    } catch (error) {
      await credentialStore.shredEnrollment(userId, enrollmentId).catch(() => undefined);
      throw error;
    }
    // The enrollment this one replaces was never confirmed: its secret is shredded.
    if (previous.totpEnrollmentId !== null && !previous.totpConfirmed)
      await credentialStore.shredEnrollment(userId, previous.totpEnrollmentId);
    await runUser(store, userId, { type: 'StartTotpEnrollment', data: { now, secretStored: true } }, ctx);
    return { secret, otpauthUri: totpUri(secret, state.username) };
  }

  /**
   * Confirms TOTP with a current code: MfaEnrolled, and 10 one-time recovery codes (returned once, stored as
   * SHA-256 digests). Throws ValidationError when the code is wrong, PreconditionError when no enrollment is
   * pending.
   */
  async confirmTotp(ctx: CommandContext, userId: string, code: string): Promise<{ recoveryCodes: string[] }> {
    const { store, credentialStore } = this.deps;
    const now = this.deps.now();
    const { state } = await loadUser(store, userId);
    const { state: cred, revision } = await credentialStore.load(userId);
    const enrollmentId = cred.totpEnrollmentId;
    if (cred.totpConfirmed || enrollmentId === null)
      throw new PreconditionError('no TOTP enrollment in progress');
    const step = cred.totpSecret === null ? null : await verifyTotp(cred.totpSecret, code, { nowMs: now });
    decideUser({ type: 'ConfirmTotp', data: { codeValid: step !== null, now } }, state);
    const at = new Date(now).toISOString();
    const recovery = newRecoveryCodes();
    // One append, expecting the revision read above: a racing confirmation appends nothing (ABORTED).
    await credentialStore.append(
      ctx,
      userId,
      [
        { type: 'TotpSecretConfirmed', data: { userId, at } },
        { type: 'RecoveryCodesIssued', data: { userId, enrollmentId, hashes: recovery.hashes, at } },
        ...(step !== null
          ? [{ type: 'TotpCodeAccepted', data: { userId, timeStep: step, at } } as const]
          : []),
      ],
      revision,
    );
    await runUser(store, userId, { type: 'ConfirmTotp', data: { codeValid: true, now } }, ctx);
    return { recoveryCodes: recovery.codes };
  }
}
