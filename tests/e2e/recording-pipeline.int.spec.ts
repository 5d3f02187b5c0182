/**
 * The recording pipeline over real servers: raw files recorded by a real Janus from two Chromium publishers
 * (fake camera and microphone, in a network namespace), the session's RecordingStarted / RecordingStopped on a
 * real nats-server, janus-pp-rec, the WebM writer, the chunked encryption and the filesystem object store;
 * mediabunny reads the results back.
 * - The WebM holds every packet of every converted track (as mediabunny reads them), at its time, with
 *   Duration and Cues before the first cluster.
 * - A stopped recording becomes AVAILABLE: the object decrypts (with the recording's own key and KMS context)
 *   to a WebM with both participants' audio and video tracks and a duration; no plaintext is left anywhere.
 * - The service killed with SIGKILL mid-processing: on restart it removes the converted tracks and the
 *   partial ciphertext, resumes the recording whose raw files are there and discards (FAILED) the one whose
 *   raw files are gone, each with a RecordingProcessingRecovered event saying which.
 * - Processors beside each Janus node (the chart's memory-backed folders): each processes only its node's
 *   recordings, from its own folder; the API-only service processes none and serves them.
 * - With the S3 object store against s3rver (an S3-compatible server as a child process): the ciphertext is in
 *   the bucket under the prefix, its checksum is the event's, it decrypts through ranged reads.
 * - With HAVEN_KMS=pkcs11 (the service process against a SoftHSM2 token): the recording's key is wrapped by a
 *   KEK generated in the token; only a session on the token opens the object, no keyring file exists.
 * - A Janus crash mid-recording (every raw file cut off mid-packet, RecordingStopped partial): what was written
 *   becomes a playable recording, marked partial.
 * - A full recordings folder (the converted tracks do not fit) and a full object store (a 64 KiB tmpfs): FAILED
 *   with NO_SPACE, nothing left behind.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ALL_FORMATS,
  BufferSource,
  EncodedPacketSink,
  FilePathSource,
  Input,
  type InputTrack,
} from 'mediabunny';
import type { NatsConnection } from 'nats';
import {
  FilePatientKeyStore,
  LocalKeyringKms,
  openEncryptedObject,
  Pkcs11Kms,
  subjectKeyKms,
  type CiphertextReader,
} from '@haven/crypto';
import { createSoftHsmToken, useSoftHsmToken, type SoftHsmToken } from '@haven/crypto/testing';
import type { JetStreamEventStore } from '@haven/eventstore';
import { newEvent, type NewEvent } from '@haven/eventstore';
import { recording } from '@haven/proto';
import { callUnary, createLogger, type RunningGrpcService } from '@haven/service';
import { createTestIssuer } from '@haven/service/testing';
import {
  eventually,
  freePort,
  healthStatus,
  localClient,
  netnsGate,
  runService,
  serveJwks,
  startNatsServer,
  type JwksServer,
  type NatsServerHandle,
  type RunningService,
  suiteStore,
} from '@haven/testing';
import { convertTrack, listRawTracks } from '../../services/recording/src/pipeline/janus-pp-rec';
import { muxToFile } from '../../services/recording/src/pipeline/mux';
import { WORK_FOLDER, objectKeyOf, trackLayout } from '../../services/recording/src/pipeline/pipeline';
import { S3ObjectStore } from '../../services/recording/src/pipeline/s3-object-store';
import { startRecording } from '../../services/recording/src/server';
import { startS3rver, testRecordingConfig, type S3rverHandle } from '../../services/recording/src/testing';
import { recordVisit } from '../support/media/record-visit';

jest.setTimeout(240_000);

const issuer = createTestIssuer();
const { RecordingState } = recording;
const gate = netnsGate();

/** GetRecording of recording `id` from the recording API on `port`, as the clinician clin-p. */
async function getRecordingAs(port: number, id: string) {
  const client = localClient(recording.RecordingServiceClient, port);
  try {
    return await callUnary(
      client,
      'getRecording',
      recording.GetRecordingRequest.fromPartial({ name: `recordings/${id}` }),
      await issuer.metadata({ sub: 'clin-p', role: 'clinician' }),
    );
  } finally {
    client.close();
  }
}

(gate ? describe : describe.skip)('the recording pipeline', () => {
  let base: string;
  let recordingsDir: string;
  let dataDir: string;
  let fixture: string;
  let nats: NatsServerHandle;
  let jwks: JwksServer;
  let connection: NatsConnection;
  let store: JetStreamEventStore;

  beforeAll(async () => {
    base = mkdtempSync(join(tmpdir(), 'haven-pipeline-'));
    recordingsDir = join(base, 'recordings');
    dataDir = join(base, 'data');
    fixture = join(base, 'fixture', 'raw');
    const recorded = await recordVisit({ recDir: fixture, seconds: 3, publishers: 2 });
    expect(recorded.files).toHaveLength(4);
    mkdirSync(recordingsDir, { mode: 0o700 });
    nats = await startNatsServer();
    jwks = await serveJwks(issuer.jwks);
    ({ connection, store } = await suiteStore(nats));
  });

  afterAll(async () => {
    await connection?.close();
    await nats?.stop();
    await jwks?.close();
    if (base) rmSync(base, { recursive: true, force: true });
  });

  /** The raw files of the recorded visit, as recording `id`'s. */
  function rawFilesFor(id: string): void {
    cpSync(fixture, join(recordingsDir, id), { recursive: true });
  }

  /** An event of the session service's `type` (`RecordingStarted`…) with `data`. */
  const sessionEvent = (type: string, data: Record<string, unknown>): NewEvent =>
    newEvent({ type: `haven.session.v1.${type}`, data, actor: { kind: 'service', id: 'session' } });

  async function startAndStop(
    id: string,
    janusNode = 'janus-0',
    stop: Record<string, unknown> = {},
  ): Promise<void> {
    const visit = `visit-${id}`;
    await store.append(`session.visit-${visit}`, 'no_stream', [
      sessionEvent('RecordingStarted', {
        visitId: visit,
        recordingId: id,
        janusNode,
        room: 42,
        clinicianId: 'clin-p',
        patientId: 'pat-p',
      }),
      sessionEvent('RecordingStopped', { visitId: visit, recordingId: id, rawFilePrefix: `${id}/`, ...stop }),
    ]);
  }

  const typesOf = async (id: string) =>
    (await store.read(`recording.recording-${id}`)).map((e) => e.type.split('.').pop());
  const dataOf = async (id: string, type: string) =>
    (await store.read(`recording.recording-${id}`)).find((e) => e.type.endsWith(`.${type}`))?.data;

  async function outcome(id: string): Promise<string> {
    return await eventually(
      `recording ${id} processed`,
      async () => {
        const types = await typesOf(id);
        return types.find((t) => t === 'RecordingEncrypted' || t === 'RecordingProcessingFailed');
      },
      { timeoutMs: 120_000, intervalMs: 200 },
    );
  }

  /** Files under `dir` whose first bytes are a WebM/Matroska, an Ogg or a Janus recording header. */
  function plaintextMedia(dir: string): string[] {
    if (!existsSync(dir)) return [];
    return readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => {
      const path = join(dir, f);
      let head: Buffer;
      try {
        head = readFileSync(path).subarray(0, 8);
      } catch {
        return false; // a folder
      }
      return (
        head.subarray(0, 4).equals(Buffer.from([0x1a, 0x45, 0xdf, 0xa3])) ||
        head.subarray(0, 4).toString('latin1') === 'OggS' ||
        head.subarray(0, 3).toString('latin1') === 'MJR'
      );
    });
  }

  function fileReader(path: string): CiphertextReader {
    const bytes = readFileSync(path);
    return {
      size: async () => bytes.length,
      read: async (position, length) => bytes.subarray(position, position + length),
    };
  }

  async function decrypted(id: string, objectsDir: string): Promise<Buffer> {
    const kms = await LocalKeyringKms.open({ file: join(dataDir, 'keyring.json') });
    const keys = new FilePatientKeyStore({ dir: join(dataDir, 'recording-keys'), kms });
    const object = await openEncryptedObject(
      subjectKeyKms(keys, `recordings/${id}`),
      fileReader(join(objectsDir, objectKeyOf(id))),
      { context: { recording: `recordings/${id}` } },
    );
    const parts: Buffer[] = [];
    for await (const chunk of object.chunks({ offset: 0, length: object.plaintextSize })) parts.push(chunk);
    return Buffer.concat(parts);
  }

  it('muxes the converted tracks into a WebM mediabunny reads back packet for packet, cues up front', async () => {
    const dir = join(base, 'converted');
    mkdirSync(dir);
    const raw = await listRawTracks(fixture);
    const converted = await Promise.all(raw.map((t) => convertTrack(t, dir)));
    const files = trackLayout(raw, converted);
    const summary = await muxToFile(files, join(dir, 'muxed.webm'));
    const muxed = readFileSync(join(dir, 'muxed.webm'));
    expect(summary.sizeBytes).toBe(muxed.length);
    expect(muxed.length).toBeGreaterThan(20_000); // 3 s of two participants (sizes vary by run)
    // Seekable without reading the end: a Duration in the header and the Cues before the first cluster.
    const cluster = muxed.indexOf(Buffer.from([0x1f, 0x43, 0xb6, 0x75]));
    const cues = muxed.lastIndexOf(Buffer.from([0x1c, 0x53, 0xbb, 0x6b]), cluster);
    expect(cues).toBeGreaterThan(0);
    expect(muxed.subarray(0, cues).includes(Buffer.from([0x44, 0x89]))).toBe(true); // Duration
    const input = new Input({ source: new BufferSource(muxed), formats: ALL_FORMATS });
    expect(await input.getDurationFromMetadata()).toBeCloseTo(summary.durationSeconds, 2);
    expect(summary.durationSeconds).toBeGreaterThan(2);
    // Every packet of every converted track is in it (the video's from its first key frame), in its track, at
    // its time moved by the track's offset (to the millisecond), with its bytes and key flag.
    const packets = async (track: InputTrack, offset: number, fromKey: boolean) => {
      const out: string[] = [];
      let keySeen = !fromKey;
      for await (const p of new EncodedPacketSink(track).packets()) {
        keySeen ||= p.type === 'key';
        if (!keySeen) continue;
        const ms = Math.round((p.timestamp + offset) * 1000);
        out.push(`${ms} ${p.type} ${createHash('sha256').update(p.data).digest('hex').slice(0, 16)}`);
      }
      return out;
    };
    const out = await input.getTracks();
    expect(out.map((t) => t.type)).toEqual(files.map((f) => f.kind));
    for (const [i, f] of files.entries()) {
      const source = new Input({ source: new FilePathSource(f.path), formats: ALL_FORMATS });
      const expected = await packets((await source.getTracks())[0]!, f.offsetSeconds, f.kind === 'video');
      source.dispose();
      expect(expected.length).toBeGreaterThan(20);
      expect(await packets(out[i]!, 0, false)).toEqual(expected);
    }
    input.dispose();
  });

  describe('a stopped recording', () => {
    let service: RunningGrpcService;
    afterAll(async () => service?.stop());

    it('becomes one encrypted WebM with every participant’s tracks, and no plaintext remains', async () => {
      const config = testRecordingConfig(
        nats.env('recording'),
        { jwksUrl: jwks.url },
        { HAVEN_RECORDINGS_DIR: recordingsDir, HAVEN_DATA_DIR: dataDir },
      );
      service = await startRecording(config, createLogger({ service: 'recording', level: 'warn' }), {
        host: '127.0.0.1',
      });
      rawFilesFor('rec-ok');
      await startAndStop('rec-ok');
      expect(await outcome('rec-ok')).toBe('RecordingEncrypted');
      const types = await typesOf('rec-ok');
      expect(types.slice(0, 2)).toEqual(['RecordingRegistered', 'RecordingProcessingStarted']);
      expect(types).toContain('RecordingProcessingProgressed');
      const encrypted = (await dataOf('rec-ok', 'RecordingEncrypted'))!;
      expect(encrypted).toMatchObject({
        recordingId: 'rec-ok',
        contentType: 'video/webm',
        objectKey: 'recordings/rec-ok.webm.henc',
        tracks: { audio: 2, video: 2 },
      });
      expect(encrypted['kekId']).toMatch(/^subject-key:/);
      expect(encrypted['durationMs']).toBeGreaterThan(2000);

      // The clinician sees it AVAILABLE.
      const got = await getRecordingAs(service.port, 'rec-ok');
      expect(got.recording?.state).toBe(RecordingState.RECORDING_STATE_AVAILABLE);
      expect(got.recording?.contentType).toBe('video/webm');

      // The ciphertext is what the event says, and decrypts to a seekable WebM of both participants.
      const objectsDir = join(dataDir, 'objects');
      const cipher = readFileSync(join(objectsDir, objectKeyOf('rec-ok')));
      expect(createHash('sha256').update(cipher).digest('hex')).toBe(encrypted['ciphertextSha256']);
      const webm = await decrypted('rec-ok', objectsDir);
      expect(webm.length).toBe(encrypted['sizeBytes']);
      const input = new Input({ source: new BufferSource(webm), formats: ALL_FORMATS });
      expect(await input.getMimeType()).toMatch(/^video\/webm/);
      const tracks = await input.getTracks();
      expect(tracks.map((t) => `${t.type}:${t.codec}`).sort()).toEqual([
        'audio:opus',
        'audio:opus',
        'video:vp8',
        'video:vp8',
      ]);
      expect(await input.getDurationFromMetadata()).toBeGreaterThan(2);
      input.dispose();

      // No plaintext: raw files and converted tracks are gone, the store holds ciphertext only.
      expect(existsSync(join(recordingsDir, 'rec-ok'))).toBe(false);
      expect(readdirSync(join(recordingsDir, WORK_FOLDER))).toEqual([]);
      expect(plaintextMedia(recordingsDir)).toEqual([]);
      expect(plaintextMedia(dataDir)).toEqual([]);
    });

    it('keeps what Janus wrote before it crashed: a playable recording, marked partial', async () => {
      // What a Janus killed mid-recording leaves: every track file cut off, mid-packet.
      rawFilesFor('rec-cut');
      const raw = join(recordingsDir, 'rec-cut');
      for (const f of readdirSync(raw)) {
        const whole = readFileSync(join(raw, f));
        writeFileSync(join(raw, f), whole.subarray(0, Math.floor(whole.length * 0.6) + 3));
      }
      await startAndStop('rec-cut', 'janus-0', { reason: 'media_node_lost', partial: true });
      expect(await outcome('rec-cut')).toBe('RecordingEncrypted');
      expect(await dataOf('rec-cut', 'RecordingProcessingStarted')).toMatchObject({ partial: true });
      const got = await getRecordingAs(service.port, 'rec-cut');
      expect(got.recording).toMatchObject({ state: RecordingState.RECORDING_STATE_AVAILABLE, partial: true });
      // Shorter than the whole visit, but every participant's tracks are in it and it plays.
      const whole = (await dataOf('rec-ok', 'RecordingEncrypted'))!;
      const cut = (await dataOf('rec-cut', 'RecordingEncrypted'))!;
      expect(cut['tracks']).toEqual({ audio: 2, video: 2 });
      expect(cut['durationMs']).toBeGreaterThan(500);
      expect(cut['durationMs']).toBeLessThan(Number(whole['durationMs']));
      const input = new Input({
        source: new BufferSource(await decrypted('rec-cut', join(dataDir, 'objects'))),
        formats: ALL_FORMATS,
      });
      expect(await input.getDurationFromMetadata()).toBeGreaterThan(0.5);
      input.dispose();
      expect(existsSync(raw)).toBe(false);
      expect(plaintextMedia(recordingsDir)).toEqual([]);
    });
  });

  describe('a service killed with SIGKILL mid-processing', () => {
    const running: RunningService[] = [];
    afterAll(async () => {
      for (const s of running) await s.stop().catch(() => undefined);
    });

    function serviceWith(port: number, janusPpRec: string): RunningService {
      const service = runService({
        service: 'recording',
        env: {
          PATH: process.env['PATH'] ?? '',
          LOG_LEVEL: 'info',
          ...nats.env('recording'),
          HAVEN_GRPC_PORT: String(port),
          HAVEN_JWKS_URL: jwks.url,
          HAVEN_SHUTDOWN_GRACE_MS: '500',
          HAVEN_RECORDINGS_DIR: recordingsDir,
          HAVEN_DATA_DIR: dataDir,
          HAVEN_JANUS_PP_REC: janusPpRec,
        },
        ready: async () => (await healthStatus(`127.0.0.1:${port}`, 500)) === 1,
      });
      running.push(service);
      return service;
    }

    it('resumes the recording whose raw files are there and discards the one whose are not', async () => {
      // janus-pp-rec, but stuck after its first conversion (a slow disk): the kill lands mid-processing.
      const slow = join(base, 'slow-janus-pp-rec.sh');
      const pidFile = join(base, 'slow.pid');
      writeFileSync(
        slow,
        `#!/bin/sh\njanus-pp-rec "$@" || exit $?\necho $$ >> ${pidFile}\nexec sleep 120\n`,
        { mode: 0o700 },
      );
      const port = await freePort();
      const first = serviceWith(port, slow);
      await first.start();
      rawFilesFor('rec-kill');
      rawFilesFor('rec-lost');
      await startAndStop('rec-kill');
      await startAndStop('rec-lost');
      const work = join(recordingsDir, WORK_FOLDER, 'rec-kill');
      await eventually(
        'a converted track in the work folder',
        () => existsSync(pidFile) && readdirSync(work).length > 0,
        {
          timeoutMs: 60_000,
        },
      );
      await first.signal('SIGKILL');
      for (const pid of readFileSync(pidFile, 'utf8').split('\n').filter(Boolean)) {
        try {
          process.kill(Number(pid), 'SIGKILL'); // the stuck conversions the killed service left
        } catch {
          // already gone
        }
      }
      expect(readdirSync(work).length).toBeGreaterThan(0); // plaintext left by the crash
      // What else a crash can leave: a partial ciphertext upload.
      const objectsDir = join(dataDir, 'objects');
      mkdirSync(join(objectsDir, 'recordings'), { recursive: true });
      writeFileSync(join(objectsDir, `${objectKeyOf('rec-kill')}.partial`), 'half an upload');
      // The second recording's raw files are lost (e.g. the memory-backed folder went with its pod).
      rmSync(join(recordingsDir, 'rec-lost'), { recursive: true });

      await serviceWith(port, 'janus-pp-rec').start();
      expect(await outcome('rec-kill')).toBe('RecordingEncrypted');
      expect(await dataOf('rec-kill', 'RecordingProcessingRecovered')).toMatchObject({
        action: 'resumed',
        rawFiles: 4,
        partialObjectsRemoved: 1,
      });
      expect(
        (await dataOf('rec-kill', 'RecordingProcessingRecovered'))!['intermediatesRemoved'],
      ).toBeGreaterThan(0);
      expect(await outcome('rec-lost')).toBe('RecordingProcessingFailed');
      expect(await dataOf('rec-lost', 'RecordingProcessingRecovered')).toMatchObject({
        action: 'discarded',
        rawFiles: 0,
      });
      expect(await dataOf('rec-lost', 'RecordingProcessingFailed')).toMatchObject({
        reason: 'RAW_FILES_LOST',
      });
      expect((await decrypted('rec-kill', objectsDir)).subarray(0, 4)).toEqual(
        Buffer.from([0x1a, 0x45, 0xdf, 0xa3]),
      );
      expect(readdirSync(join(recordingsDir, WORK_FOLDER))).toEqual([]);
      expect(plaintextMedia(recordingsDir)).toEqual([]);
      expect(readdirSync(join(objectsDir, 'recordings')).filter((f) => f.endsWith('.partial'))).toEqual([]);
    });
  });

  describe('processors beside each Janus node (HAVEN_RECORDING_ROLE processor) and an API without one', () => {
    const services: RunningGrpcService[] = [];
    afterAll(async () => {
      for (const s of services) await s.stop();
    });

    it('processes each recording beside the node that recorded it; the API processes none', async () => {
      const nodeDir = (node: string) => join(base, `memory-${node}`);
      const start = async (extra: Record<string, string>) => {
        const config = testRecordingConfig(
          nats.env('recording'),
          { jwksUrl: jwks.url },
          { HAVEN_DATA_DIR: join(base, 'data-nodes'), ...extra },
        );
        const s = await startRecording(config, createLogger({ service: 'recording', level: 'silent' }), {
          host: '127.0.0.1',
        });
        services.push(s);
        return s;
      };
      const api = await start({ HAVEN_RECORDING_ROLE: 'api' });
      for (const node of ['janus-0', 'janus-1']) {
        mkdirSync(nodeDir(node), { mode: 0o700 });
        await start({
          HAVEN_RECORDING_ROLE: 'processor',
          HAVEN_RECORDING_JANUS_NODE: node,
          HAVEN_RECORDINGS_DIR: nodeDir(node),
        });
      }
      // Each node's raw files are only in its own folder: the wrong processor would find none and fail it.
      cpSync(fixture, join(nodeDir('janus-1'), 'rec-n1'), { recursive: true });
      cpSync(fixture, join(nodeDir('janus-0'), 'rec-n0'), { recursive: true });
      await startAndStop('rec-n1', 'janus-1');
      await startAndStop('rec-n0', 'janus-0');
      expect(await outcome('rec-n1')).toBe('RecordingEncrypted');
      expect(await outcome('rec-n0')).toBe('RecordingEncrypted');
      expect(readdirSync(nodeDir('janus-1')).filter((f) => f !== WORK_FOLDER)).toEqual([]);
      expect(plaintextMedia(nodeDir('janus-0'))).toEqual([]);
      // Registered once (by its node's processor), and the API serves it.
      expect((await typesOf('rec-n1')).filter((t) => t === 'RecordingRegistered')).toHaveLength(1);
      const got = await getRecordingAs(api.port, 'rec-n1');
      expect(got.recording?.state).toBe(RecordingState.RECORDING_STATE_AVAILABLE);
    });
  });

  describe('with the S3 object store (s3rver, an S3-compatible server, as a child process)', () => {
    let s3: S3rverHandle | undefined;
    let service: RunningGrpcService | undefined;
    afterAll(async () => {
      await service?.stop();
      await s3?.stop();
      delete process.env['AWS_ACCESS_KEY_ID'];
      delete process.env['AWS_SECRET_ACCESS_KEY'];
    });

    it('stores the encrypted recording in the bucket, and nothing under the data directory', async () => {
      s3 = await startS3rver();
      // The SDK's default credential chain, as in the chart (a secret's keys as AWS_* variables).
      process.env['AWS_ACCESS_KEY_ID'] = 'S3RVER';
      process.env['AWS_SECRET_ACCESS_KEY'] = 'S3RVER';
      const s3DataDir = join(base, 'data-s3');
      const config = testRecordingConfig(
        nats.env('recording'),
        { jwksUrl: jwks.url },
        {
          HAVEN_RECORDINGS_DIR: recordingsDir,
          HAVEN_DATA_DIR: s3DataDir,
          HAVEN_RECORDING_OBJECT_STORE: 's3',
          HAVEN_RECORDING_S3_ENDPOINT: s3.endpoint,
          HAVEN_RECORDING_S3_BUCKET: s3.bucket,
          HAVEN_RECORDING_S3_PREFIX: 'clinic-a/',
        },
      );
      service = await startRecording(config, createLogger({ service: 'recording', level: 'silent' }), {
        host: '127.0.0.1',
      });
      rawFilesFor('rec-s3');
      await startAndStop('rec-s3');
      expect(await outcome('rec-s3')).toBe('RecordingEncrypted');
      const encrypted = (await dataOf('rec-s3', 'RecordingEncrypted'))!;
      const store = new S3ObjectStore({ client: s3.client(), bucket: s3.bucket, prefix: 'clinic-a/' });
      expect(await store.list()).toEqual([objectKeyOf('rec-s3')]);
      const cipher = await store.get(objectKeyOf('rec-s3'));
      const hash = createHash('sha256');
      for await (const piece of cipher) hash.update(piece as Buffer);
      expect(hash.digest('hex')).toBe(encrypted['ciphertextSha256']);
      expect(existsSync(join(s3DataDir, 'objects'))).toBe(false);
      // It decrypts through the access side's ranged reads.
      const kms = await LocalKeyringKms.open({ file: join(s3DataDir, 'keyring.json') });
      const keys = new FilePatientKeyStore({ dir: join(s3DataDir, 'recording-keys'), kms });
      const object = await openEncryptedObject(
        subjectKeyKms(keys, 'recordings/rec-s3'),
        await store.open(objectKeyOf('rec-s3')),
        { context: { recording: 'recordings/rec-s3' } },
      );
      const first = await object.chunks({ offset: 0, length: 4 }).next();
      expect(Buffer.from(first.value ?? []).subarray(0, 4)).toEqual(Buffer.from([0x1a, 0x45, 0xdf, 0xa3]));
      expect(plaintextMedia(recordingsDir)).toEqual([]);
    });
  });

  describe('with HAVEN_KMS=pkcs11 (a SoftHSM2 token)', () => {
    let token: SoftHsmToken;
    let service: RunningService | undefined;
    let hsmKms: Pkcs11Kms | undefined;
    const hsmDataDir = () => join(base, 'data-pkcs11');
    /** The recording service as a process on `port` whose KMS is the token (its PIN file unless `env` names another). */
    const hsmService = (
      port: number,
      env: Record<string, string>,
      options: { readonly name?: string; readonly readyTimeoutMs?: number } = {},
    ): RunningService =>
      runService({
        service: 'recording',
        ...options,
        env: {
          PATH: process.env['PATH'] ?? '',
          LOG_LEVEL: 'warn',
          ...nats.env('recording'),
          ...token.env,
          HAVEN_GRPC_PORT: String(port),
          HAVEN_JWKS_URL: jwks.url,
          HAVEN_DATA_DIR: hsmDataDir(),
          HAVEN_KMS: 'pkcs11',
          HAVEN_PKCS11_MODULE: token.module,
          HAVEN_PKCS11_TOKEN_LABEL: token.tokenLabel,
          HAVEN_PKCS11_PIN_FILE: token.pinFile,
          ...env,
        },
        ready: async () => (await healthStatus(`127.0.0.1:${port}`, 500)) === 1,
      });
    afterAll(async () => {
      await service?.stop().catch(() => undefined);
      await hsmKms?.close();
      await token?.remove();
    });

    it('wraps the recording key with a key generated in the token, and nothing on disk can unwrap it', async () => {
      token = await createSoftHsmToken();
      const port = await freePort();
      service = hsmService(port, {
        HAVEN_SHUTDOWN_GRACE_MS: '500',
        HAVEN_RECORDINGS_DIR: recordingsDir,
        HAVEN_PKCS11_KEY_PREFIX: 'rec-it',
      });
      await service.start();
      rawFilesFor('rec-hsm');
      await startAndStop('rec-hsm');
      const done = await outcome('rec-hsm');
      if (done !== 'RecordingEncrypted') {
        throw new Error(
          `${done}: ${JSON.stringify(await dataOf('rec-hsm', done))}\n${service.output().slice(-3000)}`,
        );
      }

      // The recording's own key is wrapped by the token's KEK; no keyring file was made.
      expect(existsSync(join(hsmDataDir(), 'keyring.json'))).toBe(false);
      const keyFiles = readdirSync(join(hsmDataDir(), 'recording-keys')).filter((f) => f.endsWith('.json'));
      expect(keyFiles).toHaveLength(1);
      const keyFile = JSON.parse(
        readFileSync(join(hsmDataDir(), 'recording-keys', keyFiles[0]!), 'utf8'),
      ) as {
        wrapped: { kekId: string };
      };
      expect(keyFile.wrapped.kekId).toMatch(/^rec-it\.kek-/);

      // Only the token opens it: the object decrypts through a PKCS#11 session of this test process.
      useSoftHsmToken(token);
      hsmKms = await Pkcs11Kms.open({
        module: token.module,
        tokenLabel: token.tokenLabel,
        pinFile: token.pinFile,
        keyPrefix: 'rec-it',
      });
      expect(hsmKms.kekIds()).toEqual([keyFile.wrapped.kekId]);
      const keys = new FilePatientKeyStore({ dir: join(hsmDataDir(), 'recording-keys'), kms: hsmKms });
      const object = await openEncryptedObject(
        subjectKeyKms(keys, 'recordings/rec-hsm'),
        fileReader(join(hsmDataDir(), 'objects', objectKeyOf('rec-hsm'))),
        { context: { recording: 'recordings/rec-hsm' } },
      );
      const first = await object.chunks({ offset: 0, length: 4 }).next();
      expect(Buffer.from(first.value ?? []).subarray(0, 4)).toEqual(Buffer.from([0x1a, 0x45, 0xdf, 0xa3]));
      // The local keyring of the other tests cannot.
      const local = await LocalKeyringKms.open({ file: join(dataDir, 'keyring.json'), create: true });
      const foreign = new FilePatientKeyStore({ dir: join(hsmDataDir(), 'recording-keys'), kms: local });
      await expect(
        openEncryptedObject(
          subjectKeyKms(foreign, 'recordings/rec-hsm'),
          fileReader(join(hsmDataDir(), 'objects', objectKeyOf('rec-hsm'))),
          { context: { recording: 'recordings/rec-hsm' } },
        ),
      ).rejects.toThrow(/KEK rec-it\.kek-.* is not in this keyring/);
    });

    it('refuses to start with a PIN the token does not accept, naming the cause', async () => {
      const badPin = join(base, 'bad.pin');
      writeFileSync(badPin, '000000\n', { mode: 0o600 });
      const port = await freePort();
      const bad = hsmService(
        port,
        { HAVEN_PKCS11_PIN_FILE: badPin },
        { name: 'recording-bad-pin', readyTimeoutMs: 15_000 },
      );
      await expect(bad.start()).rejects.toThrow();
      expect(bad.output()).toMatch(/the token refused the PIN/);
    });
  });

  /**
   * A full disk: mounts a `sizeKiB()` tmpfs on `folder` (a new folder under base, unmounted after the block),
   * puts the recorded visit's raw files in `recordings(mount)` as recording `id`'s, starts the service with
   * `env(mount)` and stops the recording. It must fail with NO_SPACE; `leavesNothing(mount)` checks what is left.
   */
  function itFailsWithNoSpace(
    title: string,
    options: {
      readonly id: string;
      readonly folder: string;
      readonly sizeKiB: () => number;
      readonly recordings: (mount: string) => string;
      readonly env: (mount: string) => Record<string, string>;
      readonly leavesNothing: (mount: string) => void;
    },
  ): void {
    let service: RunningGrpcService | undefined;
    let mount: string | undefined;
    afterAll(async () => {
      await service?.stop();
      if (mount) execFileSync('umount', [mount]);
    });

    it(title, async () => {
      const sizeKiB = options.sizeKiB();
      mount = join(base, options.folder);
      mkdirSync(mount);
      execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeKiB}k,mode=0700`, 'tmpfs', mount]);
      cpSync(fixture, join(options.recordings(mount), options.id), { recursive: true });
      const config = testRecordingConfig(
        nats.env('recording'),
        { jwksUrl: jwks.url },
        { HAVEN_DATA_DIR: dataDir, ...options.env(mount) },
      );
      service = await startRecording(config, createLogger({ service: 'recording', level: 'silent' }), {
        host: '127.0.0.1',
      });
      await startAndStop(options.id);
      expect(await outcome(options.id)).toBe('RecordingProcessingFailed');
      expect(await dataOf(options.id, 'RecordingProcessingFailed')).toMatchObject({ reason: 'NO_SPACE' });
      options.leavesNothing(mount);
    });
  }

  describe('a full recordings folder (janus-pp-rec writes the converted tracks there)', () => {
    itFailsWithNoSpace('fails the recording with NO_SPACE, not a truncated recording, and leaves nothing', {
      id: 'rec-nospace',
      folder: 'full-recordings',
      // Room for the raw files (tmpfs counts whole 4 KiB pages per file) and 16 KiB more: the first converted
      // track does not fit. (256 KiB more let a short fixture's tracks fit once the pipeline freed raw files.)
      sizeKiB: () =>
        readdirSync(fixture).reduce(
          (n, f) => n + 4 * Math.ceil(readFileSync(join(fixture, f)).length / 4096),
          0,
        ) + 16,
      recordings: (mount) => mount,
      env: (mount) => ({ HAVEN_RECORDINGS_DIR: mount }),
      leavesNothing: (mount) => {
        expect(existsSync(join(dataDir, 'objects', objectKeyOf('rec-nospace')))).toBe(false);
        expect(existsSync(join(mount, 'rec-nospace'))).toBe(false);
        expect(plaintextMedia(mount)).toEqual([]);
      },
    });
  });

  describe('a full object store', () => {
    itFailsWithNoSpace('fails the recording with NO_SPACE and leaves nothing', {
      id: 'rec-full',
      folder: 'full',
      sizeKiB: () => 64,
      recordings: () => recordingsDir,
      env: (mount) => ({ HAVEN_RECORDINGS_DIR: recordingsDir, HAVEN_RECORDING_OBJECTS_DIR: mount }),
      leavesNothing: (mount) => {
        expect(
          readdirSync(mount, { recursive: true }).filter(
            (f) => String(f).endsWith('.henc') || String(f).endsWith('.partial'),
          ),
        ).toEqual([]);
        expect(existsSync(join(recordingsDir, 'rec-full'))).toBe(false);
        expect(plaintextMedia(recordingsDir)).toEqual([]);
      },
    });
  });
});
