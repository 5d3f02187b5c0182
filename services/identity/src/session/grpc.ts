/** gRPC handlers of the session RPCs: Login, RefreshToken, Logout, and GetJwks (the keys its tokens verify with). */
import { UnauthenticatedError } from '@haven/errors';
import type { identity } from '@haven/proto';
import type { CallContext } from '@haven/service';
import type { IdentityGrpcAccess, IdentityHandlers } from '../shared/grpc-access';
import { toProtoUser } from '../user/grpc';
import type { SessionService, TokenSetView } from './session-service';

/** The proto form of a token set. */
export function toProtoTokens(t: TokenSetView): identity.TokenSet {
  return {
    accessToken: t.accessToken,
    accessTokenExpireTime: new Date(t.accessTokenExpiresAt),
    refreshToken: t.refreshToken,
    refreshTokenExpireTime: new Date(t.sessionExpiresAt),
    idleTimeout: { seconds: String(Math.floor(t.idleTimeoutMs / 1000)), nanos: 0 },
  };
}

/** The session RPCs over `sessions`. Logout takes any token of the caller, an enrollment-only one included. */
export function sessionHandlers(
  sessions: SessionService,
  { clientIp }: IdentityGrpcAccess,
): IdentityHandlers {
  return {
    login: async (req: identity.LoginRequest, ctx: CallContext): Promise<identity.LoginResponse> => {
      const result = await sessions.login({
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
          await sessions.refresh({ refreshToken: req.refreshToken, correlationId: ctx.correlationId }),
        ),
      };
    },

    logout: async (req: identity.LogoutRequest, ctx: CallContext): Promise<identity.LogoutResponse> => {
      const principal = ctx.principal;
      if (!principal) throw new UnauthenticatedError('missing bearer token');
      await sessions.logout(
        { actor: { kind: 'user', id: principal.id }, correlationId: ctx.correlationId },
        {
          userId: principal.id,
          ...(req.refreshToken ? { refreshToken: req.refreshToken } : {}),
          ...(principal.sessionId !== undefined ? { sessionId: principal.sessionId } : {}),
        },
      );
      return {};
    },

    getJwks: async (): Promise<identity.GetJwksResponse> => {
      return {
        keys: sessions.jwks().keys.map((k) => ({
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
}
