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
import { closeNatsConnection, connectNats } from '@haven/eventstore';
import {
  AckPolicy,
  DeliverPolicy,
  DiscardPolicy,
  NatsError,
  RetentionPolicy,
  StorageType,
  headers as natsHeaders,
  nanos,
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
import { decodeEnvelope, encodeEnvelope, parseStreamName, type EventEnvelope } from '@haven/eventstore';

/** Name of the JetStream stream carrying bus events. */
export const BUS_STREAM = 'HAVEN_BUS';
/** Subject prefix of bus events. */
export const BUS_SUBJECT_PREFIX = 'haven.bus';

const DEFAULT_MAX_DELIVER = 5;
const DEFAULT_NAK_DELAY_MS = 1_000;
const DEFAULT_BATCH = 32;
const DEFAULT_DEDUP_SIZE = 10_000;
const DEFAULT_MAX_AGE_MS = 7 * 24 * 3600 * 1000;
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
}

/** A running bus subscription. */
export interface BusSubscription {
  /** Stops pulling, waits for in-flight handlers. */
  close(): Promise<void>;
}

/** Options of {@link EventBus.connect}. */
export interface EventBusConnectOptions {
  readonly servers: string | readonly string[];
  /** Connection name (the service name). */
  readonly name: string;
  readonly logger?: BusLogger;
  /** Path of a NATS `.creds` file. */
  readonly credsFile?: string;
  /** Replicas of HAVEN_BUS and the checkpoint bucket when this bus creates them (HAVEN_JETSTREAM_REPLICAS). */
  readonly replicas?: number;
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
    private readonly replicas: number,
  ) {
    this.js = nc.jetstream();
  }

  /** A bus over an existing connection (the caller closes it). Throws UnavailableError without JetStream. */
  static async create(
    nc: NatsConnection,
    options: { logger?: BusLogger; replicas?: number } = {},
  ): Promise<EventBus> {
    return await EventBus.open(nc, false, options);
  }

  private static async open(
    nc: NatsConnection,
    owns: boolean,
    options: { logger?: BusLogger; replicas?: number },
  ): Promise<EventBus> {
    try {
      const jsm = await nc.jetstreamManager();
      return new EventBus(nc, jsm, owns, options.logger ?? silent, options.replicas ?? 1);
    } catch (err) {
      throw translate(err, 'jetstream manager');
    }
  }

  /** Connects to NATS; `close()` drains the connection. Throws UnavailableError when it cannot. */
  static async connect(options: EventBusConnectOptions): Promise<EventBus> {
    const nc = await connectNats(
      { servers: options.servers, name: options.name, credsFile: options.credsFile },
      'bus: connect',
    );
    try {
      return await EventBus.open(nc, true, options);
    } catch (err) {
      await nc.close().catch(() => undefined);
      throw err;
    }
  }

  /**
   * A checkpoint store in the NATS key-value bucket `haven_checkpoints`: shared by every replica and kept by
   * NATS, so a restarted pod resumes where the last one stopped. Throws UnavailableError when NATS fails.
   */
  async checkpoints(): Promise<{
    load(key: string): Promise<bigint | 'start'>;
    save(key: string, position: bigint): Promise<void>;
  }> {
    let kv: Awaited<ReturnType<JetStreamClient['views']['kv']>>;
    try {
      kv = await this.js.views.kv('haven_checkpoints', { history: 1, replicas: this.replicas });
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
   * Starts a durable subscription (creating or updating the consumer). Throws ValidationError on a bad durable
   * name or filter, UnavailableError when NATS fails.
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
    const maxDeliver = options.maxDeliver ?? DEFAULT_MAX_DELIVER;
    const nakDelayMs = options.nakDelayMs ?? DEFAULT_NAK_DELAY_MS;
    const concurrency = Math.max(1, options.concurrency ?? 1);
    // NATS 2.9 consumers have a single filter subject: filter on the server when there is one, here otherwise.
    const serverFilter = subjects.length === 1 ? subjects[0]! : `${BUS_SUBJECT_PREFIX}.>`;
    const matchers = subjects.map(subjectMatcher);
    let messages: ConsumerMessages;
    try {
      await this.ensureStream();
      await this.jsm.consumers.add(BUS_STREAM, {
        durable_name: options.durable,
        ack_policy: AckPolicy.Explicit,
        deliver_policy: options.deliver === 'new' ? DeliverPolicy.New : DeliverPolicy.All,
        filter_subject: serverFilter,
        ...(options.inactiveThresholdMs !== undefined
          ? { inactive_threshold: nanos(options.inactiveThresholdMs) }
          : {}),
        max_deliver: maxDeliver + 1, // the last delivery is only used to quarantine
        ack_wait: nanos(30_000),
        max_ack_pending: Math.max(concurrency * 4, options.batch ?? DEFAULT_BATCH),
      });
      const consumer = await this.js.consumers.get(BUS_STREAM, options.durable);
      messages = await consumer.consume({ max_messages: options.batch ?? DEFAULT_BATCH });
    } catch (err) {
      throw translate(err, 'subscribe');
    }
    const seen = new BoundedSet(options.dedupSize ?? DEFAULT_DEDUP_SIZE);
    const inFlight = new Set<Promise<void>>();
    let stopping = false;

    const handle = async (m: JsMsg): Promise<void> => {
      const deliveryCount = m.info.redeliveryCount;
      let event: EventEnvelope;
      try {
        event = decodeEnvelope(m.data);
        if (busSubject(event) !== m.subject)
          throw new ValidationError([{ field: 'subject', description: 'does not match the event' }]);
      } catch (err) {
        const reason =
          err instanceof ValidationError
            ? err.violations.map((v) => `${v.field}: ${v.description}`).join('; ')
            : 'unreadable';
        this.logger.warn(
          { subject: m.subject, durable: options.durable, reason },
          'bus: quarantined a malformed message',
        );
        m.term();
        return;
      }
      if (!matchers.some((match) => match(m.subject)) || seen.has(event.id)) {
        m.ack();
        return;
      }
      if (deliveryCount > maxDeliver) {
        this.logger.error(
          {
            subject: m.subject,
            durable: options.durable,
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
          await options.handler(event, { subject: m.subject, deliveryCount, span });
          seen.add(event.id);
          await m.ackAck().catch(() => false);
        } catch (err) {
          span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.name : 'error' });
          this.logger.warn(
            {
              subject: m.subject,
              durable: options.durable,
              eventId: event.id,
              deliveries: deliveryCount,
              error: err instanceof Error ? err.name : 'error',
            },
            'bus: handler failed; will redeliver',
          );
          m.nak(nakDelayMs);
        } finally {
          span.end();
        }
      });
    };

    let wake: (() => void) | undefined;
    const loop = (async () => {
      for await (const m of messages) {
        if (stopping) break;
        while (inFlight.size >= concurrency) {
          await new Promise<void>((resolve) => (wake = resolve));
        }
        const p = handle(m).finally(() => {
          inFlight.delete(p);
          wake?.();
        });
        inFlight.add(p);
      }
    })().catch((err: unknown) => {
      this.logger.error(
        { durable: options.durable, error: err instanceof Error ? err.message : 'error' },
        'bus: subscription stopped',
      );
    });

    const subscription: BusSubscription = {
      close: async () => {
        stopping = true;
        messages.stop();
        wake?.();
        await loop;
        await Promise.all([...inFlight]);
        this.subscriptions.delete(subscription);
      },
    };
    this.subscriptions.add(subscription);
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
    this.streamReady ??= this.createStream().catch((err: unknown) => {
      this.streamReady = undefined;
      throw translate(err, 'stream');
    });
    return this.streamReady;
  }

  private async createStream(): Promise<void> {
    try {
      await this.jsm.streams.info(BUS_STREAM);
      return;
    } catch (err) {
      if (!(err instanceof NatsError) || (err.code !== '404' && err.api_error?.err_code !== 10059)) throw err;
    }
    await this.jsm.streams
      .add({
        name: BUS_STREAM,
        subjects: [`${BUS_SUBJECT_PREFIX}.>`],
        retention: RetentionPolicy.Limits,
        storage: StorageType.File,
        discard: DiscardPolicy.Old,
        max_age: nanos(DEFAULT_MAX_AGE_MS),
        duplicate_window: nanos(120_000),
        num_replicas: this.replicas,
      })
      .catch(async (err: unknown) => {
        await this.jsm.streams.info(BUS_STREAM).catch(() => {
          throw err;
        });
      });
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
