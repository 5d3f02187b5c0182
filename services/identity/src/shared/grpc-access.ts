/**
 * The request checks every identity RPC handler shares: who the caller is (a staff user with a live session, of
 * a given role), the end client's address, and the names in requests (`users/{id}`, `serviceAccounts/{id}`).
 * A token limited to `identity.mfa.enroll` (an admin or clinician who has not enrolled TOTP yet) is accepted only
 * where the handler says so (EnrollTotp, ConfirmTotp; Logout takes any token).
 */
import { PermissionError, UnauthenticatedError, ValidationError } from '@haven/errors';
import type { identity } from '@haven/proto';
import { clientAddressOf, commandMetadata, NO_FORWARDER_TRUST } from '@haven/service';
import type { CallContext, ForwarderTrust, Principal, TokenVerifier, UnaryHandler } from '@haven/service';
import { MFA_ENROLL_SCOPE } from '../tokens/tokens';
import { Role } from '../user/user';
import type { CommandContext } from './streams';

/** A checked caller: the principal and the envelope of the events its command appends. */
export interface StaffCaller {
  readonly principal: Principal;
  readonly cmd: CommandContext;
}

/** What the slices' handlers use to check a request. */
export interface IdentityGrpcAccess {
  /**
   * The caller must be a user with a live session (and, when given, one of `roles`). Throws UnauthenticatedError
   * (no token, session ended), PermissionError (not a user, enrollment-only token, other role).
   */
  readonly caller: (
    ctx: CallContext,
    roles?: readonly Role[],
    options?: { enrollmentTokenAccepted?: boolean },
  ) => Promise<StaffCaller>;
  /** {@link caller} with the admin role. */
  readonly admin: (ctx: CallContext) => Promise<StaffCaller>;
  /** The end client's address (forwarded by a trusted gateway, else the peer's). */
  readonly clientIp: (ctx: CallContext) => string;
  /** Used where a public method optionally takes a token (ActivateUser reactivation). */
  readonly verifier: TokenVerifier;
}

/** Builds the checks. `sessionActive` says whether a session is live now (the session slice). */
export function identityGrpcAccess(options: {
  sessionActive: (sessionId: string) => Promise<boolean>;
  verifier: TokenVerifier;
  forwarders?: ForwarderTrust | undefined;
}): IdentityGrpcAccess {
  const forwarders = options.forwarders ?? NO_FORWARDER_TRUST;
  const caller: IdentityGrpcAccess['caller'] = async (ctx, roles, checks = {}) => {
    const principal = ctx.principal;
    if (!principal) throw new UnauthenticatedError('missing bearer token');
    if (principal.kind !== 'user') throw new PermissionError('only staff users may call this');
    if (principal.scopes.includes(MFA_ENROLL_SCOPE) && checks.enrollmentTokenAccepted !== true)
      throw new PermissionError('enroll TOTP first (EnrollTotp, ConfirmTotp), then sign in again');
    if (principal.sessionId === undefined || !(await options.sessionActive(principal.sessionId))) {
      throw new UnauthenticatedError('session has ended');
    }
    if (roles && !roles.includes(principal.role as Role))
      throw new PermissionError(`this needs the role ${roles.join(' or ')}`);
    const cmd: CommandContext = commandMetadata(ctx);
    return { principal, cmd };
  };
  return {
    caller,
    admin: (ctx) => caller(ctx, [Role.Admin]),
    clientIp: (ctx) => clientAddressOf(ctx, forwarders).address,
    verifier: options.verifier,
  };
}

/** The handlers a slice contributes, by method key of `identity.IdentityServiceService`. */
export type IdentityHandlers = Partial<
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  Record<keyof typeof identity.IdentityServiceService, UnaryHandler<any, any>>
>;

/** `users/{id}` → id. Throws ValidationError on `field`. */
export function userIdOf(name: string, field = 'name'): string {
  const m = /^users\/([a-z0-9][a-z0-9-]{3,62})$/.exec(name);
  if (!m?.[1]) throw new ValidationError([{ field, description: 'must be users/{user}' }]);
  return m[1];
}

/** A proto timestamp from epoch ms, or unset. */
export const protoDate = (ms: number | null): Date | undefined => (ms === null ? undefined : new Date(ms));

/** A name-to-proto-enum table read backwards: the enum number to the name (an unknown number is absent). */
export function protoToName<K extends string>(toProto: Readonly<Record<K, number>>): Map<number, K> {
  return new Map(Object.entries<number>(toProto).map(([name, value]) => [value, name as K]));
}
