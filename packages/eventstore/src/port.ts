import type { EventEnvelope, NewEvent } from './envelope';

/**
 * The revision an append expects the stream to be at:
 * `'no_stream'` (must not exist), `'any'` (no check), or the exact revision of the last event.
 */
export type ExpectedRevision = 'no_stream' | 'any' | bigint;

/** Result of an append: the stream's revision after it, and the global position of the last event. */
export interface AppendResult {
  readonly nextRevision: bigint;
  readonly position: bigint;
}

/** A point in the whole store to resume a subscription from (exclusive); `'start'` = from the beginning. */
export type Checkpoint = bigint | 'start';

/** A stored event with its global position, as delivered to subscribers. */
export interface PositionedEvent extends EventEnvelope {
  /** Global position in the store (monotonic across all streams); persist it as the checkpoint. */
  readonly position: bigint;
}

/** A live subscription to all events. */
export interface Subscription {
  /** Stops delivery; resolves when the handler is no longer running. */
  close(): Promise<void>;
}

/** Options of {@link EventStore.read}. */
export interface ReadOptions {
  /** First revision to return (inclusive); default 0. */
  readonly fromRevision?: bigint;
  /** At most this many events. */
  readonly limit?: number;
  /**
   * A hint: the global position of the stream's event at `fromRevision - 1`, when the caller knows it (a
   * snapshot keeps it). Adapters that cannot seek a stream by revision (JetStream) start reading there instead
   * of at the stream's beginning; a wrong hint costs time, never correctness.
   */
  readonly afterPosition?: bigint;
}

export interface SubscribeOptions {
  /** Resume after this position. */
  readonly from: Checkpoint;
  /** Only events whose stream starts with one of these context prefixes (e.g. `scheduling.`). */
  readonly contexts?: readonly string[];
  /** Called once per event, in position order; the next event waits until it resolves (back-pressure). */
  readonly handler: (event: PositionedEvent) => Promise<void>;
  /** Called when delivery stops on an error the subscription cannot recover from. */
  readonly onError?: (error: unknown) => void;
}

/**
 * The event store port. Adapters: JetStream (default), KurrentDB, in-memory (unit tests only).
 * One contract suite (`testEventStore` in `@haven/eventstore/testing`) runs against every adapter.
 */
export interface EventStore {
  /**
   * Appends events atomically to one stream.
   * Throws ConcurrencyError when the stream is not at `expected`.
   * Idempotent on event id: re-appending events already stored (same ids, same stream) returns the
   * original result and stores nothing new — even after the server's own dedup window has passed.
   */
  append(stream: string, expected: ExpectedRevision, events: readonly NewEvent[]): Promise<AppendResult>;
  /**
   * Reads a stream forwards from `fromRevision` (inclusive, default 0), each event with its global position.
   * Empty array if no stream.
   */
  read(stream: string, options?: ReadOptions): Promise<PositionedEvent[]>;
  /** Subscribes to all events (optionally of some contexts) after a checkpoint, in order. */
  subscribe(options: SubscribeOptions): Promise<Subscription>;
  /** Attempts to delete a stream. Haven's stores refuse: throws PreconditionError. */
  deleteStream(stream: string): Promise<never>;
  /** Releases connections. */
  close(): Promise<void>;
}

/** `<context>.<aggregate>-<id>` → its parts. Throws ValidationError on a malformed name. */
export interface StreamName {
  readonly context: string;
  readonly aggregate: string;
  readonly id: string;
}
