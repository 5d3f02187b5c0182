/**
 * The erasure consumer: follows the scheduling context from a checkpoint kept in NATS and, for every
 * `haven.scheduling.v1.PatientErased`, destroys the patient's chat key in this service's own key store. Every
 * chat message, file name, transcript and lobby note sealed with it can never be opened again; the reads then
 * answer "patient data erased". At least once and idempotent: a destroyed key stays destroyed, so a redelivery
 * (a crash before the checkpoint moved) changes nothing.
 */
import type { EventBus } from '@haven/bus';
import type { PatientKeyStore } from '@haven/crypto';
import type { ConsumerHealth, EventStore, Subscription } from '@haven/eventstore';
import { followErasedPatients, type Logger } from '@haven/service';

const CONSUMER = 'session.erasures';

/** What the erasure consumer reads and destroys. */
export interface ErasureConsumerDeps {
  readonly store: EventStore;
  /** Keeps the consumer's checkpoint (shared by replicas, kept across pod restarts). */
  readonly bus: EventBus;
  /** The chat's patient keys; undefined without HAVEN_DATA_DIR (then there is no chat key to destroy). */
  readonly keys: PatientKeyStore | undefined;
  readonly health: ConsumerHealth;
  readonly logger: Logger;
}

/** Starts the erasure consumer; it heals itself after a NATS outage and reports through `health`. */
export async function followErasures(deps: ErasureConsumerDeps): Promise<Subscription> {
  return await followErasedPatients(deps.store, deps.bus, {
    name: CONSUMER,
    health: deps.health,
    logger: deps.logger,
    onErased: async (patientId, event) => {
      if (!deps.keys) return;
      await deps.keys.destroy(patientId);
      deps.logger.info({ patientId, eventId: event.id }, 'patient erased: chat key destroyed');
    },
  });
}
