/**
 * The KurrentDB (EventStoreDB) adapter of the event store port, on the official gRPC client.
 *
 * Mapping: stream name as is; event id = our id (KurrentDB is idempotent on it for a retried append at the
 * same expected revision; the store adds the same after-the-fact id check as the JetStream adapter);
 * expected revision NO_STREAM / ANY / bigint; `data` = the envelope's data, `metadata` = the rest of the
 * envelope (actor, correlation, causation, traceparent, occurredAt, sealed phi); global position = commit
 * position; subscribe = `$all` with a stream-prefix filter. Haven never deletes: `deleteStream` throws.
 */
import { EventStoreAdapter } from './adapter-base';
import {
  ANY,
  BACKWARDS,
  END,
  FORWARDS,
  KurrentDBClient,
  NO_STREAM,
  START,
  UnavailableError as KdbUnavailableError,
  DeadlineExceededError,
  NotLeaderError,
  StreamNotFoundError,
  WrongExpectedVersionError,
  jsonEvent,
  streamNameFilter,
  type AppendStreamState,
  type Filter,
  type JSONEventType,
} from '@kurrent/kurrentdb-client';
import { ConcurrencyError, HavenError, UnavailableError, ValidationError } from '@haven/errors';
import type { Actor, EventEnvelope, NewEvent, RequestRecord, SealedPhi } from './envelope';
import { contextOfFilter, eventIdTimestamp, parseStreamName } from './ids';
import { currentTraceparent } from '@haven/telemetry';
import { describeExpected, parseEnvelope } from './codec';
import type {
  AppendResult,
  Checkpoint,
  ExpectedRevision,
  InspectableEventStore,
  PositionedEvent,
  ReadOptions,
  StoreInspection,
  StoredEvent,
  StoreHead,
  SubscribeOptions,
  Subscription,
} from './port';
import { PENDING_COUNT_LIMIT } from './port';

/** Envelope fields other than data, stored as KurrentDB event metadata. */
interface EnvelopeMetadata {
  readonly occurredAt: string;
  readonly actor: Actor;
  readonly correlationId: string;
  readonly causationId: string;
  readonly traceparent?: string;
  readonly phi?: SealedPhi;
  readonly request?: RequestRecord;
  /** KurrentDB's own correlation convention, for its projections and UI. */
  readonly $correlationId: string;
  readonly $causationId: string;
}

type HavenKdbEvent = JSONEventType<string, Record<string, unknown>, EnvelopeMetadata>;

/** Server idempotency is reliable only for recent appends; older ids are checked by reading the stream. */
const RECENT_MS = 60_000;

function translate(err: unknown, what: string): HavenError {
  if (err instanceof HavenError) return err;
  if (
    err instanceof KdbUnavailableError ||
    err instanceof DeadlineExceededError ||
    err instanceof NotLeaderError
  ) {
    return new UnavailableError(`event store: ${what}: KurrentDB unavailable: ${err.message}`, {
      cause: err,
    });
  }
  return new UnavailableError(
    `event store: ${what} failed: ${err instanceof Error ? err.message : String(err)}`,
    {
      cause: err,
    },
  );
}

function toState(expected: ExpectedRevision): AppendStreamState {
  if (expected === 'no_stream') return NO_STREAM;
  if (expected === 'any') return ANY;
  return expected;
}

interface LooseResolved {
  readonly event?: {
    readonly id: string;
    readonly type: string;
    readonly streamId: string;
    readonly revision: bigint;
    readonly isJson: boolean;
    readonly data: unknown;
    readonly metadata?: unknown;
    readonly position?: { readonly commit: bigint };
  };
  readonly commitPosition?: bigint;
}

/** Rebuilds (and validates) an envelope from a KurrentDB event; undefined for non-JSON (foreign) events. */
function toEnvelope(resolved: LooseResolved): (EventEnvelope & { commit: bigint }) | undefined {
  const e = resolved.event;
  if (!e || !e.isJson) return undefined;
  const metadata = (typeof e.metadata === 'object' && e.metadata !== null ? e.metadata : {}) as Record<
    string,
    unknown
  >;
  const { $correlationId: _c, $causationId: _k, ...rest } = metadata;
  const envelope = parseEnvelope({
    ...rest,
    id: e.id,
    type: e.type,
    stream: e.streamId,
    revision: e.revision.toString(),
    data: e.data,
  });
  return { ...envelope, commit: resolved.commitPosition ?? e.position?.commit ?? 0n };
}

/** Haven's streams in `$all` (`<context>.<aggregate>-<id>`), leaving out KurrentDB's own (`$…`). */
const HAVEN_STREAMS = '^[a-z][a-z0-9_]*\\.';

/** {@link EventStore} on KurrentDB / EventStoreDB. */
export class KurrentDbEventStore extends EventStoreAdapter implements InspectableEventStore {
  /** Wraps a client; `close()` disposes it. */
  constructor(private readonly client: KurrentDBClient) {
    super();
  }

  /**
   * Connects with a connection string (`kurrentdb://host:2113?tls=false`) and checks the server answers.
   * Throws UnavailableError when it does not.
   */
  static async connect(options: { connectionString: string }): Promise<KurrentDbEventStore> {
    let client: KurrentDBClient;
    try {
      client = KurrentDBClient.connectionString`${options.connectionString}`;
    } catch (cause) {
      throw new ValidationError(
        [{ field: 'connectionString', description: 'not a KurrentDB connection string' }],
        {
          cause,
        },
      );
    }
    try {
      for await (const _ of client.readAll({ maxCount: 1, fromPosition: START })) break;
    } catch (err) {
      await client.dispose().catch(() => undefined);
      throw translate(err, 'connect');
    }
    return new KurrentDbEventStore(client);
  }

  /** See the port. Throws ValidationError, ConcurrencyError (WrongExpectedVersion), UnavailableError. */
  async append(
    stream: string,
    expected: ExpectedRevision,
    events: readonly NewEvent[],
  ): Promise<AppendResult> {
    this.assertAppendable(stream, events);
    try {
      const oldest = Math.min(...events.map((e) => eventIdTimestamp(e.id) ?? 0));
      if (oldest < Date.now() - RECENT_MS) {
        const resumed = await this.resume(stream, events);
        if (resumed) return resumed;
      }
      try {
        return await this.write(stream, toState(expected), events);
      } catch (err) {
        if (!(err instanceof WrongExpectedVersionError)) throw err;
        const resumed = await this.resume(stream, events);
        if (resumed) return resumed;
        throw new ConcurrencyError(stream, describeExpected(expected), String(err.actualState), {
          cause: err,
        });
      }
    } catch (err) {
      throw translate(err, 'append');
    }
  }

  private async write(
    stream: string,
    state: AppendStreamState,
    events: readonly NewEvent[],
  ): Promise<AppendResult> {
    const traceparent = currentTraceparent();
    const data = events.map((e) => {
      const tp = e.traceparent ?? traceparent;
      const metadata: EnvelopeMetadata = {
        occurredAt: e.occurredAt,
        actor: e.actor,
        correlationId: e.correlationId,
        causationId: e.causationId,
        $correlationId: e.correlationId,
        $causationId: e.causationId,
        ...(tp !== undefined ? { traceparent: tp } : {}),
        ...(e.phi !== undefined ? { phi: e.phi } : {}),
        ...(e.request !== undefined ? { request: e.request } : {}),
      };
      return jsonEvent<HavenKdbEvent>({ id: e.id, type: e.type, data: e.data, metadata });
    });
    const result = await this.client.appendToStream(stream, data, { streamState: state });
    return { nextRevision: result.nextExpectedRevision, position: result.position?.commit ?? 0n };
  }

  /** Completes a batch whose prefix is already stored; undefined when none of it is. */
  private async resume(stream: string, events: readonly NewEvent[]): Promise<AppendResult | undefined> {
    const stored = new Map<string, { revision: bigint; commit: bigint }>();
    let last: bigint | undefined;
    for (const e of await this.readAll(stream, 0n, Number.MAX_SAFE_INTEGER)) {
      stored.set(e.id, { revision: e.revision, commit: e.commit });
      last = e.revision;
    }
    let k = 0;
    while (k < events.length && stored.has(events[k]!.id)) k += 1;
    if (k === 0) return undefined;
    const prefixEnd = stored.get(events[k - 1]!.id)!;
    if (k === events.length) return { nextRevision: prefixEnd.revision, position: prefixEnd.commit };
    if (last !== prefixEnd.revision) {
      throw new ConcurrencyError(
        stream,
        `${prefixEnd.revision} (completing a partly stored batch)`,
        String(last),
      );
    }
    return await this.write(stream, prefixEnd.revision, events.slice(k));
  }

  private async readAll(
    stream: string,
    from: bigint,
    limit: number,
  ): Promise<(EventEnvelope & { commit: bigint })[]> {
    const out: (EventEnvelope & { commit: bigint })[] = [];
    try {
      for await (const resolved of this.client.readStream(stream, {
        fromRevision: from,
        maxCount: limit,
      })) {
        const env = toEnvelope(resolved);
        if (env) out.push(env);
      }
    } catch (err) {
      if (err instanceof StreamNotFoundError) return [];
      throw err;
    }
    return out;
  }

  /**
   * See the port (KurrentDB reads from a revision natively: `afterPosition` is not needed). Throws
   * ValidationError on a bad name, UnavailableError when KurrentDB fails.
   */
  async read(stream: string, options?: ReadOptions): Promise<PositionedEvent[]> {
    this.assertOpen();
    parseStreamName(stream);
    const limit = options?.limit ?? Number.MAX_SAFE_INTEGER;
    if (limit <= 0) return [];
    try {
      const events = await this.readAll(stream, options?.fromRevision ?? 0n, limit);
      return events.map(({ commit, ...envelope }) => ({ ...envelope, position: commit }));
    } catch (err) {
      throw translate(err, 'read');
    }
  }

  /** Subscribes to `$all` (Haven streams only, optionally some contexts) after a commit position. */
  async subscribe(options: SubscribeOptions): Promise<Subscription> {
    this.assertOpen();
    const filter = this.filterOf(options.contexts);
    const fromPosition = options.from === 'start' ? START : { commit: options.from, prepare: options.from };
    const sub = this.client.subscribeToAll({ fromPosition, filter });
    let stopped = false;
    const loop = (async () => {
      for await (const resolved of sub) {
        if (stopped) break;
        const env = toEnvelope(resolved);
        if (!env) continue;
        const { commit, ...envelope } = env;
        await options.handler({ ...envelope, position: commit } satisfies PositionedEvent);
      }
      if (!stopped) throw new UnavailableError('event store: subscription ended');
    })().catch((err: unknown) => {
      if (!stopped) options.onError?.(translate(err, 'subscribe'));
    });
    return this.track(async () => {
      stopped = true;
      await sub.unsubscribe().catch(() => undefined);
      await loop;
    });
  }

  /**
   * `$all` by commit position, Haven's streams only. KurrentDB keeps one log for every stream, with no stream-wide
   * retention settings, creation time or count to report: the status gives the last position only, and a
   * watcher finds removed or changed events by reading them back (positions are sparse commit positions).
   */
  inspection(): StoreInspection {
    const filter = streamNameFilter({ regex: HAVEN_STREAMS });
    return {
      status: async () => {
        let lastPosition = 0n;
        try {
          for await (const resolved of this.client.readAll({
            direction: BACKWARDS,
            fromPosition: END,
            maxCount: 1,
            filter,
          })) {
            lastPosition = resolved.commitPosition ?? resolved.event?.position?.commit ?? 0n;
          }
        } catch (err) {
          throw translate(err, 'status');
        }
        return { exists: true, lastPosition, missingPositions: [], deviations: [] };
      },
      readFrom: async (position, limit) => {
        const items: StoredEvent[] = [];
        let read = 0;
        try {
          for await (const resolved of this.client.readAll({
            fromPosition: { commit: position, prepare: position },
            maxCount: limit,
            filter,
          })) {
            read += 1;
            const at = resolved.commitPosition ?? resolved.event?.position?.commit ?? 0n;
            try {
              const env = toEnvelope(resolved);
              if (!env) items.push({ position: at, unreadable: 'not a JSON event' });
              else {
                const { commit: _commit, ...event } = env;
                items.push({ position: at, event });
              }
            } catch (err) {
              items.push({ position: at, unreadable: err instanceof Error ? err.message : 'undecodable' });
            }
          }
        } catch (err) {
          throw translate(err, 'read $all');
        }
        return { items, end: read < limit };
      },
    };
  }

  /**
   * See the port: the last Haven event of `$all` (of those contexts) read backwards, and when it lies after
   * `after`, the events after it counted forwards (up to the limit). Throws UnavailableError when KurrentDB fails.
   */
  async head(options: { after: Checkpoint; contexts?: readonly string[] }): Promise<StoreHead> {
    this.assertOpen();
    const filter = this.filterOf(options.contexts);
    try {
      let last: bigint | undefined;
      for await (const resolved of this.client.readAll({
        direction: BACKWARDS,
        fromPosition: END,
        maxCount: 1,
        filter,
      })) {
        last = resolved.commitPosition ?? resolved.event?.position?.commit;
      }
      if (last === undefined) return { position: 'start', pending: 0 };
      if (options.after !== 'start' && last <= options.after) return { position: last, pending: 0 };
      let pending = 0;
      for await (const resolved of this.client.readAll({
        direction: FORWARDS,
        fromPosition: options.after === 'start' ? START : { commit: options.after, prepare: options.after },
        maxCount: PENDING_COUNT_LIMIT + 1,
        filter,
      })) {
        const commit = resolved.commitPosition ?? resolved.event?.position?.commit;
        if (options.after === 'start' || (commit !== undefined && commit > options.after)) pending += 1;
      }
      return { position: last, pending: Math.min(PENDING_COUNT_LIMIT, pending) };
    } catch (err) {
      throw translate(err, 'head');
    }
  }

  /** Disposes the client. */
  protected async release(): Promise<void> {
    await this.client.dispose();
  }

  /** `$all` filter: Haven streams only, optionally of some contexts. */
  private filterOf(contexts: readonly string[] | undefined): Filter {
    const prefixes = contexts?.map((c) => `${contextOfFilter(c)}.`);
    return prefixes ? streamNameFilter({ prefixes }) : streamNameFilter({ regex: HAVEN_STREAMS });
  }
}
