/**
 * The identity application layer: every use case (RPCs and CLI alike) goes through here.
 * Handlers load aggregates, do the I/O-ish work (argon2, token digests, signing), call the pure
 * deciders and append. Secrets never leave this layer except the tokens handed to the caller.
 */
import { newEvent, newEventId, type EventStore } from '@haven/eventstore';
import {
  ConcurrencyError,
  NotFoundError,
  PermissionError,
  PreconditionError,
  UnauthenticatedError,
  ValidationError,
} from '@haven/errors';
import {
  BREAK_GLASS_SCOPE,
  RequestIdReusedError,
  RevocationReason,
  idempotentResourceId,
  requestRecord,
  type IdempotencyKey,
  type Logger,
  type SessionRevoked,
} from '@haven/service';
import { alertStream, breakGlassStream, decideBreakGlass } from '../break-glass/break-glass';
import {
  looksLikeTotp,
  newRecoveryCodes,
  newTotpSecret,
  recoveryCodeDigest,
  totpUri,
  verifyTotp,
} from '../credential/totp';
import {
  decideServiceAccount,
  evolveServiceAccount,
  initialServiceAccountState,
  SERVICE_ACCOUNT_DIRECTORY_STREAM,
  serviceAccountCredentialId,
  serviceAccountStream,
  type ServiceAccountCommand,
  type ServiceAccountEvent,
  type ServiceAccountState,
} from '../service-account/service-account';
import { PASSWORD_HISTORY, type CredentialEvent } from '../credential/credential';
import { CredentialStore, type LoadedCredentials } from '../credential/credential-store';
import type { SecretSealer } from '../credential/secret-sealer';
import type { PasswordHasher } from '../credential/password/hasher';
import {
  assertPasswordAcceptable,
  DEFAULT_PASSWORD_POLICY,
  passwordExpired,
  type PasswordPolicy,
} from '../credential/password/policy';
import { decideSession, endsSession, type SessionCommand } from '../session/decide';
import {
  DEFAULT_SESSION_POLICY,
  evolveSession,
  initialSessionState,
  sessionStream,
  type SessionEndReason,
  type SessionEvent,
  type SessionPolicy,
  type SessionState,
} from '../session/session';
import type { SigningKeyRing } from '../tokens/keys';
import {
  ACCESS_TOKEN_TTL_SEC,
  issueAccessToken,
  newRefreshToken,
  parseRefreshToken,
  randomSecret,
  tokenDigest,
} from '../tokens/tokens';
import { decideUser, digestsEqual, type UserCommand } from '../user/decide';
import { DEFAULT_LOCKOUT_POLICY, type LockoutPolicy } from '../user/lockout';
import {
  evolveUser,
  initialUserState,
  isLocked,
  Role,
  userStream,
  type ExistingUser,
  type UserEvent,
  type UserState,
} from '../user/user';
import {
  load,
  replayOf,
  run,
  usernameStream,
  USER_DIRECTORY_STREAM,
  type CommandContext,
  type PureDecider,
} from '../shared/streams';
import { DEFAULT_LOGIN_THROTTLE, LoginThrottle, type LoginThrottlePolicy } from '../shared/login-throttle';

const userDecider: PureDecider<UserCommand, UserEvent, UserState> = {
  decide: decideUser,
  evolve: evolveUser,
  initialState: initialUserState,
};
const sessionDecider: PureDecider<SessionCommand, SessionEvent, SessionState> = {
  decide: decideSession,
  evolve: evolveSession,
  initialState: initialSessionState,
};
const serviceAccountDecider: PureDecider<ServiceAccountCommand, ServiceAccountEvent, ServiceAccountState> = {
  decide: decideServiceAccount,
  evolve: evolveServiceAccount,
  initialState: initialServiceAccountState,
};

/** What the caller sees of a user (no secrets). */
export interface UserView {
  readonly userId: string;
  readonly username: string;
  readonly email: string;
  readonly displayName: string;
  readonly role: Role;
  readonly status: 'invited' | 'active' | 'locked' | 'deactivated';
  readonly mfaEnrolled: boolean;
  readonly createdAt: number;
  readonly updatedAt: number;
  readonly passwordChangedAt: number | null;
  readonly lastLoginAt: number | null;
  /** The stream revision, for optimistic concurrency. */
  readonly etag: string;
}

/** Tokens of a login or refresh. */
export interface TokenSetView {
  readonly accessToken: string;
  readonly accessTokenExpiresAt: number;
  readonly refreshToken: string;
  readonly sessionExpiresAt: number;
  readonly idleTimeoutMs: number;
}

export interface LoginResult {
  readonly tokens: TokenSetView;
  readonly user: UserView;
  readonly mfaEnrollmentRequired: boolean;
  readonly passwordChangeRequired: boolean;
}

/** What a caller sees of a service account (never the secret or its hash). */
export interface ServiceAccountView {
  readonly serviceAccountId: string;
  readonly displayName: string;
  readonly clientId: string;
  readonly scopes: readonly string[];
  readonly createdAt: number;
  readonly secretRotatedAt: number;
}

/** The scope of the token an un-enrolled admin/clinician gets: only EnrollTotp/ConfirmTotp (and Logout) accept it. */
export const MFA_ENROLL_SCOPE = 'identity.mfa.enroll';
/** The scope of a break-glass token (from @haven/service, where services check it). */
export { BREAK_GLASS_SCOPE };
/** Service-account access tokens live 5 minutes. */
export const SERVICE_ACCOUNT_TOKEN_TTL_SEC = 300;

/** Where revocations go (a RevocationPublisher in production). */
export interface RevocationSink {
  publish(revocation: SessionRevoked): Promise<void>;
}

/** Options of {@link IdentityApp}. */
export interface IdentityAppOptions {
  readonly store: EventStore;
  readonly hasher: PasswordHasher;
  readonly keys: SigningKeyRing;
  /** Seals the secrets of the credential streams (TOTP secrets, recovery codes, password hashes). */
  readonly sealer: SecretSealer;
  readonly commonPasswords: ReadonlySet<string>;
  readonly passwordPolicy?: PasswordPolicy;
  readonly lockoutPolicy?: LockoutPolicy;
  readonly sessionPolicy?: SessionPolicy;
  /** Throttles per client address and account name (default {@link DEFAULT_LOGIN_THROTTLE}). */
  readonly loginThrottle?: LoginThrottlePolicy;
  /** Invitation validity. Default 7 days. */
  readonly inviteTtlMs?: number;
  readonly accessTokenTtlSec?: number;
  /** Roles that must enroll TOTP. Default admin and clinician. */
  readonly mfaRequiredRoles?: readonly Role[];
  readonly logger?: Logger;
  readonly now?: () => number;
  /** Revocations are published here (logout, deactivation, role change, reuse, idle, absolute, MFA reset, secret rotation). */
  readonly revocations?: RevocationSink;
}

/** Input of a password login. */
export interface LoginInput {
  readonly username: string;
  readonly password: string;
  readonly totpCode?: string;
  /** The end client's address (forwarded by the gateway), for the throttles. */
  readonly clientIp: string;
  readonly correlationId: string;
  readonly traceparent?: string;
}

/** The one generic answer to a failed login: never says which part was wrong. */
export const LOGIN_FAILED_MESSAGE = 'invalid username or password';

const USER_ID = /^[a-z0-9][a-z0-9-]{3,62}$/;

/** The identity use cases. */
export class IdentityApp {
  readonly passwordPolicy: PasswordPolicy;
  readonly lockoutPolicy: LockoutPolicy;
  readonly sessionPolicy: SessionPolicy;
  private readonly store: EventStore;
  private readonly credentials: CredentialStore;
  private readonly throttle: LoginThrottle;
  private readonly now: () => number;
  private readonly inviteTtlMs: number;
  private readonly mfaRequiredRoles: readonly Role[];

  constructor(private readonly options: IdentityAppOptions) {
    this.store = options.store;
    this.credentials = new CredentialStore(options.store, options.sealer);
    this.passwordPolicy = options.passwordPolicy ?? DEFAULT_PASSWORD_POLICY;
    this.lockoutPolicy = options.lockoutPolicy ?? DEFAULT_LOCKOUT_POLICY;
    this.sessionPolicy = options.sessionPolicy ?? DEFAULT_SESSION_POLICY;
    this.now = options.now ?? Date.now;
    this.throttle = new LoginThrottle(options.loginThrottle ?? DEFAULT_LOGIN_THROTTLE, this.now);
    this.inviteTtlMs = options.inviteTtlMs ?? 7 * 86_400_000;
    this.mfaRequiredRoles = options.mfaRequiredRoles ?? [Role.Admin, Role.Clinician];
  }

  // ---------------------------------------------------------------- users

  /** The user id that owns `username`, or undefined. */
  async findUserIdByUsername(username: string): Promise<string | undefined> {
    const events = await this.store.read(usernameStream(username), { limit: 1 });
    const id = events[0]?.data['userId'];
    return typeof id === 'string' ? id : undefined;
  }

  /**
   * Invites a user; returns the one-time invitation token (`<userId>.<secret>`).
   * Throws ValidationError on bad fields, PreconditionError when the username is taken.
   */
  async inviteUser(
    ctx: CommandContext,
    input: { username: string; email: string; displayName: string; role: string; userId?: string },
  ): Promise<{ user: UserView; invitationToken: string; invitationExpiresAt: number }> {
    const requested = input.userId?.trim() ?? '';
    if (requested !== '' && !USER_ID.test(requested)) {
      throw new ValidationError([{ field: 'user_id', description: 'must match [a-z0-9-]{4,63}' }]);
    }
    if (input.username.trim() === '')
      throw new ValidationError([{ field: 'user.username', description: 'required' }]);
    const now = this.now();
    const expiresAt = now + this.inviteTtlMs;
    const command = (userId: string, token: string): UserCommand => ({
      type: 'InviteUser',
      data: {
        userId,
        username: input.username,
        email: input.email,
        role: input.role,
        displayName: input.displayName,
        inviteTokenHash: tokenDigest(token),
        inviteExpiresAt: expiresAt,
        now,
      },
    });
    // Validate first, so bad input claims no username (a rejected command appends nothing).
    decideUser(command(requested || 'validation', 'x'), initialUserState);
    if (requested !== '' && (await this.store.read(userStream(requested), { limit: 1 })).length > 0)
      throw new PreconditionError('user_id is already taken');
    const userId = await this.claimUsername(ctx, input.username, requested || newEventId());
    const invitationToken = `${userId}.${randomSecret()}`;
    const { state } = await run(
      this.store,
      userStream(userId),
      userDecider,
      command(userId, invitationToken),
      ctx,
    );
    await this.store.append(USER_DIRECTORY_STREAM, 'any', [
      newEvent({
        type: 'haven.identity.v1.UserListed',
        data: { userId },
        actor: ctx.actor,
        correlationId: ctx.correlationId,
      }),
    ]);
    return { user: await this.view(userId, state), invitationToken, invitationExpiresAt: expiresAt };
  }

  /** Claims the username for `userId`; a claim whose user stream is still empty is taken over (crash recovery). */
  private async claimUsername(ctx: CommandContext, username: string, userId: string): Promise<string> {
    const stream = usernameStream(username);
    const existing = await this.store.read(stream, { limit: 1 });
    const owner = existing[0]?.data['userId'];
    if (typeof owner === 'string') {
      const userEvents = await this.store.read(userStream(owner), { limit: 1 });
      if (userEvents.length > 0) throw new PreconditionError('username is already taken');
      return owner;
    }
    try {
      await this.store.append(stream, 'no_stream', [
        newEvent({
          type: 'haven.identity.v1.UsernameClaimed',
          data: { userId },
          actor: ctx.actor,
          correlationId: ctx.correlationId,
        }),
      ]);
    } catch (error) {
      if ((error as { category?: string }).category === 'conflict')
        throw new PreconditionError('username is already taken', { cause: error });
      throw error;
    }
    return userId;
  }

  /**
   * Accepts an invitation: checks the password policy, stores the argon2id hash in the credential
   * stream, activates the user. Throws ValidationError (password problems, one violation each),
   * UnauthenticatedError (bad/unknown token), PreconditionError (expired, already active).
   */
  async activateUser(
    ctx: CommandContext,
    input: { invitationToken: string; password: string },
  ): Promise<UserView> {
    const dot = input.invitationToken.indexOf('.');
    const userId = dot > 0 ? input.invitationToken.slice(0, dot) : '';
    if (!USER_ID.test(userId)) throw new UnauthenticatedError('invalid invite token');
    const { state } = await load(this.store, userStream(userId), userDecider);
    if (state.status === 'none') throw new UnauthenticatedError('invalid invite token');
    assertPasswordAcceptable(input.password, 'password', {
      policy: this.passwordPolicy,
      commonPasswords: this.options.commonPasswords,
      identity: identityParts(state),
    });
    const now = this.now();
    // Decide first (validates the token) on the loaded state, then write the hash, then the events.
    decideUser(
      { type: 'ActivateUser', data: { inviteTokenHash: tokenDigest(input.invitationToken), now } },
      state,
    );
    const cred = await this.credentials.load(userId);
    if (cred.state.passwordHash !== null) {
      // A password is stored but the user is still invited: an activation that stopped half-way or is running
      // right now. Only the same password completes it, so a second activation never overwrites the first.
      if (!(await this.options.hasher.verify(cred.state.passwordHash, input.password)))
        throw new PreconditionError('this invitation is already being used');
    } else {
      const hash = await this.options.hasher.hash(input.password);
      const set: CredentialEvent = {
        type: 'PasswordHashSet',
        data: { userId, hash, at: new Date(now).toISOString() },
      };
      await this.credentials.append(ctx, userId, [set], cred.revision);
    }
    const result = await run(
      this.store,
      userStream(userId),
      userDecider,
      {
        type: 'ActivateUser',
        data: { inviteTokenHash: tokenDigest(input.invitationToken), now },
      },
      { ...ctx, actor: ctx.actor.kind === 'anonymous' ? { kind: 'user', id: userId } : ctx.actor },
    );
    return this.view(userId, result.state);
  }

  /**
   * Checks a prospective password against the policy and the common list before anything is
   * written (the CLI uses it so a weak password leaves no invited user behind).
   * Throws ValidationError on `field` listing every problem.
   */
  assertPasswordAcceptable(
    password: string,
    who: { email: string; displayName: string },
    field = 'password',
  ): void {
    assertPasswordAcceptable(password, field, {
      policy: this.passwordPolicy,
      commonPasswords: this.options.commonPasswords,
      identity: identityParts({ email: who.email, displayName: who.displayName }),
    });
  }

  /** Reactivates a deactivated user (admin). */
  async reactivateUser(ctx: CommandContext, userId: string): Promise<UserView> {
    const result = await run(
      this.store,
      userStream(userId),
      userDecider,
      { type: 'ReactivateUser', data: { now: this.now() } },
      ctx,
    );
    return this.view(userId, result.state);
  }

  /** Deactivates a user and ends all their sessions. */
  async deactivateUser(ctx: CommandContext, userId: string, reason = ''): Promise<UserView> {
    const result = await run(
      this.store,
      userStream(userId),
      userDecider,
      {
        type: 'DeactivateUser',
        data: { actorId: ctx.actor.id, reason, now: this.now() },
      },
      ctx,
    );
    await this.endSessionsOf(ctx, result.state, RevocationReason.Deactivated);
    await this.revokeSubject(userId, 'user', RevocationReason.Deactivated);
    return this.view(userId, result.state);
  }

  /** Changes a user's role and ends their sessions (their tokens carry the old role). */
  async changeUserRole(ctx: CommandContext, userId: string, role: string, etag?: string): Promise<UserView> {
    if (etag) {
      const { revision } = await load(this.store, userStream(userId), userDecider);
      if (String(revision) !== etag)
        throw new PreconditionError('the user changed since it was read (stale etag)');
    }
    const result = await run(
      this.store,
      userStream(userId),
      userDecider,
      {
        type: 'ChangeUserRole',
        data: { actorId: ctx.actor.id, role, now: this.now() },
      },
      ctx,
    );
    if (result.events.length > 0) {
      await this.endSessionsOf(ctx, result.state, RevocationReason.RoleChanged);
      await this.revokeSubject(userId, 'user', RevocationReason.RoleChanged);
    }
    return this.view(userId, result.state);
  }

  /**
   * Changes the password after verifying the current one; refuses reuse of the last N.
   * Throws UnauthenticatedError (wrong current), ValidationError (policy, reuse).
   */
  async changePassword(
    ctx: CommandContext,
    userId: string,
    input: { currentPassword: string; newPassword: string },
  ): Promise<{ expiresAt: number | null }> {
    const { state } = await load(this.store, userStream(userId), userDecider);
    if (state.status === 'none') throw new NotFoundError('user not found');
    const { state: cred, revision: credRevision } = await this.credentials.load(userId);
    const currentPasswordValid =
      cred.passwordHash !== null &&
      (await this.options.hasher.verify(cred.passwordHash, input.currentPassword));
    if (!currentPasswordValid) throw new UnauthenticatedError('current password is wrong');
    assertPasswordAcceptable(input.newPassword, 'new_password', {
      policy: this.passwordPolicy,
      commonPasswords: this.options.commonPasswords,
      identity: identityParts(state),
    });
    const history = cred.history.slice(-Math.min(this.passwordPolicy.historySize, PASSWORD_HISTORY));
    const reusesRecentPassword = await this.options.hasher.matchesAny(history, input.newPassword);
    const now = this.now();
    const command: UserCommand = {
      type: 'ChangePassword',
      data: { verification: { kind: 'self', currentPasswordValid }, reusesRecentPassword, now },
    };
    decideUser(command, state); // validate before storing the hash
    const hash = await this.options.hasher.hash(input.newPassword);
    // Expecting the revision read above: of two changes racing, the second appends nothing (ABORTED).
    await this.credentials.append(
      ctx,
      userId,
      [{ type: 'PasswordHashSet', data: { userId, hash, at: new Date(now).toISOString() } }],
      credRevision,
    );
    await run(this.store, userStream(userId), userDecider, command, ctx);
    return {
      expiresAt:
        this.passwordPolicy.maxAgeDays === null ? null : now + this.passwordPolicy.maxAgeDays * 86_400_000,
    };
  }

  /** Clears a user's MFA (admin / CLI). */
  async resetMfa(ctx: CommandContext, userId: string): Promise<UserView> {
    const result = await run(
      this.store,
      userStream(userId),
      userDecider,
      { type: 'ResetMfa', data: { by: ctx.actor.id, now: this.now() } },
      ctx,
    );
    const { state: cred } = await this.credentials.load(userId);
    if (cred.totpSecret !== null) {
      const revoked: CredentialEvent = {
        type: 'TotpSecretRevoked',
        data: { userId, at: new Date(this.now()).toISOString() },
      };
      await this.credentials.append(ctx, userId, [revoked], 'any');
      // Crypto-shredding: the secret and recovery codes sealed in the immutable events become unreadable.
      if (cred.totpEnrollmentId !== null)
        await this.credentials.shredEnrollment(userId, cred.totpEnrollmentId);
    }
    // A reset usually means a lost or compromised device: the user's sessions end too.
    if (result.events.length > 0) await this.endSessionsOf(ctx, result.state, RevocationReason.MfaReset);
    return this.view(userId, result.state);
  }

  /** Reads a user. Throws NotFoundError. */
  async getUser(userId: string): Promise<UserView> {
    if (!USER_ID.test(userId)) throw new NotFoundError('user not found');
    const { state } = await load(this.store, userStream(userId), userDecider);
    return this.view(userId, state);
  }

  /** Lists users in creation order with offset paging. */
  async listUsers(input: {
    pageSize?: number;
    pageToken?: string;
    role?: Role;
    status?: UserView['status'];
  }): Promise<{ users: UserView[]; nextPageToken: string }> {
    const pageSize = input.pageSize && input.pageSize > 0 ? input.pageSize : 50;
    if (pageSize > 100) throw new ValidationError([{ field: 'page_size', description: 'at most 100' }]);
    const offset = input.pageToken ? Number.parseInt(input.pageToken, 10) : 0;
    if (!Number.isSafeInteger(offset) || offset < 0)
      throw new ValidationError([{ field: 'page_token', description: 'malformed' }]);
    const ids = [
      ...new Set((await this.store.read(USER_DIRECTORY_STREAM)).map((e) => String(e.data['userId']))),
    ];
    const all: UserView[] = [];
    for (const id of ids) {
      const { state } = await load(this.store, userStream(id), userDecider);
      if (state.status === 'none') continue;
      const v = await this.view(id, state);
      if (input.role && v.role !== input.role) continue;
      if (input.status && v.status !== input.status) continue;
      all.push(v);
    }
    const users = all.slice(offset, offset + pageSize);
    return { users, nextPageToken: offset + pageSize < all.length ? String(offset + pageSize) : '' };
  }

  // ---------------------------------------------------------------- MFA

  /**
   * Starts TOTP enrollment: a new secret (stored only in the credential stream) and its otpauth URI, shown
   * once. Throws PreconditionError when TOTP is already enrolled or the user is not active.
   */
  async enrollTotp(ctx: CommandContext, userId: string): Promise<{ secret: string; otpauthUri: string }> {
    const now = this.now();
    const { state } = await load(this.store, userStream(userId), userDecider);
    decideUser({ type: 'StartTotpEnrollment', data: { now } }, state); // validate before storing a secret
    if (state.status === 'none') throw new NotFoundError('user not found');
    const { state: previous, revision } = await this.credentials.load(userId);
    const secret = newTotpSecret();
    const enrollmentId = newEventId();
    // The secret is the decision: expecting the revision read above, of two enrollments racing only one
    // stores a secret; the other answers ABORTED having appended nothing. The user stream's step after it
    // cannot refuse (a pending enrollment records nothing more).
    const issued: CredentialEvent = {
      type: 'TotpSecretIssued',
      data: { userId, enrollmentId, secret, at: new Date(now).toISOString() },
    };
    try {
      await this.credentials.append(ctx, userId, [issued], revision);
    } catch (error) {
      await this.credentials.shredEnrollment(userId, enrollmentId).catch(() => undefined);
      throw error;
    }
    // The enrollment this one replaces was never confirmed: its secret is shredded.
    if (previous.totpEnrollmentId !== null && !previous.totpConfirmed)
      await this.credentials.shredEnrollment(userId, previous.totpEnrollmentId);
    await run(
      this.store,
      userStream(userId),
      userDecider,
      { type: 'StartTotpEnrollment', data: { now } },
      ctx,
    );
    return { secret, otpauthUri: totpUri(secret, state.username) };
  }

  /**
   * Confirms TOTP with a current code: MfaEnrolled, and 10 one-time recovery codes (returned once, stored as
   * SHA-256 digests). Throws ValidationError when the code is wrong, PreconditionError when no enrollment is
   * pending.
   */
  async confirmTotp(ctx: CommandContext, userId: string, code: string): Promise<{ recoveryCodes: string[] }> {
    const now = this.now();
    const { state } = await load(this.store, userStream(userId), userDecider);
    const { state: cred, revision } = await this.credentials.load(userId);
    const enrollmentId = cred.totpEnrollmentId;
    if (cred.totpConfirmed || enrollmentId === null)
      throw new PreconditionError('no TOTP enrollment in progress');
    const step = cred.totpSecret === null ? null : await verifyTotp(cred.totpSecret, code, { nowMs: now });
    decideUser({ type: 'ConfirmTotp', data: { codeValid: step !== null, now } }, state);
    const at = new Date(now).toISOString();
    const recovery = newRecoveryCodes();
    // One append, expecting the revision read above: a racing confirmation appends nothing (ABORTED).
    await this.credentials.append(
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
    await run(
      this.store,
      userStream(userId),
      userDecider,
      { type: 'ConfirmTotp', data: { codeValid: true, now } },
      ctx,
    );
    return { recoveryCodes: recovery.codes };
  }

  // ---------------------------------------------------------------- service accounts

  /**
   * Creates a service account; returns it with its client secret (shown once; only an argon2id hash is kept).
   * Throws ValidationError on a bad id, name or scopes, PreconditionError when the id is taken.
   */
  async createServiceAccount(
    ctx: CommandContext,
    input: {
      displayName: string;
      scopes: readonly string[];
      serviceAccountId?: string;
      /** The client's idempotency key: a retry gets the same account (with a fresh secret, see below). */
      requestKey?: IdempotencyKey;
    },
  ): Promise<{ account: ServiceAccountView; clientSecret: string }> {
    const key = input.requestKey;
    const id =
      input.serviceAccountId?.trim() || (key ? idempotentResourceId(key, 'service-account') : newEventId());
    if (!USER_ID.test(id))
      throw new ValidationError([{ field: 'service_account_id', description: 'must match [a-z0-9-]{4,63}' }]);
    const request = key
      ? requestRecord(key, {
          displayName: input.displayName,
          scopes: [...input.scopes],
          serviceAccountId: input.serviceAccountId ?? '',
        })
      : undefined;
    const now = this.now();
    const setSecret = async (): Promise<string> => {
      const clientSecret = randomSecret();
      const secretSet: CredentialEvent = {
        type: 'ClientSecretHashSet',
        data: {
          userId: serviceAccountCredentialId(id),
          hash: await this.options.hasher.hash(clientSecret),
          at: new Date(now).toISOString(),
        },
      };
      await this.credentials.append(ctx, serviceAccountCredentialId(id), [secretSet], 'any');
      return clientSecret;
    };
    if (request) {
      // A retry of a creation whose answer was lost: the same account. Its first secret is kept only as a hash
      // and cannot be shown again; the retry gets a new one (the first, never received, stops working).
      const replay = await replayOf(this.store, serviceAccountStream(id), serviceAccountDecider, request);
      if (replay) return { account: serviceAccountView(replay.state), clientSecret: await setSecret() };
    }
    const command: ServiceAccountCommand = {
      type: 'CreateServiceAccount',
      data: { serviceAccountId: id, displayName: input.displayName, scopes: input.scopes, now },
    };
    const { state: existing } = await load(this.store, serviceAccountStream(id), serviceAccountDecider);
    decideServiceAccount(command, existing); // validate before hashing and storing a secret
    // The account first: of two creations racing for one id, the second is refused having appended nothing.
    const { state } = await run(this.store, serviceAccountStream(id), serviceAccountDecider, command, {
      ...ctx,
      ...(request ? { request } : {}),
    });
    const clientSecret = await setSecret();
    await this.store.append(SERVICE_ACCOUNT_DIRECTORY_STREAM, 'any', [
      newEvent({
        type: 'haven.identity.v1.ServiceAccountListed',
        data: { serviceAccountId: id },
        actor: ctx.actor,
        correlationId: ctx.correlationId,
      }),
    ]);
    return { account: serviceAccountView(state), clientSecret };
  }

  /** Reads a service account. Throws NotFoundError. */
  async getServiceAccount(id: string): Promise<ServiceAccountView> {
    if (!USER_ID.test(id)) throw new NotFoundError('service account not found');
    const { state } = await load(this.store, serviceAccountStream(id), serviceAccountDecider);
    return serviceAccountView(state);
  }

  /** Lists service accounts in creation order. Throws ValidationError on a bad page size or token. */
  async listServiceAccounts(input: {
    pageSize?: number;
    pageToken?: string;
  }): Promise<{ accounts: ServiceAccountView[]; nextPageToken: string }> {
    const pageSize = input.pageSize && input.pageSize > 0 ? input.pageSize : 50;
    if (pageSize > 100) throw new ValidationError([{ field: 'page_size', description: 'at most 100' }]);
    const offset = input.pageToken ? Number.parseInt(input.pageToken, 10) : 0;
    if (!Number.isSafeInteger(offset) || offset < 0)
      throw new ValidationError([{ field: 'page_token', description: 'malformed' }]);
    const ids = [
      ...new Set(
        (await this.store.read(SERVICE_ACCOUNT_DIRECTORY_STREAM)).map((e) =>
          String(e.data['serviceAccountId']),
        ),
      ),
    ];
    const page = ids.slice(offset, offset + pageSize);
    const accounts: ServiceAccountView[] = [];
    for (const id of page) accounts.push(await this.getServiceAccount(id));
    return { accounts, nextPageToken: offset + pageSize < ids.length ? String(offset + pageSize) : '' };
  }

  /**
   * Replaces the client secret (returned once); the old secret stops working at once and every token issued
   * with it is revoked. Throws NotFoundError.
   */
  async rotateServiceAccountSecret(
    ctx: CommandContext,
    id: string,
  ): Promise<{ account: ServiceAccountView; clientSecret: string }> {
    const current = await this.getServiceAccount(id);
    const now = this.now();
    const clientSecret = randomSecret();
    const { revision } = await this.credentials.load(serviceAccountCredentialId(id));
    const secretSet: CredentialEvent = {
      type: 'ClientSecretHashSet',
      data: {
        userId: serviceAccountCredentialId(id),
        hash: await this.options.hasher.hash(clientSecret),
        at: new Date(now).toISOString(),
      },
    };
    // Expecting the revision read above: of two rotations racing, only one secret is stored and answered.
    await this.credentials.append(ctx, serviceAccountCredentialId(id), [secretSet], revision);
    const { state } = await run(
      this.store,
      serviceAccountStream(current.serviceAccountId),
      serviceAccountDecider,
      { type: 'RotateServiceAccountSecret', data: { now } },
      ctx,
    );
    await this.revokeSubject(id, 'service_account', RevocationReason.SecretRotated);
    return { account: serviceAccountView(state), clientSecret };
  }

  /**
   * OAuth 2.0 client credentials: a 5-minute access token (`kind: service_account`, `scope` = the requested
   * scopes, all granted ones by default). Records ServiceAccountTokenIssued (token id and scopes only).
   * Throws UnauthenticatedError for an unknown client or wrong secret (same answer, similar time),
   * PermissionError when a requested scope is not granted, ResourceExhaustedError when the client address or the
   * client id is throttled.
   */
  async issueServiceAccountToken(input: {
    clientId: string;
    clientSecret: string;
    scopes: readonly string[];
    clientIp: string;
    correlationId: string;
  }): Promise<{ accessToken: string; expiresAt: number; scopes: readonly string[] }> {
    const attempt = { address: input.clientIp, account: `service-account:${input.clientId}` };
    this.throttle.admit(attempt, 'token request');
    try {
      const issued = await this.clientCredentials(input);
      this.throttle.succeeded(attempt);
      return issued;
    } catch (error) {
      if (error instanceof UnauthenticatedError) this.throttle.failed(attempt);
      throw error;
    }
  }

  private async clientCredentials(input: {
    clientId: string;
    clientSecret: string;
    scopes: readonly string[];
    correlationId: string;
  }): Promise<{ accessToken: string; expiresAt: number; scopes: readonly string[] }> {
    const failed = new UnauthenticatedError('invalid client credentials');
    const id = input.clientId.trim();
    if (!USER_ID.test(id) || input.clientSecret.length === 0 || input.clientSecret.length > 256) {
      await this.options.hasher.verifyDummy(input.clientSecret.slice(0, 256));
      throw failed;
    }
    const { state } = await load(this.store, serviceAccountStream(id), serviceAccountDecider);
    const { state: cred } = await this.credentials.load(serviceAccountCredentialId(id));
    if (state.status === 'none' || cred.clientSecretHash === null) {
      await this.options.hasher.verifyDummy(input.clientSecret);
      throw failed;
    }
    if (!(await this.options.hasher.verify(cred.clientSecretHash, input.clientSecret))) throw failed;
    const wanted = input.scopes.length > 0 ? [...new Set(input.scopes)] : [...state.scopes];
    const missing = wanted.filter((s) => !state.scopes.includes(s));
    if (missing.length > 0)
      throw new PermissionError(`scope not granted: ${missing.join(' ').slice(0, 200)}`);
    const now = this.now();
    const access = await issueAccessToken(
      this.options.keys,
      { sub: id, kind: 'service_account', scope: wanted.join(' ') },
      { now, ttlSec: SERVICE_ACCOUNT_TOKEN_TTL_SEC },
    );
    await this.store.append(`identity.service_account_tokens-${id}`, 'any', [
      newEvent({
        type: 'haven.identity.v1.ServiceAccountTokenIssued',
        data: {
          serviceAccountId: id,
          tokenId: access.jti,
          scopes: wanted,
          expiresAt: new Date(access.expiresAt).toISOString(),
        },
        actor: { kind: 'service_account', id },
        correlationId: input.correlationId,
      }),
    ]);
    return { accessToken: access.token, expiresAt: access.expiresAt, scopes: wanted };
  }

  // ---------------------------------------------------------------- break-glass

  /**
   * Grants the caller (clinician or admin, in session `sessionId`) time-boxed emergency access to one patient:
   * BreakGlassGranted in `identity.breakglass-<grantId>`, BreakGlassAlertRaised in `identity.alert-<alertId>`,
   * and an access token with scope `breakglass` and claims `bg` (grant id) and `bg_res` (the patient), valid
   * until the grant ends (60 min default and maximum). Throws ValidationError on a short reason or bad patient
   * name, PermissionError for other roles.
   */
  async requestBreakGlass(
    ctx: CommandContext,
    input: {
      userId: string;
      role: string;
      sessionId: string;
      patient: string;
      reason: string;
      durationMs: number;
      /** The client's idempotency key: a retry gets the same grant (and no second alert). */
      requestKey?: IdempotencyKey;
    },
  ): Promise<{ accessToken: string; expiresAt: number; grantId: string }> {
    if (input.role !== Role.Clinician && input.role !== Role.Admin)
      throw new PermissionError('only clinicians and admins may break glass');
    const now = this.now();
    const key = input.requestKey;
    const request = key
      ? requestRecord(key, { patient: input.patient, reason: input.reason, durationMs: input.durationMs })
      : undefined;
    const grantId = key ? idempotentResourceId(key, 'breakglass-grant') : newEventId();
    const decided = decideBreakGlass({
      grantId,
      alertId: key ? idempotentResourceId(key, 'breakglass-alert') : newEventId(),
      userId: input.userId,
      role: input.role,
      sessionId: input.sessionId,
      resource: input.patient,
      reason: input.reason,
      durationMs: input.durationMs,
      now,
    });
    let [granted, alert] = decided;
    const envelope = {
      actor: ctx.actor,
      correlationId: ctx.correlationId,
      ...(ctx.traceparent !== undefined ? { traceparent: ctx.traceparent } : {}),
    };
    const event = <T extends string, D>(type: T, data: D) => ({
      ...newEvent({ type: `haven.identity.v1.${type}`, data, ...envelope }),
      ...(request ? { request } : {}),
    });
    /** The grant a retry of this request already stored, when there is one. Throws RequestIdReusedError. */
    const stored = async (): Promise<typeof granted | undefined> => {
      if (!request) return undefined;
      const [first] = await this.store.read(breakGlassStream(grantId), { limit: 1 });
      if (!first) return undefined;
      if (first.request?.id !== request.id || first.request.fingerprint !== request.fingerprint) {
        throw new RequestIdReusedError();
      }
      return { type: 'BreakGlassGranted', data: first.data as (typeof granted)['data'] };
    };
    const earlier = await stored();
    if (earlier) {
      granted = earlier;
      alert = { ...alert, data: { ...alert.data, expiresAt: earlier.data.expiresAt, at: earlier.data.at } };
    } else {
      try {
        await this.store.append(breakGlassStream(grantId), 'no_stream', [event(granted.type, granted.data)]);
      } catch (error) {
        // A concurrent retry of the same request stored it first: answer with that grant.
        const raced = request && error instanceof ConcurrencyError ? await stored() : undefined;
        if (!raced) throw error;
        granted = raced;
      }
    }
    // The alert (again, when a retry finds the grant without it: the first attempt stopped in between).
    const alerted = earlier ? await this.store.read(alertStream(alert.data.alertId), { limit: 1 }) : [];
    if (alerted.length === 0) {
      await this.store.append(alertStream(alert.data.alertId), request ? 'any' : 'no_stream', [
        event(alert.type, alert.data),
      ]);
    }
    const expiresAt = Date.parse(granted.data.expiresAt);
    const access = await issueAccessToken(
      this.options.keys,
      {
        sub: input.userId,
        role: input.role,
        kind: 'user',
        sid: input.sessionId,
        scope: BREAK_GLASS_SCOPE,
        breakGlass: { grantId, resource: input.patient },
      },
      { now, expiresAt },
    );
    if (!earlier) this.options.logger?.warn({ grantId, userId: input.userId }, 'break-glass granted');
    return { accessToken: access.token, expiresAt: access.expiresAt, grantId };
  }

  // ---------------------------------------------------------------- login and sessions

  /**
   * Password login. The same UnauthenticatedError for unknown user, wrong password, locked or
   * inactive account (no enumeration; unknown users cost one dummy argon2 verification).
   * Every failure on a known account appends LoginFailed (and AccountLocked on the threshold).
   * Throws ResourceExhaustedError (with the wait) when the client address or the account name is throttled
   * (see LoginThrottle); every UnauthenticatedError counts as a failure for both.
   */
  async login(input: LoginInput): Promise<LoginResult> {
    const attempt = { address: input.clientIp, account: input.username };
    this.throttle.admit(attempt);
    try {
      const result = await this.passwordLogin(input);
      this.throttle.succeeded(attempt);
      return result;
    } catch (error) {
      if (error instanceof UnauthenticatedError) this.throttle.failed(attempt);
      throw error;
    }
  }

  private async passwordLogin(input: LoginInput): Promise<LoginResult> {
    const violations = [];
    if (!input.username) violations.push({ field: 'username', description: 'required' });
    if (!input.password) violations.push({ field: 'password', description: 'required' });
    if (input.password.length > 1024) violations.push({ field: 'password', description: 'too long' });
    if (violations.length > 0) throw new ValidationError(violations);

    const hasher = this.options.hasher;
    const userId = await this.findUserIdByUsername(input.username);
    if (userId === undefined) {
      await hasher.verifyDummy(input.password);
      throw new UnauthenticatedError(LOGIN_FAILED_MESSAGE);
    }
    const ctx: CommandContext = {
      actor: { kind: 'user', id: userId },
      correlationId: input.correlationId,
      ...(input.traceparent !== undefined ? { traceparent: input.traceparent } : {}),
    };
    const { state } = await load(this.store, userStream(userId), userDecider);
    const now = this.now();
    const fail = async (reason: 'bad_password' | 'not_active' | 'bad_mfa_code'): Promise<never> => {
      await run(
        this.store,
        userStream(userId),
        userDecider,
        {
          type: 'RecordLoginFailure',
          data: { reason, policy: this.lockoutPolicy, now },
        },
        ctx,
      );
      throw new UnauthenticatedError(LOGIN_FAILED_MESSAGE);
    };
    if (state.status === 'none') {
      await hasher.verifyDummy(input.password);
      throw new UnauthenticatedError(LOGIN_FAILED_MESSAGE);
    }
    if (state.status !== 'active' || isLocked(state, now)) {
      await hasher.verifyDummy(input.password);
      return fail(state.status !== 'active' ? 'not_active' : 'bad_password');
    }
    const loaded = await this.credentials.load(userId);
    const cred = loaded.state;
    const ok = cred.passwordHash !== null && (await hasher.verify(cred.passwordHash, input.password));
    if (!ok) return fail('bad_password');
    let mfaVerified = false;
    if (state.mfa === 'totp') {
      const code = (input.totpCode ?? '').trim();
      if (!(await this.checkSecondFactor(ctx, userId, loaded, code, now))) return fail('bad_mfa_code');
      mfaVerified = true;
    }
    const mustEnroll = this.mfaRequiredRoles.includes(state.role) && state.mfa !== 'totp';

    const sessionId = newEventId();
    const refresh = newRefreshToken(sessionId);
    const success = await run(
      this.store,
      userStream(userId),
      userDecider,
      {
        type: 'RecordLoginSuccess',
        data: { sessionId, mfa: mfaVerified, now },
      },
      ctx,
    );
    const user = success.state as ExistingUser;
    const session = await run(
      this.store,
      sessionStream(sessionId),
      sessionDecider,
      {
        type: 'StartSession',
        data: {
          sessionId,
          userId,
          role: user.role,
          refreshTokenHash: refresh.hash,
          policy: this.sessionPolicy,
          ...(mustEnroll ? { scope: MFA_ENROLL_SCOPE } : {}),
          now,
        },
      },
      ctx,
    );
    const tokens = await this.tokenSet(user, session.state, refresh.token, now);
    return {
      tokens,
      user: await this.view(userId, user),
      mfaEnrollmentRequired: mustEnroll,
      passwordChangeRequired: passwordExpired(cred.passwordSetAt, now, this.passwordPolicy),
    };
  }

  /**
   * Rotates the refresh token. Presenting an already-rotated token ends the session
   * (reuse detection); idle/absolute expiry and inactive users end it too. All of these answer
   * UnauthenticatedError after the SessionEnded event is stored.
   */
  async refresh(input: { refreshToken: string; correlationId: string }): Promise<TokenSetView> {
    const parsed = parseRefreshToken(input.refreshToken);
    if (!parsed) throw new UnauthenticatedError('invalid refresh token');
    const loaded = await load(this.store, sessionStream(parsed.sessionId), sessionDecider);
    if (loaded.state.status === 'none') throw new UnauthenticatedError('invalid refresh token');
    const userId = loaded.state.userId;
    const { state: user } = await load(this.store, userStream(userId), userDecider);
    const next = newRefreshToken(parsed.sessionId);
    const now = this.now();
    const ctx: CommandContext = { actor: { kind: 'user', id: userId }, correlationId: input.correlationId };
    const result = await run(
      this.store,
      sessionStream(parsed.sessionId),
      sessionDecider,
      {
        type: 'RefreshSession',
        data: {
          presentedTokenHash: parsed.hash,
          newTokenHash: next.hash,
          userActive: user.status === 'active' && user.role === loaded.state.role,
          policy: this.sessionPolicy,
          now,
        },
      },
      ctx,
    );
    const ended = endsSession(result.events);
    if (ended?.type === 'SessionEnded') {
      await this.revokeSession(
        ctx,
        parsed.sessionId,
        userId,
        ended.data.reason === 'revoked' ? RevocationReason.Revoked : ended.data.reason,
      );
    }
    if (ended || user.status === 'none') {
      const reason = ended?.type === 'SessionEnded' ? ended.data.reason : 'revoked';
      this.options.logger?.info({ sessionId: parsed.sessionId, reason }, 'session ended on refresh');
      throw new UnauthenticatedError(`session ended (${reason})`);
    }
    return this.tokenSet(user, result.state, next.token, now);
  }

  /** Ends a session (logout). Idempotent. With a refresh token the session is found from it. */
  async logout(
    ctx: CommandContext,
    input: { refreshToken?: string; sessionId?: string; userId: string },
  ): Promise<void> {
    const sessionId = input.refreshToken ? parseRefreshToken(input.refreshToken)?.sessionId : input.sessionId;
    if (!sessionId)
      throw new ValidationError([
        { field: 'refresh_token', description: 'malformed, and the caller has no session' },
      ]);
    const { state } = await load(this.store, sessionStream(sessionId), sessionDecider);
    if (state.status === 'none') return;
    if (state.userId !== input.userId) throw new PermissionError('not your session');
    await run(
      this.store,
      sessionStream(sessionId),
      sessionDecider,
      { type: 'EndSession', data: { reason: 'logout', now: this.now() } },
      ctx,
    );
    // Published even when the session had already ended: a retried logout repairs a lost publish.
    await this.revokeSession(ctx, sessionId, state.userId, RevocationReason.Logout);
  }

  /**
   * Ends a session whose idle or absolute lifetime is over (the idle-logoff sweeper): SessionEnded with the reason,
   * SessionRevoked, and the revocation published, so every service refuses its tokens at once. Does nothing for a
   * session still within its deadlines (it may have been refreshed since the sweeper looked) or already ended.
   * Returns the reason it ended with, or undefined.
   */
  async expireSession(sessionId: string): Promise<'idle' | 'absolute' | undefined> {
    const ctx: CommandContext = { actor: { kind: 'service', id: 'identity' }, correlationId: newEventId() };
    const result = await run(
      this.store,
      sessionStream(sessionId),
      sessionDecider,
      { type: 'ExpireSession', data: { now: this.now() } },
      ctx,
    );
    const ended = endsSession(result.events);
    if (ended?.type !== 'SessionEnded' || result.state.status === 'none') return undefined;
    const reason = ended.data.reason === 'absolute' ? RevocationReason.Absolute : RevocationReason.Idle;
    await this.revokeSession(ctx, sessionId, result.state.userId, reason);
    this.options.logger?.info({ sessionId, reason }, 'session ended by idle logoff');
    return reason;
  }

  /** Whether a session is active at `now` (for authenticated identity RPCs). */
  async sessionActive(sessionId: string): Promise<boolean> {
    const { state } = await load(this.store, sessionStream(sessionId), sessionDecider);
    const now = this.now();
    return state.status === 'active' && now < state.idleExpiresAt && now < state.absoluteExpiresAt;
  }

  /** The public key set. */
  jwks() {
    return this.options.keys.jwks();
  }

  // ---------------------------------------------------------------- helpers

  private async endSessionsOf(
    ctx: CommandContext,
    state: UserState,
    reason: RevocationReason,
  ): Promise<void> {
    if (state.status === 'none') return;
    const endReason: SessionEndReason = 'revoked';
    for (const sid of state.sessionIds) {
      const ended = await run(
        this.store,
        sessionStream(sid),
        sessionDecider,
        { type: 'EndSession', data: { reason: endReason, now: this.now() } },
        ctx,
      );
      if (ended.events.length > 0) await this.revokeSession(ctx, sid, state.userId, reason);
    }
  }

  /** Appends SessionRevoked to the session stream and publishes it on `haven.identity.revocations`. */
  private async revokeSession(ctx: CommandContext, sid: string, sub: string, reason: string): Promise<void> {
    const revokedAt = new Date(this.now()).toISOString();
    await this.store.append(sessionStream(sid), 'any', [
      newEvent({
        type: 'haven.identity.v1.SessionRevoked',
        data: { sid, sub, reason, at: revokedAt },
        actor: ctx.actor,
        correlationId: ctx.correlationId,
        ...(ctx.traceparent !== undefined ? { traceparent: ctx.traceparent } : {}),
      }),
    ]);
    await this.options.revocations?.publish({ sid, sub, reason, revokedAt });
  }

  /** Publishes a subject-wide revocation: every token of `sub` issued until now is refused. */
  private async revokeSubject(
    sub: string,
    subKind: 'user' | 'service_account',
    reason: string,
  ): Promise<void> {
    await this.options.revocations?.publish({
      sid: '',
      sub,
      subKind,
      reason,
      revokedAt: new Date(this.now()).toISOString(),
    });
  }

  /**
   * Checks the second factor of an enrolled user: a TOTP code newer than the last accepted one, or an unused
   * recovery code (consumed, with RecoveryCodeUsed). Returns false when neither matches, and when another login
   * used the same code at the same moment (the append expects the revision loaded: a code counts once).
   */
  private async checkSecondFactor(
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
        await this.credentials.append(ctx, userId, [event], loaded.revision);
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
    await run(
      this.store,
      userStream(userId),
      userDecider,
      { type: 'RecordRecoveryCodeUse', data: { remaining, now } },
      ctx,
    );
    return true;
  }

  private async tokenSet(
    user: ExistingUser,
    session: SessionState,
    refreshToken: string,
    now: number,
  ): Promise<TokenSetView> {
    if (session.status === 'none') throw new UnauthenticatedError('no session');
    const access = await issueAccessToken(
      this.options.keys,
      session.scope === MFA_ENROLL_SCOPE
        ? { sub: user.userId, kind: 'user', sid: session.sessionId, scope: MFA_ENROLL_SCOPE }
        : { sub: user.userId, role: user.role, kind: 'user', sid: session.sessionId, scope: '' },
      { now, ttlSec: this.options.accessTokenTtlSec ?? ACCESS_TOKEN_TTL_SEC },
    );
    return {
      accessToken: access.token,
      accessTokenExpiresAt: access.expiresAt,
      refreshToken,
      sessionExpiresAt: session.absoluteExpiresAt,
      idleTimeoutMs: this.sessionPolicy.idleTimeoutMs,
    };
  }

  private async view(userId: string, state: UserState): Promise<UserView> {
    if (state.status === 'none') throw new NotFoundError('user not found');
    const { revision } = await load(this.store, userStream(userId), userDecider);
    return {
      userId: state.userId,
      username: state.username,
      email: state.email,
      displayName: state.displayName,
      role: state.role,
      status: state.status === 'active' && isLocked(state, this.now()) ? 'locked' : state.status,
      mfaEnrolled: state.mfa === 'totp',
      createdAt: state.createdAt,
      updatedAt: state.updatedAt,
      passwordChangedAt: state.passwordChangedAt,
      lastLoginAt: state.lastLoginAt,
      etag: String(revision),
    };
  }
}

function serviceAccountView(state: ServiceAccountState): ServiceAccountView {
  if (state.status === 'none') throw new NotFoundError('service account not found');
  return {
    serviceAccountId: state.serviceAccountId,
    displayName: state.displayName,
    clientId: state.clientId,
    scopes: state.scopes,
    createdAt: state.createdAt,
    secretRotatedAt: state.secretRotatedAt,
  };
}

function identityParts(state: UserState | { email: string; displayName: string }): string[] {
  if ('status' in state && state.status === 'none') return [];
  if (!('email' in state)) return [];
  const local = state.email.split('@')[0] ?? '';
  return [local, ...state.displayName.split(/\s+/)].filter((p) => p.length >= 4);
}
