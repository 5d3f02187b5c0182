import { PrincipalKind } from '@haven/auth';
import { UnauthenticatedError } from '@haven/errors';
import type { Actor } from '@haven/eventstore';

/** The kinds of authenticated caller: the access policy's own list (one definition, in @haven/auth). */
export { PrincipalKind };

/** The authenticated caller of an RPC, from a verified token. */
export interface Principal {
  readonly kind: PrincipalKind;
  /** User id, patient principal id, service-account id or service name (`sub`). */
  readonly id: string;
  /** Role for users (`admin`, `clinician`, `front_desk`, `auditor`). */
  readonly role?: string;
  /** OAuth-style scopes (`scope` claim, space separated). */
  readonly scopes: readonly string[];
  /** The identity session (`sid`), for idle logoff and revocation. */
  readonly sessionId?: string;
  /** The appointment/visit a patient principal is scoped to (`visit`). */
  readonly subjectOf?: string;
  /** A break-glass grant the token carries (`bg`, `bg_res` claims; scope `breakglass`). */
  readonly breakGlass?: { readonly grantId: string; readonly resource: string };
}

/** The event-envelope actor of a principal (`{ kind, id, role? }`). Throws nothing. */
export function actorOf(principal: Principal): Actor {
  return {
    kind: principal.kind,
    id: principal.id,
    ...(principal.role !== undefined ? { role: principal.role } : {}),
  };
}

/** The caller of an RPC. Throws UnauthenticatedError when there is none (a public method). */
export function requirePrincipal(ctx: { readonly principal: Principal | undefined }): Principal {
  if (!ctx.principal) throw new UnauthenticatedError('authentication required');
  return ctx.principal;
}

/** What {@link callMetadata} reads of a call. */
interface CallTrace {
  readonly correlationId: string;
  readonly traceparent?: string | undefined;
  readonly signal?: AbortSignal | undefined;
}

/**
 * The envelope metadata for events a call appends as `actor` (`handleCommand`'s `metadata`): the call's correlation
 * id and traceparent, and its abort signal when it has one (so nothing is appended for a caller whose deadline
 * passed). For a call without a principal (a link redeem: the anonymous link, or whom the link proved). Throws
 * nothing.
 */
export function callMetadata(
  ctx: CallTrace,
  actor: Actor,
): { actor: Actor; correlationId: string; traceparent?: string; signal?: AbortSignal } {
  return {
    actor,
    correlationId: ctx.correlationId,
    ...(ctx.traceparent !== undefined ? { traceparent: ctx.traceparent } : {}),
    ...(ctx.signal !== undefined ? { signal: ctx.signal } : {}),
  };
}

/**
 * {@link callMetadata} with the caller as actor. Throws UnauthenticatedError when the call has no principal.
 */
export function commandMetadata(
  ctx: CallTrace & { readonly principal: Principal | undefined },
): ReturnType<typeof callMetadata> {
  return callMetadata(ctx, actorOf(requirePrincipal(ctx)));
}
