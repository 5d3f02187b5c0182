/** gRPC handlers of the SSO RPCs: SignInWithSso (public: the ID token authenticates) and the admin's accounts. */
import { ValidationError } from '@haven/errors';
import { identity } from '@haven/proto';
import type { CallContext } from '@haven/service';
import { toProtoTokens } from '../session/grpc';
import { protoToName, type IdentityGrpcAccess, type IdentityHandlers } from '../shared/grpc-access';
import { PROTO_TO_ROLE, ROLE_TO_PROTO, toProtoUser } from '../user/grpc';
import type { SsoAccountView, SsoService } from './sso-service';

const STATE_TO_PROTO: Record<SsoAccountView['status'], identity.SsoAccountState> = {
  pending: identity.SsoAccountState.SSO_ACCOUNT_STATE_PENDING,
  approved: identity.SsoAccountState.SSO_ACCOUNT_STATE_APPROVED,
  rejected: identity.SsoAccountState.SSO_ACCOUNT_STATE_REJECTED,
};
const PROTO_TO_STATE = protoToName(STATE_TO_PROTO);

/** Maps a view to the proto SsoAccount. */
export function toProtoSsoAccount(v: SsoAccountView): identity.SsoAccount {
  return {
    name: `ssoAccounts/${v.accountId}`,
    identityProvider: `identityProviders/${v.providerId}`,
    subject: v.subject,
    email: v.email,
    displayName: v.displayName,
    requestedRole: ROLE_TO_PROTO[v.requestedRole],
    state: STATE_TO_PROTO[v.status],
    user: v.userId === null ? '' : `users/${v.userId}`,
    createTime: new Date(v.createdAt),
    updateTime: new Date(v.updatedAt),
  };
}

function accountIdOf(name: string): string {
  const m = /^ssoAccounts\/([a-f0-9]{32})$/.exec(name);
  if (!m?.[1])
    throw new ValidationError([{ field: 'name', description: 'must be ssoAccounts/{sso_account}' }]);
  return m[1];
}

function providerIdOf(name: string): string {
  const m = /^identityProviders\/([a-z0-9][a-z0-9-]{1,30})$/.exec(name);
  if (!m?.[1])
    throw new ValidationError([
      { field: 'identity_provider', description: 'must be identityProviders/{identity_provider}' },
    ]);
  return m[1];
}

/** The SSO RPCs over `sso`. */
export function ssoHandlers(sso: SsoService, { admin }: IdentityGrpcAccess): IdentityHandlers {
  return {
    signInWithSso: async (
      req: identity.SignInWithSsoRequest,
      ctx: CallContext,
    ): Promise<identity.SignInWithSsoResponse> => {
      const result = await sso.signIn({
        providerId: providerIdOf(req.identityProvider),
        idToken: req.idToken,
        nonce: req.nonce,
        correlationId: ctx.correlationId,
        ...(ctx.traceparent !== undefined ? { traceparent: ctx.traceparent } : {}),
      });
      return { tokens: toProtoTokens(result.tokens), user: toProtoUser(result.user) };
    },

    listSsoAccounts: async (
      req: identity.ListSsoAccountsRequest,
      ctx: CallContext,
    ): Promise<identity.ListSsoAccountsResponse> => {
      await admin(ctx);
      const status = PROTO_TO_STATE.get(req.state);
      const page = await sso.listAccounts({
        pageSize: req.pageSize,
        pageToken: req.pageToken,
        ...(status ? { status } : {}),
      });
      return { ssoAccounts: page.accounts.map(toProtoSsoAccount), nextPageToken: page.nextPageToken };
    },

    approveSsoAccount: async (
      req: identity.ApproveSsoAccountRequest,
      ctx: CallContext,
    ): Promise<identity.ApproveSsoAccountResponse> => {
      const { cmd } = await admin(ctx);
      if (req.role !== identity.Role.ROLE_UNSPECIFIED && !PROTO_TO_ROLE.has(req.role))
        throw new ValidationError([{ field: 'role', description: 'unknown role' }]);
      const approved = await sso.approve(cmd, accountIdOf(req.name), PROTO_TO_ROLE.get(req.role));
      return { ssoAccount: toProtoSsoAccount(approved.account), user: toProtoUser(approved.user) };
    },

    rejectSsoAccount: async (
      req: identity.RejectSsoAccountRequest,
      ctx: CallContext,
    ): Promise<identity.RejectSsoAccountResponse> => {
      const { cmd } = await admin(ctx);
      return { ssoAccount: toProtoSsoAccount(await sso.reject(cmd, accountIdOf(req.name), req.reason)) };
    },
  };
}
