/**
 * "No event, no answer": every read that returns PHI appends `haven.events.v1.PhiAccessed` to the patient's
 * access stream (`scheduling.patient_access-<patientId>`, expected revision `any`) before the PHI leaves.
 * When that append fails the read fails with UNAVAILABLE and returns nothing.
 */
import { UnavailableError, ValidationError } from '@haven/errors';
import { phiEvents } from '@haven/proto';
import type { EventStore, NewEvent } from '@haven/eventstore';
import { actorOf, phiAccessEvent, type PhiAccess } from '@haven/service';

export function patientAccessStream(patientId: string): string {
  return `scheduling.patient_access-${patientId}`;
}

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

/** The PhiAccessed event of `access`, naming the caller's break-glass grant when its token carries one. */
function accessEvent(clock: () => Date, access: PhiAccess): NewEvent {
  return phiAccessEvent(clock, { ...access, breakGlassGrant: access.principal.breakGlass?.grantId });
}

/**
 * Appends one PhiAccessed event. Throws UnavailableError when the store refuses or is unreachable: the caller
 * must then not return any PHI.
 */
export async function recordPhiAccess(
  deps: { readonly store: Pick<EventStore, 'append'>; readonly clock: () => Date },
  access: PhiAccess,
): Promise<void> {
  try {
    await deps.store.append(patientAccessStream(access.patientId), 'any', [accessEvent(deps.clock, access)]);
  } catch (error) {
    throw new UnavailableError('the PHI access could not be recorded; no PHI was returned', { cause: error });
  }
}

/** At most this many accesses waiting for one append. */
const MAX_ACCESS_BATCH = 64;

interface PendingAccess {
  readonly access: PhiAccess;
  readonly done: (error?: unknown) => void;
}

/**
 * Records PhiAccessed like {@link recordPhiAccess} for a caller that reads many patients' PHI at once (the
 * outbox): one append per access stream at a time, and the accesses that arrive meanwhile go together in the
 * next one, so concurrent reads of one patient neither race each other's `any` append nor wait one by one.
 * Accesses of one append that differ only in their fields and correlation (the same principal, resource,
 * purpose, outcome and method) become ONE event listing every field read, with the correlation id of the first:
 * still one entry per patient per read, recorded before any of those reads. `record` resolves once the event
 * that covers its access is stored; it throws UnavailableError like recordPhiAccess.
 */
export class PhiAccessRecorder {
  readonly #deps: { readonly store: Pick<EventStore, 'append'>; readonly clock: () => Date };
  readonly #queues = new Map<string, PendingAccess[]>();

  constructor(deps: { readonly store: Pick<EventStore, 'append'>; readonly clock: () => Date }) {
    this.#deps = deps;
  }

  record(access: PhiAccess): Promise<void> {
    const stream = patientAccessStream(access.patientId);
    return new Promise<void>((resolve, reject) => {
      const done = (error?: unknown) =>
        error === undefined
          ? resolve()
          : reject(
              new UnavailableError('the PHI access could not be recorded; no PHI was returned', {
                cause: error,
              }),
            );
      const queue = this.#queues.get(stream);
      if (queue) queue.push({ access, done });
      else {
        // The accesses recorded in the same turn of the event loop (a batch of reminders) go together.
        const first: PendingAccess[] = [{ access, done }];
        this.#queues.set(stream, first);
        queueMicrotask(() => void this.#flush(stream, first.splice(0, MAX_ACCESS_BATCH)));
      }
    });
  }

  async #flush(stream: string, batch: PendingAccess[]): Promise<void> {
    for (;;) {
      let failure: unknown;
      try {
        await this.#deps.store.append(stream, 'any', this.#events(batch));
      } catch (error) {
        failure = error ?? new Error('append failed');
      }
      for (const b of batch) b.done(failure);
      const waiting = this.#queues.get(stream) ?? [];
      if (waiting.length === 0) {
        this.#queues.delete(stream);
        return;
      }
      batch = waiting.splice(0, MAX_ACCESS_BATCH);
    }
  }

  /** One event per distinct access of `batch` (fields merged, in first-seen order). */
  #events(batch: readonly PendingAccess[]): NewEvent[] {
    const merged = new Map<string, { access: PhiAccess; fields: Set<string> }>();
    for (const { access } of batch) {
      const { principal, ctx } = access;
      const key = JSON.stringify([
        actorOf(principal),
        principal.breakGlass?.grantId ?? '',
        access.what,
        access.why,
        access.outcome,
        ctx.method,
      ]);
      const seen = merged.get(key);
      if (seen) for (const f of access.fields) seen.fields.add(f);
      else merged.set(key, { access, fields: new Set(access.fields) });
    }
    return [...merged.values()].map(({ access, fields }) =>
      accessEvent(this.#deps.clock, { ...access, fields: [...fields] }),
    );
  }
}
