/**
 * Follows the session context: when a visit ends (`haven.session.v1.VisitEnded`, visitId = appointmentId), the
 * appointment becomes COMPLETED, its patient link dies and its slot is freed. Redemption also checks the visit stream itself, so a
 * link is refused the moment the visit ended, even before the subscription caught up.
 */
import { ConcurrencyError, UnavailableError } from '@haven/errors';
import {
  followStore,
  type ConsumerHealth,
  type EventEnvelope,
  type EventStore,
  type Subscription,
} from '@haven/eventstore';
import { causedBy, handleCommand, type Logger } from '@haven/service';
import { contextFromTraceparent, withSpan } from '@haven/telemetry';
import { appointmentStream, freeSlot } from './appointment/grpc';
import { evolve, initialAppointmentState } from './appointment/appointment';
import { decide } from './appointment/decide';
import type { SchedulingDeps } from './deps';

export const VISIT_ENDED = 'haven.session.v1.VisitEnded';
const ID = /^[a-z0-9-]{4,63}$/;

/** The session context's visit stream (visit id = appointment id). */
export function visitStream(visitId: string): string {
  return `session.visit-${visitId}`;
}

async function complete(
  deps: Pick<SchedulingDeps, 'store' | 'readModel' | 'clock' | 'snapshots' | 'logger'>,
  appointmentId: string,
  ended: Pick<EventEnvelope, 'id' | 'correlationId' | 'traceparent' | 'data'>,
): Promise<void> {
  const reason = typeof ended.data['reason'] === 'string' ? ended.data['reason'] : 'ended';
  // Caused by the VisitEnded, in the visit's trace.
  const metadata = causedBy(ended, { kind: 'service', id: 'scheduling' });
  const result = await handleCommand({
    store: deps.store,
    stream: appointmentStream(appointmentId),
    decide: (c, s) => (s.status === 'none' ? [] : decide(c, s)),
    evolve,
    initialState: initialAppointmentState,
    command: { type: 'CompleteAppointment' as const, data: { visitId: appointmentId, reason } },
    metadata,
    now: deps.clock,
  });
  if (result.state.status === 'none') return;
  deps.readModel.putAppointment(result.state);
  // A completed appointment frees the rest of its slot (the reconciler does it when this fails).
  if (result.events.length > 0) await freeSlot(deps, metadata, result.state);
}

/** Completes the appointment when its visit stream holds a VisitEnded. */
export async function completeIfVisitEnded(
  deps: Pick<SchedulingDeps, 'store' | 'readModel' | 'clock' | 'snapshots' | 'logger'>,
  appointmentId: string,
): Promise<void> {
  const events = await deps.store.read(visitStream(appointmentId));
  const ended = events.find((e) => e.type === VISIT_ENDED);
  if (ended) await complete(deps, appointmentId, ended);
}

function appointmentIdOf(event: { stream: string; data: Record<string, unknown> }): string | undefined {
  const raw = event.data['visitId'] ?? event.data['visit'] ?? event.stream.slice('session.visit-'.length);
  const id = typeof raw === 'string' ? raw.replace(/^visits\//, '') : undefined;
  return id && ID.test(id) ? id : undefined;
}

/**
 * Follows the session context from the start (consumer `scheduling.session-follower`, self-healing, reported to
 * `health`). A store failure while completing an appointment is retried (the follower delivers the event
 * again); any other refusal is logged and the event skipped. Resolves once the first subscription attempt was made.
 */
export function followSessions(
  deps: Pick<SchedulingDeps, 'store' | 'readModel' | 'clock' | 'snapshots' | 'logger'>,
  store: EventStore,
  logger: Logger,
  health?: ConsumerHealth,
): Promise<Subscription> {
  return followStore(store, {
    name: 'scheduling.session-follower',
    from: 'start',
    contexts: ['session.'],
    logger,
    ...(health ? { health } : {}),
    handler: async (event) => {
      if (event.type !== VISIT_ENDED) return;
      const appointmentId = appointmentIdOf(event);
      if (!appointmentId) return;
      try {
        // A span of the visit's trace (the VisitEnded's), as the completion's events are.
        const parent = contextFromTraceparent(event.traceparent);
        await withSpan('haven.scheduling.complete_visit', { context: parent }, () =>
          complete(deps, appointmentId, event),
        );
      } catch (error) {
        if (error instanceof UnavailableError || error instanceof ConcurrencyError) throw error;
        logger.error({ err: error, appointmentId }, 'could not complete the appointment of an ended visit');
      }
    },
  });
}
