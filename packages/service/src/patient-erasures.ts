/**
 * Scheduling's patient erasures, followed by every service that holds something of a patient (session's chat
 * keys, recording's recordings): a durable consumer of the scheduling context, checkpoint in NATS, that hands
 * each erased patient's id to the service.
 */
import {
  followWithCheckpoints,
  type CheckpointSource,
  type ConsumerHealth,
  type EventStore,
  type Follower,
  type PositionedEvent,
} from '@haven/eventstore';
import type { Logger } from './logger';

/** The event scheduling appends when it erases a patient; its data names the patient by `patientId`. */
export const PATIENT_ERASED = 'haven.scheduling.v1.PatientErased';

/** Options of {@link followErasedPatients}. */
export interface ErasedPatientsOptions {
  /** The consumer's name, also its checkpoint's key (`<service>.erasures`). */
  readonly name: string;
  readonly health: ConsumerHealth;
  readonly logger: Logger;
  /**
   * Acts on one erased patient. At least once: a crash before the checkpoint moved calls it again, so it is
   * idempotent. A rejection is retried like any follower failure.
   */
  readonly onErased: (patientId: string, event: PositionedEvent) => Promise<void>;
}

/**
 * Follows the scheduling context from the checkpoint kept under `name` and calls `onErased` for every PatientErased
 * that names a patient; it heals itself after a NATS outage and reports through `health`. Resolves and throws as
 * `followWithCheckpoints`.
 */
export async function followErasedPatients(
  store: Pick<EventStore, 'subscribe' | 'head'>,
  checkpoints: CheckpointSource,
  options: ErasedPatientsOptions,
): Promise<Follower> {
  const { name, health, logger, onErased } = options;
  return await followWithCheckpoints(store, checkpoints, {
    name,
    contexts: ['scheduling'],
    health,
    logger,
    handler: async (event) => {
      const patientId = event.data['patientId'];
      if (event.type === PATIENT_ERASED && typeof patientId === 'string' && patientId !== '') {
        await onErased(patientId, event);
      }
    },
  });
}
