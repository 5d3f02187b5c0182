/**
 * gRPC handlers of haven.identity.v1.PasskeyService: registration (an enrollment-only token accepted), listing and
 * removal (the caller's own, or anyone's for an admin), and the public passwordless sign-in.
 */
import { PermissionError, ValidationError } from '@haven/errors';
import { passkeys as pb } from '@haven/proto';
import { callMetadata, type CallContext, type ServiceRegistration } from '@haven/service';
import { toProtoTokens } from '../session/grpc';
import { protoDate, userIdOf, type IdentityGrpcAccess } from '../shared/grpc-access';
import type { CommandContext } from '../shared/streams';
import { toProtoUser } from '../user/grpc';
import { Role } from '../user/user';
import type { AttestationPolicy } from './passkey';
import type { PasskeyService, PasskeyView } from './passkey-service';

function toProtoPolicy(policy: AttestationPolicy): pb.PasskeyPolicy {
  return policy.kind === 'direct'
    ? {
        attestation: pb.AttestationConveyance.ATTESTATION_CONVEYANCE_DIRECT,
        allowedAaguids: [...policy.allowedAaguids],
      }
    : { attestation: pb.AttestationConveyance.ATTESTATION_CONVEYANCE_NONE, allowedAaguids: [] };
}

const ATTESTATION_NAMES: Readonly<Record<number, string>> = {
  [pb.AttestationConveyance.ATTESTATION_CONVEYANCE_NONE]: 'none',
  [pb.AttestationConveyance.ATTESTATION_CONVEYANCE_DIRECT]: 'direct',
};

function toProtoPasskey(p: PasskeyView): pb.Passkey {
  return {
    name: `users/${p.userId}/passkeys/${p.passkeyId}`,
    displayName: p.displayName,
    aaguid: p.aaguid,
    backedUp: p.backedUp,
    createTime: new Date(p.createdAt),
    lastUseTime: protoDate(p.lastUsedAt),
  };
}

/** `users/{user}/passkeys/{passkey}` → its parts. Throws ValidationError. */
function passkeyNameOf(name: string): { userId: string; passkeyId: string } {
  const m = /^(users\/[^/]+)\/passkeys\/([A-Za-z0-9_-]{1,1024})$/.exec(name);
  if (!m?.[1] || !m[2])
    throw new ValidationError([{ field: 'name', description: 'must be users/{user}/passkeys/{passkey}' }]);
  return { userId: userIdOf(m[1]), passkeyId: m[2] };
}

/** The access of an own-or-admin request on `userId`: self, or admin. Throws PermissionError. */
async function ownOrAdmin(access: IdentityGrpcAccess, ctx: CallContext, userId: string) {
  const caller = await access.caller(ctx);
  const by = caller.principal.id === userId ? ('self' as const) : ('admin' as const);
  if (by === 'admin' && caller.principal.role !== Role.Admin)
    throw new PermissionError('only an admin may manage another user’s passkeys');
  return { ...caller, by };
}

/** The PasskeyService registration for startGrpcService. */
export function passkeyGrpcService(
  passkeys: PasskeyService,
  access: IdentityGrpcAccess,
): ServiceRegistration {
  const registrationCaller = async (ctx: CallContext) => {
    const { principal, cmd } = await access.caller(ctx, undefined, { enrollmentTokenAccepted: true });
    return { cmd, caller: { userId: principal.id, sessionId: principal.sessionId ?? '' } };
  };
  const anonymous = (ctx: CallContext): CommandContext =>
    callMetadata(ctx, { kind: 'anonymous', id: 'passkey-sign-in' });
  const handlers = {
    startPasskeyRegistration: async (
      _req: pb.StartPasskeyRegistrationRequest,
      ctx: CallContext,
    ): Promise<pb.StartPasskeyRegistrationResponse> => {
      const { cmd, caller } = await registrationCaller(ctx);
      const started = await passkeys.startRegistration(cmd, caller);
      return { ceremony: started.ceremonyId, optionsJson: started.optionsJson };
    },

    finishPasskeyRegistration: async (
      req: pb.FinishPasskeyRegistrationRequest,
      ctx: CallContext,
    ): Promise<pb.FinishPasskeyRegistrationResponse> => {
      const { cmd, caller } = await registrationCaller(ctx);
      const passkey = await passkeys.finishRegistration(cmd, caller, {
        ceremonyId: req.ceremony,
        responseJson: req.responseJson,
        displayName: req.displayName,
      });
      return { passkey: toProtoPasskey(passkey) };
    },

    listPasskeys: async (req: pb.ListPasskeysRequest, ctx: CallContext): Promise<pb.ListPasskeysResponse> => {
      const userId = userIdOf(req.parent, 'parent');
      await ownOrAdmin(access, ctx, userId);
      return { passkeys: (await passkeys.list(userId)).map(toProtoPasskey) };
    },

    deletePasskey: async (
      req: pb.DeletePasskeyRequest,
      ctx: CallContext,
    ): Promise<pb.DeletePasskeyResponse> => {
      const { userId, passkeyId } = passkeyNameOf(req.name);
      const { cmd, by } = await ownOrAdmin(access, ctx, userId);
      await passkeys.remove(cmd, { userId, passkeyId, by });
      return {};
    },

    startPasskeySignIn: async (
      _req: pb.StartPasskeySignInRequest,
      ctx: CallContext,
    ): Promise<pb.StartPasskeySignInResponse> => {
      const started = await passkeys.startSignIn(anonymous(ctx));
      return { ceremony: started.ceremonyId, optionsJson: started.optionsJson };
    },

    finishPasskeySignIn: async (
      req: pb.FinishPasskeySignInRequest,
      ctx: CallContext,
    ): Promise<pb.FinishPasskeySignInResponse> => {
      const result = await passkeys.finishSignIn(anonymous(ctx), {
        ceremonyId: req.ceremony,
        responseJson: req.responseJson,
      });
      return {
        tokens: toProtoTokens(result.tokens),
        user: toProtoUser(result.user),
        passwordChangeRequired: result.passwordChangeRequired,
      };
    },

    getPasskeyPolicy: async (
      _req: pb.GetPasskeyPolicyRequest,
      ctx: CallContext,
    ): Promise<pb.GetPasskeyPolicyResponse> => {
      await access.admin(ctx);
      return { policy: toProtoPolicy(await passkeys.policy()) };
    },

    updatePasskeyPolicy: async (
      req: pb.UpdatePasskeyPolicyRequest,
      ctx: CallContext,
    ): Promise<pb.UpdatePasskeyPolicyResponse> => {
      const { cmd } = await access.admin(ctx);
      const policy = await passkeys.setPolicy(cmd, {
        attestation: ATTESTATION_NAMES[req.policy?.attestation ?? 0] ?? '',
        allowedAaguids: req.policy?.allowedAaguids ?? [],
      });
      return { policy: toProtoPolicy(policy) };
    },
  } satisfies Partial<Record<keyof typeof pb.PasskeyServiceService, unknown>>;
  return { definition: pb.PasskeyServiceService, handlers };
}
