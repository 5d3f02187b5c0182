/**
 * The SSO use cases: a sign-in with a clinic provider's ID token (verified here, not trusted from the gateway),
 * just-in-time account requests that an admin approves or rejects, and the list of accounts. Every sign-in,
 * refusal and provisioning is an event of the account's stream; an approved account's sign-in opens an ordinary
 * Haven session (same refresh, idle logoff, sign-out and revocation as a password sign-in).
 */
import { createHash } from 'node:crypto';
import { newEventId } from '@haven/eventstore';
import {
  NotFoundError,
  PermissionError,
  PreconditionError,
  UnauthenticatedError,
  ValidationError,
} from '@haven/errors';
import {
  callMetadata,
  nextOffsetToken,
  offsetPage,
  pageItems,
  ssoProvider,
  type SsoConfig,
} from '@haven/service';
import type { LoginResult, SessionService } from '../session/session-service';
import type { IdentityDeps } from '../shared/deps';
import { RESOURCE_ID } from '../shared/ids';
import { identityEvent, load, run, type CommandContext } from '../shared/streams';
import { loadUser } from '../user/user-stream';
import { type Role } from '../user/user';
import type { UserService } from '../user/user-service';
import type { UserView } from '../user/view';
import { decideSsoAccount, refusalOf, type SsoAccountCommand } from './decide';
import { ssoAccountDecider } from './decider';
import type { IdTokenVerifier, VerifiedIdToken } from './id-token';
import {
  SSO_DIRECTORY_STREAM,
  SsoRefusalReason,
  ssoAccountStream,
  type ExistingSsoAccount,
  type SsoRefusalReason as Reason,
} from './sso-account';

/** What a caller sees of an SSO account. */
export type SsoAccountView = Omit<ExistingSsoAccount, 'usedNonces'>;

/** Input of a sign-in. */
export interface SsoSignInInput {
  readonly providerId: string;
  readonly idToken: string;
  readonly nonce: string;
  readonly correlationId: string;
  readonly traceparent?: string;
}

const sha256 = (value: string): string => createHash('sha256').update(value).digest('hex');
const USERNAME_CHARS = /[^a-z0-9._@+-]/g;

/** The account id of (issuer, subject): stable, opaque, a valid resource id. */
export function ssoAccountId(issuer: string, subject: string): string {
  return sha256(`${issuer}\n${subject}`).slice(0, 32);
}

/** The user id an approved account's user gets. */
export const provisionedUserId = (accountId: string): string => `sso-${accountId}`;

/** An error with the ErrorInfo reason the gateway reads. */
function withReason<E extends Error>(error: E, reason: string): E {
  return Object.assign(error, { reason });
}

/** The error a refused sign-in answers with. */
function refusalError(reason: Reason): Error {
  switch (reason) {
    case SsoRefusalReason.ApprovalPending:
      return withReason(
        new PreconditionError('your account waits for an administrator’s approval'),
        'SSO_APPROVAL_PENDING',
      );
    case SsoRefusalReason.Replayed:
      return withReason(new UnauthenticatedError('this sign-in was used before'), 'SSO_REPLAYED');
    default:
      return withReason(new PermissionError(`sign-in refused (${reason})`), `SSO_${reason.toUpperCase()}`);
  }
}

/** A login name from the verified claims: the e-mail address, else the preferred name, else the subject. */
function usernameOf(claims: VerifiedIdToken, providerId: string): string {
  const raw = claims.email || claims.preferredUsername || `${claims.subject}@${providerId}`;
  const name = raw.toLowerCase().replace(USERNAME_CHARS, '-').slice(0, 254);
  return /^[a-z0-9]/.test(name) ? name : `u${name}`.slice(0, 254);
}

/** The SSO use cases. */
export class SsoService {
  constructor(
    private readonly deps: IdentityDeps,
    private readonly options: {
      readonly config: SsoConfig;
      readonly verifier: IdTokenVerifier;
      readonly sessions: SessionService;
      readonly users: UserService;
    },
  ) {}

  /**
   * Signs in with a provider's ID token. Throws ValidationError (missing field, unknown provider),
   * UnauthenticatedError (the token does not verify, or was used before), PermissionError (no mapped role,
   * rejected, user inactive), PreconditionError with reason SSO_APPROVAL_PENDING (waiting for an admin),
   * UnavailableError (the provider's keys are unreachable). Every refusal after verification is an event.
   */
  async signIn(input: SsoSignInInput): Promise<LoginResult> {
    const provider = ssoProvider(this.options.config, input.providerId);
    const violations = [];
    if (!provider) violations.push({ field: 'identity_provider', description: 'no such identity provider' });
    if (!input.idToken) violations.push({ field: 'id_token', description: 'required' });
    if (!input.nonce) violations.push({ field: 'nonce', description: 'required' });
    if (!provider || violations.length > 0) throw new ValidationError(violations);
    const claims = await this.options.verifier.verify(provider, input.idToken, input.nonce);
    const accountId = ssoAccountId(provider.issuer, claims.subject);
    const { store } = this.deps;
    const ctx: CommandContext = callMetadata(input, { kind: 'anonymous', id: `ssoAccounts/${accountId}` });
    const account = await load(store, ssoAccountStream(accountId), ssoAccountDecider);
    let linkedUserActive = false;
    if (account.state.status === 'approved' && account.state.userId !== null) {
      const user = await loadUser(store, account.state.userId);
      linkedUserActive = user.state.status === 'active';
    }
    const sessionId = newEventId();
    const now = this.deps.now();
    const { events, state } = await run(
      store,
      ssoAccountStream(accountId),
      ssoAccountDecider,
      {
        type: 'SignInWithSso',
        data: {
          accountId,
          profile: {
            providerId: provider.id,
            issuer: provider.issuer,
            subject: claims.subject,
            email: claims.email,
            displayName: claims.displayName || claims.email || claims.subject,
            username: usernameOf(claims, provider.id),
          },
          groups: claims.groups,
          roles: provider.roles,
          nonceHash: sha256(input.nonce),
          linkedUserActive,
          sessionId,
          now,
        },
      },
      ctx,
    );
    if (events.some((e) => e.type === 'SsoAccountRequested')) await this.list(ctx, accountId);
    const refusal = refusalOf(events);
    if (refusal) {
      this.deps.logger?.info({ accountId, reasonCode: refusal.data.reason }, 'SSO sign-in refused');
      throw refusalError(refusal.data.reason);
    }
    const succeeded = events.find((e) => e.type === 'SsoSignInSucceeded');
    if (succeeded?.type !== 'SsoSignInSucceeded' || state.status === 'none')
      throw new PreconditionError('SSO sign-in recorded nothing');
    const userId = succeeded.data.userId;
    const userCtx: CommandContext = { ...ctx, actor: { kind: 'user', id: userId } };
    await this.followProviderRole(ctx, userId, succeeded.data.role);
    return this.options.sessions.openFederatedSession(userCtx, userId, { sessionId, now: this.deps.now() });
  }

  /**
   * The provider's groups are the truth about the role: a user whose mapped role changed gets it (their other
   * sessions end, as with an admin's role change). Tokens of the subject issued in the same second as that
   * revocation are refused, so the new session waits for the next second.
   */
  private async followProviderRole(ctx: CommandContext, userId: string, role: Role): Promise<void> {
    const { state } = await loadUser(this.deps.store, userId);
    if (state.status === 'none' || state.role === role) return;
    await this.options.users.changeUserRole(
      { ...ctx, actor: { kind: 'service', id: 'identity' } },
      userId,
      role,
    );
    await new Promise((resolve) => setTimeout(resolve, 1001 - (this.deps.now() % 1000)));
  }

  private async list(ctx: CommandContext, accountId: string): Promise<void> {
    await this.deps.store.append(SSO_DIRECTORY_STREAM, 'any', [
      identityEvent('SsoAccountListed', { accountId }, ctx),
    ]);
  }

  /** Reads an account. Throws NotFoundError. */
  async getAccount(accountId: string): Promise<SsoAccountView> {
    if (!RESOURCE_ID.test(accountId)) throw new NotFoundError('SSO account not found');
    const { state } = await load(this.deps.store, ssoAccountStream(accountId), ssoAccountDecider);
    if (state.status === 'none') throw new NotFoundError('SSO account not found');
    const { usedNonces: _used, ...view } = state;
    return view;
  }

  /**
   * Approves a pending account: provisions its user (active, no password) and links it. Idempotent for a retry.
   * Throws NotFoundError, PreconditionError (not pending), AlreadyExistsError (username taken).
   */
  async approve(
    ctx: CommandContext,
    accountId: string,
    role?: Role,
  ): Promise<{ account: SsoAccountView; user: UserView }> {
    const account = await this.getAccount(accountId);
    const userId = provisionedUserId(accountId);
    const command: SsoAccountCommand = {
      type: 'ApproveSsoAccount',
      data: { userId, ...(role ? { role } : {}), by: ctx.actor.id, now: this.deps.now() },
    };
    decideSsoAccount(command, { ...account, usedNonces: [] });
    const user = await this.options.users.provisionUser(ctx, {
      userId,
      username: account.username,
      email: account.email || `${account.subject}@${account.providerId}.invalid`,
      displayName: account.displayName,
      role: role ?? account.requestedRole,
      ssoAccountId: accountId,
    });
    await run(this.deps.store, ssoAccountStream(accountId), ssoAccountDecider, command, ctx);
    return { account: await this.getAccount(accountId), user };
  }

  /** Rejects a pending account. Throws NotFoundError, PreconditionError (approved). */
  async reject(ctx: CommandContext, accountId: string, reason: string): Promise<SsoAccountView> {
    await this.getAccount(accountId);
    await run(
      this.deps.store,
      ssoAccountStream(accountId),
      ssoAccountDecider,
      { type: 'RejectSsoAccount', data: { reason, by: ctx.actor.id, now: this.deps.now() } },
      ctx,
    );
    return this.getAccount(accountId);
  }

  /** Lists accounts, oldest first. Throws ValidationError on a bad page size or token. */
  async listAccounts(input: {
    pageSize?: number;
    pageToken?: string;
    status?: SsoAccountView['status'];
  }): Promise<{ accounts: SsoAccountView[]; nextPageToken: string }> {
    const page = offsetPage(input, ['ssoAccounts', input.status ?? ''], { defaultSize: 50, maxSize: 100 });
    const entries = await this.deps.store.read(SSO_DIRECTORY_STREAM);
    const ids = [...new Set(entries.map((e) => String(e.data['accountId'])))];
    const all: SsoAccountView[] = [];
    for (const id of ids) {
      const view = await this.getAccount(id).catch(() => undefined);
      if (view && (!input.status || view.status === input.status)) all.push(view);
    }
    return {
      accounts: pageItems(page, all),
      nextPageToken: nextOffsetToken(page, all.length),
    };
  }
}
