/**
 * Test support: the configuration the recording service's integration suites start it with (tests only).
 */
import { createHash } from 'node:crypto';
import { createWriteStream, promises as fs } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  FilePatientKeyStore,
  LocalKeyringKms,
  bufferCiphertextReader,
  createEncryptStream,
  openEncryptedObject,
} from '@haven/crypto';
import type { EventStore } from '@haven/eventstore';
import { loadConfig } from '@haven/service';
import { RecordingKeys, recordingContext } from './playback/keys';
import { Recordings, serviceMetadata } from './recording/recordings';
import { recordingConfigSchema, type RecordingConfig } from './server';

/**
 * The service's configuration for a suite: `natsEnv` (the suite's NATS user), the suite's JWKS, an ephemeral
 * port, a short shutdown grace; `extra` adds or overrides variables.
 */
export function testRecordingConfig(
  natsEnv: Readonly<Record<string, string>>,
  options: { readonly jwksUrl: string },
  extra: Readonly<Record<string, string>> = {},
): RecordingConfig {
  return loadConfig(recordingConfigSchema, {
    ...natsEnv,
    HAVEN_GRPC_PORT: '0',
    HAVEN_JWKS_URL: options.jwksUrl,
    HAVEN_SHUTDOWN_GRACE_MS: '500',
    ...extra,
  });
}

/** What {@link seedAvailableRecording} needs. */
export interface SeedRecordingOptions {
  /** The event store the service reads. */
  readonly store: EventStore;
  /** The service's HAVEN_DATA_DIR (its keyring, recording keys and objects live there). */
  readonly dataDir: string;
  readonly recordingId: string;
  readonly clinicianId: string;
  readonly patientId?: string;
  readonly visitId?: string;
  /** The media (plaintext). */
  readonly plaintext: Buffer;
}

/**
 * What the pipeline leaves behind, made directly: an AVAILABLE recording whose encrypted object (under the
 * recording's own key, context `{ recording }`) holds `plaintext`. Resolves with the object's file.
 */
export async function seedAvailableRecording(options: SeedRecordingOptions): Promise<string> {
  const { store, dataDir, recordingId: id, plaintext } = options;
  const recordings = new Recordings(store);
  const md = serviceMetadata(`seed-${id}`);
  await recordings.command(
    id,
    {
      type: 'RegisterRecording',
      data: {
        recordingId: id,
        visitId: options.visitId ?? `v-${id}`,
        clinicianId: options.clinicianId,
        patientId: options.patientId ?? `p-${id}`,
        janusNode: 'janus-0',
        room: 1,
        startTime: new Date().toISOString(),
      },
    },
    md,
  );
  await recordings.command(
    id,
    {
      type: 'StartProcessing',
      data: { recordingId: id, rawFilePrefix: `${id}/`, stopTime: new Date().toISOString() },
    },
    md,
  );
  const kms = await LocalKeyringKms.open({ file: join(dataDir, 'keyring.json'), create: true });
  const keys = new RecordingKeys(kms, new FilePatientKeyStore({ dir: join(dataDir, 'recording-keys'), kms }));
  const objectKey = `${id}.webm.enc`;
  const file = join(dataDir, 'objects', objectKey);
  await fs.mkdir(join(dataDir, 'objects'), { recursive: true });
  await pipeline(
    Readable.from([plaintext]),
    createEncryptStream(keys.kmsFor(id), { context: recordingContext(id) }),
    createWriteStream(file, { mode: 0o600 }),
  );
  const cipher = await fs.readFile(file);
  const opened = await openEncryptedObject(keys.kmsFor(id), bufferCiphertextReader(cipher), {
    context: recordingContext(id),
  });
  await recordings.command(
    id,
    {
      type: 'CompleteProcessing',
      data: {
        keyId: `rk-${id}`,
        wrappedKey: '',
        kekId: opened.kekId,
        objectKey,
        chunkSize: opened.chunkSize,
        sizeBytes: plaintext.length,
        ciphertextSizeBytes: cipher.length,
        ciphertextSha256: createHash('sha256').update(cipher).digest('hex'),
        contentType: 'video/webm',
        durationMs: 60_000,
        tracks: { audio: 2, video: 2 },
      },
    },
    md,
  );
  return file;
}
