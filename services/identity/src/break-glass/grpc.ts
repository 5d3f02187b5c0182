/** gRPC handler of RequestBreakGlass (clinicians and admins with a live session). */
import type { identity } from '@haven/proto';
import { idempotencyKey, type CallContext } from '@haven/service';
import type { IdentityGrpcAccess, IdentityHandlers } from '../shared/grpc-access';
import { Role } from '../user/user';
import type { BreakGlassService } from './break-glass-service';

/** The break-glass RPC over `breakGlass`. */
export function breakGlassHandlers(
  breakGlass: BreakGlassService,
  { caller }: IdentityGrpcAccess,
): IdentityHandlers {
  return {
    requestBreakGlass: async (
      req: identity.RequestBreakGlassRequest,
      ctx: CallContext,
    ): Promise<identity.RequestBreakGlassResponse> => {
      const { principal, cmd } = await caller(ctx, [Role.Clinician, Role.Admin]);
      const seconds = Number(req.duration?.seconds ?? 0);
      const requestKey = idempotencyKey(ctx, req.requestId);
      const granted = await breakGlass.requestBreakGlass(cmd, {
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
  };
}
