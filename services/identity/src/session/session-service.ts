/**
 * The session use cases: password login (with the second factor and the throttles), refresh-token rotation,
 * logout, idle logoff, and whether a session is live. Every ended session is revoked at once (`revoke.ts`).
 */
import { newEventId } from '@haven/eventstore';
import { UnauthenticatedError, ValidationError, PermissionError } from '@haven/errors';
import { callMetadata, RevocationReason } from '@haven/service';
import { checkSecondFactor } from '../credential/second-factor';
import { hasPasskeys } from '../passkey/has-passkeys';
import { passwordExpired } from '../credential/password/policy';
import type { LoadedCredentials } from '../credential/credential-store';
import type { IdentityDeps } from '../shared/deps';
import { load, run, type CommandContext } from '../shared/streams';
import { issueAccessToken, MFA_ENROLL_SCOPE, newRefreshToken, parseRefreshToken } from '../tokens/tokens';
import { loadUser, runUser } from '../user/user-stream';
import { isLocked, type ExistingUser } from '../user/user';
import { userView, type UserView } from '../user/view';
import { endsSession } from './decide';
import { sessionDecider } from './decider';
import { revokeSession } from './revoke';
import { idleDeadline, sessionStream, type SessionState } from './session';

/** Tokens of a login or refresh. */
export interface TokenSetView {
  readonly accessToken: string;
  readonly accessTokenExpiresAt: number;
  readonly refreshToken: string;
  readonly sessionExpiresAt: number;
  readonly idleTimeoutMs: number;
}

export interface LoginResult {
  readonly sessionId: string;
  readonly tokens: TokenSetView;
  readonly user: UserView;
  readonly mfaEnrollmentRequired: boolean;
  readonly passwordChangeRequired: boolean;
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

type LoginFailure = 'bad_password' | 'not_active' | 'bad_mfa_code';

/** The session use cases. `findUserId` finds the user of a username (the user slice). */
export class SessionService {
  constructor(
    private readonly deps: IdentityDeps,
    private readonly findUserId: (username: string) => Promise<string | undefined>,
  ) {}

  /**
   * Password login. The same UnauthenticatedError for unknown user, wrong password, locked or
   * inactive account (no enumeration; unknown users cost one dummy argon2 verification).
   * Every failure on a known account appends LoginFailed (and AccountLocked on the threshold).
   * Throws ResourceExhaustedError (with the wait) when the client address or the account name is throttled
   * (see LoginThrottle); every UnauthenticatedError counts as a failure for both.
   */
  async login(input: LoginInput): Promise<LoginResult> {
    const attempt = { address: input.clientIp, account: input.username };
    this.deps.throttle.admit(attempt);
    try {
      const result = await this.passwordLogin(input);
      this.deps.throttle.succeeded(attempt);
      return result;
    } catch (error) {
      if (error instanceof UnauthenticatedError) this.deps.throttle.failed(attempt);
      throw error;
    }
  }

  private async passwordLogin(input: LoginInput): Promise<LoginResult> {
    const violations = [];
    if (!input.username) violations.push({ field: 'username', description: 'required' });
    if (!input.password) violations.push({ field: 'password', description: 'required' });
    if (input.password.length > 1024) violations.push({ field: 'password', description: 'too long' });
    if (violations.length > 0) throw new ValidationError(violations);

    const { store, hasher } = this.deps;
    const userId = await this.findUserId(input.username);
    if (userId === undefined) {
      await hasher.verifyDummy(input.password);
      throw new UnauthenticatedError(LOGIN_FAILED_MESSAGE);
    }
    const ctx: CommandContext = callMetadata(input, { kind: 'user', id: userId });
    const { state } = await loadUser(store, userId);
    const now = this.deps.now();
    const fail = (reason: LoginFailure) => this.loginFailed(ctx, userId, reason, now);
    if (state.status === 'none') {
      await hasher.verifyDummy(input.password);
      throw new UnauthenticatedError(LOGIN_FAILED_MESSAGE);
    }
    if (state.status !== 'active' || isLocked(state, now)) {
      await hasher.verifyDummy(input.password);
      return fail(state.status !== 'active' ? 'not_active' : 'bad_password');
    }
    const loaded = await this.deps.credentialStore.load(userId);
    const cred = loaded.state;
    const ok = cred.passwordHash !== null && (await hasher.verify(cred.passwordHash, input.password));
    if (!ok) return fail('bad_password');
    let mfaVerified = false;
    if (state.mfa === 'totp') {
      const code = (input.totpCode ?? '').trim();
      if (!(await checkSecondFactor(this.deps, ctx, userId, loaded, code, now))) return fail('bad_mfa_code');
      mfaVerified = true;
    } else if (await hasPasskeys(this.deps.store, userId)) {
      // A passkey is this user's second factor, and it signs in by itself: the password alone is not enough.
      return fail('bad_mfa_code');
    }
    const mustEnroll = this.deps.policies.mfaRequiredRoles.includes(state.role) && state.mfa !== 'totp';
    return this.startSession(ctx, userId, loaded, { mfaVerified, mustEnroll, now });
  }

  /**
   * A session for a user whose passkey signed in with user verification (passkey slice): both factors at once, so
   * no MFA enrollment is due.
   */
  async startPasskeySession(ctx: CommandContext, userId: string, now: number): Promise<LoginResult> {
    const loaded = await this.deps.credentialStore.load(userId);
    return this.startSession(ctx, userId, loaded, { mfaVerified: true, mustEnroll: false, now });
  }

  /** Records a failed login on a known account (LoginFailed, maybe AccountLocked), then refuses it. */
  private async loginFailed(
    ctx: CommandContext,
    userId: string,
    reason: LoginFailure,
    now: number,
  ): Promise<never> {
    await runUser(
      this.deps.store,
      userId,
      { type: 'RecordLoginFailure', data: { reason, policy: this.deps.policies.lockout, now } },
      ctx,
    );
    throw new UnauthenticatedError(LOGIN_FAILED_MESSAGE);
  }

  /**
   * Opens a session for a user their clinic's identity provider signed in (SSO): LoginSucceeded, SessionStarted
   * and the session's tokens, under `sessionId` (the one the SSO account's sign-in event names). The provider is
   * responsible for the password and MFA; Haven's password rotation and TOTP enrollment do not apply.
   * Throws PreconditionError when the user is not active.
   */
  async openFederatedSession(
    ctx: CommandContext,
    userId: string,
    login: { sessionId: string; now: number },
  ): Promise<LoginResult> {
    return this.startSession(ctx, userId, undefined, { mfaVerified: false, mustEnroll: false, ...login });
  }

  /** After the password (and second factor): LoginSucceeded, SessionStarted, and the session's tokens. */
  private async startSession(
    ctx: CommandContext,
    userId: string,
    loaded: LoadedCredentials | undefined,
    login: { mfaVerified: boolean; mustEnroll: boolean; now: number; sessionId?: string },
  ): Promise<LoginResult> {
    const { store, policies } = this.deps;
    const { now, mustEnroll } = login;
    const sessionId = login.sessionId ?? newEventId();
    const refresh = newRefreshToken(sessionId);
    const success = await runUser(
      store,
      userId,
      { type: 'RecordLoginSuccess', data: { sessionId, mfa: login.mfaVerified, now } },
      ctx,
    );
    const user = success.state as ExistingUser;
    const session = await run(
      store,
      sessionStream(sessionId),
      sessionDecider,
      {
        type: 'StartSession',
        data: {
          sessionId,
          userId,
          role: user.role,
          refreshTokenHash: refresh.hash,
          policy: this.deps.sessionPolicy(),
          ...(mustEnroll ? { scope: MFA_ENROLL_SCOPE } : {}),
          now,
        },
      },
      ctx,
    );
    const tokens = await this.tokenSet(user, session.state, refresh.token, now);
    return {
      sessionId,
      tokens,
      user: await userView(this.deps, userId, user),
      mfaEnrollmentRequired: mustEnroll,
      passwordChangeRequired:
        loaded !== undefined && passwordExpired(loaded.state.passwordSetAt, now, policies.password),
    };
  }

  /**
   * Rotates the refresh token. Presenting an already-rotated token ends the session (reuse detection), except the
   * token current before the latest rotation, once, within the reuse grace (its answer was lost, or two tabs
   * refreshed at once: see decide.ts `presentedToken`); idle/absolute expiry and inactive users end it too. All of
   * these answer UnauthenticatedError after the SessionEnded event is stored.
   */
  async refresh(input: { refreshToken: string; correlationId: string }): Promise<TokenSetView> {
    const { store } = this.deps;
    const parsed = parseRefreshToken(input.refreshToken);
    if (!parsed) throw new UnauthenticatedError('invalid refresh token');
    const loaded = await load(store, sessionStream(parsed.sessionId), sessionDecider);
    if (loaded.state.status === 'none') throw new UnauthenticatedError('invalid refresh token');
    const userId = loaded.state.userId;
    const { state: user } = await loadUser(store, userId);
    const next = newRefreshToken(parsed.sessionId);
    const now = this.deps.now();
    const ctx: CommandContext = { actor: { kind: 'user', id: userId }, correlationId: input.correlationId };
    const result = await run(
      store,
      sessionStream(parsed.sessionId),
      sessionDecider,
      {
        type: 'RefreshSession',
        data: {
          presentedTokenHash: parsed.hash,
          newTokenHash: next.hash,
          userActive: user.status === 'active' && user.role === loaded.state.role,
          policy: this.deps.sessionPolicy(),
          now,
        },
      },
      ctx,
    );
    const ended = endsSession(result.events);
    if (ended?.type === 'SessionEnded') {
      await revokeSession(
        this.deps,
        ctx,
        parsed.sessionId,
        userId,
        ended.data.reason === 'revoked' ? RevocationReason.Revoked : ended.data.reason,
      );
    }
    if (ended || user.status === 'none') {
      const reason = ended?.type === 'SessionEnded' ? ended.data.reason : 'revoked';
      this.deps.logger?.info({ sessionId: parsed.sessionId, reasonCode: reason }, 'session ended on refresh');
      throw new UnauthenticatedError(`session ended (${reason})`);
    }
    const refreshed = result.events.find((e) => e.type === 'TokenRefreshed');
    if (refreshed?.type === 'TokenRefreshed' && refreshed.data.graceUsed === true)
      this.deps.logger?.info({ sessionId: parsed.sessionId }, 'refresh token reused within the grace');
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
    const { state } = await load(this.deps.store, sessionStream(sessionId), sessionDecider);
    if (state.status === 'none') return;
    if (state.userId !== input.userId) throw new PermissionError('not your session');
    await run(
      this.deps.store,
      sessionStream(sessionId),
      sessionDecider,
      { type: 'EndSession', data: { reason: 'logout', now: this.deps.now() } },
      ctx,
    );
    // Published even when the session had already ended: a retried logout repairs a lost publish.
    await revokeSession(this.deps, ctx, sessionId, state.userId, RevocationReason.Logout);
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
      this.deps.store,
      sessionStream(sessionId),
      sessionDecider,
      {
        type: 'ExpireSession',
        data: { now: this.deps.now(), policy: this.deps.sessionPolicy() },
      },
      ctx,
    );
    const ended = endsSession(result.events);
    if (ended?.type !== 'SessionEnded' || result.state.status === 'none') return undefined;
    const reason = ended.data.reason === 'absolute' ? RevocationReason.Absolute : RevocationReason.Idle;
    await revokeSession(this.deps, ctx, sessionId, result.state.userId, reason);
    this.deps.logger?.info({ sessionId, reasonCode: reason }, 'session ended by idle logoff');
    return reason;
  }

  /** Whether a session is active at `now` (for authenticated identity RPCs). */
  async sessionActive(sessionId: string): Promise<boolean> {
    const { state } = await load(this.deps.store, sessionStream(sessionId), sessionDecider);
    const now = this.deps.now();
    return (
      state.status === 'active' &&
      now < idleDeadline(state, this.deps.sessionPolicy()) &&
      now < state.absoluteExpiresAt
    );
  }

  /** The public key set. */
  jwks() {
    return this.deps.keys.jwks();
  }

  private async tokenSet(
    user: ExistingUser,
    session: SessionState,
    refreshToken: string,
    now: number,
  ): Promise<TokenSetView> {
    if (session.status === 'none') throw new UnauthenticatedError('no session');
    const access = await issueAccessToken(
      this.deps.keys,
      session.scope === MFA_ENROLL_SCOPE
        ? { sub: user.userId, kind: 'user', sid: session.sessionId, scope: MFA_ENROLL_SCOPE }
        : { sub: user.userId, role: user.role, kind: 'user', sid: session.sessionId, scope: '' },
      { now, ttlSec: this.deps.policies.accessTokenTtlSec },
    );
    return {
      accessToken: access.token,
      accessTokenExpiresAt: access.expiresAt,
      refreshToken,
      sessionExpiresAt: session.absoluteExpiresAt,
      idleTimeoutMs: this.deps.sessionPolicy().idleTimeoutMs,
    };
  }
}
