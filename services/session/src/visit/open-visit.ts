/**
 * Opens the visit of a newly booked appointment: places a room on the least-loaded Janus node, creates it
 * there (secret, PIN, allow-list on, nobody admitted) and appends VisitOpened. Idempotent: a redelivered
 * booking finds the visit open and changes nothing.
 */
import { createHash, createHmac } from 'node:crypto';
import { z } from 'zod';
import { ConcurrencyError, NotFoundError, PreconditionError, ValidationError } from '@haven/errors';
import type { Actor, EventEnvelope, EventStore } from '@haven/eventstore';
import {
  causedBy,
  actorOf,
  callMetadata,
  handleCommand,
  loadAggregate,
  type CallContext,
  type Principal,
} from '@haven/service';
import type { JanusPool } from '../janus/janus-pool';
import { decide } from './decide';
import { evolve, initialVisitState, type VisitState } from './visit';

export function visitStream(visitId: string): string {
  return `session.visit-${visitId}`;
}

/** The Janus room number of a visit: stable, so a retry after a crash finds the room it created. */
export function roomNumberOf(visitId: string): number {
  const digest = createHash('sha256').update(`haven-room:${visitId}`).digest();
  return digest.readUIntBE(0, 6); // 48 bits: safe as a JSON number
}

/** Room secret and PIN, derived from the service's room key so they are never stored or sent in events. */
export function roomCredentials(roomKey: string, visitId: string): { secret: string; pin: string } {
  const mac = (label: string) =>
    createHmac('sha256', roomKey).update(`${label}:${visitId}`).digest('base64url');
  return { secret: mac('secret'), pin: mac('pin').slice(0, 16) };
}

/** The part of AppointmentBooked the session service relies on; checked, since it comes from another context. */
export const appointmentBookedData = z.object({
  appointmentId: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/),
  clinicianId: z.string().min(1),
  patientId: z.string().min(1),
  startTime: z.iso.datetime(),
  endTime: z.iso.datetime(),
});
export type AppointmentBookedData = z.output<typeof appointmentBookedData>;

/** Who asks to open a visit, when it is not the booking itself (OpenVisit): recorded on VisitOpened. */
export interface OpenedBy {
  readonly actor: Actor;
  readonly correlationId: string;
  readonly traceparent?: string;
}

export async function openVisitForAppointment(
  deps: { store: EventStore; janus: JanusPool; roomKey: string },
  booked: EventEnvelope,
  by?: OpenedBy,
): Promise<{ state: VisitState; events: readonly { id: string; type: string }[] }> {
  const parsed = appointmentBookedData.safeParse(booked.data);
  if (!parsed.success) {
    throw new ValidationError(
      parsed.error.issues.map((i) => ({ field: `data.${i.path.join('.')}`, description: i.message })),
    );
  }
  const { appointmentId, clinicianId, patientId, startTime, endTime } = parsed.data;
  const visitId = appointmentId;
  // A redelivered or replayed booking finds its visit opened (or already ended): never recreate its room.
  const existing = await loadAggregate({
    store: deps.store,
    stream: visitStream(visitId),
    evolve,
    initialState: initialVisitState,
  });
  if (existing.state.status !== 'none') return { state: existing.state, events: [] };
  const room = roomNumberOf(visitId);
  const node = await deps.janus.nodeFor(visitId);
  await node.createRoom({ room, ...roomCredentials(deps.roomKey, visitId), description: `visit ${visitId}` });
  const result = await handleCommand({
    store: deps.store,
    stream: visitStream(visitId),
    decide,
    evolve,
    initialState: initialVisitState,
    command: {
      type: 'OpenVisit',
      data: {
        visitId,
        appointmentId,
        clinicianId,
        patientId,
        janusNode: node.node.id,
        room,
        startTime,
        endTime,
      },
    },
    metadata: by
      ? {
          actor: by.actor,
          correlationId: by.correlationId,
          causationId: booked.id,
          ...(by.traceparent ? { traceparent: by.traceparent } : {}),
        }
      : causedBy(booked, { kind: 'service', id: 'session' }),
  });
  return { state: result.state, events: result.events };
}

const SCHEDULING = 'haven.scheduling.v1.';
/** Appointment events after which no visit may open, and how to say so. */
const CLOSED: Readonly<Record<string, string>> = {
  [`${SCHEDULING}AppointmentCancelled`]: 'cancelled',
  [`${SCHEDULING}AppointmentCompleted`]: 'completed',
  [`${SCHEDULING}AppointmentMarkedNoShow`]: 'marked a no-show',
};

/**
 * The appointment as OpenVisit needs it, from the scheduling context's own events: its booking with the
 * latest times. Throws NotFoundError when there is no such appointment, PreconditionError when it was
 * cancelled, completed or marked a no-show, or has already ended.
 */
export async function bookedAppointment(
  store: EventStore,
  appointmentId: string,
  now: Date,
): Promise<EventEnvelope> {
  const events = await store.read(`scheduling.appointment-${appointmentId}`);
  const booked = events.find((e) => e.type === `${SCHEDULING}AppointmentBooked`);
  if (!booked) throw new NotFoundError(`appointment ${appointmentId} not found`);
  let data = { ...booked.data };
  for (const e of events) {
    if (e.type === `${SCHEDULING}AppointmentRescheduled`) {
      data = { ...data, startTime: e.data['startTime'], endTime: e.data['endTime'] };
    } else if (CLOSED[e.type] !== undefined) {
      throw new PreconditionError(`appointment ${appointmentId} was ${CLOSED[e.type]}`);
    }
  }
  const end = typeof data['endTime'] === 'string' ? Date.parse(data['endTime']) : NaN;
  if (Number.isFinite(end) && end <= now.getTime()) {
    throw new PreconditionError(`appointment ${appointmentId} is over`);
  }
  return { ...booked, data };
}

/**
 * OpenVisit for hospital systems: the booking's facts from the scheduling context, then the same path as a
 * booking; a booking consumer that opened it first wins (the visit is the same either way).
 */
export function openVisitOnRequest(deps: {
  store: EventStore;
  janus: JanusPool;
  roomKey: string;
}): (appointmentId: string, ctx: CallContext, principal: Principal) => Promise<void> {
  return async (appointmentId, ctx, principal) => {
    const booked = await bookedAppointment(deps.store, appointmentId, new Date());
    try {
      await openVisitForAppointment(deps, booked, callMetadata(ctx, actorOf(principal)));
    } catch (error) {
      if (!(error instanceof ConcurrencyError)) throw error;
    }
  };
}
