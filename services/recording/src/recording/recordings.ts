/**
 * The recordings: load a recording's stream and run commands through the decider handler. Every change of a
 * recording goes through here (the session follower, the pipeline, the access side's commands).
 */
import type { Actor, EventStore } from '@haven/eventstore';
import { causedBy, handleCommand, loadAggregate, type CommandMetadata } from '@haven/service';
import { decide, type RecordingCommand } from './decide';
import { evolve, initialRecordingState, recordingStream, type RecordingState } from './recording';

/** The actor of what the recording service does on its own (following the session, processing). */
export const RECORDING_SERVICE: Actor = { kind: 'service', id: 'recording' };

/** The metadata of what the recording service does on its own, in `correlationId`'s chain. */
export function serviceMetadata(correlationId: string, causationId?: string): CommandMetadata {
  return {
    actor: RECORDING_SERVICE,
    correlationId,
    ...(causationId !== undefined ? { causationId } : {}),
  };
}

export class Recordings {
  constructor(private readonly store: EventStore) {}

  /** A recording's state and etag (the revision of its last event). Rejects like the store's `read`. */
  async load(recordingId: string): Promise<{ state: RecordingState; etag: string }> {
    const loaded = await this.#load(recordingId);
    return { state: loaded.state, etag: String(loaded.expectedRevision) };
  }

  /**
   * A recording's state and the metadata of the service's own next step on it (processing it, recovering its
   * processing), from one read: the step is caused by its last event, in that event's correlation and trace (the
   * visit's, from the session's RecordingStopped on); in `fallback`'s correlation when the recording has no
   * event. Rejects like `load`.
   */
  async nextStep(
    recordingId: string,
    fallback: string,
  ): Promise<{ state: RecordingState; metadata: CommandMetadata }> {
    const { state, last } = await this.#load(recordingId);
    return { state, metadata: last ? causedBy(last, RECORDING_SERVICE) : serviceMetadata(fallback) };
  }

  #load(recordingId: string) {
    return loadAggregate({
      store: this.store,
      stream: recordingStream(recordingId),
      evolve,
      initialState: initialRecordingState,
    });
  }

  /** Decides and appends. Rejects with what `decide` throws or the store's error. */
  async command(recordingId: string, command: RecordingCommand, metadata: CommandMetadata) {
    return await handleCommand({
      store: this.store,
      stream: recordingStream(recordingId),
      decide,
      evolve,
      initialState: initialRecordingState,
      command,
      metadata,
    });
  }
}
