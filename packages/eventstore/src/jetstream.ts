/**
 * The JetStream adapter of the event store port (DESIGN.md §3).
 *
 * Layout on the server:
 * - ONE JetStream stream `HAVEN_ES` on subjects `haven.es.>`, limits retention, no max age, `deny_delete` +
 *   `deny_purge` (the server itself refuses to purge it or delete a message; deleting or changing the whole
 *   stream is denied by the NATS permissions of every service user — JetStream has no stream-level flag for
 *   that). Its sequence is the global position. The operator provisions it (`nats-streams.ts`); the store only
 *   checks, before its first append or subscription, that it exists with those settings.
 * - one subject per aggregate instance: stream `scheduling.appointment-01J…` ↔ subject
 *   `haven.es.scheduling.appointment.01J…` (so a context is the subject filter `haven.es.scheduling.>`).
 *
 * Why not a stream per context plus an aggregate stream that *sources* them (DESIGN.md §3's first sketch):
 * nats-server 2.9 stores the `Nats-Expected-Last-Subject-Sequence` header with the message and re-checks it
 * when the message is sourced into another stream, where the subject's sequence differs, so sourcing stalls
 * at the second event of any aggregate once two contexts exist (reproduced with 2.9.10). A single stream also
 * returns the global position in the publish ack (one round trip per event instead of two).
 *
 * Concurrency: the store maps the 0-based stream revision (header `Haven-Revision`) onto the subject's last
 * JetStream sequence and publishes with `Nats-Expected-Last-Subject-Sequence` (0 = `no_stream`). It remembers
 * the tail of the streams it wrote or read to the end, so an append at the expected revision, and an `any`
 * append, usually reads nothing first; the server still checks the sequence, and a refused one is read again.
 * Publishes go through {@link JetStreamPublisher} (one reply subscription, no per-request timer or stack).
 *
 * Idempotency: `Nats-Msg-Id` = event id (server dedup inside the stream's duplicate window) and a store-side
 * check that works after the window: on a conflict, or before publishing events whose UUIDv7 is older than the
 * window, the store looks for the ids on the aggregate's subject and returns the original result.
 *
 * Limitation: JetStream 2.9 has no multi-message transaction. A batch is published one message at a time,
 * each expecting the previous one's sequence; a crash in the middle leaves a prefix of the batch stored (never
 * an interleaving). Retrying the same batch (same ids) completes it idempotently.
 */
import { EventStoreAdapter } from './adapter-base';
import {
  AckPolicy,
  DeliverPolicy,
  Events,
  ErrorCode,
  NatsError,
  millis,
  nanos,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
  type MsgHdrs,
  type NatsConnection,
  type OrderedConsumerOptions,
} from 'nats';
import { SpanStatusCode, trace } from '@opentelemetry/api';
import { ConcurrencyError, HavenError, UnavailableError, ValidationError } from '@haven/errors';
import { closeNatsConnection, connectNats, type NatsCredentials } from './nats-connection';
import {
  DEFAULT_DUPLICATE_WINDOW_MS,
  EVENT_STORE_STREAM,
  EVENT_STORE_SUBJECT_PREFIX,
  HavenStream,
  havenStreamSpec,
  isStreamNotFound,
  verifyHavenStreams,
} from './nats-streams';
import type { EventEnvelope, NewEvent } from './envelope';
import { contextOfFilter, eventIdTimestamp, parseStreamName } from './ids';
import { decodeEnvelope, describeExpected, encodeEnvelope, toEnvelope, validateBatch } from './codec';
import { JetStreamInspection } from './jetstream-inspection';
import { JetStreamPublisher } from './jetstream-publisher';
import { readWithin } from './ordered-read';
import type {
  AppendResult,
  Checkpoint,
  ExpectedRevision,
  InspectableEventStore,
  PositionedEvent,
  ReadOptions,
  StoreInspection,
  StoreHead,
  SubscribeOptions,
  Subscription,
} from './port';
import { PENDING_COUNT_LIMIT } from './port';

export { EVENT_STORE_STREAM, EVENT_STORE_SUBJECT_PREFIX };

/**
 * Headers the store reads without parsing the JSON body. Kept to the two it needs, because every header costs
 * on the append hot path (client encoding, server parsing and storage): the event id travels as `Nats-Msg-Id`
 * (the server's dedup key, stored with the message) and the revision as `Haven-Revision`. Everything else
 * (type, stream, correlation, causation, traceparent) is in the body.
 */
export const EventHeaders = {
  EventId: 'Nats-Msg-Id',
  Revision: 'Haven-Revision',
} as const;

const WRONG_LAST_SEQUENCE = 10071;
const NO_MESSAGE_FOUND = 10037;
const CLOCK_SKEW_MS = 60_000;
const SCAN_TIMEOUT_MS = 15_000;
const TAIL_CACHE_SIZE = 10_000;
/** How often an `any` append re-reads the tail after losing a race to another writer. */
const ANY_RETRIES = 20;
/** A publish chain that met another tail than it expected. */
const CONFLICT = { kind: 'conflict' } as const;

/** Options of {@link JetStreamEventStore}. */
export interface JetStreamEventStoreOptions {
  /** Replicas HAVEN_JETSTREAM_REPLICAS asks for: fewer on the stream is reported by `onWarning`. */
  readonly replicas?: number;
  /** Told what checking the stream found: settings it lacks, fewer replicas than asked for. */
  readonly onWarning?: (message: string) => void;
}

/** Options of {@link JetStreamEventStore.connect}: the NATS credentials plus the store's options. */
export interface JetStreamConnectOptions extends JetStreamEventStoreOptions, NatsCredentials {
  /** Connection name shown by the server (e.g. the service name). */
  readonly name?: string;
}

interface Tail {
  /** JetStream sequence of the subject's last message in HAVEN_ES; 0 when none. */
  readonly seq: number;
  /** Revision of that message; -1 when none. */
  readonly revision: bigint;
}

const NO_TAIL: Tail = { seq: 0, revision: -1n };
const tracer = trace.getTracer('haven.eventstore');

/** `haven.es.<context>.<aggregate>.<id>` for a stream name. Throws ValidationError on a malformed name. */
export function subjectOf(stream: string): string {
  const { context, aggregate, id } = parseStreamName(stream);
  return `${EVENT_STORE_SUBJECT_PREFIX}.${context}.${aggregate}.${id}`;
}

function apiCode(err: unknown): number | undefined {
  return err instanceof NatsError ? err.api_error?.err_code : undefined;
}

function isWrongLastSequence(err: unknown): boolean {
  return (
    apiCode(err) === WRONG_LAST_SEQUENCE ||
    (err instanceof NatsError && /wrong last sequence/i.test(err.message))
  );
}

/** "No such message" — but never "no such stream": a missing HAVEN_ES is an outage, not an empty history. */
function isNotFound(err: unknown): boolean {
  if (isStreamNotFound(err)) return false;
  return apiCode(err) === NO_MESSAGE_FOUND || (err instanceof NatsError && err.code === '404');
}

/** Translates a vendor error into a Haven error at the boundary. */
function translate(err: unknown, what: string): HavenError {
  if (err instanceof HavenError) return err;
  if (err instanceof NatsError) {
    const transient: string[] = [
      ErrorCode.ConnectionClosed,
      ErrorCode.ConnectionDraining,
      ErrorCode.ConnectionRefused,
      ErrorCode.ConnectionTimeout,
      ErrorCode.Disconnect,
      ErrorCode.Timeout,
      ErrorCode.NoResponders,
    ];
    const reason = transient.includes(err.code) ? 'NATS unavailable' : 'JetStream error';
    return new UnavailableError(`event store: ${what}: ${reason}: ${err.message}`, { cause: err });
  }
  return new UnavailableError(`event store: ${what} failed: ${String(err)}`, { cause: err });
}

/** Runs `fn` (an async function) in an active span, with no async frame of its own (the append's hot path). */
function withSpan<T>(name: string, fn: () => Promise<T>): Promise<T> {
  return tracer.startActiveSpan(name, (span) => {
    const failed = (err: unknown): never => {
      span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.name : 'error' });
      span.end();
      throw err;
    };
    return fn().then((result) => {
      span.end();
      return result;
    }, failed);
  });
}

function header(h: MsgHdrs | undefined, name: string): string | undefined {
  const v = h?.get(name);
  return v === undefined || v === '' ? undefined : v;
}

function revisionOf(h: MsgHdrs | undefined): bigint {
  const v = header(h, EventHeaders.Revision);
  if (v === undefined || !/^\d+$/.test(v))
    throw new UnavailableError('event store: message without Haven-Revision header');
  return BigInt(v);
}

/**
 * {@link EventStore} on NATS JetStream (the default adapter). Safe for concurrent use by one process and by
 * many processes: optimistic concurrency is enforced by the server.
 */
export class JetStreamEventStore extends EventStoreAdapter implements InspectableEventStore {
  private readonly js: JetStreamClient;
  /** The append path's publishes (one reply subscription for all; see jetstream-publisher.ts). */
  private readonly publisher: JetStreamPublisher;
  /** The stream's dedup window, learnt when the stream is checked. */
  private duplicateWindowMs = DEFAULT_DUPLICATE_WINDOW_MS;
  private streamReady: Promise<void> | undefined;
  private streamExists = false;
  private readonly tails = new Map<string, Tail>();
  /** False between the client's Disconnect and Reconnect events: `head` then fails at once. */
  private connected = true;

  /**
   * Wraps an open connection; `close()` then leaves the connection open unless `ownsConnection` is set.
   * Use {@link JetStreamEventStore.create} to also obtain the JetStream manager.
   */
  private constructor(
    private readonly nc: NatsConnection,
    private readonly jsm: JetStreamManager,
    private readonly ownsConnection: boolean,
    private readonly options: JetStreamEventStoreOptions,
  ) {
    super();
    this.js = nc.jetstream();
    this.publisher = new JetStreamPublisher(nc);
    void this.watchConnection();
  }

  /** Follows the client's connection events (nats.js `status()`), so `head` can tell an outage at once. */
  private async watchConnection(): Promise<void> {
    try {
      for await (const s of this.nc.status()) {
        if (s.type === Events.Disconnect) this.connected = false;
        if (s.type === Events.Reconnect) this.connected = true;
      }
    } catch {
      // the iterator ends with the connection
    }
  }

  /**
   * A store over an existing connection (the caller keeps ownership and closes it). The stream is checked on
   * first use (append, read, subscribe): a missing HAVEN_ES fails that call with StreamNotProvisionedError;
   * missing guarantees (deny-purge, limits…) are reported through `onWarning`.
   * Throws UnavailableError when JetStream is not enabled or not reachable.
   */
  static async create(
    nc: NatsConnection,
    options: JetStreamEventStoreOptions = {},
  ): Promise<JetStreamEventStore> {
    return await JetStreamEventStore.open(nc, false, options);
  }

  /**
   * Connects to NATS and returns a store that owns the connection (`close()` drains it).
   * Throws UnavailableError when the server cannot be reached or has no JetStream.
   */
  static async connect(options: JetStreamConnectOptions): Promise<JetStreamEventStore> {
    const nc = await connectNats(
      { ...options, name: options.name ?? 'haven-eventstore' },
      'event store: connect',
    );
    try {
      return await JetStreamEventStore.open(nc, true, options);
    } catch (err) {
      await nc.close().catch(() => undefined);
      throw err;
    }
  }

  private static async open(
    nc: NatsConnection,
    owns: boolean,
    options: JetStreamEventStoreOptions,
  ): Promise<JetStreamEventStore> {
    let jsm: JetStreamManager;
    try {
      jsm = await nc.jetstreamManager();
    } catch (err) {
      throw translate(err, 'jetstream manager');
    }
    return new JetStreamEventStore(nc, jsm, owns, options);
  }

  /**
   * Appends `events` to `stream` (see the port). Throws ValidationError on a bad name or batch,
   * ConcurrencyError when the stream is not at `expected` (and the ids are not already stored),
   * UnavailableError when NATS fails (retry with the same ids: the append is idempotent).
   */
  async append(
    stream: string,
    expected: ExpectedRevision,
    events: readonly NewEvent[],
  ): Promise<AppendResult> {
    this.assertOpen();
    const subject = subjectOf(stream); // validates the name
    validateBatch(events);
    return await withSpan('haven.eventstore.append', () =>
      this.appendChecked(stream, subject, expected, events).catch((err: unknown) => {
        if (err instanceof ConcurrencyError || err instanceof ValidationError) this.tails.delete(stream);
        throw translate(err, 'append');
      }),
    );
  }

  private async appendChecked(
    stream: string,
    subject: string,
    expected: ExpectedRevision,
    events: readonly NewEvent[],
  ): Promise<AppendResult> {
    const ready = this.ensureStream();
    if (ready) await ready;
    // Events minted before the server's dedup window began may already be stored without the server
    // remembering: look for them first. Fresh events (the normal case) skip this.
    if (this.mayBeOutsideDedupWindow(events)) {
      const resumed = await this.resume(stream, subject, events);
      if (resumed) return resumed;
    }
    let start: Tail;
    if (expected === 'no_stream') {
      start = NO_TAIL;
    } else if (expected === 'any') {
      // The tail this store last wrote or read, else the server's: the publish still expects that subject
      // sequence, so a stale cache (another writer got in) costs one refused publish and the retry below.
      start = this.tails.get(stream) ?? (await this.tail(subject));
    } else {
      const cached = this.tails.get(stream);
      start = cached && cached.revision === expected ? cached : await this.tail(subject);
      if (start.revision !== expected) {
        const resumed = await this.resume(stream, subject, events);
        if (resumed) return resumed;
        throw new ConcurrencyError(stream, expected.toString(), describeTail(start));
      }
    }
    const outcome = await this.publishChain(stream, subject, start, events, 0);
    return outcome.kind === 'done'
      ? outcome.result
      : this.afterConflict(stream, subject, expected, events, 0);
  }

  /**
   * The publish of `events` met another tail than expected (attempt number `attempt`): either a retry of a batch
   * stored earlier (complete it) or a genuine concurrent writer. An `any` batch of fresh events skips the search:
   * the server answers a stored one inside its dedup window with a duplicate ack, never a conflict, so this is
   * another writer (one this store's cached tail missed). `any` never conflicts: read the tail again and retry
   * (bounded; each lost race means someone else's append succeeded); otherwise throws ConcurrencyError.
   */
  private async afterConflict(
    stream: string,
    subject: string,
    expected: ExpectedRevision,
    events: readonly NewEvent[],
    attempt: number,
  ): Promise<AppendResult> {
    if (expected !== 'any' || this.mayBeOutsideDedupWindow(events)) {
      const resumed = await this.resume(stream, subject, events);
      if (resumed) return resumed;
    }
    const actual = await this.tail(subject);
    if (expected !== 'any' || attempt >= ANY_RETRIES) {
      throw new ConcurrencyError(stream, describeExpected(expected), describeTail(actual));
    }
    const outcome = await this.publishChain(stream, subject, actual, events, 0);
    if (outcome.kind === 'done') return outcome.result;
    return this.afterConflict(stream, subject, expected, events, attempt + 1);
  }

  /**
   * If a prefix of `events` is already on the subject, completes the batch after it and returns the result;
   * undefined when none of them is stored. Throws ConcurrencyError when another writer got in between.
   */
  private async resume(
    stream: string,
    subject: string,
    events: readonly NewEvent[],
  ): Promise<AppendResult | undefined> {
    const stored = await this.findStored(subject, events);
    if (stored.length === 0) return undefined;
    const last = stored[stored.length - 1]!;
    if (stored.length === events.length) {
      this.tails.delete(stream);
      return { nextRevision: last.revision, position: BigInt(last.seq) };
    }
    const outcome = await this.publishChain(stream, subject, last, events, stored.length);
    if (outcome.kind === 'done') return outcome.result;
    const actual = await this.tail(subject);
    throw new ConcurrencyError(
      stream,
      `${last.revision} (completing a partly stored batch)`,
      describeTail(actual),
    );
  }

  /**
   * Publishes `events` from index `from` on, one after the other, each expecting the tail the one before left
   * (`start` for the first). Chained promises rather than an async loop: one event (the usual append) costs one
   * request and its answer, no more.
   */
  private publishChain(
    stream: string,
    subject: string,
    start: Tail,
    events: readonly NewEvent[],
    from: number,
  ): Promise<{ kind: 'done'; result: AppendResult } | { kind: 'conflict' }> {
    return this.publishOne(stream, subject, start, events, from).then((tail) => {
      if (tail === undefined) return CONFLICT;
      if (from + 1 < events.length) return this.publishChain(stream, subject, tail, events, from + 1);
      this.remember(stream, tail);
      return { kind: 'done', result: { nextRevision: tail.revision, position: BigInt(tail.seq) } };
    });
  }

  /** Publishes `events[i]` after `state`: the tail it leaves, or undefined when the subject was not at `state`. */
  private publishOne(
    stream: string,
    subject: string,
    state: Tail,
    events: readonly NewEvent[],
    i: number,
  ): Promise<Tail | undefined> {
    const event = events[i]!;
    const revision = state.revision + 1n;
    const envelope = toEnvelope(stream, revision, event);
    return this.publisher
      .publish(subject, encodeEnvelope(envelope), {
        msgId: event.id,
        expectedLastSubjectSequence: state.seq,
        headers: { [EventHeaders.Revision]: revision.toString() },
      })
      .then(
        (ack) => (ack.duplicate ? this.storedTail(subject, event, i, ack.seq) : { seq: ack.seq, revision }),
        (err: unknown) => {
          if (!isWrongLastSequence(err)) throw err;
          this.tails.delete(stream);
          return undefined;
        },
      );
  }

  /** Where `event` (`events[i]`) was stored earlier inside the dedup window (the server skipped the expectation). */
  private async storedTail(subject: string, event: NewEvent, i: number, seq: number): Promise<Tail> {
    const original = await this.jsm.streams.getMessage(EVENT_STORE_STREAM, { seq });
    if (original.subject !== subject || header(original.header, EventHeaders.EventId) !== event.id) {
      throw new ValidationError([
        { field: `events[${i}].id`, description: 'already used by another stream' },
      ]);
    }
    return { seq, revision: revisionOf(original.header) };
  }

  private mayBeOutsideDedupWindow(events: readonly NewEvent[]): boolean {
    const margin = Math.min(5_000, this.duplicateWindowMs / 4);
    const oldest = Date.now() - this.duplicateWindowMs + margin;
    return events.some((e) => {
      const ts = eventIdTimestamp(e.id);
      return ts === undefined || ts < oldest;
    });
  }

  private remember(stream: string, tail: Tail): void {
    this.tails.delete(stream);
    this.tails.set(stream, { seq: tail.seq, revision: tail.revision });
    if (this.tails.size > TAIL_CACHE_SIZE) {
      const oldest = this.tails.keys().next().value;
      if (oldest !== undefined) this.tails.delete(oldest);
    }
  }

  private async tail(subject: string): Promise<Tail> {
    try {
      const m = await this.publisher.lastMessage(EVENT_STORE_STREAM, subject);
      return { seq: m.seq, revision: revisionOf(m.headers) };
    } catch (err) {
      if (isNotFound(err)) return NO_TAIL;
      throw err;
    }
  }

  /** The stored events of the batch, as the longest prefix of `events` found on the subject. */
  private async findStored(subject: string, events: readonly NewEvent[]): Promise<Tail[]> {
    const tail = await this.tail(subject);
    if (tail.seq === 0) return [];
    const wanted = new Set(events.map((e) => e.id));
    const stamps = events.map((e) => eventIdTimestamp(e.id));
    const since = stamps.every((t): t is number => t !== undefined)
      ? new Date(Math.min(...stamps) - CLOCK_SKEW_MS).toISOString()
      : undefined;
    const found = new Map<string, Tail>();
    await this.scan(subject, tail.seq, { since }, (m) => {
      const id = header(m.headers, EventHeaders.EventId);
      if (id !== undefined && wanted.has(id)) found.set(id, { seq: m.seq, revision: revisionOf(m.headers) });
      return found.size < wanted.size;
    });
    const prefix: Tail[] = [];
    for (const e of events) {
      const s = found.get(e.id);
      if (!s) break;
      prefix.push(s);
    }
    return prefix;
  }

  /**
   * Iterates the messages of `subject` in HAVEN_ES up to sequence `until` through an ordered consumer.
   * `visit` returns false to stop early. Throws UnavailableError when it takes longer than the bound.
   */
  private async scan(
    subject: string,
    until: number,
    start: { since?: string | undefined; startSeq?: number | undefined },
    visit: (m: JsMsg) => boolean,
  ): Promise<void> {
    // (No deliver_policy `all`: nats.js sends opt_start_seq with it, which nats-server 2.9 rejects; the
    // default start sequence 1 means the same.)
    const opts: Partial<OrderedConsumerOptions> = { filterSubjects: subject };
    if (start.startSeq !== undefined) {
      opts.deliver_policy = DeliverPolicy.StartSequence;
      opts.opt_start_seq = start.startSeq;
    } else if (start.since !== undefined) {
      opts.deliver_policy = DeliverPolicy.StartTime;
      opts.opt_start_time = start.since;
    }
    const consumer = await this.js.consumers.get(EVENT_STORE_STREAM, opts);
    const timedOut = await readWithin(
      consumer,
      { batch: 256, timeoutMs: SCAN_TIMEOUT_MS },
      (m) => visit(m) && m.seq < until,
    );
    if (timedOut) throw new UnavailableError(`event store: reading ${subject} timed out`);
  }

  /**
   * Reads a stream forwards (see the port). With `afterPosition` (the sequence of the event before
   * `fromRevision`) the read starts there instead of at the subject's first message, so reading the tail of a
   * long stream costs what the tail holds; a hint that does not match is ignored. Throws ValidationError on a
   * bad name, UnavailableError when NATS fails.
   */
  async read(stream: string, options?: ReadOptions): Promise<PositionedEvent[]> {
    this.assertOpen();
    const subject = subjectOf(stream); // validates the name
    const from = options?.fromRevision ?? 0n;
    const limit = options?.limit ?? Number.MAX_SAFE_INTEGER;
    if (limit <= 0) return [];
    return await withSpan('haven.eventstore.read', async () => {
      try {
        const ready = this.ensureStream();
        if (ready) await ready;
        const tail = await this.tail(subject);
        if (tail.seq === 0 || from > tail.revision) return [];
        const hint = options?.afterPosition;
        if (hint !== undefined && from > 0n && hint > 0n && hint < BigInt(tail.seq)) {
          const out = await this.readFrom(subject, tail, from, limit, Number(hint) + 1);
          // The hint is right when the first event found is the one asked for.
          if (out.length > 0 && out[0]!.revision === from) {
            if (out[out.length - 1]!.revision === tail.revision) this.remember(stream, tail);
            return out;
          }
        }
        const out = await this.readFrom(subject, tail, from, limit, undefined);
        if (out.length > 0 && out[out.length - 1]!.revision === tail.revision) this.remember(stream, tail);
        return out;
      } catch (err) {
        throw translate(err, 'read');
      }
    });
  }

  private async readFrom(
    subject: string,
    tail: Tail,
    from: bigint,
    limit: number,
    startSeq: number | undefined,
  ): Promise<PositionedEvent[]> {
    const out: PositionedEvent[] = [];
    await this.scan(subject, tail.seq, { startSeq }, (m) => {
      if (revisionOf(m.headers) < from) return true;
      const envelope = this.envelopeOf(m);
      if (envelope) out.push({ ...envelope, position: BigInt(m.seq) });
      return out.length < limit;
    });
    return out;
  }

  /**
   * The envelope of a stored message, or undefined — reported through `onWarning`, by position and subject
   * only — when it is unreadable or names a stream other than the subject it is stored on. NATS lets a service
   * publish only into its own context's subjects; this makes sure the body cannot claim another context (an
   * event "of scheduling" written by a compromised identity service) and that garbage cannot stall a reader.
   */
  private envelopeOf(m: JsMsg): EventEnvelope | undefined {
    let envelope: EventEnvelope;
    try {
      envelope = decodeEnvelope(m.data);
    } catch {
      this.options.onWarning?.(
        `event store: the message at position ${m.seq} (${m.subject}) is not an event: skipped`,
      );
      return undefined;
    }
    let expected: string | undefined;
    try {
      expected = subjectOf(envelope.stream);
    } catch {
      expected = undefined;
    }
    if (expected !== m.subject) {
      this.options.onWarning?.(
        `event store: the event at position ${m.seq} is stored on ${m.subject} but names another stream: skipped`,
      );
      return undefined;
    }
    return envelope;
  }

  /**
   * Delivers events after `from` in global order through an ordered consumer on HAVEN_ES, awaiting the
   * handler for each. A handler error, or the consumer ending by itself, stops the subscription and is reported
   * to `onError` (followStore re-opens it).
   * Throws UnavailableError when the consumer cannot be created.
   */
  async subscribe(options: SubscribeOptions): Promise<Subscription> {
    this.assertOpen();
    const contexts = options.contexts?.map(contextOfFilter);
    let messages;
    try {
      const ready = this.ensureStream();
      if (ready) await ready;
      const opts: Partial<OrderedConsumerOptions> =
        options.from === 'start'
          ? {}
          : { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: Number(options.from) + 1 };
      // NATS 2.9 consumers take a single filter subject: filter on the server for one context, here otherwise.
      if (contexts?.length === 1) opts.filterSubjects = `${EVENT_STORE_SUBJECT_PREFIX}.${contexts[0]}.>`;
      const consumer = await this.js.consumers.get(EVENT_STORE_STREAM, opts);
      // 256 asked for at a time (a new pull whenever a quarter of them were handled), like `scan`: a follower
      // that keeps up (the outbox's, two events a reminder) sends a pull every 64 events rather than every 16.
      messages = await consumer.consume({ max_messages: 256, expires: 5_000 });
    } catch (err) {
      throw translate(err, 'subscribe');
    }
    // One context is filtered on the server (and envelopeOf checks each stream against its subject).
    const filter = contexts && contexts.length > 1 ? contexts : undefined;
    let stopped = false;
    const iterator = messages;
    const loop = (async () => {
      for await (const m of iterator) {
        if (stopped) break;
        const envelope = this.envelopeOf(m);
        if (!envelope) continue;
        if (filter && !filter.includes(parseStreamName(envelope.stream).context)) continue;
        await options.handler({ ...envelope, position: BigInt(m.seq) } satisfies PositionedEvent);
        if (stopped) break;
      }
      // The client ended the consumer without being asked to (a closed connection): say so.
      if (!stopped) throw new UnavailableError('event store: subscription ended');
    })().catch((err: unknown) => {
      stopped = true;
      iterator.stop();
      options.onError?.(err);
    });
    return this.track(async () => {
      stopped = true;
      iterator.stop();
      await loop;
    });
  }

  /** HAVEN_ES as it is on the server (stream info, messages by sequence), on this store's connection. */
  inspection(): StoreInspection {
    return new JetStreamInspection(this.nc, havenStreamSpec(HavenStream.EventStore));
  }

  /**
   * See the port. One request when nothing is pending (the last sequence of the stream, or of the context's
   * subjects); when a context filter has events after `after`, a short-lived consumer counts them exactly.
   * Throws UnavailableError when NATS fails.
   */
  async head(options: { after: Checkpoint; contexts?: readonly string[] }): Promise<StoreHead> {
    this.assertOpen();
    const after = options.after === 'start' ? 0 : Number(options.after);
    const filters = options.contexts?.map((c) => `${EVENT_STORE_SUBJECT_PREFIX}.${contextOfFilter(c)}.>`);
    if (!this.connected) throw new UnavailableError('event store: head: NATS unavailable: disconnected');
    try {
      const ready = this.ensureStream();
      if (ready) await ready;
      let last = 0;
      let pending = 0;
      if (!filters) {
        last = (await this.jsm.streams.info(EVENT_STORE_STREAM)).state.last_seq;
        pending = Math.max(0, last - after); // every sequence is an event: the stream denies deletes
      } else {
        for (const filter of filters) {
          const lastOfFilter = await this.lastSequenceOf(filter);
          last = Math.max(last, lastOfFilter);
          if (lastOfFilter > after) pending += await this.countAfter(filter, after);
        }
      }
      return {
        position: last === 0 ? 'start' : BigInt(last),
        pending: Math.min(PENDING_COUNT_LIMIT, pending),
      };
    } catch (err) {
      throw translate(err, 'head');
    }
  }

  private async lastSequenceOf(filter: string): Promise<number> {
    try {
      return (await this.jsm.streams.getMessage(EVENT_STORE_STREAM, { last_by_subj: filter })).seq;
    } catch (err) {
      if (isNotFound(err)) return 0;
      throw err;
    }
  }

  /** Messages on `filter` after sequence `after`: the num_pending of a consumer created there (then deleted). */
  private async countAfter(filter: string, after: number): Promise<number> {
    const info = await this.jsm.consumers.add(EVENT_STORE_STREAM, {
      filter_subject: filter,
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: after + 1,
      ack_policy: AckPolicy.None,
      mem_storage: true,
      inactive_threshold: nanos(30_000),
    });
    void this.jsm.consumers.delete(EVENT_STORE_STREAM, info.name).catch(() => undefined);
    return info.num_pending;
  }

  /** Drains the connection if this store opened it. */
  protected async release(): Promise<void> {
    await this.publisher.close();
    if (this.ownsConnection) await closeNatsConnection(this.nc);
  }

  /**
   * Checks once per store instance that HAVEN_ES exists with the settings the store relies on (the operator
   * provisions it; services may not create or change it), and learns its dedup window.
   */
  private ensureStream(): Promise<void> | undefined {
    if (this.streamExists) return undefined; // the hot path: no promise, no microtask
    this.streamReady ??= this.checkStream().then(
      () => {
        this.streamExists = true;
      },
      (err: unknown) => {
        this.streamReady = undefined;
        throw err;
      },
    );
    return this.streamReady;
  }

  private async checkStream(): Promise<void> {
    const onWarning = this.options.onWarning;
    const [checked] = await verifyHavenStreams(this.jsm, [HavenStream.EventStore], {
      replicas: this.options.replicas,
      ...(onWarning
        ? { log: { error: (_, message) => onWarning(message), warn: (_, message) => onWarning(message) } }
        : {}),
    });
    if (!checked) return;
    this.duplicateWindowMs = millis(checked.info.config.duplicate_window ?? 0) || DEFAULT_DUPLICATE_WINDOW_MS;
  }
}

function describeTail(tail: Tail): string {
  return tail.seq === 0 ? 'no_stream' : tail.revision.toString();
}
