import { UnavailableError } from '@haven/errors';
import type {
  Actor,
  EventEnvelope,
  EventStore,
  ExpectedRevision,
  NewEvent,
  PositionedEvent,
  RequestRecord,
  SealedPhi,
  Snapshot,
  SnapshotRequest,
  SnapshotStore,
} from '@haven/eventstore';
import { commandEvent } from './command-event';
import { isRetryable } from './grpc-errors';
import { IDEMPOTENCY_WINDOW_MS, RequestIdReusedError } from './idempotency';
import { SerialQueues } from './serial-queues';

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
  /**
   * The call's abort signal (`CallContext.signal`: the deadline passed or the client cancelled). Checked before
   * every append: a caller who gave up gets nothing appended on its behalf. Not stored.
   */
  readonly signal?: AbortSignal;
  /** The client's idempotent request, when the command has no `request` option of its own (see handleCommand). */
  readonly request?: RequestRecord;
}

/**
 * The caller gave up (deadline passed or call cancelled) before the command appended anything: nothing was
 * stored. UNAVAILABLE category (the caller has its DEADLINE_EXCEEDED or CANCELLED already).
 */
export class CallAbortedError extends UnavailableError {
  readonly reason = 'CALL_ABORTED';
}

/** Throws CallAbortedError when `signal` is aborted. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (!signal?.aborted) return;
  const why = signal.reason instanceof Error ? signal.reason.message : 'aborted';
  throw new CallAbortedError(`the caller gave up (${why}); nothing appended`);
}

/**
 * How to snapshot an aggregate whose stream grows long (see `SnapshotStore` in @haven/eventstore): the decider
 * then reads only the events after the snapshot, so a command's cost does not grow with the history.
 */
export interface SnapshotPolicy<S> {
  readonly store: SnapshotStore;
  /** Schema version of the encoded state; change it when the state's shape changes. */
  readonly version: string;
  /** The state as JSON-serialisable data (never PHI). */
  encode(state: S): unknown;
  /** Back from `encode`'s output. Throw on anything unexpected: the snapshot is then ignored. */
  decode(raw: unknown): S;
  /** Drops what no later decision needs (e.g. slots in the past) before a snapshot is kept. */
  compact?(state: S, now: Date): S;
  /** How long request keys stay in snapshots (default {@link IDEMPOTENCY_WINDOW_MS}). */
  readonly requestWindowMs?: number;
}

/** Options of {@link loadAggregate}. */
export interface LoadAggregateOptions<S, E extends { type: string; data: unknown }> {
  readonly store: Pick<EventStore, 'read'>;
  readonly stream: string;
  readonly evolve: (state: S, event: StoredEvent<E>) => S;
  /** A value, or a factory when the state is mutable. */
  readonly initialState: S | (() => S);
  /** Read from the latest snapshot when there is one. */
  readonly snapshots?: SnapshotPolicy<S>;
}

/** A folded aggregate. */
export interface LoadedAggregate<S> {
  readonly state: S;
  /** The revision of the last event, or `'no_stream'`: what the next append expects. */
  readonly expectedRevision: ExpectedRevision;
  /** How many events were folded (read from the store; a snapshot's are not counted). */
  readonly eventCount: number;
  /**
   * The stream's last event as read, when there is one: what the next step is caused by (`causedBy`), from the
   * same read as `state`.
   */
  readonly last?: PositionedEvent;
}

interface Folded<S> extends LoadedAggregate<S> {
  /** Requests seen (snapshot + events read), by key. */
  readonly requests: ReadonlyMap<string, SnapshotRequest>;
  /** The events read (after the snapshot, when one was used). */
  readonly events: readonly PositionedEvent[];
}

function initial<S>(value: S | (() => S)): S {
  return typeof value === 'function' ? (value as () => S)() : value;
}

function noteRequest(requests: Map<string, SnapshotRequest>, event: PositionedEvent): void {
  const r = event.request;
  if (!r) return;
  const seen = requests.get(r.id);
  requests.set(r.id, {
    id: r.id,
    fingerprint: r.fingerprint,
    fromRevision: seen ? seen.fromRevision : event.revision,
    toRevision: event.revision,
    at: seen ? seen.at : Date.parse(event.occurredAt) || 0,
  });
}

async function loadSnapshot<S>(policy: SnapshotPolicy<S>, stream: string): Promise<Snapshot | undefined> {
  const snapshot = await policy.store.load(stream).catch(() => undefined);
  return snapshot?.version === policy.version ? snapshot : undefined;
}

async function fold<S, E extends { type: string; data: unknown }>(
  options: LoadAggregateOptions<S, E>,
): Promise<Folded<S>> {
  const requests = new Map<string, SnapshotRequest>();
  const snapshot = options.snapshots ? await loadSnapshot(options.snapshots, options.stream) : undefined;
  if (snapshot && options.snapshots) {
    // Read from the snapshot's own last event: it must still be there, with the same id (else the snapshot is
    // of another stream's history, e.g. a store that was reset) — then fold only what follows.
    let decoded: S | undefined;
    try {
      decoded = options.snapshots.decode(snapshot.state);
    } catch {
      decoded = undefined;
    }
    const events =
      decoded === undefined
        ? []
        : await options.store.read(options.stream, {
            fromRevision: snapshot.revision,
            afterPosition: snapshot.position - 1n,
          });
    const anchor = events[0];
    if (decoded !== undefined && anchor?.revision === snapshot.revision && anchor.id === snapshot.eventId) {
      for (const r of snapshot.requests) requests.set(r.id, r);
      let state: S = decoded;
      let last: PositionedEvent = anchor;
      const after = events.slice(1);
      for (const event of after) {
        state = options.evolve(state, event as unknown as StoredEvent<E>);
        noteRequest(requests, event);
        last = event;
      }
      const tail = after[after.length - 1];
      return {
        state,
        expectedRevision: tail ? tail.revision : snapshot.revision,
        eventCount: after.length,
        last,
        requests,
        events: after,
      };
    }
  }
  const events = await options.store.read(options.stream);
  let state = initial(options.initialState);
  for (const event of events) {
    state = options.evolve(state, event as unknown as StoredEvent<E>);
    noteRequest(requests, event);
  }
  const last = events[events.length - 1];
  return {
    state,
    expectedRevision: last ? last.revision : 'no_stream',
    eventCount: events.length,
    ...(last ? { last } : {}),
    requests,
    events,
  };
}

/**
 * Reads a stream (from its latest snapshot when `snapshots` is given) and folds it with `evolve` from
 * `initialState`. Rejects with whatever the store's `read` rejects with (e.g. UnavailableError).
 */
export async function loadAggregate<S, E extends { type: string; data: unknown }>(
  options: LoadAggregateOptions<S, E>,
): Promise<LoadedAggregate<S>> {
  const { state, expectedRevision, eventCount, last } = await fold(options);
  return { state, expectedRevision, eventCount, ...(last ? { last } : {}) };
}

/**
 * The first result of an idempotent request on a stream, or undefined when the stream holds none of its events
 * (for handlers that must know before they do anything else, e.g. before a step on another stream).
 * Throws RequestIdReusedError when the key is there with another fingerprint; rejects like the store's `read`.
 */
export async function findReplay<S, E extends { type: string; data: unknown }>(
  options: LoadAggregateOptions<S, E> & { readonly request: RequestRecord },
): Promise<CommandResult<S, E> | undefined> {
  const loaded = await fold(options);
  const seen = loaded.requests.get(options.request.id);
  if (!seen) return undefined;
  if (seen.fingerprint !== options.request.fingerprint) throw new RequestIdReusedError();
  return await replay(options, seen);
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
  /**
   * The client's idempotent request (see `requestRecord`): stored on every event the command appends; when the
   * stream already holds events of this request, nothing is decided or appended and the result is those events
   * (`replayed: true`). Throws RequestIdReusedError when the key is there with another fingerprint.
   */
  readonly request?: RequestRecord;
  /**
   * Checks the freshly loaded state before `decide` (etags, ownership…); not called on a replay. Throws what
   * the caller wants answered.
   */
  readonly guard?: (state: S) => void;
  /** Retries after a retryable append failure (a lost concurrency race), after a short random pause. Default 3. */
  readonly maxRetries?: number;
  /**
   * Run the commands of this process on this stream one at a time (a hot aggregate, e.g. a clinician's
   * schedule): they then never lose a concurrency race to each other, only to other processes.
   */
  readonly serialize?: boolean;
  /** Clock, for tests. */
  readonly now?: () => Date;
}

/** The outcome of {@link handleCommand}. */
export interface CommandResult<S, E extends { type: string; data: unknown }> {
  /** The events appended (empty when `decide` returned none); on a replay, the events the request stored first. */
  readonly events: readonly StoredEvent<E>[];
  /** The state after the appended events (on a replay: right after the first attempt's events). */
  readonly state: S;
  /** The revision of the stream's last event after the command (what the next append expects); -1n if none. */
  readonly nextRevision: bigint;
  /** True when `request` had been handled before: nothing was appended now. */
  readonly replayed: boolean;
}

async function replay<S, E extends { type: string; data: unknown }>(
  options: LoadAggregateOptions<S, E>,
  seen: SnapshotRequest,
): Promise<CommandResult<S, E>> {
  // Rare path: fold the stream from its start up to the request's last event (the state the first attempt
  // answered with), without the snapshot.
  const events = await options.store.read(options.stream, { limit: Number(seen.toRevision) + 1 });
  let state = initial(options.initialState);
  for (const event of events) state = options.evolve(state, event as unknown as StoredEvent<E>);
  const own = events
    .filter((e) => e.revision >= seen.fromRevision && e.request?.id === seen.id)
    .map(({ position: _p, ...e }) => e as unknown as StoredEvent<E>);
  return { events: own, state, nextRevision: seen.toRevision, replayed: true };
}

function saveSnapshot<S>(
  policy: SnapshotPolicy<S>,
  stream: string,
  input: {
    state: S;
    revision: bigint;
    last: { position: bigint; id: string };
    requests: ReadonlyMap<string, SnapshotRequest>;
    now: Date;
  },
): void {
  const oldest = input.now.getTime() - (policy.requestWindowMs ?? IDEMPOTENCY_WINDOW_MS);
  let encoded: unknown;
  try {
    encoded = policy.encode(policy.compact ? policy.compact(input.state, input.now) : input.state);
  } catch {
    return;
  }
  void policy.store.save(stream, {
    version: policy.version,
    revision: input.revision,
    position: input.last.position,
    eventId: input.last.id,
    state: encoded,
    requests: [...input.requests.values()].filter((r) => r.at >= oldest),
  });
}

/**
 * The decider handler: read the stream (from its snapshot, when the aggregate has a snapshot policy), fold it
 * with `evolve`, call the pure `decide(command, state)`, and append what it returns with the expected revision
 * of the last event read (or `'no_stream'`), filling the envelope (UUIDv7 id, occurredAt, actor, correlation,
 * causation, traceparent, and the idempotent `request`) from `metadata`.
 * If `decide` throws or returns nothing, nothing is appended. When the call was aborted (deadline, cancel)
 * nothing is appended either (CallAbortedError). With a `request` already handled on this stream it appends
 * nothing and returns the first result (`replayed`). When the append fails with a retryable error
 * (`isRetryable`: a ConcurrencyError) it re-reads and re-decides, at most `maxRetries` times.
 * Rejects with the error `decide` or `guard` throws, RequestIdReusedError, CallAbortedError, the
 * ConcurrencyError once retries are spent, or any other store error unchanged.
 */
export async function handleCommand<S, E extends { type: string; data: unknown }, C>(
  options: HandleCommandOptions<S, E, C>,
): Promise<CommandResult<S, E>> {
  if (!options.serialize) return await runCommand(options);
  return await queues.run(options.stream, () => runCommand(options));
}

/** Each stream's queue of serialized commands in this process. */
const queues = new SerialQueues();

/** A random pause before retry `attempt` (1, 2, …) after a lost race: up to 5 ms, 10 ms, … capped at 100 ms. */
function conflictPause(attempt: number): Promise<void> {
  const ms = Math.random() * Math.min(100, 5 * 2 ** (attempt - 1));
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function runCommand<S, E extends { type: string; data: unknown }, C>(
  given: HandleCommandOptions<S, E, C>,
): Promise<CommandResult<S, E>> {
  const request = given.request ?? given.metadata.request;
  const options = request ? { ...given, request } : given;
  const maxRetries = options.maxRetries ?? 3;
  const now = options.now ?? (() => new Date());
  for (let attempt = 0; ; attempt++) {
    throwIfAborted(options.metadata.signal);
    const loaded = await fold(options);
    if (options.request) {
      const seen = loaded.requests.get(options.request.id);
      if (seen) {
        if (seen.fingerprint !== options.request.fingerprint) throw new RequestIdReusedError();
        return await replay(options, seen);
      }
    }
    options.guard?.(loaded.state);
    const decided = options.decide(options.command, loaded.state);
    const list: readonly DecidedEvent<E>[] =
      decided === undefined ? [] : Array.isArray(decided) ? decided : [decided as DecidedEvent<E>];
    const lastRevision = loaded.expectedRevision === 'no_stream' ? -1n : (loaded.expectedRevision as bigint);
    if (list.length === 0) {
      if (options.snapshots && loaded.last && loaded.eventCount > 0) {
        saveSnapshot(options.snapshots, options.stream, {
          state: loaded.state,
          revision: lastRevision,
          last: loaded.last,
          requests: loaded.requests,
          now: now(),
        });
      }
      return { events: [], state: loaded.state, nextRevision: lastRevision, replayed: false };
    }

    const at = now();
    const newEvents: NewEvent[] = list.map((e) => ({
      ...commandEvent(
        options.metadata,
        { type: e.type, data: e.data as Record<string, unknown>, phi: e.phi },
        at,
      ),
      ...(options.request !== undefined ? { request: options.request } : {}),
    }));
    throwIfAborted(options.metadata.signal);
    let appended;
    try {
      appended = await options.store.append(options.stream, loaded.expectedRevision, newEvents);
    } catch (error) {
      if (attempt < maxRetries && isRetryable(error)) {
        await conflictPause(attempt + 1);
        continue;
      }
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
    const nextRevision = lastRevision + BigInt(stored.length);
    if (options.snapshots) {
      const requests = new Map(loaded.requests);
      if (options.request) {
        requests.set(options.request.id, {
          ...options.request,
          fromRevision: lastRevision + 1n,
          toRevision: nextRevision,
          at: at.getTime(),
        });
      }
      saveSnapshot(options.snapshots, options.stream, {
        state,
        revision: nextRevision,
        last: { position: appended.position, id: newEvents[newEvents.length - 1]!.id },
        requests,
        now: at,
      });
    }
    return { events: stored, state, nextRevision, replayed: false };
  }
}
