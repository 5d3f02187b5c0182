/**
 * The user use cases: invite, activate, reactivate, deactivate, change role, read and list. Deactivation and a
 * role change end the user's sessions and revoke every token of the user.
 */
import { newEventId } from '@haven/eventstore';
import {
  AlreadyExistsError,
  PreconditionError,
  UnauthenticatedError,
  ValidationError,
  NotFoundError,
} from '@haven/errors';
import { RevocationReason, nextOffsetToken, offsetPage, pageItems } from '@haven/service';
import type { CredentialEvent } from '../credential/credential';
import { assertPasswordAcceptable } from '../credential/password/policy';
import { endSessionsOf } from '../session/revoke';
import type { IdentityDeps } from '../shared/deps';
import { RESOURCE_ID } from '../shared/ids';
import { revokeSubject } from '../shared/revocation';
import { identityEvent, usernameStream, USER_DIRECTORY_STREAM, type CommandContext } from '../shared/streams';
import { randomSecret, tokenDigest } from '../tokens/tokens';
import { decideUser, type UserCommand } from './decide';
import { loadUser, runUser } from './user-stream';
import { initialUserState, userStream, type Role } from './user';
import { identityParts, userView, type UserView } from './view';

/** User streams ListUsers reads at once. */
const LIST_READS = 16;

/** The fields of an invitation. */
export interface InviteUserInput {
  readonly username: string;
  readonly email: string;
  readonly displayName: string;
  readonly role: string;
  readonly userId?: string;
}

/** The user use cases. */
export class UserService {
  constructor(private readonly deps: IdentityDeps) {}

  /** The user id that owns `username`, or undefined. */
  async findUserIdByUsername(username: string): Promise<string | undefined> {
    const events = await this.deps.store.read(usernameStream(username), { limit: 1 });
    const id = events[0]?.data['userId'];
    return typeof id === 'string' ? id : undefined;
  }

  /**
   * Invites a user; returns the one-time invitation token (`<userId>.<secret>`).
   * Throws ValidationError on bad fields, AlreadyExistsError when the username or user id is taken.
   */
  async inviteUser(
    ctx: CommandContext,
    input: InviteUserInput,
  ): Promise<{ user: UserView; invitationToken: string; invitationExpiresAt: number }> {
    const { store } = this.deps;
    const requested = input.userId?.trim() ?? '';
    if (requested !== '' && !RESOURCE_ID.test(requested)) {
      throw new ValidationError([{ field: 'user_id', description: 'must match [a-z0-9-]{4,63}' }]);
    }
    if (input.username.trim() === '')
      throw new ValidationError([{ field: 'user.username', description: 'required' }]);
    const now = this.deps.now();
    const expiresAt = now + this.deps.policies.inviteTtlMs;
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
    if (requested !== '' && (await store.read(userStream(requested), { limit: 1 })).length > 0)
      throw new AlreadyExistsError('user_id is already taken');
    const userId = await this.claimUsername(ctx, input.username, requested || newEventId());
    const invitationToken = `${userId}.${randomSecret()}`;
    const { state } = await runUser(store, userId, command(userId, invitationToken), ctx);
    await store.append(USER_DIRECTORY_STREAM, 'any', [identityEvent('UserListed', { userId }, ctx)]);
    return {
      user: await userView(this.deps, userId, state),
      invitationToken,
      invitationExpiresAt: expiresAt,
    };
  }

  /**
   * Creates the active user of an approved SSO account (no password: they sign in at their clinic's provider).
   * Idempotent for the same `userId` (a retried approval). Throws ValidationError on bad fields, AlreadyExistsError
   * when the username belongs to another user (e.g. a local account).
   */
  async provisionUser(
    ctx: CommandContext,
    input: InviteUserInput & { userId: string; ssoAccountId: string },
  ): Promise<UserView> {
    const { store } = this.deps;
    const now = this.deps.now();
    const command: UserCommand = {
      type: 'ProvisionUser',
      data: {
        userId: input.userId,
        username: input.username,
        email: input.email,
        role: input.role,
        displayName: input.displayName,
        ssoAccountId: input.ssoAccountId,
        now,
      },
    };
    const loaded = await loadUser(store, input.userId);
    decideUser(command, loaded.state);
    if (loaded.state.status === 'none') {
      const owner = await this.claimUsername(ctx, input.username, input.userId);
      if (owner !== input.userId) throw new AlreadyExistsError('username is already taken');
    }
    const { state, events } = await runUser(store, input.userId, command, ctx);
    if (events.length > 0) {
      await store.append(USER_DIRECTORY_STREAM, 'any', [
        identityEvent('UserListed', { userId: input.userId }, ctx),
      ]);
    }
    return userView(this.deps, input.userId, state);
  }

  /** Claims the username for `userId`; a claim whose user stream is still empty is taken over (crash recovery). */
  private async claimUsername(ctx: CommandContext, username: string, userId: string): Promise<string> {
    const { store } = this.deps;
    const stream = usernameStream(username);
    const existing = await store.read(stream, { limit: 1 });
    const owner = existing[0]?.data['userId'];
    if (typeof owner === 'string') {
      const userEvents = await store.read(userStream(owner), { limit: 1 });
      if (userEvents.length > 0) throw new AlreadyExistsError('username is already taken');
      return owner;
    }
    try {
      await store.append(stream, 'no_stream', [identityEvent('UsernameClaimed', { userId }, ctx)]);
    } catch (error) {
      if ((error as { category?: string }).category === 'conflict')
        throw new AlreadyExistsError('username is already taken', { cause: error });
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
    const { store, policies } = this.deps;
    const dot = input.invitationToken.indexOf('.');
    const userId = dot > 0 ? input.invitationToken.slice(0, dot) : '';
    if (!RESOURCE_ID.test(userId)) throw new UnauthenticatedError('invalid invite token');
    const { state } = await loadUser(store, userId);
    if (state.status === 'none') throw new UnauthenticatedError('invalid invite token');
    assertPasswordAcceptable(input.password, 'password', {
      policy: policies.password,
      commonPasswords: policies.commonPasswords,
      identity: identityParts(state),
    });
    const now = this.deps.now();
    const activate: UserCommand = {
      type: 'ActivateUser',
      data: { inviteTokenHash: tokenDigest(input.invitationToken), now },
    };
    // Decide first (validates the token) on the loaded state, then write the hash, then the events.
    decideUser(activate, state);
    await this.storeFirstPassword(ctx, userId, input.password, now);
    const result = await runUser(store, userId, activate, {
      ...ctx,
      actor: ctx.actor.kind === 'anonymous' ? { kind: 'user', id: userId } : ctx.actor,
    });
    return userView(this.deps, userId, result.state);
  }

  /** Stores the hash of an activation's password, unless the same activation stored it already. */
  private async storeFirstPassword(
    ctx: CommandContext,
    userId: string,
    password: string,
    now: number,
  ): Promise<void> {
    const { credentialStore, hasher } = this.deps;
    const cred = await credentialStore.load(userId);
    if (cred.state.passwordHash !== null) {
      // A password is stored but the user is still invited: an activation that stopped half-way or is running
      // right now. Only the same password completes it, so a second activation never overwrites the first.
      if (!(await hasher.verify(cred.state.passwordHash, password)))
        throw new PreconditionError('this invitation is already being used');
      return;
    }
    const hash = await hasher.hash(password);
    const set: CredentialEvent = {
      type: 'PasswordHashSet',
      data: { userId, hash, at: new Date(now).toISOString() },
    };
    await credentialStore.append(ctx, userId, [set], cred.revision);
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
      policy: this.deps.policies.password,
      commonPasswords: this.deps.policies.commonPasswords,
      identity: identityParts({ email: who.email, displayName: who.displayName }),
    });
  }

  /** Reactivates a deactivated user (admin). */
  async reactivateUser(ctx: CommandContext, userId: string): Promise<UserView> {
    const result = await runUser(
      this.deps.store,
      userId,
      { type: 'ReactivateUser', data: { now: this.deps.now() } },
      ctx,
    );
    return userView(this.deps, userId, result.state);
  }

  /** Deactivates a user and ends all their sessions. */
  async deactivateUser(ctx: CommandContext, userId: string, reason = ''): Promise<UserView> {
    const result = await runUser(
      this.deps.store,
      userId,
      { type: 'DeactivateUser', data: { actorId: ctx.actor.id, reason, now: this.deps.now() } },
      ctx,
    );
    await endSessionsOf(this.deps, ctx, result.state, RevocationReason.Deactivated);
    await revokeSubject(this.deps, userId, 'user', RevocationReason.Deactivated);
    return userView(this.deps, userId, result.state);
  }

  /** Changes a user's role and ends their sessions (their tokens carry the old role). */
  async changeUserRole(ctx: CommandContext, userId: string, role: string, etag?: string): Promise<UserView> {
    if (etag) {
      const { revision } = await loadUser(this.deps.store, userId);
      if (String(revision) !== etag)
        throw new PreconditionError('the user changed since it was read (stale etag)');
    }
    const result = await runUser(
      this.deps.store,
      userId,
      { type: 'ChangeUserRole', data: { actorId: ctx.actor.id, role, now: this.deps.now() } },
      ctx,
    );
    if (result.events.length > 0) {
      await endSessionsOf(this.deps, ctx, result.state, RevocationReason.RoleChanged);
      await revokeSubject(this.deps, userId, 'user', RevocationReason.RoleChanged);
    }
    return userView(this.deps, userId, result.state);
  }

  /** Reads a user. Throws NotFoundError. */
  async getUser(userId: string): Promise<UserView> {
    if (!RESOURCE_ID.test(userId)) throw new NotFoundError('user not found');
    const { state, revision } = await loadUser(this.deps.store, userId);
    return userView(this.deps, userId, state, revision);
  }

  /** Lists users in creation order with offset paging. Throws ValidationError on a bad page size or token. */
  async listUsers(input: {
    pageSize?: number;
    pageToken?: string;
    role?: Role;
    status?: UserView['status'];
  }): Promise<{ users: UserView[]; nextPageToken: string }> {
    const { store } = this.deps;
    const page = offsetPage(input, ['users', input.role ?? '', input.status ?? ''], {
      defaultSize: 50,
      maxSize: 100,
    });
    const ids = [...new Set((await store.read(USER_DIRECTORY_STREAM)).map((e) => String(e.data['userId'])))];
    // Each user's stream is read once, LIST_READS at a time: one by one, a clinic's staff list took longer than
    // the gateway's deadline on a busy machine.
    const views: Array<UserView | undefined> = [];
    for (let i = 0; i < ids.length; i += LIST_READS) {
      const chunk = ids.slice(i, i + LIST_READS).map(async (id) => {
        const { state, revision } = await loadUser(store, id);
        return state.status === 'none' ? undefined : userView(this.deps, id, state, revision);
      });
      views.push(...(await Promise.all(chunk)));
    }
    const all = views.filter(
      (v): v is UserView =>
        v !== undefined &&
        (!input.role || v.role === input.role) &&
        (!input.status || v.status === input.status),
    );
    return { users: pageItems(page, all), nextPageToken: nextOffsetToken(page, all.length) };
  }
}
