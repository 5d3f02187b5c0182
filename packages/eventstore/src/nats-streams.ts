/**
 * The JetStream streams Haven runs on, in one place: what each is, how the operator provisions it, and how a
 * service checks, before using it, that it is there with the settings Haven's guarantees depend on.
 *
 * Services never create, update, delete or purge a stream: their NATS users are denied the JetStream API for
 * it (`nats-permissions.ts`). Only the operator credential provisions them — the dev stack, the test harness
 * and the chart's provisioning Job call {@link provisionHavenStreams}; a service calls
 * {@link verifyHavenStreams} (at start and before first use): a missing stream stops it (it waits for the
 * operator), a stream whose settings no longer give Haven's guarantees is named, setting by setting, in its log
 * (the audit service's store watch raises the integrity event and the alert; refusing to serve would take the
 * clinic down without making the store any safer).
 */
import {
  DiscardPolicy,
  NatsError,
  RetentionPolicy,
  StorageType,
  nanos,
  type JetStreamManager,
  type NatsConnection,
  type StreamConfig,
  type StreamInfo,
} from 'nats';
import { PreconditionError, UnavailableError } from '@haven/errors';
import type { StoreSettingDeviation } from './port';

/** Name of the JetStream stream holding every event; its sequence is the global position. */
export const EVENT_STORE_STREAM = 'HAVEN_ES';
/** Subject prefix of event-store subjects. The bus uses `haven.bus.` and never overlaps. */
export const EVENT_STORE_SUBJECT_PREFIX = 'haven.es';
/** Name of the JetStream stream carrying bus events. */
export const BUS_STREAM = 'HAVEN_BUS';
/** Subject prefix of bus events. */
export const BUS_SUBJECT_PREFIX = 'haven.bus';
/** The NATS key-value bucket of consumer and relay checkpoints (stream `KV_haven_checkpoints`). */
export const CHECKPOINT_BUCKET = 'haven_checkpoints';
/** The NATS subject identity publishes revocations on. */
export const REVOCATIONS_SUBJECT = 'haven.identity.revocations';
/** The JetStream stream that retains revocations for late joiners. */
export const REVOCATIONS_STREAM = 'HAVEN_REVOCATIONS';
/**
 * How long a revocation matters: the longest token lifetime (a break-glass token lives up to 60 minutes;
 * access tokens 5) plus slack. The revocation stream's max age and the services' in-memory TTL.
 */
export const REVOCATION_RETENTION_MS = 65 * 60_000;
/**
 * The JetStream stream of "the relay accepted this message" marks (the reminder outbox's, `notification/
 * accepted-marks.ts` in scheduling): a plain publish, no ack awaited, one subject per message, ids only.
 */
export const ACCEPTED_MARKS_STREAM = 'HAVEN_ACCEPTED';
/** Subject prefix of the accepted marks: `haven.accepted.<service>.<message id>`; no follower reads it. */
export const ACCEPTED_MARKS_SUBJECT_PREFIX = 'haven.accepted';
/**
 * How long a mark is kept: many times the outbox's lease (2 min by default), so a sender that died is replaced
 * long before its marks go; a mark older than this only matters to a sender that stayed down a day (which then
 * sends again, as without marks).
 */
export const ACCEPTED_MARKS_RETENTION_MS = 24 * 3600 * 1000;

/** Default server-side dedup window of HAVEN_ES and HAVEN_BUS. */
export const DEFAULT_DUPLICATE_WINDOW_MS = 120_000;
const BUS_MAX_AGE_MS = 7 * 24 * 3600 * 1000;

/** Which of Haven's streams. */
export const HavenStream = {
  EventStore: 'eventStore',
  Bus: 'bus',
  Checkpoints: 'checkpoints',
  Revocations: 'revocations',
  AcceptedMarks: 'acceptedMarks',
} as const;
/** One of {@link HavenStream}. */
export type HavenStream = (typeof HavenStream)[keyof typeof HavenStream];

/** Options of {@link provisionHavenStreams}. */
export interface ProvisionOptions {
  /** Replicas of every stream (3 on a clustered NATS; default 1). */
  readonly replicas?: number;
  /** Dedup window of HAVEN_ES and HAVEN_BUS (default 2 min). */
  readonly duplicateWindowMs?: number;
  /** Only these streams (default all; tests that set up one stream by hand provision the others). */
  readonly streams?: readonly HavenStream[];
}

/** One of Haven's streams: its configuration and the settings a service insists on. */
export interface HavenStreamSpec {
  readonly stream: HavenStream;
  /** The JetStream stream name. */
  readonly name: string;
  /** What it is for, in error messages. */
  readonly purpose: string;
  /** The configuration the operator creates it with. */
  config(options?: ProvisionOptions): Partial<StreamConfig> & { name: string };
  /**
   * Settings a service checks before using the stream (each a guarantee: deny-delete, deny-purge, no roll-up
   * headers, no limit that would drop events…). The provisioning brings an existing stream to these values.
   */
  readonly required: Readonly<Partial<Record<keyof StreamConfig, unknown>>>;
}

const limits = { retention: RetentionPolicy.Limits, storage: StorageType.File } as const;

const SPECS: Readonly<Record<HavenStream, HavenStreamSpec>> = {
  eventStore: {
    stream: HavenStream.EventStore,
    name: EVENT_STORE_STREAM,
    purpose: 'the event store',
    config: (o = {}) => ({
      name: EVENT_STORE_STREAM,
      subjects: [`${EVENT_STORE_SUBJECT_PREFIX}.>`],
      ...limits,
      discard: DiscardPolicy.Old,
      max_age: 0,
      max_msgs: -1,
      max_bytes: -1,
      max_msgs_per_subject: -1,
      num_replicas: o.replicas ?? 1,
      duplicate_window: nanos(o.duplicateWindowMs ?? DEFAULT_DUPLICATE_WINDOW_MS),
      deny_delete: true,
      deny_purge: true,
      allow_rollup_hdrs: false,
    }),
    required: {
      subjects: [`${EVENT_STORE_SUBJECT_PREFIX}.>`],
      ...limits,
      max_age: 0,
      max_msgs: -1,
      max_bytes: -1,
      max_msgs_per_subject: -1,
      deny_delete: true,
      deny_purge: true,
      allow_rollup_hdrs: false,
      sealed: false,
    },
  },
  bus: {
    stream: HavenStream.Bus,
    name: BUS_STREAM,
    purpose: 'the event bus',
    config: (o = {}) => ({
      name: BUS_STREAM,
      subjects: [`${BUS_SUBJECT_PREFIX}.>`],
      ...limits,
      discard: DiscardPolicy.Old,
      max_age: nanos(BUS_MAX_AGE_MS),
      duplicate_window: nanos(o.duplicateWindowMs ?? DEFAULT_DUPLICATE_WINDOW_MS),
      num_replicas: o.replicas ?? 1,
      allow_rollup_hdrs: false,
    }),
    required: { subjects: [`${BUS_SUBJECT_PREFIX}.>`], ...limits, allow_rollup_hdrs: false, sealed: false },
  },
  checkpoints: {
    stream: HavenStream.Checkpoints,
    name: `KV_${CHECKPOINT_BUCKET}`,
    purpose: 'the checkpoint bucket',
    // What nats.js creates for `kv(CHECKPOINT_BUCKET, { history: 1 })`, but without roll-up headers (a roll-up
    // would let one writer erase every other service's checkpoint) and with deletes and purges denied.
    config: (o = {}) => ({
      name: `KV_${CHECKPOINT_BUCKET}`,
      subjects: [`$KV.${CHECKPOINT_BUCKET}.>`],
      ...limits,
      discard: DiscardPolicy.New,
      max_msgs_per_subject: 1,
      max_age: 0,
      max_msgs: -1,
      max_bytes: -1,
      max_msg_size: -1,
      num_replicas: o.replicas ?? 1,
      allow_direct: true,
      allow_rollup_hdrs: false,
      deny_delete: true,
      deny_purge: true,
    }),
    required: {
      subjects: [`$KV.${CHECKPOINT_BUCKET}.>`],
      ...limits,
      max_msgs_per_subject: 1,
      allow_rollup_hdrs: false,
      deny_delete: true,
      deny_purge: true,
      sealed: false,
    },
  },
  revocations: {
    stream: HavenStream.Revocations,
    name: REVOCATIONS_STREAM,
    purpose: 'the revocation feed',
    config: (o = {}) => ({
      name: REVOCATIONS_STREAM,
      subjects: [REVOCATIONS_SUBJECT],
      ...limits,
      discard: DiscardPolicy.Old,
      max_age: nanos(REVOCATION_RETENTION_MS),
      max_msgs: 1_000_000,
      num_replicas: o.replicas ?? 1,
      allow_rollup_hdrs: false,
    }),
    required: {
      subjects: [REVOCATIONS_SUBJECT],
      ...limits,
      max_age: nanos(REVOCATION_RETENTION_MS),
      allow_rollup_hdrs: false,
      sealed: false,
    },
  },
  acceptedMarks: {
    stream: HavenStream.AcceptedMarks,
    name: ACCEPTED_MARKS_STREAM,
    purpose: 'the outbox accepted marks',
    // One mark per subject (a message accepted again replaces its mark), gone after a day.
    config: (o = {}) => ({
      name: ACCEPTED_MARKS_STREAM,
      subjects: [`${ACCEPTED_MARKS_SUBJECT_PREFIX}.>`],
      ...limits,
      discard: DiscardPolicy.Old,
      max_age: nanos(ACCEPTED_MARKS_RETENTION_MS),
      max_msgs_per_subject: 1,
      num_replicas: o.replicas ?? 1,
      allow_rollup_hdrs: false,
    }),
    required: {
      subjects: [`${ACCEPTED_MARKS_SUBJECT_PREFIX}.>`],
      ...limits,
      max_age: nanos(ACCEPTED_MARKS_RETENTION_MS),
      allow_rollup_hdrs: false,
      sealed: false,
    },
  },
};

/** Every stream Haven uses, in provisioning order. */
export const HAVEN_STREAMS: readonly HavenStreamSpec[] = [
  SPECS.eventStore,
  SPECS.bus,
  SPECS.checkpoints,
  SPECS.revocations,
  SPECS.acceptedMarks,
];

/** The spec of one of Haven's streams. */
export function havenStreamSpec(stream: HavenStream): HavenStreamSpec {
  return SPECS[stream];
}

/**
 * A Haven stream is missing (or, from {@link streamProblemMessage}, lacks settings). Its message names the
 * stream, what is wrong, and what to do (provision the streams with the operator credential).
 */
export class StreamNotProvisionedError extends PreconditionError {
  constructor(
    readonly stream: string,
    readonly problems: readonly string[],
  ) {
    super(
      `JetStream stream ${stream}: ${problems.join('; ')}. Streams are created and changed only with the operator ` +
        'credential: run the provisioning (the dev stack and the chart do it; see README, "NATS")',
    );
    this.name = 'StreamNotProvisionedError';
  }
}

/** One log line for a stream's {@link StreamVerification.problems}. */
export function streamProblemMessage(stream: string, problems: readonly string[]): string {
  return new StreamNotProvisionedError(stream, problems).message;
}

const STREAM_NOT_FOUND = 10059;

/**
 * Whether `err` is JetStream's "stream not found" (API error 10059; a server too old to send the code says so in
 * its description). The one check for a missing stream: a missing message (also a 404) is not one.
 */
export function isStreamNotFound(err: unknown): boolean {
  return (
    err instanceof NatsError &&
    (err.api_error?.err_code === STREAM_NOT_FOUND || /stream not found/i.test(err.message))
  );
}

function same(actual: unknown, expected: unknown): boolean {
  if (Array.isArray(expected)) {
    return (
      Array.isArray(actual) &&
      actual.length === expected.length &&
      sortedLines(actual) === sortedLines(expected)
    );
  }
  return actual === expected;
}

function sortedLines(list: readonly unknown[]): string {
  return [...list].sort().join('\n');
}

/**
 * The settings of `info` that differ from the spec's required ones: the setting, its value and the required
 * value (as JSON). Pure. The audit service's store watch reports these for HAVEN_ES.
 */
export function streamDeviations(
  spec: HavenStreamSpec,
  info: Pick<StreamInfo, 'config'>,
): StoreSettingDeviation[] {
  const config = info.config as unknown as Record<string, unknown>;
  const deviations: StoreSettingDeviation[] = [];
  for (const [key, expected] of Object.entries(spec.required)) {
    const actual = config[key] ?? (typeof expected === 'boolean' ? false : undefined);
    if (!same(actual, expected)) {
      deviations.push({ setting: key, value: JSON.stringify(actual), expected: JSON.stringify(expected) });
    }
  }
  return deviations;
}

/** The settings of `info` that differ from the spec's required ones, as `key is <actual>, expected <expected>`. */
export function streamProblems(spec: HavenStreamSpec, info: Pick<StreamInfo, 'config'>): string[] {
  return streamDeviations(spec, info).map((d) => `${d.setting} is ${d.value}, expected ${d.expected}`);
}

/** What {@link verifyHavenStreams} found about one stream that exists. */
export interface StreamVerification {
  readonly stream: string;
  readonly info: StreamInfo;
  /**
   * Required settings the stream does not have (`deny_purge is false, expected true`, …), each a guarantee that
   * no longer holds: log them as errors; the operator must provision the stream again.
   */
  readonly problems: readonly string[];
  /** Advice, e.g. fewer replicas than HAVEN_JETSTREAM_REPLICAS asks for; the service still works. */
  readonly warnings: readonly string[];
}

/** Where {@link verifyHavenStreams} logs what it found (a pino logger fits). */
export interface StreamFindingsLog {
  /** A stream lacks required settings: one line naming them all. */
  error(fields: { stream: string }, message: string): void;
  /** Advice, e.g. fewer replicas than asked for. */
  warn(fields: { stream: string }, message: string): void;
}

/** Options of {@link verifyHavenStreams}. */
export interface VerifyStreamsOptions {
  /** Replicas HAVEN_JETSTREAM_REPLICAS asks for: a stream with fewer gets a warning. */
  readonly replicas?: number | undefined;
  /** When given, told each stream's problems (error) and warnings (warn) once every stream is checked. */
  readonly log?: StreamFindingsLog | undefined;
}

/**
 * Checks each of `streams` (read-only: stream info) and reports, per stream, the required settings it lacks and
 * advice (`replicas`, when given, adds a warning when a stream has fewer); `log`, when given, is told both. The
 * one check a service makes before using a stream (services never create one). Throws StreamNotProvisionedError
 * when a stream does not exist, UnavailableError when JetStream does not answer.
 */
export async function verifyHavenStreams(
  jsm: JetStreamManager,
  streams: readonly HavenStream[],
  options: VerifyStreamsOptions = {},
): Promise<StreamVerification[]> {
  const out: StreamVerification[] = [];
  for (const stream of streams) {
    const spec = SPECS[stream];
    let info: StreamInfo;
    try {
      info = await jsm.streams.info(spec.name);
    } catch (err) {
      if (isStreamNotFound(err)) {
        throw new StreamNotProvisionedError(spec.name, [`${spec.purpose} does not exist`]);
      }
      throw new UnavailableError(
        `JetStream stream ${spec.name}: cannot read its configuration: ${err instanceof Error ? err.message : String(err)}`,
        { cause: err },
      );
    }
    const problems = streamProblems(spec, info);
    const warnings: string[] = [];
    if (options.replicas !== undefined && info.config.num_replicas < options.replicas) {
      warnings.push(
        `${spec.name} has ${info.config.num_replicas} replica(s), HAVEN_JETSTREAM_REPLICAS asks for ${options.replicas}: run the provisioning again`,
      );
    }
    out.push({ stream: spec.name, info, problems, warnings });
  }
  for (const c of options.log ? out : []) {
    if (c.problems.length > 0)
      options.log?.error({ stream: c.stream }, streamProblemMessage(c.stream, c.problems));
    for (const w of c.warnings) options.log?.warn({ stream: c.stream }, w);
  }
  return out;
}

/** What {@link provisionHavenStreams} did to one stream. */
export interface ProvisionedStream {
  readonly stream: string;
  readonly action: 'created' | 'updated' | 'unchanged';
  /** The settings an update changed. */
  readonly changed: readonly string[];
}

/**
 * Creates every Haven stream that is missing and brings existing ones to the required settings and the
 * requested replica count (never deletes, never purges, never lowers a guarantee; JetStream itself refuses to
 * turn deny-delete or deny-purge off). Needs the operator credential. Idempotent.
 * Throws UnavailableError (with JetStream's reason, e.g. insufficient resources for the replicas) when a
 * stream cannot be created or updated.
 */
export async function provisionHavenStreams(
  nc: NatsConnection,
  options: ProvisionOptions = {},
): Promise<ProvisionedStream[]> {
  let jsm: JetStreamManager;
  try {
    jsm = await nc.jetstreamManager();
  } catch (err) {
    throw new UnavailableError('provisioning: JetStream is not available', { cause: err });
  }
  const out: ProvisionedStream[] = [];
  for (const spec of HAVEN_STREAMS.filter((s) => options.streams?.includes(s.stream) ?? true)) {
    const wanted = spec.config(options);
    try {
      let info: StreamInfo | undefined;
      try {
        info = await jsm.streams.info(spec.name);
      } catch (err) {
        if (!isStreamNotFound(err)) throw err;
      }
      if (info === undefined) {
        await jsm.streams.add(wanted);
        out.push({ stream: spec.name, action: 'created', changed: [] });
        continue;
      }
      const changed = streamProblems(spec, info).map((p) => p.split(' ')[0]!);
      const update: Partial<StreamConfig> = { ...info.config };
      for (const key of changed) {
        (update as Record<string, unknown>)[key] = (wanted as Record<string, unknown>)[key];
      }
      if (options.replicas !== undefined && info.config.num_replicas !== options.replicas) {
        update.num_replicas = options.replicas;
        changed.push('num_replicas');
      }
      if (changed.length === 0) {
        out.push({ stream: spec.name, action: 'unchanged', changed });
        continue;
      }
      await jsm.streams.update(spec.name, update);
      out.push({ stream: spec.name, action: 'updated', changed });
    } catch (err) {
      throw new UnavailableError(
        `provisioning: stream ${spec.name}: ${err instanceof Error ? err.message : String(err)}`,
        { cause: err },
      );
    }
  }
  return out;
}
