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

/** Where the store ends, seen from a consumer's position (see {@link EventStore.head}). */
export interface StoreHead {
  /** Position of the last stored event (of the contexts asked for); `'start'` when there is none. */
  readonly position: Checkpoint;
  /** Events (of those contexts) stored after the consumer's position, counted up to {@link PENDING_COUNT_LIMIT}. */
  readonly pending: number;
}

/** The most events {@link EventStore.head} counts as pending (a larger backlog reads as this many). */
export const PENDING_COUNT_LIMIT = 100_000;

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
  /**
   * The store's last position (optionally of some contexts) and how many of those events lie after `after`:
   * what a consumer at `after` still has to handle. Cheap when nothing is pending (the normal case).
   * Throws UnavailableError when the store cannot be reached.
   */
  head(options: { after: Checkpoint; contexts?: readonly string[] }): Promise<StoreHead>;
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

/**
 * A setting of the store that lets it drop or rewrite stored events (a retention limit, deletes or purges
 * allowed, other subjects), as {@link StoreInspection.status} found it.
 */
export interface StoreSettingDeviation {
  /** The setting, in the store's own terms (JetStream: `max_msgs`, `deny_delete`, …). */
  readonly setting: string;
  /** Its value now. */
  readonly value: string;
  /** The value Haven's guarantees rely on. */
  readonly expected: string;
}

/** What the store says about itself in one cheap call: the continuous part of the audit's store watch. */
export interface StoreStatus {
  /** False when the store is gone (JetStream: no HAVEN_ES stream); every other field is then empty. */
  readonly exists: boolean;
  /** Changes when the store was deleted and created again (JetStream: the stream's creation time). */
  readonly identity?: string;
  /**
   * Changes when the server answering may have restarted or been replaced (JetStream: the server id): stored
   * files may have been edited meanwhile, so a watcher re-reads everything.
   */
  readonly epoch?: string;
  /** The lowest position still held; undefined when the store is empty. */
  readonly firstPosition?: bigint;
  /** The highest position held; 0 when the store is empty. */
  readonly lastPosition: bigint;
  /** How many events the store holds, when it counts them (JetStream does; KurrentDB does not). */
  readonly count?: bigint;
  /** Positions between first and last that the store itself reports deleted or lost. */
  readonly missingPositions: readonly bigint[];
  /** Settings that let the store drop or change events. Empty when it keeps everything as Haven requires. */
  readonly deviations: readonly StoreSettingDeviation[];
}

/** One position of the store read back (see {@link StoreInspection.readFrom}). */
export interface StoredEvent {
  readonly position: bigint;
  /** The event, when its bytes decode as an envelope. */
  readonly event?: EventEnvelope;
  /** Why the stored bytes do not decode, when they do not. */
  readonly unreadable?: string;
}

/** A run of stored events in position order. */
export interface StoredRange {
  readonly items: readonly StoredEvent[];
  /** True when the store held nothing after the last item at the time of the read. */
  readonly end: boolean;
}

/**
 * A read-only view of the whole store by position, for integrity checks (the audit service's store watch).
 * Every adapter offers it; obtain it with `inspectionOf(store)`.
 */
export interface StoreInspection {
  /** The store's shape now. Throws UnavailableError when the server cannot be asked. */
  status(): Promise<StoreStatus>;
  /**
   * Up to `limit` stored events at positions ≥ `position`, in position order, including ones that no longer
   * decode. Throws UnavailableError when the server cannot be read.
   */
  readFrom(position: bigint, limit: number): Promise<StoredRange>;
}

/** An event store that also offers its {@link StoreInspection}. */
export interface InspectableEventStore extends EventStore {
  /** The store's read-only integrity view, on the same connection. */
  inspection(): StoreInspection;
}
