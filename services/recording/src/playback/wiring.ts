/**
 * Wiring of the access side (playback, legal hold, deletion): its configuration and its adapters — the KMS
 * keyring, the recording keys (one per recording, for crypto-shredding) and the object store.
 */
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { FilePatientKeyStore, type Kms } from '@haven/crypto';
import type { EventStore } from '@haven/eventstore';
import type { Logger } from '@haven/service';
import type { RecordingProjection } from '../recording/projection';
import type { Recordings } from '../recording/recordings';
import { RetentionPolicies, retentionHandlers, startRetentionSweep } from '../retention/retention';
import { RecordingKeys } from './keys';
import type { MediaObjects } from './objects';
import { playbackHandlers, playbackStreams, type PlaybackDeps } from './grpc';

const booleanFlag = z
  .enum(['true', 'false', '1', '0'])
  .default('false')
  .transform((v) => v === 'true' || v === '1');

/** The access side's configuration variables (part of the recording service's schema). */
export const playbackConfigShape = {
  /**
   * The service's own state: the recording keys (`recording-keys/`; one per recording, destroying it
   * crypto-shreds the recording) and by default the encrypted objects. Must persist and be shared by replicas.
   */
  HAVEN_DATA_DIR: z.string().min(1).optional(),
  /** Where the encrypted recordings are (filesystem object store). Default `<HAVEN_DATA_DIR>/objects`. */
  HAVEN_RECORDING_OBJECTS_DIR: z.string().min(1).optional(),
  /** Clinic setting: patients may play their own recordings. Default false. */
  HAVEN_RECORDING_PATIENT_ACCESS: booleanFlag,
  /** Lifetime of a playback grant, in seconds (30 s – 1 h). Default 300. */
  HAVEN_RECORDING_GRANT_TTL_SEC: z.coerce.number().int().min(30).max(3600).default(300),
  /** How often the retention sweep runs, in ms (default daily). */
  HAVEN_RECORDING_RETENTION_SWEEP_MS: z.coerce.number().int().min(100).default(86_400_000),
};

type PlaybackConfig = z.output<z.ZodObject<typeof playbackConfigShape>>;

/** What the access side needs, built from the configuration; undefined without HAVEN_DATA_DIR. */
export function openPlayback(
  config: PlaybackConfig,
  recordings: Recordings,
  store: EventStore,
  kms: Kms,
  objects: MediaObjects,
  /** Whether patients may play their own recordings now (the clinic settings); HAVEN_RECORDING_PATIENT_ACCESS. */
  patientAccess: () => boolean = () => config.HAVEN_RECORDING_PATIENT_ACCESS,
): PlaybackDeps | undefined {
  if (config.HAVEN_DATA_DIR === undefined) return undefined;
  const dataDir = resolve(config.HAVEN_DATA_DIR);
  return {
    recordings,
    store,
    objects,
    keys: new RecordingKeys(kms, new FilePatientKeyStore({ dir: join(dataDir, 'recording-keys'), kms })),
    get patientAccess() {
      return patientAccess();
    },
    grantTtlMs: config.HAVEN_RECORDING_GRANT_TTL_SEC * 1000,
  };
}

/** The access side's RPCs and its retention sweep; undefined without HAVEN_DATA_DIR. */
export function startAccess(
  config: PlaybackConfig,
  deps: {
    readonly store: EventStore;
    readonly recordings: Recordings;
    readonly projection: RecordingProjection;
    readonly logger: Logger;
    /** The KMS that wraps the recording keys at rest. */
    readonly kms: Kms;
    /** Where the ciphertext is read from and deleted. */
    readonly media: MediaObjects;
    /** Whether patients may play their own recordings now; HAVEN_RECORDING_PATIENT_ACCESS when absent. */
    readonly patientAccess?: () => boolean;
  },
) {
  const playback = openPlayback(
    config,
    deps.recordings,
    deps.store,
    deps.kms,
    deps.media,
    deps.patientAccess,
  );
  if (!playback) return undefined;
  const policies = new RetentionPolicies(deps.store);
  const stopSweep = startRetentionSweep(
    { ...playback, policies, projection: deps.projection, logger: deps.logger },
    config.HAVEN_RECORDING_RETENTION_SWEEP_MS,
  );
  return {
    playback,
    handlers: { ...playbackHandlers(playback), ...retentionHandlers({ store: deps.store, policies }) },
    streams: playbackStreams(playback),
    close: stopSweep,
  };
}
