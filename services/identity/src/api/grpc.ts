/**
 * gRPC handlers of haven.identity.v1.IdentityService over the IdentityApp.
 * Every RPC of the proto is implemented. A token limited to `identity.mfa.enroll` (an admin or clinician who
 * has not enrolled TOTP yet) is accepted only by EnrollTotp, ConfirmTotp and Logout.
 */
import { PermissionError, UnauthenticatedError, ValidationError } from '@haven/errors';
import { identity } from '@haven/proto';
import { clientAddressOf, commandMetadata, idempotencyKey, NO_FORWARDER_TRUST } from '@haven/service';
import type {
  CallContext,
  ForwarderTrust,
  Principal,
  ServiceRegistration,
  TokenVerifier,
} from '@haven/service';
import {
  MFA_ENROLL_SCOPE,
  type IdentityApp,
  type ServiceAccountView,
  type TokenSetView,
  type UserView,
} from '../app/identity-app';
import type { CommandContext } from '../shared/streams';
import { Role } from '../user/user';

const P = identity.IdentityServiceService;

/** Methods callable without an access token. */
export const PUBLIC_METHODS: readonly string[] = [
  P.login.path,
  P.refreshToken.path,
  P.activateUser.path,
  P.getJwks.path,
  P.issueServiceAccountToken.path,
];

const ROLE_TO_PROTO: Record<Role, identity.Role> = {
  admin: identity.Role.ROLE_ADMIN,
  clinician: identity.Role.ROLE_CLINICIAN,
  front_desk: identity.Role.ROLE_FRONT_DESK,
  auditor: identity.Role.ROLE_AUDITOR,
};
const PROTO_TO_ROLE = new Map<number, Role>(Object.entries(ROLE_TO_PROTO).map(([k, v]) => [v, k as Role]));
const STATE_TO_PROTO: Record<UserView['status'], identity.UserState> = {
  invited: identity.UserState.USER_STATE_INVITED,
  active: identity.UserState.USER_STATE_ACTIVE,
  locked: identity.UserState.USER_STATE_LOCKED,
  deactivated: identity.UserState.USER_STATE_DEACTIVATED,
};
const PROTO_TO_STATE = new Map<number, UserView['status']>(
  Object.entries(STATE_TO_PROTO).map(([k, v]) => [v, k as UserView['status']]),
);

const date = (ms: number | null): Date | undefined => (ms === null ? undefined : new Date(ms));

/** Maps a view to the proto User. */
export function toProtoUser(v: UserView): identity.User {
  return {
    name: `users/${v.userId}`,
    username: v.username,
    displayName: v.displayName,
    email: v.email,
    role: ROLE_TO_PROTO[v.role],
    state: STATE_TO_PROTO[v.status],
    mfaEnrolled: v.mfaEnrolled,
    createTime: new Date(v.createdAt),
    updateTime: new Date(v.updatedAt),
    passwordChangeTime: date(v.passwordChangedAt),
    lastLoginTime: date(v.lastLoginAt),
    etag: v.etag,
  };
}

function toProtoTokens(t: TokenSetView): identity.TokenSet {
  return {
    accessToken: t.accessToken,
    accessTokenExpireTime: new Date(t.accessTokenExpiresAt),
    refreshToken: t.refreshToken,
    refreshTokenExpireTime: new Date(t.sessionExpiresAt),
    idleTimeout: { seconds: String(Math.floor(t.idleTimeoutMs / 1000)), nanos: 0 },
  };
}

function toProtoServiceAccount(v: ServiceAccountView): identity.ServiceAccount {
  return {
    name: `serviceAccounts/${v.serviceAccountId}`,
    displayName: v.displayName,
    clientId: v.clientId,
    scopes: [...v.scopes],
    disabled: false,
    createTime: new Date(v.createdAt),
    secretRotateTime: new Date(v.secretRotatedAt),
  };
}

function serviceAccountIdOf(name: string): string {
  const m = /^serviceAccounts\/([a-z0-9][a-z0-9-]{3,62})$/.exec(name);
  if (!m?.[1])
    throw new ValidationError([{ field: 'name', description: 'must be serviceAccounts/{service_account}' }]);
  return m[1];
}

function userIdOf(name: string, field = 'name'): string {
  const m = /^users\/([a-z0-9][a-z0-9-]{3,62})$/.exec(name);
  if (!m?.[1]) throw new ValidationError([{ field, description: 'must be users/{user}' }]);
  return m[1];
}

function roleOf(value: number, field: string): Role {
  const role = PROTO_TO_ROLE.get(value);
  if (!role)
    throw new ValidationError([
      { field, description: 'must be ROLE_ADMIN, ROLE_CLINICIAN, ROLE_FRONT_DESK or ROLE_AUDITOR' },
    ]);
  return role;
}

export interface IdentityGrpcOptions {
  readonly app: IdentityApp;
  /** Used where a public method optionally takes a token (ActivateUser reactivation). */
  readonly verifier: TokenVerifier;
  /** Who may pass an end client's address on (the gateway); default nobody (the peer's address counts). */
  readonly forwarders?: ForwarderTrust;
}

/** The service registration for startGrpcService. */
export function identityGrpcService(options: IdentityGrpcOptions): ServiceRegistration {
  const { app, verifier } = options;
  const forwarders = options.forwarders ?? NO_FORWARDER_TRUST;
  const clientIp = (ctx: CallContext): string => clientAddressOf(ctx, forwarders).address;

  /** The caller must be a user with a live session (and, when given, one of `roles`). */
  const caller = async (
    ctx: CallContext,
    roles?: readonly Role[],
    options: { enrollmentTokenAccepted?: boolean } = {},
  ): Promise<{ principal: Principal; cmd: CommandContext }> => {
    const principal = ctx.principal;
    if (!principal) throw new UnauthenticatedError('missing bearer token');
    if (principal.kind !== 'user') throw new PermissionError('only staff users may call this');
    if (principal.scopes.includes(MFA_ENROLL_SCOPE) && options.enrollmentTokenAccepted !== true)
      throw new PermissionError('enroll TOTP first (EnrollTotp, ConfirmTotp), then sign in again');
    if (principal.sessionId === undefined || !(await app.sessionActive(principal.sessionId))) {
      throw new UnauthenticatedError('session has ended');
    }
    if (roles && !roles.includes(principal.role as Role))
      throw new PermissionError(`this needs the role ${roles.join(' or ')}`);
    const cmd: CommandContext = commandMetadata(ctx);
    return { principal, cmd };
  };
  const admin = (ctx: CallContext) => caller(ctx, [Role.Admin]);

  const handlers: ServiceRegistration['handlers'] = {
    createUser: async (
      req: identity.CreateUserRequest,
      ctx: CallContext,
    ): Promise<identity.CreateUserResponse> => {
      const { cmd } = await admin(ctx);
      const u = req.user;
      if (!u) throw new ValidationError([{ field: 'user', description: 'required' }]);
      const created = await app.inviteUser(cmd, {
        username: u.username,
        email: u.email,
        displayName: u.displayName,
        role: roleOf(u.role, 'user.role'),
        ...(req.userId ? { userId: req.userId } : {}),
      });
      return {
        user: toProtoUser(created.user),
        invitationToken: created.invitationToken,
        invitationExpireTime: new Date(created.invitationExpiresAt),
      };
    },

    getUser: async (req: identity.GetUserRequest, ctx: CallContext): Promise<identity.GetUserResponse> => {
      const { principal } = await caller(ctx);
      const userId = userIdOf(req.name);
      if (principal.role !== Role.Admin && principal.id !== userId)
        throw new PermissionError('you may read only your own user');
      return { user: toProtoUser(await app.getUser(userId)) };
    },

    listUsers: async (
      req: identity.ListUsersRequest,
      ctx: CallContext,
    ): Promise<identity.ListUsersResponse> => {
      const { principal } = await caller(ctx, [Role.Admin, Role.FrontDesk]);
      const role = req.role ? roleOf(req.role, 'role') : undefined;
      const status = req.state ? PROTO_TO_STATE.get(req.state) : undefined;
      if (req.state && !status) throw new ValidationError([{ field: 'state', description: 'unknown state' }]);
      if (principal.role === Role.FrontDesk) {
        // Front desk books for clinicians: only active clinicians, only their id and display name.
        if (role !== undefined && role !== Role.Clinician)
          throw new PermissionError('front desk may list only clinicians');
        const page = await app.listUsers({
          pageSize: req.pageSize,
          pageToken: req.pageToken,
          role: Role.Clinician,
          status: 'active',
        });
        return {
          users: page.users.map((u) =>
            identity.User.fromPartial({
              name: `users/${u.userId}`,
              displayName: u.displayName,
              role: ROLE_TO_PROTO[u.role],
            }),
          ),
          nextPageToken: page.nextPageToken,
        };
      }
      const page = await app.listUsers({
        pageSize: req.pageSize,
        pageToken: req.pageToken,
        ...(role ? { role } : {}),
        ...(status ? { status } : {}),
      });
      return { users: page.users.map(toProtoUser), nextPageToken: page.nextPageToken };
    },

    activateUser: async (
      req: identity.ActivateUserRequest,
      ctx: CallContext,
    ): Promise<identity.ActivateUserResponse> => {
      if (req.invitationToken) {
        if (req.name && !req.invitationToken.startsWith(`${userIdOf(req.name)}.`))
          throw new UnauthenticatedError('invalid invite token');
        const view = await app.activateUser(
          { actor: { kind: 'anonymous', id: 'anonymous' }, correlationId: ctx.correlationId },
          { invitationToken: req.invitationToken, password: req.password },
        );
        return { user: toProtoUser(view) };
      }
      // Reactivation: an admin's token is required even though the method is public.
      const auth = ctx.metadata.get('authorization')[0];
      const m = typeof auth === 'string' ? /^Bearer\s+(\S+)\s*$/i.exec(auth) : null;
      if (!m?.[1])
        throw new UnauthenticatedError(
          'reactivation needs an admin token; activation needs invitation_token',
        );
      const principal = await verifier.verify(m[1]);
      const { cmd } = await admin({ ...ctx, principal });
      return { user: toProtoUser(await app.reactivateUser(cmd, userIdOf(req.name))) };
    },

    deactivateUser: async (
      req: identity.DeactivateUserRequest,
      ctx: CallContext,
    ): Promise<identity.DeactivateUserResponse> => {
      const { cmd } = await admin(ctx);
      return {
        user: toProtoUser(await app.deactivateUser(cmd, userIdOf(req.name), 'deactivated by an admin')),
      };
    },

    changeUserRole: async (
      req: identity.ChangeUserRoleRequest,
      ctx: CallContext,
    ): Promise<identity.ChangeUserRoleResponse> => {
      const { cmd } = await admin(ctx);
      const view = await app.changeUserRole(
        cmd,
        userIdOf(req.name),
        roleOf(req.role, 'role'),
        req.etag || undefined,
      );
      return { user: toProtoUser(view) };
    },

    login: async (req: identity.LoginRequest, ctx: CallContext): Promise<identity.LoginResponse> => {
      const result = await app.login({
        username: req.username,
        password: req.password,
        totpCode: req.totpCode,
        clientIp: clientIp(ctx),
        correlationId: ctx.correlationId,
        ...(ctx.traceparent !== undefined ? { traceparent: ctx.traceparent } : {}),
      });
      return {
        tokens: toProtoTokens(result.tokens),
        user: toProtoUser(result.user),
        mfaEnrollmentRequired: result.mfaEnrollmentRequired,
        passwordChangeRequired: result.passwordChangeRequired,
      };
    },

    refreshToken: async (
      req: identity.RefreshTokenRequest,
      ctx: CallContext,
    ): Promise<identity.RefreshTokenResponse> => {
      return {
        tokens: toProtoTokens(
          await app.refresh({ refreshToken: req.refreshToken, correlationId: ctx.correlationId }),
        ),
      };
    },

    logout: async (req: identity.LogoutRequest, ctx: CallContext): Promise<identity.LogoutResponse> => {
      const principal = ctx.principal;
      if (!principal) throw new UnauthenticatedError('missing bearer token');
      await app.logout(
        { actor: { kind: 'user', id: principal.id }, correlationId: ctx.correlationId },
        {
          userId: principal.id,
          ...(req.refreshToken ? { refreshToken: req.refreshToken } : {}),
          ...(principal.sessionId !== undefined ? { sessionId: principal.sessionId } : {}),
        },
      );
      return {};
    },

    changePassword: async (
      req: identity.ChangePasswordRequest,
      ctx: CallContext,
    ): Promise<identity.ChangePasswordResponse> => {
      const { principal, cmd } = await caller(ctx);
      const result = await app.changePassword(cmd, principal.id, {
        currentPassword: req.currentPassword,
        newPassword: req.newPassword,
      });
      return { passwordExpireTime: date(result.expiresAt) };
    },

    resetMfa: async (req: identity.ResetMfaRequest, ctx: CallContext): Promise<identity.ResetMfaResponse> => {
      const { cmd } = await admin(ctx);
      return { user: toProtoUser(await app.resetMfa(cmd, userIdOf(req.name))) };
    },

    enrollTotp: async (
      _req: identity.EnrollTotpRequest,
      ctx: CallContext,
    ): Promise<identity.EnrollTotpResponse> => {
      const { principal, cmd } = await caller(ctx, undefined, { enrollmentTokenAccepted: true });
      const result = await app.enrollTotp(cmd, principal.id);
      return { secret: result.secret, otpauthUri: result.otpauthUri };
    },

    confirmTotp: async (
      req: identity.ConfirmTotpRequest,
      ctx: CallContext,
    ): Promise<identity.ConfirmTotpResponse> => {
      const { principal, cmd } = await caller(ctx, undefined, { enrollmentTokenAccepted: true });
      if (!/^\d{6}$/.test(req.code.trim()))
        throw new ValidationError([
          { field: 'code', description: 'must be the 6-digit code of the authenticator' },
        ]);
      return await app.confirmTotp(cmd, principal.id, req.code);
    },

    createServiceAccount: async (
      req: identity.CreateServiceAccountRequest,
      ctx: CallContext,
    ): Promise<identity.CreateServiceAccountResponse> => {
      const { cmd } = await admin(ctx);
      const sa = req.serviceAccount;
      if (!sa) throw new ValidationError([{ field: 'service_account', description: 'required' }]);
      const requestKey = idempotencyKey(ctx, req.requestId);
      const created = await app.createServiceAccount(cmd, {
        displayName: sa.displayName,
        scopes: sa.scopes,
        ...(req.serviceAccountId ? { serviceAccountId: req.serviceAccountId } : {}),
        ...(requestKey ? { requestKey } : {}),
      });
      return { serviceAccount: toProtoServiceAccount(created.account), clientSecret: created.clientSecret };
    },

    getServiceAccount: async (
      req: identity.GetServiceAccountRequest,
      ctx: CallContext,
    ): Promise<identity.GetServiceAccountResponse> => {
      await admin(ctx);
      return {
        serviceAccount: toProtoServiceAccount(await app.getServiceAccount(serviceAccountIdOf(req.name))),
      };
    },

    listServiceAccounts: async (
      req: identity.ListServiceAccountsRequest,
      ctx: CallContext,
    ): Promise<identity.ListServiceAccountsResponse> => {
      await admin(ctx);
      const page = await app.listServiceAccounts({ pageSize: req.pageSize, pageToken: req.pageToken });
      return { serviceAccounts: page.accounts.map(toProtoServiceAccount), nextPageToken: page.nextPageToken };
    },

    rotateServiceAccountSecret: async (
      req: identity.RotateServiceAccountSecretRequest,
      ctx: CallContext,
    ): Promise<identity.RotateServiceAccountSecretResponse> => {
      const { cmd } = await admin(ctx);
      const rotated = await app.rotateServiceAccountSecret(cmd, serviceAccountIdOf(req.name));
      return { serviceAccount: toProtoServiceAccount(rotated.account), clientSecret: rotated.clientSecret };
    },

    issueServiceAccountToken: async (
      req: identity.IssueServiceAccountTokenRequest,
      ctx: CallContext,
    ): Promise<identity.IssueServiceAccountTokenResponse> => {
      const issued = await app.issueServiceAccountToken({
        clientId: req.clientId,
        clientSecret: req.clientSecret,
        scopes: req.scopes,
        clientIp: clientIp(ctx),
        correlationId: ctx.correlationId,
      });
      return {
        accessToken: issued.accessToken,
        expireTime: new Date(issued.expiresAt),
        scopes: [...issued.scopes],
      };
    },

    requestBreakGlass: async (
      req: identity.RequestBreakGlassRequest,
      ctx: CallContext,
    ): Promise<identity.RequestBreakGlassResponse> => {
      const { principal, cmd } = await caller(ctx, [Role.Clinician, Role.Admin]);
      const seconds = Number(req.duration?.seconds ?? 0);
      const requestKey = idempotencyKey(ctx, req.requestId);
      const granted = await app.requestBreakGlass(cmd, {
        userId: principal.id,
        role: principal.role ?? '',
        sessionId: principal.sessionId ?? '',
        patient: req.patient,
        reason: req.reason,
        durationMs: Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : 0,
        ...(requestKey ? { requestKey } : {}),
      });
      return {
        accessToken: granted.accessToken,
        expireTime: new Date(granted.expiresAt),
        grantId: granted.grantId,
      };
    },

    getJwks: async (): Promise<identity.GetJwksResponse> => {
      return {
        keys: app.jwks().keys.map((k) => ({
          kty: String(k.kty ?? ''),
          kid: String(k.kid ?? ''),
          use: String(k.use ?? ''),
          alg: String(k.alg ?? ''),
          crv: String(k.crv ?? ''),
          x: String(k.x ?? ''),
          y: String(k.y ?? ''),
          n: String(k.n ?? ''),
          e: String(k.e ?? ''),
        })),
      };
    },
  };
  return { definition: P, handlers };
}
