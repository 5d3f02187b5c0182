/**
 * gRPC handlers of the service-account RPCs: Create, Get, List, RotateServiceAccountSecret (admins), and
 * IssueServiceAccountToken (public: the client authenticates with its id and secret).
 */
import { ValidationError } from '@haven/errors';
import type { identity } from '@haven/proto';
import { idempotencyKey, type CallContext } from '@haven/service';
import type { IdentityGrpcAccess, IdentityHandlers } from '../shared/grpc-access';
import type { ServiceAccountService, ServiceAccountView } from './service-account-service';

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

/** The service-account RPCs over `accounts`. */
export function serviceAccountHandlers(
  accounts: ServiceAccountService,
  { admin, clientIp }: IdentityGrpcAccess,
): IdentityHandlers {
  return {
    createServiceAccount: async (
      req: identity.CreateServiceAccountRequest,
      ctx: CallContext,
    ): Promise<identity.CreateServiceAccountResponse> => {
      const { cmd } = await admin(ctx);
      const sa = req.serviceAccount;
      if (!sa) throw new ValidationError([{ field: 'service_account', description: 'required' }]);
      const requestKey = idempotencyKey(ctx, req.requestId);
      const created = await accounts.createServiceAccount(cmd, {
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
        serviceAccount: toProtoServiceAccount(await accounts.getServiceAccount(serviceAccountIdOf(req.name))),
      };
    },

    listServiceAccounts: async (
      req: identity.ListServiceAccountsRequest,
      ctx: CallContext,
    ): Promise<identity.ListServiceAccountsResponse> => {
      await admin(ctx);
      const page = await accounts.listServiceAccounts({ pageSize: req.pageSize, pageToken: req.pageToken });
      return { serviceAccounts: page.accounts.map(toProtoServiceAccount), nextPageToken: page.nextPageToken };
    },

    rotateServiceAccountSecret: async (
      req: identity.RotateServiceAccountSecretRequest,
      ctx: CallContext,
    ): Promise<identity.RotateServiceAccountSecretResponse> => {
      const { cmd } = await admin(ctx);
      const rotated = await accounts.rotateServiceAccountSecret(cmd, serviceAccountIdOf(req.name));
      return { serviceAccount: toProtoServiceAccount(rotated.account), clientSecret: rotated.clientSecret };
    },

    issueServiceAccountToken: async (
      req: identity.IssueServiceAccountTokenRequest,
      ctx: CallContext,
    ): Promise<identity.IssueServiceAccountTokenResponse> => {
      const issued = await accounts.issueServiceAccountToken({
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
  };
}
