/** gRPC handlers of the credential RPCs: ChangePassword, EnrollTotp, ConfirmTotp, ResetMfa. */
import { ValidationError } from '@haven/errors';
import type { identity } from '@haven/proto';
import type { CallContext } from '@haven/service';
import { protoDate, userIdOf, type IdentityGrpcAccess, type IdentityHandlers } from '../shared/grpc-access';
import { toProtoUser } from '../user/grpc';
import type { CredentialService } from './credential-service';

/** The credential RPCs over `credentials`. EnrollTotp and ConfirmTotp accept an enrollment-only token. */
export function credentialHandlers(
  credentials: CredentialService,
  { caller, admin }: IdentityGrpcAccess,
): IdentityHandlers {
  return {
    changePassword: async (
      req: identity.ChangePasswordRequest,
      ctx: CallContext,
    ): Promise<identity.ChangePasswordResponse> => {
      const { principal, cmd } = await caller(ctx);
      const result = await credentials.changePassword(cmd, principal.id, {
        currentPassword: req.currentPassword,
        newPassword: req.newPassword,
      });
      return { passwordExpireTime: protoDate(result.expiresAt) };
    },

    resetMfa: async (req: identity.ResetMfaRequest, ctx: CallContext): Promise<identity.ResetMfaResponse> => {
      const { cmd } = await admin(ctx);
      return { user: toProtoUser(await credentials.resetMfa(cmd, userIdOf(req.name))) };
    },

    enrollTotp: async (
      _req: identity.EnrollTotpRequest,
      ctx: CallContext,
    ): Promise<identity.EnrollTotpResponse> => {
      const { principal, cmd } = await caller(ctx, undefined, { enrollmentTokenAccepted: true });
      const result = await credentials.enrollTotp(cmd, principal.id);
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
      return await credentials.confirmTotp(cmd, principal.id, req.code);
    },
  };
}
