/**
 * `haven.events.v1.PhiAccessed`: what every read that returns PHI appends before the PHI leaves ("no event, no
 * answer"). One builder for the services that record it (scheduling's patient access streams, session's chat
 * access streams); audit reads them all.
 */
import type { NewEvent } from '@haven/eventstore';
import { commandEvent } from './command-event';
import type { CallContext } from './grpc-server';
import { actorOf, callMetadata, type Principal } from './principal';

/** The event type. */
export const PHI_ACCESSED = 'haven.events.v1.PhiAccessed';

/** How the read ended: PHI returned, refused, or failed. */
export type PhiOutcome = 'granted' | 'denied' | 'failed';

/** One read of a patient's PHI. */
export interface PhiAccess {
  readonly principal: Principal;
  readonly ctx: Pick<CallContext, 'correlationId' | 'traceparent' | 'method'>;
  readonly patientId: string;
  /** The resource read, e.g. `patients/p-1`, `appointments/a-1` or `visits/v-1/messages`. */
  readonly what: string;
  /** The sealed fields opened. */
  readonly fields: readonly string[];
  /** The purpose name (`PHI_ACCESS_PURPOSE_TREATMENT`…). */
  readonly why: string;
  readonly outcome: PhiOutcome;
  /** The break-glass grant that let the read through, when one did. */
  readonly breakGlassGrant?: string | undefined;
}

/** The PhiAccessed event of `access`, with a fresh id, at `clock()`. */
export function phiAccessEvent(clock: () => Date, access: PhiAccess): NewEvent {
  const { principal, ctx } = access;
  const data = {
    who: actorOf(principal),
    patientId: access.patientId,
    whose: `patients/${access.patientId}`,
    what: access.what,
    fields: [...access.fields],
    why: access.why,
    outcome: access.outcome,
    method: ctx.method,
    ...(access.breakGlassGrant !== undefined ? { breakGlassGrant: access.breakGlassGrant } : {}),
  };
  return commandEvent(callMetadata(ctx, actorOf(principal)), { type: PHI_ACCESSED, data }, clock());
}
