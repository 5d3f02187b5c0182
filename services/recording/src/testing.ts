/**
 * Test support: the configuration the recording service's integration suites start it with (tests only).
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createWriteStream, mkdtempSync, promises as fs } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  FilePatientKeyStore,
  LocalKeyringKms,
  PhiShreddedError,
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

/** What {@link givenProcessing} registers; unnamed ids are derived from the recording's. */
export interface ProcessingRecording {
  readonly visitId?: string;
  readonly clinicianId?: string;
  readonly patientId?: string;
  /** Defaults to now (RegisterRecording's startTime and StartProcessing's stopTime). */
  readonly startTime?: string;
  readonly stopTime?: string;
  /** The replica that took it; none: unclaimed. */
  readonly processor?: string;
}

/**
 * Registers recording `id` (on janus-0, room 1) and starts its processing (raw files under `<id>/`), as the
 * session follower and the recorder's stop would: the recording is PROCESSING.
 */
export async function givenProcessing(
  recordings: Recordings,
  id: string,
  recording: ProcessingRecording = {},
): Promise<void> {
  const md = serviceMetadata(`given-${id}`);
  await recordings.command(
    id,
    {
      type: 'RegisterRecording',
      data: {
        recordingId: id,
        visitId: recording.visitId ?? `v-${id}`,
        clinicianId: recording.clinicianId ?? `c-${id}`,
        patientId: recording.patientId ?? `p-${id}`,
        janusNode: 'janus-0',
        room: 1,
        startTime: recording.startTime ?? new Date().toISOString(),
      },
    },
    md,
  );
  await recordings.command(
    id,
    {
      type: 'StartProcessing',
      data: {
        recordingId: id,
        rawFilePrefix: `${id}/`,
        stopTime: recording.stopTime ?? new Date().toISOString(),
        ...(recording.processor !== undefined ? { processor: recording.processor } : {}),
      },
    },
    md,
  );
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
  await givenProcessing(recordings, id, {
    clinicianId: options.clinicianId,
    ...(options.visitId !== undefined ? { visitId: options.visitId } : {}),
    ...(options.patientId !== undefined ? { patientId: options.patientId } : {}),
  });
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

/**
 * Opens a copy of a recording's object (a backup taken before) with the service's own keyring and recording keys
 * under `dataDir`. Resolves true when it opens, false once the recording was crypto-shredded (its key destroyed).
 * Throws any other error (a wrong copy, a KMS failure).
 */
export async function recordingCopyOpens(
  dataDir: string,
  recordingId: string,
  copy: Buffer,
): Promise<boolean> {
  const kms = await LocalKeyringKms.open({ file: join(dataDir, 'keyring.json') });
  const keys = new RecordingKeys(kms, new FilePatientKeyStore({ dir: join(dataDir, 'recording-keys'), kms }));
  try {
    await openEncryptedObject(keys.kmsFor(recordingId), bufferCiphertextReader(copy), {
      context: recordingContext(recordingId),
    });
    return true;
  } catch (error) {
    if (error instanceof PhiShreddedError) return false;
    throw error;
  }
}

/** A running s3rver (see {@link startS3rver}). */
export interface S3rverHandle {
  /** `http://127.0.0.1:<port>`. */
  readonly endpoint: string;
  /** The bucket made for the caller. */
  readonly bucket: string;
  /** Its folder of stored objects. */
  readonly dir: string;
  /** A client signed with s3rver's credentials (S3RVER / S3RVER), path-style. */
  client(): S3Client;
  stop(): Promise<void>;
}

/**
 * Starts s3rver (npm; an S3-compatible server that stores objects in a folder) as a child process on a free
 * loopback port, with one bucket. Tests only.
 */
export async function startS3rver(bucket = 'haven-recordings'): Promise<S3rverHandle> {
  const dir = mkdtempSync(join(tmpdir(), 'haven-s3rver-'));
  const port = await new Promise<number>((done, fail) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const { port: free } = probe.address() as { port: number };
      probe.close(() => done(free));
    });
    probe.on('error', fail);
  });
  const endpoint = `http://127.0.0.1:${port}`;
  const child = spawn(
    process.execPath,
    [require.resolve('s3rver/bin/s3rver.js'), '-d', dir, '-a', '127.0.0.1', '-p', String(port), '--silent'],
    { stdio: 'ignore' },
  );
  const client = (): S3Client =>
    new S3Client({
      endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
      maxAttempts: 1,
    });
  const stop = async (): Promise<void> => {
    child.kill('SIGKILL');
    await fs.rm(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      await client().send(new CreateBucketCommand({ Bucket: bucket }));
      break;
    } catch (error) {
      if (Date.now() > deadline) {
        await stop();
        throw new Error('s3rver did not start within 20 s', { cause: error });
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  return { endpoint, bucket, dir, client, stop };
}
