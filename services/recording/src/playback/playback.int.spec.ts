/**
 * Playing, holding and deleting a recording over a real nats-server, the service in process: a grant for the
 * visit's clinician only; range reads that equal the plaintext, each recorded (RecordingViewed + PhiAccessed)
 * before its first byte; a tampered object sends nothing; legal hold blocks deletion; deletion crypto-shreds
 * (a copy of the object taken before cannot be opened any more).
 */
import { createHash, randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { newEvent, type JetStreamEventStore } from '@haven/eventstore';
import { phiEvents, recording } from '@haven/proto';
import { accessRefusalStream, callUnary, PATIENT_ERASED } from '@haven/service';
import { setupTestTelemetry } from '@haven/telemetry/testing';
import { failureOf, passesEventually } from '@haven/testing';
import { startRecordingSuite, type RecordingSuite } from '../../test/suite';
import { Recordings, serviceMetadata } from '../recording/recordings';
import { recordingCopyOpens, seedAvailableRecording } from '../testing';

jest.setTimeout(90_000);

const { PhiAccessPurpose } = phiEvents;
const MiB = 1024 * 1024;
let suite: RecordingSuite;
let client: recording.RecordingServiceClient;
let store: JetStreamEventStore;
let dataDir: string;

beforeAll(async () => {
  dataDir = await fs.mkdtemp(join(tmpdir(), 'haven-playback-'));
  suite = await startRecordingSuite({ HAVEN_DATA_DIR: dataDir, HAVEN_RECORDING_RETENTION_SWEEP_MS: '300' });
  ({ client, store } = suite);
});

afterAll(async () => {
  await suite?.stop();
  await fs.rm(dataDir, { recursive: true, force: true });
});

const as = (sub: string, role: string) => suite.as(sub, role);

const availableRecording = (id: string, clinician: string, plain: Buffer) =>
  seedAvailableRecording({ store, dataDir, recordingId: id, clinicianId: clinician, plaintext: plain });

async function play(id: string, md: grpc.Metadata) {
  return callUnary(
    client,
    'playRecording',
    recording.PlayRecordingRequest.fromPartial({
      name: `recordings/${id}`,
      purpose: PhiAccessPurpose.PHI_ACCESS_PURPOSE_TREATMENT,
    }),
    md,
  );
}

/** One ReadRecordingMedia call: its messages, or its error with the messages received before it. */
function read(
  id: string,
  token: string,
  offset: number,
  length: number,
  md: grpc.Metadata,
): Promise<{ range?: recording.MediaRange; data: Buffer; messages: number; error?: grpc.ServiceError }> {
  return new Promise((resolve) => {
    const parts: Buffer[] = [];
    let range: recording.MediaRange | undefined;
    let messages = 0;
    const call = client.readRecordingMedia(
      recording.ReadRecordingMediaRequest.fromPartial({
        name: `recordings/${id}`,
        grantToken: token,
        offset: String(offset),
        length: String(length),
      }),
      md,
    );
    call.on('data', (m: recording.ReadRecordingMediaResponse) => {
      messages++;
      if (m.range) range = m.range;
      parts.push(m.data);
    });
    call.on('error', (error: grpc.ServiceError) =>
      resolve({ ...(range ? { range } : {}), data: Buffer.concat(parts), messages, error }),
    );
    call.on('end', () => resolve({ ...(range ? { range } : {}), data: Buffer.concat(parts), messages }));
  });
}

const typesOf = async (id: string) => (await store.read(`recording.recording-${id}`)).map((e) => e.type);
/** The views stream of a recording (empty when nothing was viewed). */
const viewsOf = async (id: string) => store.read(`recording.recording_views-${id}`).catch(() => []);

describe('playing a recording', () => {
  const plain = randomBytes(3 * MiB + 12_345);
  let token: string;
  beforeAll(async () => {
    await availableRecording('rec-p1', 'clin-1', plain);
  });

  it('grants the visit’s clinician a short-lived token and records the grant and the PHI access', async () => {
    const before = Date.now();
    const r = await play('rec-p1', await as('clin-1', 'clinician'));
    token = r.token;
    expect(r.playbackUrl).toBe(`/api/recordings/rec-p1/media?grant=${token}`);
    expect(r.contentType).toBe('video/webm');
    expect(r.expireTime!.getTime()).toBeGreaterThan(before + 250_000);
    expect(r.expireTime!.getTime()).toBeLessThanOrEqual(Date.now() + 300_000);
    const events = await store.read('recording.recording-rec-p1');
    const granted = events.find((e) => e.type === 'haven.recording.v1.RecordingPlaybackGranted');
    expect(granted?.data).toMatchObject({ viewer: 'users/clin-1', purpose: 'PHI_ACCESS_PURPOSE_TREATMENT' });
    const text = JSON.stringify(events, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v));
    expect(text).not.toContain(token); // only its hash is stored
    expect(events.map((e) => e.type)).toContain('haven.events.v1.PhiAccessed');
  });

  it('streams exactly the requested ranges, each recorded before its first byte', async () => {
    const md = await as('clin-1', 'clinician');
    const first = await read('rec-p1', token, 0, 0, md);
    expect(first.error).toBeUndefined();
    expect(first.range).toMatchObject({ offset: '0', length: String(MiB), totalSize: String(plain.length) });
    expect(first.data.equals(plain.subarray(0, MiB))).toBe(true);
    const seek = await read('rec-p1', token, 2 * MiB + 5, 1000, md);
    expect(seek.data.equals(plain.subarray(2 * MiB + 5, 2 * MiB + 1005))).toBe(true);
    const tail = await read('rec-p1', token, plain.length - 10, 0, md);
    expect(tail.data.equals(plain.subarray(plain.length - 10))).toBe(true);
    const views = await viewsOf('rec-p1');
    expect(views.filter((e) => e.type === 'haven.events.v1.PhiAccessed')).toHaveLength(3);
    expect(views.find((e) => e.type === 'haven.events.v1.PhiAccessed')?.data).toMatchObject({
      who: 'users/clin-1',
      patientId: 'p-rec-p1',
      fields: ['media'],
    });
    const viewed = views.filter((e) => e.type === 'haven.recording.v1.RecordingViewed');
    expect(viewed.map((e) => [e.data['offset'], e.data['length']])).toEqual([
      [0, MiB],
      [2 * MiB + 5, 1000],
      [plain.length - 10, 10],
    ]);
    expect(viewed[0]?.data).toMatchObject({
      viewer: 'users/clin-1',
      viewerRole: 'clinician',
      purpose: 'PHI_ACCESS_PURPOSE_TREATMENT',
      patientId: 'p-rec-p1',
    });
  });

  it('answers only the sizes past the end, and records no view', async () => {
    const count = (await viewsOf('rec-p1')).length;
    const past = await read('rec-p1', token, plain.length + 5, 0, await as('clin-1', 'clinician'));
    expect(past.range).toMatchObject({ length: '0', totalSize: String(plain.length) });
    expect(past.data.length).toBe(0);
    expect((await viewsOf('rec-p1')).length).toBe(count);
  });

  it('refuses another clinician, a grant used by someone else, and a made-up token', async () => {
    const other = await as('clin-2', 'clinician');
    expect((await failureOf(play('rec-p1', other))).code).toBe(grpc.status.PERMISSION_DENIED);
    const stolen = await read('rec-p1', token, 0, 100, other);
    expect(stolen.error?.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(stolen.messages).toBe(0);
    const madeUp = await read(
      'rec-p1',
      randomBytes(32).toString('base64url'),
      0,
      100,
      await as('clin-1', 'clinician'),
    );
    expect(madeUp.error?.code).toBe(grpc.status.PERMISSION_DENIED);
  });

  it('refuses the front desk by the policy, and records the refusal', async () => {
    const fd = await as('fd-1', 'front_desk');
    expect((await failureOf(play('rec-p1', fd))).code).toBe(grpc.status.PERMISSION_DENIED);
    const r = await read('rec-p1', token, 0, 100, fd);
    expect(r.error?.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(r.messages).toBe(0);
    await passesEventually(async () => {
      const refusals = await store.read(accessRefusalStream('recording', new Date())).catch(() => []);
      const methods = refusals.map((e) => e.data['method']);
      expect(methods).toContain('/haven.recording.v1.RecordingService/PlayRecording');
      expect(methods).toContain('/haven.recording.v1.RecordingService/ReadRecordingMedia');
    });
  });

  it('refuses a grant after it expires', async () => {
    // A grant that expired: appended as the service would, with an expiry in the past.
    const recordings = new Recordings(store);
    const expired = randomBytes(32).toString('base64url');
    await recordings.command(
      'rec-p1',
      {
        type: 'GrantPlayback',
        data: {
          viewer: { name: 'users/clin-1', role: 'clinician' },
          grantId: 'g-old',
          tokenSha256: createHash('sha256').update(expired).digest('hex'),
          purpose: 'PHI_ACCESS_PURPOSE_TREATMENT',
          expireTime: new Date(Date.now() - 1000).toISOString(),
          patientAccess: false,
          method: 'test',
        },
      },
      serviceMetadata('test-expired'),
    );
    const r = await read('rec-p1', expired, 0, 100, await as('clin-1', 'clinician'));
    expect(r.error?.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(r.error?.details).toMatch(/expired/);
  });
});

describe('a tampered recording', () => {
  it.each([
    ['a flipped bit in the second chunk', (b: Buffer) => (b[1048 + 65_536 + 16 + 100]! ^= 1)],
    ['a flipped bit in the final chunk', (b: Buffer) => (b[b.length - 3]! ^= 1)],
  ])('is refused with %s, and not one byte is sent', async (name, tamper) => {
    const id = `rec-t${name.length}`;
    const file = await availableRecording(id, 'clin-1', randomBytes(200_000));
    const bytes = await fs.readFile(file);
    tamper(bytes);
    await fs.writeFile(file, bytes);
    const md = await as('clin-1', 'clinician');
    const { token } = await play(id, md);
    const r = await read(id, token, 0, 150_000, md); // chunk 0 is fine, chunk 1 (or the final) is not
    expect(r.error?.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(r.messages).toBe(0);
    expect(await viewsOf(id)).toEqual([]);
  });
});

describe('legal hold and deletion', () => {
  it('a hold blocks deletion; once released, deletion crypto-shreds the recording', async () => {
    const plain = randomBytes(100_000);
    const file = await availableRecording('rec-d1', 'clin-1', plain);
    const backup = await fs.readFile(file);
    const admin = await as('adm-1', 'admin');
    const clinician = await as('clin-1', 'clinician');
    const name = 'recordings/rec-d1';
    expect(
      (await failureOf(callUnary(client, 'placeLegalHold', { name, reason: 'case 2026-17' }, clinician)))
        .code,
    ).toBe(grpc.status.PERMISSION_DENIED);
    const held = await callUnary(client, 'placeLegalHold', { name, reason: 'case 2026-17' }, admin);
    expect(held.recording?.legalHold).toBe(true);
    const blocked = await failureOf(callUnary(client, 'deleteRecording', { name, etag: '' }, admin));
    expect(blocked.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(blocked.details).toMatch(/legal hold/);
    const released = await callUnary(client, 'releaseLegalHold', { name }, admin);
    expect(released.recording?.legalHold).toBe(false);
    const stale = await failureOf(callUnary(client, 'deleteRecording', { name, etag: '1' }, admin));
    expect(stale.code).toBe(grpc.status.ABORTED);
    const deleted = await callUnary(client, 'deleteRecording', { name, etag: '' }, admin);
    expect(deleted.recording?.state).toBe(recording.RecordingState.RECORDING_STATE_DELETED);
    expect(await typesOf('rec-d1')).toContain('haven.recording.v1.RecordingDeleted');
    // The ciphertext is gone, and the copy taken before (a backup) no longer opens: its key was destroyed.
    await expect(fs.stat(file)).rejects.toMatchObject({ code: 'ENOENT' });
    expect(await recordingCopyOpens(dataDir, 'rec-d1', backup)).toBe(false);
    expect((await failureOf(play('rec-d1', clinician))).code).toBe(grpc.status.FAILED_PRECONDITION);
    expect((await failureOf(callUnary(client, 'deleteRecording', { name, etag: '' }, admin))).code).toBe(
      grpc.status.FAILED_PRECONDITION,
    );
  });
});

describe('a deletion interrupted before the key was destroyed (a crash)', () => {
  it('is finished by the next sweep: the object and the key are destroyed', async () => {
    const file = await availableRecording('rec-c1', 'clin-1', randomBytes(5000));
    const backup = await fs.readFile(file);
    // What a crash right after the append leaves: RecordingDeleted, but the key and the object still there.
    await new Recordings(store).command(
      'rec-c1',
      { type: 'DeleteRecording', data: { reason: 'REQUESTED' } },
      serviceMetadata('test-crash'),
    );
    await passesEventually(async () => expect(fs.stat(file)).rejects.toMatchObject({ code: 'ENOENT' }));
    expect(await recordingCopyOpens(dataDir, 'rec-c1', backup)).toBe(false);
  });
});

describe('a patient’s erasure', () => {
  it('crypto-shreds their recordings in the erasure’s trace, caused by it', async () => {
    const file = await seedAvailableRecording({
      store,
      dataDir,
      recordingId: 'rec-e1',
      clinicianId: 'clin-1',
      patientId: 'pat-e1',
      plaintext: randomBytes(5000),
    });
    const erased = newEvent({
      type: PATIENT_ERASED,
      actor: { kind: 'user', id: 'adm-1', role: 'admin' },
      correlationId: 'erasure-e1-correlation',
      traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
      data: { patientId: 'pat-e1', reason: 'PATIENT_ERASURE_REASON_PATIENT_REQUEST' },
    });
    // Caused by the erasure, in its trace, under a span whose parent is the erasure's.
    const telemetry = setupTestTelemetry();
    try {
      await store.append('scheduling.patient-pat-e1', 'no_stream', [erased]);
      await passesEventually(async () => {
        await expect(fs.stat(file)).rejects.toMatchObject({ code: 'ENOENT' });
        const [span] = telemetry.spans('haven.recording.erase_patient');
        expect(span?.spanContext().traceId).toBe(erased.traceparent?.split('-')[1]);
        expect(span?.parentSpanContext?.spanId).toBe(erased.traceparent?.split('-')[2]);
      });
    } finally {
      await telemetry.shutdown();
    }
    const deleted = (await store.read('recording.recording-rec-e1')).find((e) =>
      e.type.endsWith('RecordingDeleted'),
    );
    expect(deleted).toMatchObject({
      data: { reason: 'PATIENT_SHREDDED' },
      traceparent: erased.traceparent,
      correlationId: erased.correlationId,
      causationId: erased.id,
    });
  });
});

describe('the retention policy (last: it deletes what expired)', () => {
  it('is the admin’s: seven years, no automatic deletion by default; a stale etag or bad path is refused', async () => {
    const admin = await as('adm-1', 'admin');
    expect(
      (
        await failureOf(
          callUnary(
            client,
            'getRetentionPolicy',
            { name: 'retentionPolicy' },
            await as('clin-1', 'clinician'),
          ),
        )
      ).code,
    ).toBe(grpc.status.PERMISSION_DENIED);
    const { retentionPolicy } = await callUnary(
      client,
      'getRetentionPolicy',
      { name: 'retentionPolicy' },
      admin,
    );
    expect(retentionPolicy).toMatchObject({
      autoDelete: false,
      retentionPeriod: { seconds: String(7 * 365.25 * 86_400) },
    });
    const bad = await failureOf(
      callUnary(
        client,
        'updateRetentionPolicy',
        recording.UpdateRetentionPolicyRequest.fromPartial({
          retentionPolicy: { autoDelete: true },
          updateMask: ['colour'],
        }),
        admin,
      ),
    );
    expect(bad.code).toBe(grpc.status.INVALID_ARGUMENT);
    const stale = await failureOf(
      callUnary(
        client,
        'updateRetentionPolicy',
        recording.UpdateRetentionPolicyRequest.fromPartial({
          retentionPolicy: { autoDelete: true, etag: '41' },
          updateMask: ['auto_delete'],
        }),
        admin,
      ),
    );
    expect(stale.code).toBe(grpc.status.ABORTED);
  });

  it('the sweep crypto-shreds expired recordings with RETENTION_EXPIRED, but not one under legal hold', async () => {
    const admin = await as('adm-1', 'admin');
    const expiring = await availableRecording('rec-r1', 'clin-1', randomBytes(5000));
    await availableRecording('rec-r2', 'clin-1', randomBytes(5000));
    await callUnary(client, 'placeLegalHold', { name: 'recordings/rec-r2', reason: 'audit 9' }, admin);
    const updated = await callUnary(
      client,
      'updateRetentionPolicy',
      recording.UpdateRetentionPolicyRequest.fromPartial({
        retentionPolicy: { retentionPeriod: { seconds: '1', nanos: 0 }, autoDelete: true },
      }),
      admin,
    );
    expect(updated.retentionPolicy).toMatchObject({ autoDelete: true, retentionPeriod: { seconds: '1' } });
    await passesEventually(async () => {
      const events = await store.read('recording.recording-rec-r1');
      const deleted = events.find((e) => e.type === 'haven.recording.v1.RecordingDeleted');
      expect(deleted?.data['reason']).toBe('RETENTION_EXPIRED');
      expect(deleted?.actor).toMatchObject({ kind: 'service', id: 'recording' });
    });
    // The event comes first, the key and the object are destroyed right after it.
    await passesEventually(async () => expect(fs.stat(expiring)).rejects.toMatchObject({ code: 'ENOENT' }));
    await new Promise((r) => setTimeout(r, 1000)); // a few more sweeps
    expect(await typesOf('rec-r2')).not.toContain('haven.recording.v1.RecordingDeleted');
  });
});
