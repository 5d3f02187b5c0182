/**
 * Event fan-out over NATS JetStream (DESIGN.md §3 "NATS subjects for fan-out").
 *
 * Subjects: `haven.bus.<context>.<aggregate>.<EventName>` in the stream `HAVEN_BUS` (subjects `haven.bus.>`).
 * The `bus` segment keeps the bus apart from the event store's `haven.es.>` subjects (a subject can belong to
 * one JetStream stream only) while keeping the `<context>.<aggregate>.<EventName>` order of the design, so
 * `haven.bus.scheduling.>` or `haven.bus.*.*.PhiAccessed` are natural filters. Subjects never carry PHI:
 * context, aggregate and event name only (no ids).
 *
 * Delivery is at-least-once: durable pull consumers, explicit ack after the handler resolves, nak with a delay
 * on error, a bounded number of deliveries and then quarantine (logged, terminated). Consumers additionally
 * skip event ids they already handled (bounded memory); handlers should still be idempotent.
 * The publisher's trace context rides in `traceparent`/`tracestate` headers; each delivery runs in a
 * `haven.bus.consume` span whose parent is the publisher's span.
 */
import {
  BUS_STREAM,
  BUS_SUBJECT_PREFIX,
  CHECKPOINT_BUCKET,
  HavenStream,
  closeNatsConnection,
  connectNats,
  verifyHavenStreams,
  type NatsCredentials,
} from '@haven/eventstore';
import {
  AckPolicy,
  ConsumerEvents,
  DeliverPolicy,
  NatsError,
  headers as natsHeaders,
  nanos,
  type ConsumerConfig,
  type ConsumerMessages,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
  type MsgHdrs,
  type NatsConnection,
} from 'nats';
import {
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  context,
  propagation,
  trace,
  type Span,
  type TextMapGetter,
  type TextMapSetter,
} from '@opentelemetry/api';
import { HavenError, UnavailableError, ValidationError } from '@haven/errors';
import {
  ConsumerState,
  ConsumerSupervisor,
  decodeEnvelope,
  encodeEnvelope,
  parseStreamName,
  withTimeout,
  type ConsumerHealth,
  type EventEnvelope,
  type SourceHead,
  type SupervisedHandle,
} from '@haven/eventstore';

export { BUS_STREAM, BUS_SUBJECT_PREFIX };

const DEFAULT_MAX_DELIVER = 5;
const DEFAULT_NAK_DELAY_MS = 1_000;
const DEFAULT_BATCH = 32;
const DEFAULT_DEDUP_SIZE = 10_000;
const CONSUMER_NOT_FOUND = 10014;
const tracer = trace.getTracer('haven.bus');

/** The subset of a pino logger the bus uses. Log objects never contain event bodies. */
export interface BusLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

const silent: BusLogger = { info: () => undefined, warn: () => undefined, error: () => undefined };

const setter: TextMapSetter<MsgHdrs> = {
  set: (carrier, key, value) => carrier.set(key, value),
};
const getter: TextMapGetter<MsgHdrs | undefined> = {
  get: (carrier, key) => {
    const v = carrier?.get(key);
    return v === undefined || v === '' ? undefined : v;
  },
  keys: (carrier) => carrier?.keys() ?? [],
};

/**
 * `haven.bus.<context>.<aggregate>.<EventName>` for an event (EventName = last `.` segment of its type).
 * Throws ValidationError when the stream name or type is malformed.
 */
export function busSubject(event: Pick<EventEnvelope, 'stream' | 'type'>): string {
  const { context: ctx, aggregate } = parseStreamName(event.stream);
  const name = event.type.split('.').pop() ?? '';
  if (!/^[A-Za-z][A-Za-z0-9_]*$/.test(name)) {
    throw new ValidationError([
      { field: 'type', description: 'last segment must be an event name like AppointmentBooked' },
    ]);
  }
  return `${BUS_SUBJECT_PREFIX}.${ctx}.${aggregate}.${name}`;
}

/** Context handed to a subscription handler with each event. */
export interface DeliveryContext {
  readonly subject: string;
  /** 1 on the first delivery, 2 on the first redelivery, … */
  readonly deliveryCount: number;
  /** The `haven.bus.consume` span the handler runs in (child of the publisher's span). */
  readonly span: Span;
}

/** Options of {@link EventBus.subscribe}. */
export interface BusSubscribeOptions {
  /** Durable consumer name (`[A-Za-z0-9_-]+`); the position survives restarts and is shared by replicas. */
  readonly durable: string;
  /** Subject filters, e.g. `haven.bus.scheduling.>`; default all bus events. */
  readonly subjects?: readonly string[];
  /** Handles one event; resolve = ack, throw = redeliver later. Should be idempotent. */
  readonly handler: (event: EventEnvelope, ctx: DeliveryContext) => Promise<void>;
  /** Handlers running at once (default 1 = in order). */
  readonly concurrency?: number;
  /** Deliveries before an event is quarantined (default 5). */
  readonly maxDeliver?: number;
  /** Delay before a failed event is redelivered (default 1 s). */
  readonly nakDelayMs?: number;
  /**
   * Where a new consumer starts: `all` retained events (default) or only events published from now on
   * (`new`, for live views such as the gateway's WebSocket fan-out). An existing durable keeps its position.
   */
  readonly deliver?: 'all' | 'new';
  /**
   * The server deletes the consumer after it has had no subscriber for this long (per-instance consumers of
   * replicas that come and go). Default: kept forever.
   */
  readonly inactiveThresholdMs?: number;
  /** Messages pulled per batch (default 32); bounds memory. */
  readonly batch?: number;
  /** Event ids remembered for consumer-side dedup (default 10 000). */
  readonly dedupSize?: number;
  /** Where the subscription reports its state; a private registry when omitted. */
  readonly health?: ConsumerHealth;
  /** The name in health, metrics and logs (`gateway.session-events`); default `bus.<durable>`. */
  readonly name?: string;
  /** How often the server-side consumer is checked (default 3 000 ms). */
  readonly checkIntervalMs?: number;
}

/** A running bus subscription. */
export interface BusSubscription {
  /** Stops pulling, waits for in-flight handlers. */
  close(): Promise<void>;
}

/** Options of {@link EventBus.create}. */
export interface EventBusOptions {
  readonly logger?: BusLogger;
  /** Replicas HAVEN_JETSTREAM_REPLICAS asks for: fewer on HAVEN_BUS or the bucket is logged as a warning. */
  readonly replicas?: number;
}

/** Options of {@link EventBus.connect}: the NATS credentials plus the bus's options. */
export interface EventBusConnectOptions extends NatsCredentials, EventBusOptions {
  /** Connection name (the service name). */
  readonly name: string;
}

function translate(err: unknown, what: string): HavenError {
  if (err instanceof HavenError) return err;
  const message = err instanceof NatsError ? `${err.code}: ${err.message}` : String(err);
  return new UnavailableError(`bus: ${what}: ${message}`, { cause: err });
}

class BoundedSet {
  private readonly items = new Set<string>();
  constructor(private readonly max: number) {}
  has(id: string): boolean {
    return this.items.has(id);
  }
  add(id: string): void {
    this.items.delete(id);
    this.items.add(id);
    if (this.items.size > this.max) {
      const oldest = this.items.values().next().value;
      if (oldest !== undefined) this.items.delete(oldest);
    }
  }
}

/** Publishes events to, and consumes them from, the `HAVEN_BUS` JetStream stream. */
export class EventBus {
  private readonly js: JetStreamClient;
  private readonly subscriptions = new Set<BusSubscription>();
  private streamReady: Promise<void> | undefined;
  private closed = false;

  private constructor(
    private readonly nc: NatsConnection,
    private readonly jsm: JetStreamManager,
    private readonly owns: boolean,
    private readonly logger: BusLogger,
    private readonly replicas: number | undefined,
  ) {
    this.js = nc.jetstream();
  }

  /**
   * A bus over an existing connection (the caller closes it). HAVEN_BUS and the checkpoint bucket are checked on
   * first use: when missing, that call fails with StreamNotProvisionedError (the operator provisions them); a
   * setting they lack is logged.
   * Throws UnavailableError without JetStream.
   */
  static async create(nc: NatsConnection, options: EventBusOptions = {}): Promise<EventBus> {
    return await EventBus.open(nc, false, options);
  }

  private static async open(nc: NatsConnection, owns: boolean, options: EventBusOptions): Promise<EventBus> {
    try {
      const jsm = await nc.jetstreamManager();
      return new EventBus(nc, jsm, owns, options.logger ?? silent, options.replicas);
    } catch (err) {
      throw translate(err, 'jetstream manager');
    }
  }

  /** Connects to NATS; `close()` drains the connection. Throws UnavailableError when it cannot. */
  static async connect(options: EventBusConnectOptions): Promise<EventBus> {
    const nc = await connectNats(options, 'bus: connect');
    try {
      return await EventBus.open(nc, true, options);
    } catch (err) {
      await nc.close().catch(() => undefined);
      throw err;
    }
  }

  /**
   * A checkpoint store in the NATS key-value bucket `haven_checkpoints`: shared by every replica and kept by
   * NATS, so a restarted pod resumes where the last one stopped. A service may write only keys starting with
   * its own name (or `relay.<its context>`). Throws StreamNotProvisionedError when the bucket is missing,
   * UnavailableError when NATS fails.
   */
  async checkpoints(): Promise<{
    load(key: string): Promise<bigint | 'start'>;
    save(key: string, position: bigint): Promise<void>;
  }> {
    let kv: Awaited<ReturnType<JetStreamClient['views']['kv']>>;
    await this.verify(HavenStream.Checkpoints);
    try {
      kv = await this.js.views.kv(CHECKPOINT_BUCKET, { bindOnly: true });
    } catch (err) {
      throw translate(err, 'checkpoints');
    }
    return {
      async load(key) {
        const entry = await kv.get(key).catch((err: unknown) => {
          throw translate(err, 'checkpoint load');
        });
        return entry && entry.value.length > 0 ? BigInt(entry.string()) : 'start';
      },
      async save(key, position) {
        await kv.put(key, String(position)).catch((err: unknown) => {
          throw translate(err, 'checkpoint save');
        });
      },
    };
  }

  /**
   * Publishes an event (JSON envelope) with `Nats-Msg-Id` = event id (the server drops a re-publish inside its
   * dedup window) and the active trace context in the headers. Resolves once JetStream stored it.
   * Throws ValidationError on a malformed stream/type, UnavailableError when NATS fails.
   */
  async publish(event: EventEnvelope): Promise<void> {
    if (this.closed) throw new UnavailableError('bus: closed');
    const subject = busSubject(event);
    await this.ensureStream();
    await tracer.startActiveSpan('haven.bus.publish', { kind: SpanKind.PRODUCER }, async (span) => {
      try {
        const h = natsHeaders();
        h.set('Haven-Event-Id', event.id);
        h.set('Haven-Event-Type', event.type);
        propagation.inject(context.active(), h, setter);
        await this.js.publish(subject, encodeEnvelope(event), { msgID: event.id, headers: h });
      } catch (err) {
        span.setStatus({ code: SpanStatusCode.ERROR });
        throw translate(err, 'publish');
      } finally {
        span.end();
      }
    });
  }

  /**
   * Starts a durable subscription (creating the consumer, or using the existing one at its position) and keeps
   * it running: after any NATS outage (stall, restart, lost connection, missed heartbeats) it resumes where the
   * server-side consumer is; when that consumer was deleted it creates it again just after the last event this
   * process acknowledged (handled events are never handed to the handler again: consumer-side dedup); while it
   * is down or behind it reports so to `health`. Throws ValidationError on a bad durable name or filter,
   * UnavailableError when NATS fails at the start.
   */
  async subscribe(options: BusSubscribeOptions): Promise<BusSubscription> {
    if (this.closed) throw new UnavailableError('bus: closed');
    if (!/^[A-Za-z0-9_-]+$/.test(options.durable)) {
      throw new ValidationError([{ field: 'durable', description: 'must match [A-Za-z0-9_-]+' }]);
    }
    const subjects = options.subjects ?? [`${BUS_SUBJECT_PREFIX}.>`];
    for (const s of subjects) {
      if (!s.startsWith(`${BUS_SUBJECT_PREFIX}.`)) {
        throw new ValidationError([
          { field: 'subjects', description: `must start with ${BUS_SUBJECT_PREFIX}.` },
        ]);
      }
    }
    const concurrency = Math.max(1, options.concurrency ?? 1);
    // NATS 2.9 consumers have a single filter subject: filter on the server when there is one, here otherwise.
    const serverFilter = subjects.length === 1 ? subjects[0]! : `${BUS_SUBJECT_PREFIX}.>`;
    const config: Partial<ConsumerConfig> = {
      durable_name: options.durable,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: options.deliver === 'new' ? DeliverPolicy.New : DeliverPolicy.All,
      filter_subject: serverFilter,
      ...(options.inactiveThresholdMs !== undefined
        ? { inactive_threshold: nanos(options.inactiveThresholdMs) }
        : {}),
      max_deliver: (options.maxDeliver ?? DEFAULT_MAX_DELIVER) + 1, // the last delivery is only used to quarantine
      ack_wait: nanos(30_000),
      max_ack_pending: Math.max(concurrency * 4, options.batch ?? DEFAULT_BATCH),
    };
    try {
      await this.ensureStream();
      await this.jsm.consumers.add(BUS_STREAM, config).catch(async (err: unknown) => {
        // An existing durable whose configuration cannot be updated (e.g. recreated at a sequence after it was
        // deleted): keep it and its position.
        await this.jsm.consumers.info(BUS_STREAM, options.durable).catch(() => {
          throw err;
        });
      });
    } catch (err) {
      throw translate(err, 'subscribe');
    }
    const subscription = new SupervisedBusSubscription(this.js, this.jsm, this.logger, {
      ...options,
      concurrency,
      matchers: subjects.map(subjectMatcher),
      config,
      onClosed: () => this.subscriptions.delete(subscription),
    });
    this.subscriptions.add(subscription);
    await subscription.start();
    return subscription;
  }

  /** Drains subscriptions (waits for in-flight handlers), then drains the connection if the bus opened it. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([...this.subscriptions].map((s) => s.close()));
    if (this.owns) await closeNatsConnection(this.nc);
  }

  private ensureStream(): Promise<void> {
    this.streamReady ??= this.verify(HavenStream.Bus).catch((err: unknown) => {
      this.streamReady = undefined;
      throw err;
    });
    return this.streamReady;
  }

  /** Checks that the operator provisioned `stream` as Haven needs it; logs replica advice. */
  private async verify(stream: HavenStream): Promise<void> {
    await verifyHavenStreams(this.jsm, [stream], { replicas: this.replicas, log: this.logger }).catch(
      (err: unknown) => {
        throw translate(err, 'stream');
      },
    );
  }
}

interface SupervisedOptions extends BusSubscribeOptions {
  readonly concurrency: number;
  readonly matchers: readonly ((subject: string) => boolean)[];
  readonly config: Partial<ConsumerConfig>;
  readonly onClosed: () => void;
}

function isConsumerNotFound(err: unknown): boolean {
  return (
    err instanceof NatsError &&
    (err.api_error?.err_code === CONSUMER_NOT_FOUND || /consumer not found/i.test(err.message))
  );
}

/**
 * One durable bus subscription kept alive (see {@link EventBus.subscribe}) by a {@link ConsumerSupervisor}: a
 * consume loop over the durable consumer, re-opened with back-off when it ends or fails, and a check every
 * interval of the server-side consumer (pending and unacknowledged counts → lag and state; missing → created
 * again after the last acknowledged sequence; pending but nothing delivered for a whole interval → re-opened).
 */
class SupervisedBusSubscription implements BusSubscription {
  readonly #seen: BoundedSet;
  readonly #inFlight = new Set<Promise<void>>();
  /** Stream sequences delivered and not yet settled; with `#maxDone` gives the acknowledged floor. */
  readonly #unsettled = new Set<number>();
  readonly #name: string;
  readonly #supervisor: ConsumerSupervisor<number | undefined>;
  #maxDone = 0;
  #wake: (() => void) | undefined;

  constructor(
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private readonly logger: BusLogger,
    private readonly options: SupervisedOptions,
  ) {
    this.#seen = new BoundedSet(options.dedupSize ?? DEFAULT_DEDUP_SIZE);
    this.#name = options.name ?? `bus.${options.durable.toLowerCase()}`;
    this.#supervisor = new ConsumerSupervisor<number | undefined>(
      {
        open: (generation) => this.#open(generation),
        head: () => this.#head(),
        reached: (end) => end !== undefined && this.#floor >= end,
        busy: () => this.#inFlight.size > 0,
        where: () => ({ durable: options.durable }),
      },
      {
        name: this.#name,
        health: options.health,
        logger,
        logPrefix: 'bus: ',
        checkIntervalMs: options.checkIntervalMs,
      },
    );
  }

  async start(): Promise<void> {
    await this.#supervisor.start();
  }

  async close(): Promise<void> {
    if (this.#supervisor.closed) return;
    await this.#supervisor.close();
    await Promise.all([...this.#inFlight]);
    this.options.onClosed();
  }

  /** The highest stream sequence at or below which everything delivered here was settled. */
  get #floor(): number {
    return this.#unsettled.size > 0 ? Math.min(...this.#unsettled) - 1 : this.#maxDone;
  }

  async #open(generation: number): Promise<SupervisedHandle> {
    const consumer = await this.js.consumers.get(BUS_STREAM, this.options.durable);
    const messages = await consumer.consume({ max_messages: this.options.batch ?? DEFAULT_BATCH });
    void this.#watch(messages);
    const loop = this.#run(messages, generation);
    return {
      close: async () => {
        messages.stop();
        this.#wake?.();
        await loop;
      },
    };
  }

  async #run(messages: ConsumerMessages, generation: number): Promise<void> {
    try {
      for await (const m of messages) {
        if (!this.#supervisor.isCurrent(generation)) break;
        while (this.#inFlight.size >= this.options.concurrency) {
          await new Promise<void>((resolve) => (this.#wake = resolve));
        }
        if (!this.#supervisor.isCurrent(generation)) break;
        this.#dispatch(m);
      }
      if (this.#supervisor.isCurrent(generation)) {
        throw new UnavailableError('bus: the consumer stopped delivering');
      }
    } catch (err) {
      this.#supervisor.fail(generation, err);
    }
  }

  /** Reacts at once when the client learns that the server-side consumer is gone. */
  async #watch(messages: ConsumerMessages): Promise<void> {
    try {
      for await (const s of await messages.status()) {
        if (s.type === ConsumerEvents.ConsumerDeleted || s.type === ConsumerEvents.ConsumerNotFound) {
          void this.#supervisor.check();
        }
      }
    } catch {
      // the iterator ends with the messages
    }
  }

  #dispatch(m: JsMsg): void {
    const seq = m.seq;
    this.#unsettled.add(seq);
    this.#supervisor.delivered();
    const p = this.#handle(m).finally(() => {
      this.#inFlight.delete(p);
      this.#unsettled.delete(seq);
      this.#maxDone = Math.max(this.#maxDone, seq);
      this.#wake?.();
    });
    this.#inFlight.add(p);
  }

  async #handle(m: JsMsg): Promise<void> {
    const { durable, handler } = this.options;
    const maxDeliver = this.options.maxDeliver ?? DEFAULT_MAX_DELIVER;
    const deliveryCount = m.info.redeliveryCount;
    let event: EventEnvelope;
    try {
      event = decodeEnvelope(m.data);
      if (busSubject(event) !== m.subject)
        throw new ValidationError([{ field: 'subject', description: 'does not match the event' }]);
    } catch (err) {
      // The codec's own words (field names and fixed descriptions), never the message's; not under `reason`,
      // which the services' logger redacts.
      const problems =
        err instanceof ValidationError
          ? err.violations.map((v) => `${v.field}: ${v.description}`)
          : ['unreadable'];
      this.logger.warn({ subject: m.subject, durable, problems }, 'bus: quarantined a malformed message');
      m.term();
      return;
    }
    if (!this.options.matchers.some((match) => match(m.subject)) || this.#seen.has(event.id)) {
      m.ack();
      return;
    }
    if (deliveryCount > maxDeliver) {
      this.logger.error(
        {
          subject: m.subject,
          durable,
          eventId: event.id,
          eventType: event.type,
          deliveries: deliveryCount - 1,
        },
        'bus: quarantined an event its handler kept failing on',
      );
      m.term();
      return;
    }
    const parent = propagation.extract(ROOT_CONTEXT, m.headers, getter);
    await tracer.startActiveSpan('haven.bus.consume', { kind: SpanKind.CONSUMER }, parent, async (span) => {
      try {
        await handler(event, { subject: m.subject, deliveryCount, span });
        this.#seen.add(event.id);
        this.#supervisor.handled();
        await m.ackAck().catch(() => false);
      } catch (err) {
        span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.name : 'error' });
        this.logger.warn(
          {
            subject: m.subject,
            durable,
            eventId: event.id,
            deliveries: deliveryCount,
            error: err instanceof Error ? err.name : 'error',
          },
          'bus: handler failed; will redeliver',
        );
        m.nak(this.options.nakDelayMs ?? DEFAULT_NAK_DELAY_MS);
      } finally {
        span.end();
      }
    });
  }

  /**
   * The server-side consumer's counts, and where the stream ends when some are pending. When the consumer is
   * gone (deleted, or lost with the server's state) it is created again and nothing is returned.
   */
  async #head(): Promise<SourceHead<number | undefined> | undefined> {
    let info;
    let end: number | undefined;
    try {
      info = await withTimeout(
        this.jsm.consumers.info(BUS_STREAM, this.options.durable),
        this.#supervisor.checkTimeoutMs,
      );
      if (info.num_pending > 0 || info.num_ack_pending > 0) {
        const filter = this.options.config.filter_subject ?? `${BUS_SUBJECT_PREFIX}.>`;
        end = (await this.jsm.streams.getMessage(BUS_STREAM, { last_by_subj: filter })).seq;
      }
    } catch (err) {
      if (!this.#supervisor.closed && isConsumerNotFound(err)) {
        await this.#recreate();
        return undefined;
      }
      throw err;
    }
    return { pending: info.num_pending, lag: info.num_pending + info.num_ack_pending, end };
  }

  /** The server-side consumer is gone (deleted, or lost with the server's state): create it again. */
  async #recreate(): Promise<void> {
    const floor = this.#floor;
    const config: Partial<ConsumerConfig> =
      floor > 0
        ? { ...this.options.config, deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: floor + 1 }
        : this.options.config;
    try {
      await this.jsm.consumers.add(BUS_STREAM, config);
    } catch (err) {
      this.#supervisor.reporter.update({
        state: ConsumerState.Down,
        reason: err instanceof Error ? err.name : 'error',
      });
      return;
    }
    this.logger.warn(
      { consumer: this.#name, durable: this.options.durable, afterSequence: floor },
      'bus: the consumer was missing on the server; created it again after the last acknowledged event',
    );
    await this.#supervisor.reopen();
  }
}

/** NATS subject wildcard matching (`*` one token, `>` the rest). */
function subjectMatcher(filter: string): (subject: string) => boolean {
  const f = filter.split('.');
  return (subject) => {
    const s = subject.split('.');
    for (let i = 0; i < f.length; i += 1) {
      if (f[i] === '>') return s.length > i;
      if (i >= s.length || (f[i] !== '*' && f[i] !== s[i])) return false;
    }
    return s.length === f.length;
  };
}
