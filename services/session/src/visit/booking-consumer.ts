/**
 * The booking consumer: follows the scheduling context of the event store from a checkpoint kept in NATS, so a
 * booking made while the service was down still opens its visit when it comes back, and a cancelled
 * appointment's visit ends.
 */
import { UnavailableError, ValidationError } from '@haven/errors';
import type { EventBus } from '@haven/bus';
import {
  followWithCheckpoints,
  type ConsumerHealth,
  type EventEnvelope,
  type EventStore,
  type Subscription,
} from '@haven/eventstore';
import { causedBy, type Logger } from '@haven/service';
import { contextFromTraceparent, withSpan } from '@haven/telemetry';
import type { JanusPool } from '../janus/janus-pool';
import { openVisitForAppointment } from './open-visit';
import type { VisitService } from './visit-service';

const BOOKED = 'haven.scheduling.v1.AppointmentBooked';
const CANCELLED = 'haven.scheduling.v1.AppointmentCancelled';
const CONSUMER = 'session.bookings';

/** What the booking consumer reads, opens and ends. */
export interface BookingConsumerDeps {
  readonly store: EventStore;
  /** Keeps the consumer's checkpoint (shared by replicas, kept across pod restarts). */
  readonly bus: EventBus;
  readonly janus: JanusPool;
  readonly roomKey: string;
  readonly visits: VisitService;
  readonly health: ConsumerHealth;
  readonly logger: Logger;
}

/**
 * Opens the visit of a booking. Janus may be restarting or every node briefly down: retries, bounded (about a
 * minute), before giving up. A malformed booking is quarantined (logged without its data) instead of stopping
 * the consumer.
 */
async function openBookedVisit(deps: BookingConsumerDeps, event: EventEnvelope): Promise<void> {
  const { store, janus, roomKey, logger } = deps;
  // A span of the booking's trace, as the visit's events are.
  const parent = contextFromTraceparent(event.traceparent);
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        await withSpan('haven.session.open_visit', { context: parent }, () =>
          openVisitForAppointment({ store, janus, roomKey }, event),
        );
        break;
      } catch (error) {
        if (!(error instanceof UnavailableError) || attempt >= 12) throw error;
        logger.warn(
          { eventId: event.id, attempt: attempt + 1, err: error },
          'opening a visit failed; retrying',
        );
        await new Promise((r) => setTimeout(r, Math.min(5_000, 250 * 2 ** attempt)));
      }
    }
  } catch (error) {
    if (!(error instanceof ValidationError)) throw error;
    logger.error({ eventId: event.id, type: event.type, err: error }, 'malformed booking event skipped');
  }
}

/** A cancelled appointment's visit ends: its room is destroyed and nobody can join any more. */
async function endCancelledVisit(visits: VisitService, event: EventEnvelope, visitId: string): Promise<void> {
  const { state } = await visits.load(visitId);
  if (state.status !== 'open') return;
  await visits.end(
    visitId,
    { type: 'EndVisit', data: { reason: 'appointment_cancelled', at: new Date().toISOString() } },
    causedBy(event, { kind: 'service', id: 'session' }),
  );
}

/** Starts the booking consumer; it heals itself after a NATS outage and reports through `health`. */
export async function followBookings(deps: BookingConsumerDeps): Promise<Subscription> {
  return await followWithCheckpoints(deps.store, deps.bus, {
    name: CONSUMER,
    contexts: ['scheduling'],
    health: deps.health,
    logger: deps.logger,
    handler: async (event) => {
      if (event.type === BOOKED) await openBookedVisit(deps, event);
      if (event.type === CANCELLED && typeof event.data['appointmentId'] === 'string') {
        await endCancelledVisit(deps.visits, event, event.data['appointmentId']);
      }
    },
  });
}
