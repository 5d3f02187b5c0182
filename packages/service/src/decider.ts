import { v7 as uuidv7 } from 'uuid';
import type {
  Actor,
  EventEnvelope,
  EventStore,
  ExpectedRevision,
  NewEvent,
  SealedPhi,
} from '@haven/eventstore';
import { isRetryable } from './grpc-errors';

/** An event as the aggregate sees it: its `{type, data}` plus the envelope it was stored with. */
export type StoredEvent<E extends { type: string; data: unknown }> = E & Omit<EventEnvelope, 'type' | 'data'>;

/** What `decide` returns for each new event: `{type, data}` and optionally the sealed PHI. */
export type DecidedEvent<E extends { type: string; data: unknown }> = E & { readonly phi?: SealedPhi };

/** Fills the envelope of the events a command produces. */
export interface CommandMetadata {
  readonly actor: Actor;
  readonly correlationId: string;
  /** Default: the correlation id. */
  readonly causationId?: string;
  readonly traceparent?: string;
}

/** Options of {@link loadAggregate}. */
export interface LoadAggregateOptions<S, E extends { type: string; data: unknown }> {
  readonly store: Pick<EventStore, 'read'>;
  readonly stream: string;
  readonly evolve: (state: S, event: StoredEvent<E>) => S;
  /** A value, or a factory when the state is mutable. */
  readonly initialState: S | (() => S);
}

/** A folded aggregate. */
export interface LoadedAggregate<S> {
  readonly state: S;
  /** The revision of the last event, or `'no_stream'`: what the next append expects. */
  readonly expectedRevision: ExpectedRevision;
  /** How many events were folded. */
  readonly eventCount: number;
}

function initial<S>(value: S | (() => S)): S {
  return typeof value === 'function' ? (value as () => S)() : value;
}

/**
 * Reads a stream and folds it with `evolve` from `initialState`.
 * Rejects with whatever the store's `read` rejects with (e.g. UnavailableError).
 */
export async function loadAggregate<S, E extends { type: string; data: unknown }>(
  options: LoadAggregateOptions<S, E>,
): Promise<LoadedAggregate<S>> {
  const events = await options.store.read(options.stream);
  let state = initial(options.initialState);
  for (const event of events) state = options.evolve(state, event as unknown as StoredEvent<E>);
  const last = events[events.length - 1];
  return { state, expectedRevision: last ? last.revision : 'no_stream', eventCount: events.length };
}

/** Options of {@link handleCommand}. */
export interface HandleCommandOptions<
  S,
  E extends { type: string; data: unknown },
  C,
> extends LoadAggregateOptions<S, E> {
  readonly store: Pick<EventStore, 'read' | 'append'>;
  /** Pure: returns the new events (none, one or many) or throws a HavenError. */
  readonly decide: (command: C, state: S) => readonly DecidedEvent<E>[] | DecidedEvent<E> | undefined;
  readonly command: C;
  readonly metadata: CommandMetadata;
  /** Retries after a retryable append failure (a lost concurrency race). Default 3. */
  readonly maxRetries?: number;
  /** Clock, for tests. */
  readonly now?: () => Date;
}

/** The outcome of {@link handleCommand}. */
export interface CommandResult<S, E extends { type: string; data: unknown }> {
  /** The events appended (empty when `decide` returned none). */
  readonly events: readonly StoredEvent<E>[];
  /** The state after the appended events. */
  readonly state: S;
  /** The revision of the stream's last event after the command (what the next append expects); -1n if none. */
  readonly nextRevision: bigint;
}

/**
 * The decider handler: read the stream, fold it with `evolve`, call the pure `decide(command, state)`, and
 * append what it returns with the expected revision of the last event read (or `'no_stream'`), filling the
 * envelope (UUIDv7 id, occurredAt, actor, correlation, causation, traceparent) from `metadata`.
 * If `decide` throws or returns nothing, nothing is appended. When the append fails with a retryable error
 * (`isRetryable`: a ConcurrencyError) it re-reads and re-decides, at most `maxRetries` times.
 * Rejects with the error `decide` throws, with the ConcurrencyError once retries are spent, or with any
 * other store error unchanged.
 */
export async function handleCommand<S, E extends { type: string; data: unknown }, C>(
  options: HandleCommandOptions<S, E, C>,
): Promise<CommandResult<S, E>> {
  const maxRetries = options.maxRetries ?? 3;
  const now = options.now ?? (() => new Date());
  for (let attempt = 0; ; attempt++) {
    const loaded = await loadAggregate(options);
    const decided = options.decide(options.command, loaded.state);
    const list: readonly DecidedEvent<E>[] =
      decided === undefined ? [] : Array.isArray(decided) ? decided : [decided as DecidedEvent<E>];
    const lastRevision = loaded.expectedRevision === 'no_stream' ? -1n : (loaded.expectedRevision as bigint);
    if (list.length === 0) return { events: [], state: loaded.state, nextRevision: lastRevision };

    const occurredAt = now().toISOString();
    const { actor, correlationId, traceparent } = options.metadata;
    const causationId = options.metadata.causationId ?? correlationId;
    const newEvents: NewEvent[] = list.map((e) => ({
      id: uuidv7(),
      type: e.type,
      occurredAt,
      actor,
      correlationId,
      causationId,
      data: e.data as Record<string, unknown>,
      ...(traceparent !== undefined ? { traceparent } : {}),
      ...(e.phi !== undefined ? { phi: e.phi } : {}),
    }));
    try {
      await options.store.append(options.stream, loaded.expectedRevision, newEvents);
    } catch (error) {
      if (attempt < maxRetries && isRetryable(error)) continue;
      throw error;
    }
    const stored = newEvents.map(
      (e, i) =>
        ({
          ...e,
          stream: options.stream,
          revision: lastRevision + 1n + BigInt(i),
        }) as unknown as StoredEvent<E>,
    );
    let state = loaded.state;
    for (const event of stored) state = options.evolve(state, event);
    return { events: stored, state, nextRevision: lastRevision + BigInt(stored.length) };
  }
}
