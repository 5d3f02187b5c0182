/**
 * In-memory read model of every recording, rebuilt at start from the recording context of the event store and
 * kept current by a subscription: ListRecordings and the start-up recovery read it. Commands never decide on
 * it; they load their stream.
 */
import {
  followStore,
  type ConsumerHealth,
  type EventStore,
  type Follower,
  type FollowerLogger,
} from '@haven/eventstore';
import { evolve, initialRecordingState, type KnownRecording, type RecordingState } from './recording';

const STREAM = /^recording\.recording-(.+)$/;

export class RecordingProjection {
  private readonly recordings = new Map<string, RecordingState>();
  private follower: Follower | undefined;

  /** Follows the recording context from the start (consumer `recording.recordings`, self-healing). */
  async start(
    store: Pick<EventStore, 'subscribe' | 'head'>,
    options: { health?: ConsumerHealth; logger?: FollowerLogger } = {},
  ): Promise<void> {
    this.follower = await followStore(store, {
      name: 'recording.recordings',
      from: 'start',
      contexts: ['recording'],
      ...options,
      handler: async (event) => {
        const m = STREAM.exec(event.stream);
        if (m?.[1]) this.apply(m[1], event);
      },
    });
  }

  /** Resolves once everything stored when it was called has been folded. Throws UnavailableError on timeout. */
  async caughtUp(timeoutMs = 30_000): Promise<void> {
    await this.follower?.caughtUp(timeoutMs);
  }

  /** Folds one event of a recording's stream, in order. */
  apply(recordingId: string, event: { type: string; data: unknown }): void {
    this.recordings.set(
      recordingId,
      evolve(this.recordings.get(recordingId) ?? initialRecordingState, event),
    );
  }

  get(recordingId: string): RecordingState | undefined {
    return this.recordings.get(recordingId);
  }

  /** Every known recording. */
  all(): KnownRecording[] {
    return [...this.recordings.values()].filter((r): r is KnownRecording => r.status !== 'none');
  }

  async close(): Promise<void> {
    await this.follower?.close();
  }
}
