/**
 * Follows the session context from a checkpoint kept in NATS: `haven.session.v1.RecordingStarted` registers a
 * recording (RECORDING), `haven.session.v1.RecordingStopped` starts its processing (PROCESSING) and hands it to
 * the pipeline. A recording stopped while this service was down is picked up when it comes back.
 *
 * Each command runs in a span of the session event's trace and its events carry that event's traceparent and
 * correlation id, caused by it (`causedBy`), so a visit's trace shows the recording work.
 *
 * The session's event data may name things as ids (`recordingId: "r1"`) or as resource names
 * (`recording: "recordings/r1"`, the proto fields); both are read.
 */
import { NotFoundError, ValidationError } from '@haven/errors';
import type { EventBus } from '@haven/bus';
import {
  followWithCheckpoints,
  type ConsumerHealth,
  type EventEnvelope,
  type EventStore,
  type Subscription,
} from '@haven/eventstore';
import { causedBy, idOfName, RESOURCE_ID, type Logger } from '@haven/service';
import { contextFromTraceparent, withSpan } from '@haven/telemetry';
import type { RecordingCommand } from './decide';
import { RECORDING_SERVICE, type Recordings } from './recordings';

export const SESSION_RECORDING_STARTED = 'haven.session.v1.RecordingStarted';
export const SESSION_RECORDING_STOPPED = 'haven.session.v1.RecordingStopped';
const CONSUMER = 'recording.session-recordings';
/** An id from `data[idField]` or from the resource name in `data[nameField]` (`<collection>/<id>`). */
function idOf(data: Record<string, unknown>, idField: string, nameField: string, collection: string): string {
  const id = data[idField];
  if (typeof id === 'string' && RESOURCE_ID.test(id)) return id;
  const name = data[nameField];
  return idOfName(typeof name === 'string' ? name : '', nameField, collection);
}

function timeOf(value: unknown, fallback: string): string {
  if (typeof value === 'string' && !Number.isNaN(Date.parse(value))) return new Date(value).toISOString();
  if (value instanceof Date) return value.toISOString();
  return fallback;
}

/** The command a session event means for the recording service, or undefined when it means nothing here. */
export function commandOfSessionEvent(
  event: Pick<EventEnvelope, 'type' | 'data' | 'occurredAt'>,
): { recordingId: string; command: RecordingCommand } | undefined {
  const data = event.data;
  if (event.type === SESSION_RECORDING_STARTED) {
    const recordingId = idOf(data, 'recordingId', 'recording', 'recordings');
    const room = Number(data['room'] ?? 0);
    return {
      recordingId,
      command: {
        type: 'RegisterRecording',
        data: {
          recordingId,
          visitId: idOf(data, 'visitId', 'visit', 'visits'),
          clinicianId: idOf(data, 'clinicianId', 'clinician', 'users'),
          patientId: idOf(data, 'patientId', 'patient', 'patients'),
          janusNode: typeof data['janusNode'] === 'string' ? data['janusNode'] : '',
          room: Number.isSafeInteger(room) ? room : 0,
          startTime: timeOf(data['startTime'], event.occurredAt),
        },
      },
    };
  }
  if (event.type === SESSION_RECORDING_STOPPED) {
    const recordingId = idOf(data, 'recordingId', 'recording', 'recordings');
    const prefix = data['rawFilePrefix'];
    return {
      recordingId,
      command: {
        type: 'StartProcessing',
        data: {
          recordingId,
          rawFilePrefix: typeof prefix === 'string' && prefix !== '' ? prefix : `${recordingId}/`,
          stopTime: timeOf(data['stopTime'], event.occurredAt),
          ...(data['partial'] === true ? { partial: true } : {}),
        },
      },
    };
  }
  return undefined;
}

/** What the follower reads, changes and tells. */
export interface SessionFollowerDeps {
  readonly store: EventStore;
  /** Keeps the follower's checkpoint (shared by replicas, kept across restarts). */
  readonly bus: EventBus;
  readonly recordings: Recordings;
  readonly health: ConsumerHealth;
  readonly logger: Logger;
  /** Called after a recording moved to PROCESSING (the pipeline picks it up). */
  readonly onProcessing: (recordingId: string) => void;
  /** This process's name in `processor` (its host name): whoever appends PROCESSING processes it. */
  readonly processor?: string;
  /**
   * Follow only the recordings made on this Janus node (a processor beside it), from a checkpoint of its own.
   * Undefined: every recording.
   */
  readonly janusNode?: string;
}

/** True when `meant` concerns a recording of another Janus node than `deps.janusNode`. */
async function ofAnotherNode(
  deps: SessionFollowerDeps,
  event: Pick<EventEnvelope, 'data'>,
  meant: NonNullable<ReturnType<typeof commandOfSessionEvent>>,
): Promise<boolean> {
  if (deps.janusNode === undefined) return false;
  if (meant.command.type === 'RegisterRecording') return meant.command.data.janusNode !== deps.janusNode;
  // A stop: the node is the one its registration (appended by the processor of that node) named.
  const { state } = await deps.recordings.load(meant.recordingId);
  return state.status === 'none' || state.janusNode !== deps.janusNode;
}

async function handle(deps: SessionFollowerDeps, event: EventEnvelope): Promise<void> {
  let meant: ReturnType<typeof commandOfSessionEvent>;
  try {
    meant = commandOfSessionEvent(event);
  } catch (error) {
    if (!(error instanceof ValidationError)) throw error;
    deps.logger.error(
      { eventId: event.id, type: event.type, err: error },
      'malformed recording event skipped',
    );
    return;
  }
  if (!meant) return;
  if (await ofAnotherNode(deps, event, meant)) return;
  const command =
    meant.command.type === 'StartProcessing' && deps.processor !== undefined
      ? { ...meant.command, data: { ...meant.command.data, processor: deps.processor } }
      : meant.command;
  try {
    const result = await deps.recordings.command(
      meant.recordingId,
      command,
      causedBy(event, RECORDING_SERVICE),
    );
    if (meant.command.type === 'StartProcessing' && result.events.length > 0) {
      deps.onProcessing(meant.recordingId);
    }
  } catch (error) {
    if (!(error instanceof ValidationError) && !(error instanceof NotFoundError)) throw error;
    deps.logger.error(
      { eventId: event.id, type: event.type, err: error },
      'recording event refused; skipped',
    );
  }
}

/** Starts the follower; it heals itself after a NATS outage and reports through `health`. */
export async function followSessionRecordings(deps: SessionFollowerDeps): Promise<Subscription> {
  return await followWithCheckpoints(deps.store, deps.bus, {
    name: deps.janusNode === undefined ? CONSUMER : `${CONSUMER}.${deps.janusNode}`,
    contexts: ['session'],
    health: deps.health,
    logger: deps.logger,
    // The recording's work is a span of the session event's trace (the visit's); the other events are none of it.
    handler: async (event) => {
      if (event.type !== SESSION_RECORDING_STARTED && event.type !== SESSION_RECORDING_STOPPED) return;
      const parent = contextFromTraceparent(event.traceparent);
      await withSpan('haven.recording.follow_session', { context: parent }, () => handle(deps, event));
    },
  });
}
