/**
 * "No event, no answer": every read that returns PHI appends `haven.events.v1.PhiAccessed` to the patient's
 * access stream (`scheduling.patient_access-<patientId>`, expected revision `any`) before the PHI leaves.
 * When that append fails the read fails with UNAVAILABLE and returns nothing.
 */
import { UnavailableError, ValidationError } from '@haven/errors';
import { phiEvents } from '@haven/proto';
import { newEventId, type EventStore } from '@haven/eventstore';
import { actorOf, type CallContext, type Principal } from '@haven/service';

export const PHI_ACCESSED = 'haven.events.v1.PhiAccessed';

export function patientAccessStream(patientId: string): string {
  return `scheduling.patient_access-${patientId}`;
}

export type PhiOutcome = 'granted' | 'denied' | 'failed';

/**
 * The declared purpose of a PHI read. Throws ValidationError (field `purpose`) when it is missing or unknown.
 */
export function requirePurpose(purpose: phiEvents.PhiAccessPurpose | undefined, field = 'purpose'): string {
  if (
    purpose === undefined ||
    purpose === phiEvents.PhiAccessPurpose.PHI_ACCESS_PURPOSE_UNSPECIFIED ||
    purpose === phiEvents.PhiAccessPurpose.UNRECOGNIZED
  ) {
    throw new ValidationError([{ field, description: 'is required for a read that returns PHI' }]);
  }
  const name = phiEvents.phiAccessPurposeToJSON(purpose);
  if (name === 'UNRECOGNIZED') throw new ValidationError([{ field, description: 'is not a known purpose' }]);
  return name;
}

export interface PhiAccess {
  readonly principal: Principal;
  readonly ctx: Pick<CallContext, 'correlationId' | 'traceparent' | 'method'>;
  readonly patientId: string;
  /** The resource read, e.g. `patients/p-1` or `appointments/a-1`. */
  readonly what: string;
  readonly fields: readonly string[];
  /** The purpose name (`PHI_ACCESS_PURPOSE_TREATMENT`…). */
  readonly why: string;
  readonly outcome: PhiOutcome;
}

/**
 * Appends one PhiAccessed event. Throws UnavailableError when the store refuses or is unreachable: the caller
 * must then not return any PHI.
 */
export async function recordPhiAccess(
  deps: { readonly store: Pick<EventStore, 'append'>; readonly clock: () => Date },
  access: PhiAccess,
): Promise<void> {
  const { principal, ctx } = access;
  try {
    await deps.store.append(patientAccessStream(access.patientId), 'any', [
      {
        id: newEventId(),
        type: PHI_ACCESSED,
        occurredAt: deps.clock().toISOString(),
        actor: actorOf(principal),
        correlationId: ctx.correlationId,
        causationId: ctx.correlationId,
        ...(ctx.traceparent !== undefined ? { traceparent: ctx.traceparent } : {}),
        data: {
          who: actorOf(principal),
          patientId: access.patientId,
          whose: `patients/${access.patientId}`,
          what: access.what,
          fields: [...access.fields],
          why: access.why,
          outcome: access.outcome,
          method: ctx.method,
          ...(principal.breakGlass ? { breakGlassGrant: principal.breakGlass.grantId } : {}),
        },
      },
    ]);
  } catch (error) {
    throw new UnavailableError('the PHI access could not be recorded; no PHI was returned', { cause: error });
  }
}
