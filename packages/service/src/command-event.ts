import { newEventId, type Actor, type EventEnvelope, type NewEvent, type SealedPhi } from '@haven/eventstore';
import type { CommandMetadata } from './decider';

/** The envelope a command gives its events: who, which causal chain, which trace. */
export type EventMetadata = Pick<CommandMetadata, 'actor' | 'correlationId' | 'causationId' | 'traceparent'>;

/**
 * The event `{ type, data, phi? }` of a command with `metadata`'s envelope: a fresh UUIDv7 id, `occurredAt` = `at`
 * (pass the service clock's time; default now), the actor, the correlation id, the causation id (default the
 * correlation id) and the traceparent when the metadata has one. What handleCommand appends for a decision, and
 * every append outside a decider (indexes, PHI access, views). Throws nothing.
 */
export function commandEvent<TType extends string, TData>(
  metadata: EventMetadata,
  event: { readonly type: TType; readonly data: TData; readonly phi?: SealedPhi | undefined },
  at: Date = new Date(),
): NewEvent<TType, TData> {
  const { actor, correlationId, traceparent } = metadata;
  return {
    id: newEventId(),
    type: event.type,
    occurredAt: at.toISOString(),
    actor,
    correlationId,
    causationId: metadata.causationId ?? correlationId,
    data: event.data,
    ...(traceparent !== undefined ? { traceparent } : {}),
    ...(event.phi !== undefined ? { phi: event.phi } : {}),
  };
}

/**
 * The metadata of a command run as `actor` because of the stored `event` (a follower's reaction): the event's
 * correlation id and traceparent (when it has one: an empty one is none), caused by the event. Throws nothing.
 */
export function causedBy(
  event: Pick<EventEnvelope, 'id' | 'correlationId' | 'traceparent'>,
  actor: Actor,
): EventMetadata {
  return {
    actor,
    correlationId: event.correlationId,
    causationId: event.id,
    ...(event.traceparent ? { traceparent: event.traceparent } : {}),
  };
}
