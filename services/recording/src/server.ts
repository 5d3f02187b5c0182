/**
 * Wiring of the recording service: configuration → event store → bus (checkpoints) → the recordings read model
 * → crash recovery of interrupted processing → the follower of the session's RecordingStarted /
 * RecordingStopped, which hands stopped recordings to the pipeline (raw files → WebM → encrypted object) →
 * gRPC with the access side (playback/, retention/). The slices are built apart; this file only connects them.
 * The calls it refuses (no token, the access policy) are recorded as AccessRefused events in its event store.
 */
import { mkdir } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import {
  FilePatientKeyStore,
  openKmsFromEnv,
  subjectKeyKms,
  type ClosableKms,
  type Kms,
} from '@haven/crypto';
import { EventBus } from '@haven/bus';
import { ConsumerHealth, type EventStore } from '@haven/eventstore';
import { recording } from '@haven/proto';
import {
  CLINIC_SETTING_DEFAULTS,
  connectEventStore,
  DEFAULT_GRPC_PORTS,
  createBaseConfigSchema,
  followClinicSettings,
  kmsConfigShape,
  kmsEnvOf,
  natsCredentialsOf,
  serveHavenGrpc,
  type Logger,
  type RunningGrpcService,
} from '@haven/service';
import { S3Client } from '@aws-sdk/client-s3';
import { FsObjectStore, type ObjectStore } from './pipeline/object-store';
import { S3ObjectStore } from './pipeline/s3-object-store';
import { FileMediaObjects, type MediaObjects } from './playback/objects';
import { RecordingPipeline } from './pipeline/pipeline';
import { recordingHandlers } from './recording/grpc';
import { RecordingProjection } from './recording/projection';
import { Recordings } from './recording/recordings';
import { followSessionRecordings } from './recording/session-follower';
import { playbackConfigShape, startAccess } from './playback/wiring';
import { followPatientErasures } from './retention/erasure';

export const RECORDING_GRPC_PORT = DEFAULT_GRPC_PORTS.recording;
export const recordingConfigSchema = createBaseConfigSchema({ grpcPort: RECORDING_GRPC_PORT })
  .safeExtend({
    /**
     * The recordings directory Janus writes into (shared with the session service's Janus nodes; memory-backed
     * in the chart): the raw files of recording `R` are every `*.mjr` in `<dir>/R/`.
     */
    HAVEN_RECORDINGS_DIR: z.string().min(1).optional(),
    ...playbackConfigShape,
    /**
     * The KMS that wraps each recording's own key at rest (HAVEN_KMS local | pkcs11 | vault-transit and its
     * settings); the local keyring defaults to `<HAVEN_DATA_DIR>/keyring.json`.
     */
    ...kmsConfigShape,
    /**
     * What this process does: `all` (the API, playback and retention, and the processing of every stopped
     * recording; the dev stack), `api` (no processing: the chart's Deployment, whose processors run beside the
     * Janus nodes) or `processor` (only the processing of HAVEN_RECORDING_JANUS_NODE's recordings, no RPCs: a
     * container in that Janus node's pod, sharing its memory-backed recordings folder).
     */
    HAVEN_RECORDING_ROLE: z.enum(['all', 'api', 'processor']).default('all'),
    /** With `processor`: the Janus node (`janus-<index>` in the session's HAVEN_JANUS_WS_URLS) it sits beside. */
    HAVEN_RECORDING_JANUS_NODE: z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,64}$/, 'a Janus node id such as janus-0')
      .optional(),
    /**
     * Where the encrypted recordings are kept: `fs` (HAVEN_RECORDING_OBJECTS_DIR, default `<HAVEN_DATA_DIR>/objects`)
     * or `s3` (an S3-compatible bucket; credentials from the AWS SDK's default chain: AWS_ACCESS_KEY_ID and
     * AWS_SECRET_ACCESS_KEY, a web identity, an instance role).
     */
    HAVEN_RECORDING_OBJECT_STORE: z.enum(['fs', 's3']).default('fs'),
    /** `s3`: the bucket. */
    HAVEN_RECORDING_S3_BUCKET: z.string().min(3).max(63).optional(),
    /** `s3`: key prefix of the recordings in the bucket (e.g. `haven/`). */
    HAVEN_RECORDING_S3_PREFIX: z
      .string()
      .regex(/^([A-Za-z0-9_.-]+\/)*$/, 'path segments ending in /')
      .default(''),
    /** `s3`: the endpoint of an S3-compatible server (MinIO, Ceph RGW); unset: AWS. */
    HAVEN_RECORDING_S3_ENDPOINT: z.url({ protocol: /^https?$/ }).optional(),
    /** `s3`: the region. */
    HAVEN_RECORDING_S3_REGION: z.string().min(1).default('us-east-1'),
    /** `s3`: path-style addressing (`<endpoint>/<bucket>/<key>`), which most on-premises servers need. */
    HAVEN_RECORDING_S3_FORCE_PATH_STYLE: z
      .enum(['true', 'false', '1', '0'])
      .default('true')
      .transform((v) => v === 'true' || v === '1'),
    /** The janus-pp-rec binary (Debian janus-tools). */
    HAVEN_JANUS_PP_REC: z.string().min(1).default('janus-pp-rec'),
    /**
     * Another replica's recording that went this long without an event is taken over (its processor is
     * presumed dead); this process's own are recovered as soon as it starts again.
     */
    HAVEN_RECORDING_STALE_MINUTES: z.coerce
      .number()
      .positive()
      .max(24 * 60)
      .default(10),
  })
  .superRefine((value, ctx) => {
    if (value.HAVEN_RECORDING_OBJECT_STORE === 's3' && !value.HAVEN_RECORDING_S3_BUCKET) {
      ctx.addIssue({
        code: 'custom',
        path: ['HAVEN_RECORDING_S3_BUCKET'],
        message: 'required when HAVEN_RECORDING_OBJECT_STORE=s3',
      });
    }
    if (value.HAVEN_RECORDING_ROLE !== 'processor') return;
    for (const variable of [
      'HAVEN_RECORDING_JANUS_NODE',
      'HAVEN_RECORDINGS_DIR',
      'HAVEN_DATA_DIR',
    ] as const) {
      if (!value[variable]) {
        ctx.addIssue({
          code: 'custom',
          path: [variable],
          message: 'required when HAVEN_RECORDING_ROLE=processor',
        });
      }
    }
  });
export type RecordingConfig = z.output<typeof recordingConfigSchema>;

/**
 * The KMS of HAVEN_KMS (created on first start: the keyring file, the token's first KEK or the Transit key);
 * undefined without HAVEN_DATA_DIR (nothing to wrap: no recording keys are kept).
 */
async function openRecordingKms(config: RecordingConfig): Promise<ClosableKms | undefined> {
  if (!config.HAVEN_DATA_DIR) return undefined;
  // The recording keys and objects live below it (the local keyring made it as a side effect; the others do not).
  await mkdir(resolve(config.HAVEN_DATA_DIR), { recursive: true, mode: 0o700 });
  const defaultKeyringFile = join(resolve(config.HAVEN_DATA_DIR), 'keyring.json');
  return openKmsFromEnv(kmsEnvOf(config, { defaultKeyringFile }), { create: true });
}

/**
 * The object store of HAVEN_RECORDING_OBJECT_STORE, for the pipeline (`objects`) and the access side (`media`):
 * one S3 adapter for both, or the files (read back through an open handle by playback).
 */
export function openObjectStores(config: RecordingConfig): { objects: ObjectStore; media: MediaObjects } {
  if (config.HAVEN_RECORDING_OBJECT_STORE === 's3') {
    const client = new S3Client({
      region: config.HAVEN_RECORDING_S3_REGION,
      forcePathStyle: config.HAVEN_RECORDING_S3_FORCE_PATH_STYLE,
      ...(config.HAVEN_RECORDING_S3_ENDPOINT ? { endpoint: config.HAVEN_RECORDING_S3_ENDPOINT } : {}),
    });
    const store = new S3ObjectStore({
      client,
      bucket: config.HAVEN_RECORDING_S3_BUCKET!,
      prefix: config.HAVEN_RECORDING_S3_PREFIX,
    });
    return { objects: store, media: store };
  }
  const dataDir = config.HAVEN_DATA_DIR ? resolve(config.HAVEN_DATA_DIR) : undefined;
  const dir =
    config.HAVEN_RECORDING_OBJECTS_DIR ??
    (dataDir ? join(dataDir, 'objects') : join(resolve('.'), 'recording-objects-unset'));
  return { objects: new FsObjectStore(dir), media: new FileMediaObjects(dir) };
}

/** The pipeline and its adapters: the object store, the per-recording keys wrapped by the KMS. */
function buildPipeline(
  config: RecordingConfig,
  deps: {
    recordings: Recordings;
    projection: RecordingProjection;
    logger: Logger;
    kms: Kms | undefined;
    objects: ObjectStore;
  },
): RecordingPipeline {
  const dataDir = config.HAVEN_DATA_DIR ? resolve(config.HAVEN_DATA_DIR) : undefined;
  if (!dataDir) deps.logger.warn('HAVEN_DATA_DIR is not set: stopped recordings cannot be processed');
  const { kms } = deps;
  const keys =
    kms && dataDir ? new FilePatientKeyStore({ dir: join(dataDir, 'recording-keys'), kms }) : undefined;
  return new RecordingPipeline({
    recordings: deps.recordings,
    projection: deps.projection,
    logger: deps.logger,
    objects: deps.objects,
    recordingsDir: dataDir && config.HAVEN_RECORDINGS_DIR ? resolve(config.HAVEN_RECORDINGS_DIR) : undefined,
    kmsFor: (recordingId): Kms => {
      if (!keys) throw new Error('no key store');
      // Each recording's data key is wrapped by a key of its own: destroying it crypto-shreds the recording.
      return subjectKeyKms(keys, `recordings/${recordingId}`);
    },
    janusPpRec: config.HAVEN_JANUS_PP_REC,
    processor: hostname(),
    staleAfterMs: config.HAVEN_RECORDING_STALE_MINUTES * 60_000,
    ...(config.HAVEN_RECORDING_JANUS_NODE ? { janusNode: config.HAVEN_RECORDING_JANUS_NODE } : {}),
  });
}

/**
 * Processing: the pipeline, its crash recovery and the follower of the session's recordings (only those of
 * HAVEN_RECORDING_JANUS_NODE when set). Returns what to close, in order.
 */
async function startProcessing(
  config: RecordingConfig,
  deps: {
    store: EventStore;
    bus: EventBus;
    recordings: Recordings;
    projection: RecordingProjection;
    consumers: ConsumerHealth;
    logger: Logger;
    kms: Kms | undefined;
    objects: ObjectStore;
  },
): Promise<Array<() => Promise<void>>> {
  const { store, bus, recordings, projection, consumers, logger, kms, objects } = deps;
  const closers: Array<() => Promise<void>> = [];
  const pipeline = buildPipeline(config, { recordings, projection, logger, kms, objects });
  closers.unshift(() => pipeline.close());
  try {
    // Everything already stored is folded before recovery decides what was interrupted.
    await projection.caughtUp();
    await pipeline.recover();
    pipeline.startRecoveryChecks();
    const follower = await followSessionRecordings({
      store,
      bus,
      recordings,
      health: consumers,
      logger,
      onProcessing: (recordingId) => pipeline.enqueue(recordingId),
      processor: hostname(),
      ...(config.HAVEN_RECORDING_JANUS_NODE ? { janusNode: config.HAVEN_RECORDING_JANUS_NODE } : {}),
    });
    closers.unshift(() => follower.close());
    return closers;
  } catch (error) {
    for (const close of closers) await close().catch(() => undefined);
    throw error;
  }
}

/** Starts the recording service. Throws when the event store, NATS or the port is unavailable. */
export async function startRecording(
  config: RecordingConfig,
  logger: Logger,
  options: { host?: string } = {},
): Promise<RunningGrpcService> {
  const store = await connectEventStore(config, 'recording', { logger });
  const closers: Array<() => Promise<void>> = [() => store.close()];
  try {
    const bus = await EventBus.connect({
      ...natsCredentialsOf(config),
      name: 'haven-recording-bus',
      replicas: config.HAVEN_JETSTREAM_REPLICAS,
      logger,
    });
    closers.unshift(() => bus.close());
    // Every consumer below heals itself after a NATS outage; while one is down or behind, NOT_SERVING.
    const consumers = new ConsumerHealth();
    const recordings = new Recordings(store);
    const projection = new RecordingProjection();
    await projection.start(store, { health: consumers, logger });
    closers.unshift(() => projection.close());
    // The clinic's settings (scheduling's ClinicSettingsChanged over HAVEN_RECORDING_PATIENT_ACCESS): read at start,
    // then followed, so an admin's change applies without a restart.
    const clinic = await followClinicSettings(store, {
      name: 'recording.clinic-settings',
      defaults: { ...CLINIC_SETTING_DEFAULTS, recordingPatientAccess: config.HAVEN_RECORDING_PATIENT_ACCESS },
      health: consumers,
      logger,
    });
    closers.unshift(() => clinic.close());
    const patientAccess = () => clinic.current().recordingPatientAccess;
    const kms = await openRecordingKms(config);
    if (kms) closers.unshift(() => kms.close());
    const role = config.HAVEN_RECORDING_ROLE;
    const { objects, media } = openObjectStores(config);
    if (role !== 'api') {
      const deps = { store, bus, recordings, projection, consumers, logger, kms, objects };
      closers.unshift(...(await startProcessing(config, deps)));
    }
    const access =
      kms && role !== 'processor'
        ? startAccess(config, { store, recordings, projection, logger, kms, media, patientAccess })
        : undefined;
    if (!access && role !== 'processor') {
      logger.warn(
        'HAVEN_DATA_DIR is not set: playback, legal hold, deletion and retention answer UNIMPLEMENTED',
      );
    }
    if (access) {
      closers.unshift(access.close);
      // An erased patient's recordings are crypto-shredded (or recorded as kept by a legal hold).
      const erasures = await followPatientErasures({
        ...access.playback,
        store,
        bus,
        projection,
        logger,
        health: consumers,
      });
      closers.unshift(() => erasures.close());
    }
    return await serveHavenGrpc({
      name: 'recording',
      store,
      consumers,
      config,
      logger,
      host: options.host,
      // A processor serves gRPC health alone: it answers no RPC.
      services:
        role === 'processor'
          ? []
          : [
              {
                definition: recording.RecordingServiceService,
                handlers: {
                  ...recordingHandlers({
                    recordings,
                    projection,
                    get patientAccess() {
                      return patientAccess();
                    },
                  }),
                  ...access?.handlers,
                },
                ...(access ? { streams: access.streams } : {}),
              },
            ],
      onShutdown: closers,
    });
  } catch (error) {
    for (const close of closers) await close().catch(() => undefined);
    throw error;
  }
}
