/**
 * Break-glass use: a clinician or admin holding a break-glass token (scope `breakglass`, claims `bg` and
 * `bg_res`, issued by identity's RequestBreakGlass) reaches a resource outside their normal rights. Every such
 * use must be an event: a service that lets a break-glass principal through calls
 * {@link recordBreakGlassUse} before it answers (no event, no answer).
 */
import { newEvent, type EventStore } from '@haven/eventstore';
import { PermissionError } from '@haven/errors';
import { actorOf, type Principal } from './principal';

/** The scope every break-glass token carries. */
export const BREAK_GLASS_SCOPE = 'breakglass';
/** The event type of a use. */
export const BREAK_GLASS_USED_TYPE = 'haven.identity.v1.BreakGlassUsed';

/** Options of {@link recordBreakGlassUse}. */
export interface RecordBreakGlassUseOptions {
  /** The service recording the use, e.g. `session` (goes into the event). */
  readonly service?: string;
  /** What was done, e.g. `haven.session.v1.SessionService/GetVisit`. */
  readonly action?: string;
  readonly correlationId?: string;
  readonly traceparent?: string;
}

/** True when the principal holds a break-glass grant for exactly `resource`. Throws nothing. */
export function breakGlassCovers(principal: Principal | undefined, resource: string): boolean {
  return (
    principal?.breakGlass !== undefined &&
    principal.scopes.includes(BREAK_GLASS_SCOPE) &&
    principal.breakGlass.resource === resource
  );
}

/**
 * Appends `haven.identity.v1.BreakGlassUsed { grantId, resource, service, action }` to the grant's own stream
 * `breakglass.use-<grantId>` (one stream per grant, every service writing into it, so an auditor reads all
 * uses of a grant in one place) with the principal as actor. `resource` is a resource name such as
 * `patients/p-1`, never PHI. Returns the event id.
 * Throws PermissionError when the principal holds no break-glass grant for `resource` (the caller must then
 * refuse the call); the store's errors when the append fails.
 */
export async function recordBreakGlassUse(
  store: EventStore,
  principal: Principal,
  resource: string,
  options: RecordBreakGlassUseOptions = {},
): Promise<string> {
  if (!breakGlassCovers(principal, resource) || principal.breakGlass === undefined) {
    throw new PermissionError('no break-glass grant for this resource');
  }
  const { grantId } = principal.breakGlass;
  const event = newEvent({
    type: BREAK_GLASS_USED_TYPE,
    data: {
      grantId,
      resource,
      service: options.service ?? '',
      action: options.action ?? '',
      at: new Date().toISOString(),
    },
    actor: actorOf(principal),
    ...(options.correlationId !== undefined ? { correlationId: options.correlationId } : {}),
    ...(options.traceparent !== undefined ? { traceparent: options.traceparent } : {}),
  });
  await store.append(`breakglass.use-${grantId}`, 'any', [event]);
  return event.id;
}
