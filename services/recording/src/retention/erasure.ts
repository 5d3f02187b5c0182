/**
 * Erased patients' recordings: a durable consumer of the scheduling context (checkpoint in NATS) that, for every
 * `haven.scheduling.v1.PatientErased`, crypto-shreds each recording of that patient (`RecordingDeleted` with
 * reason PATIENT_SHREDDED, then the recording's key and object destroyed), or records `RecordingErasureBlocked`
 * when a legal hold keeps it (or it is still recording or processing). The retention sweep finishes a blocked
 * one once the hold is released or processing ended ({@link finishBlockedErasures}). At least once and
 * idempotent: a redelivered erasure appends nothing new.
 */
import type { EventBus } from '@haven/bus';
import type { ConsumerHealth, EventEnvelope, EventStore, Subscription } from '@haven/eventstore';
import { causedBy, followErasedPatients, type CommandMetadata, type Logger } from '@haven/service';
import { contextFromTraceparent, withSpan } from '@haven/telemetry';
import { finishShredding, type PlaybackDeps } from '../playback/grpc';
import type { RecordingProjection } from '../recording/projection';
import { RECORDING_SERVICE, serviceMetadata } from '../recording/recordings';
import type { KnownRecording } from '../recording/recording';

const CONSUMER = 'recording.erasures';

/** What the erasure consumer reads and shreds. */
export interface ErasureDeps {
  readonly recordings: PlaybackDeps['recordings'];
  readonly objects: PlaybackDeps['objects'];
  readonly keys: PlaybackDeps['keys'];
  readonly projection: RecordingProjection;
  readonly logger: Logger;
}

/**
 * Applies a patient's erasure to one recording: shreds it, or records what blocks it. Resolves with the outcome.
 */
async function eraseOne(
  deps: ErasureDeps,
  recording: KnownRecording,
  metadata: CommandMetadata,
): Promise<'shredded' | 'blocked' | 'unchanged'> {
  const result = await deps.recordings.command(
    recording.recordingId,
    { type: 'ErasePatientRecording', data: {} },
    metadata,
  );
  const state = result.state as KnownRecording;
  if (state.status === 'deleted') {
    // Also after a crash between RecordingDeleted and the destruction (a redelivery): idempotent.
    await finishShredding(deps, state);
    return result.events.length > 0 ? 'shredded' : 'unchanged';
  }
  return result.events.length > 0 ? 'blocked' : 'unchanged';
}

/** Shreds (or records as blocked) every recording of `patientId` the projection knows, caused by the erasure. */
export async function erasePatientRecordings(
  deps: ErasureDeps,
  patientId: string,
  cause: Pick<EventEnvelope, 'id' | 'correlationId' | 'traceparent'>,
): Promise<{ shredded: number; blocked: number }> {
  const counts = { shredded: 0, blocked: 0 };
  const metadata = causedBy(cause, RECORDING_SERVICE);
  for (const r of deps.projection.all()) {
    if (r.patientId !== patientId || (r.status === 'deleted' && r.reason !== 'PATIENT_SHREDDED')) continue;
    const outcome = await eraseOne(deps, r, metadata);
    if (outcome !== 'unchanged') counts[outcome] += 1;
  }
  return counts;
}

/**
 * The sweep's part: a recording whose erasure was blocked is shredded once nothing blocks it any more (the
 * legal hold released, processing ended). Resolves with the ids shredded.
 */
export async function finishBlockedErasures(deps: ErasureDeps, now: Date): Promise<string[]> {
  const done: string[] = [];
  for (const r of deps.projection.all()) {
    if (r.status === 'deleted' || r.erasureBlocked === undefined || r.legalHold) continue;
    if (r.status === 'recording' || r.status === 'processing') continue;
    const outcome = await eraseOne(deps, r, serviceMetadata(`erasure-sweep-${now.toISOString()}`));
    if (outcome === 'shredded') done.push(r.recordingId);
  }
  return done;
}

/** Starts the consumer; it heals itself after a NATS outage and reports through `health`. */
export async function followPatientErasures(
  deps: ErasureDeps & { readonly store: EventStore; readonly bus: EventBus; readonly health: ConsumerHealth },
): Promise<Subscription> {
  return await followErasedPatients(deps.store, deps.bus, {
    name: CONSUMER,
    health: deps.health,
    logger: deps.logger,
    // A span of the erasure's trace, as the recordings' events are.
    onErased: (patientId, event) =>
      withSpan(
        'haven.recording.erase_patient',
        { context: contextFromTraceparent(event.traceparent) },
        async () => {
          // Every recording registered before the erasure is folded before it is looked for.
          await deps.projection.caughtUp();
          const counts = await erasePatientRecordings(deps, patientId, event);
          deps.logger.info({ patientId, ...counts }, 'patient erased: recordings shredded or blocked');
        },
      ),
  });
}
