/**
 * The erasure consumers under kill -9, over real servers: nats-server, Janus, and the session and recording
 * services as built child processes. Erasures (`PatientErased`, appended the way scheduling appends them) are
 * consumed from a checkpoint kept in NATS; each consumer is held part-way through a batch — one key file cannot
 * be written (its tombstone's place is taken by a directory, the handler fails and retries) — and killed with
 * SIGKILL there: after some effects, before all. Once the place is free again and the service starts again,
 * every effect happens exactly once: the checkpoint (read with a plain NATS client) resumes after the last event
 * handled before the kill, the events handled before it are not handled again, and the rest are.
 *
 * Session: each erased patient's chat key is destroyed; another patient's key stays. Recording: the held point
 * is the crash window between `RecordingDeleted` and the destruction of the recording's key and object; after
 * the restart the key is shredded, the object gone, and `RecordingDeleted` is in the stream once.
 */
import { createHash } from 'node:crypto';
import { existsSync, promises as fs } from 'node:fs';
import { join } from 'node:path';
import type { KV, NatsConnection } from 'nats';
import { FilePatientKeyStore, LocalKeyringKms, PhiShreddedError } from '@haven/crypto';
import { JetStreamEventStore, newEventId } from '@haven/eventstore';
import { createTestIssuer } from '@haven/service/testing';
import {
  eventually,
  launchStack,
  serveJwks,
  type JwksServer,
  type LaunchedStack,
  type StackService,
} from '@haven/testing';
import { recordingCopyOpens, seedAvailableRecording } from '../../services/recording/src/testing';

jest.setTimeout(180_000);

const ERASED = 'haven.scheduling.v1.PatientErased';
const issuer = createTestIssuer();
let jwks: JwksServer;
let stack: LaunchedStack;
let store: JetStreamEventStore;
let nc: NatsConnection;
let checkpoints: KV;

beforeAll(async () => {
  jwks = await serveJwks(issuer.jwks);
  stack = await launchStack({
    services: ['session', 'recording'],
    jwksUrl: jwks.url,
    patientJwksUrl: jwks.url,
    janus: { eventHandler: false },
  });
  store = await JetStreamEventStore.connect({ ...stack.nats.operator, name: 'erasure-kill-test' });
  nc = await stack.nats.connect();
  checkpoints = await nc.jetstream().views.kv('haven_checkpoints', { bindOnly: true });
});

afterAll(async () => {
  await store?.close();
  await nc?.close();
  await stack?.stop();
  await jwks?.close();
});

/** Appends a patient's erasure as scheduling does; resolves with its global position. */
async function erase(patientId: string): Promise<bigint> {
  const id = newEventId();
  const { position } = await store.append(`scheduling.patient-${patientId}`, 'no_stream', [
    {
      id,
      type: ERASED,
      occurredAt: new Date().toISOString(),
      actor: { kind: 'user', id: 'u-admin', role: 'admin' },
      correlationId: id,
      causationId: id,
      data: { patientId, reason: 'PATIENT_ERASURE_REASON_PATIENT_REQUEST' },
    },
  ]);
  return position;
}

/** The consumer's checkpoint as NATS keeps it (a plain NATS client, not the services' code). */
async function checkpointOf(consumer: string): Promise<bigint | undefined> {
  const entry = await checkpoints.get(consumer);
  return entry && entry.value.length > 0 ? BigInt(entry.string()) : undefined;
}

/** Where a key store keeps the tombstone of `subject` (file name = SHA-256 of the subject). */
const tombstoneOf = (dir: string, subject: string): string =>
  join(dir, `${createHash('sha256').update(subject, 'utf8').digest('hex')}.shredded`);

/** A directory in the tombstone's place: destroying that key fails (EISDIR) until it is removed. */
async function blockDestruction(dir: string, subject: string): Promise<() => Promise<void>> {
  const path = tombstoneOf(dir, subject);
  await fs.mkdir(path, { recursive: true });
  return () => fs.rmdir(path);
}

/** The service's log lines that carry `message`, printed between characters `from` and `to` of its output. */
function logLines(service: StackService, message: string, from = 0, to?: number): Record<string, unknown>[] {
  return service
    .output()
    .slice(from, to)
    .split('\n')
    .filter((line) => line.includes(message))
    .map((line) => JSON.parse(line.slice(line.indexOf('{'))) as Record<string, unknown>);
}

/** Waits until `consumer` is held: its checkpoint at `at`, its handler failed and was retried at least once. */
async function held(service: StackService, consumer: string, at: bigint): Promise<void> {
  await eventually(`${consumer} held at ${at}`, async () =>
    (await checkpointOf(consumer)) === at &&
    logLines(service, 'consumer interrupted').some((l) => l['consumer'] === consumer && l['attempt'] === 2)
      ? true
      : undefined,
  );
}

/** Kills `service` with -9 (and checks it died of it); resolves with the length of its output so far. */
async function kill9(service: StackService): Promise<number> {
  await service.signal('SIGKILL');
  expect(service.running).toBe(false);
  return service.output().length;
}

describe('the session’s erasure consumer under kill -9', () => {
  it('destroys every erased patient’s chat key once and resumes from its checkpoint', async () => {
    const session = stack.service('session');
    const dataDir = session.env['HAVEN_DATA_DIR'] ?? '';
    const kms = await LocalKeyringKms.open({ file: join(dataDir, 'keyring.json') });
    const keys = () => new FilePatientKeyStore({ dir: join(dataDir, 'chat-keys'), kms });
    const patients = ['p-kill-1', 'p-kill-2', 'p-kill-3', 'p-kill-4', 'p-kill-5', 'p-kill-6'];
    for (const p of [...patients, 'p-kept']) await keys().getOrCreate(p);
    const destroyed = async (p: string) =>
      keys()
        .get(p)
        .then(
          () => false,
          (e: unknown) => e instanceof PhiShreddedError,
        );

    const unblock = await blockDestruction(join(dataDir, 'chat-keys'), 'p-kill-4');
    const positions: bigint[] = [];
    for (const p of patients) positions.push(await erase(p));
    await held(session, 'session.erasures', positions[2]!);
    const killedAt = await kill9(session);
    await unblock();
    // After some, before all: the first three destroyed, the rest not (each still opens).
    expect(await Promise.all(patients.map(destroyed))).toEqual([true, true, true, false, false, false]);

    await session.start();
    await eventually('every erased patient’s chat key destroyed', async () =>
      (await Promise.all(patients.map(destroyed))).every(Boolean) ? true : undefined,
    );
    await eventually('the checkpoint after the last erasure', async () =>
      (await checkpointOf('session.erasures')) === positions[5] ? true : undefined,
    );
    expect(await destroyed('p-kept')).toBe(false);
    const handled = (from: number, to?: number) =>
      logLines(session, 'patient erased: chat key destroyed', from, to).map((l) => l['patientId']);
    // Before the kill: the first three, once each; after the restart: the other three only, once each.
    expect(handled(0, killedAt)).toEqual(patients.slice(0, 3));
    expect(handled(killedAt)).toEqual(patients.slice(3));
  });
});

describe('the recording service’s erasure consumer under kill -9', () => {
  it('shreds every erased patient’s recordings once, finishing the one killed mid-shred', async () => {
    const recording = stack.service('recording');
    const dataDir = recording.env['HAVEN_DATA_DIR'] ?? '';
    const ids = ['rec-k1', 'rec-k2', 'rec-k3', 'rec-k4'];
    const patients = ids.map((id) => `p-${id}`);
    const copies = new Map<string, Buffer>();
    for (const [i, id] of ['rec-kept', ...ids].entries()) {
      const file = await seedAvailableRecording({
        store,
        dataDir,
        recordingId: id,
        clinicianId: 'u-clin',
        patientId: i === 0 ? 'p-rec-kept' : `p-${id}`,
        plaintext: Buffer.from(`webm bytes of ${id}`),
      });
      copies.set(id, await fs.readFile(file));
      copies.set(`${id}:file`, Buffer.from(file));
    }
    const opens = (id: string) => recordingCopyOpens(dataDir, id, copies.get(id)!);
    const deletions = async (id: string) =>
      (await store.read(`recording.recording-${id}`)).filter(
        (e) => e.type === 'haven.recording.v1.RecordingDeleted',
      );

    // The third recording's key cannot be destroyed: RecordingDeleted is stored, the shredding is not done.
    const unblock = await blockDestruction(join(dataDir, 'recording-keys'), 'recordings/rec-k3');
    const positions: bigint[] = [];
    for (const p of patients) positions.push(await erase(p));
    await held(recording, 'recording.erasures', positions[1]!);
    expect(await deletions('rec-k3')).toHaveLength(1);
    const killedAt = await kill9(recording);
    await unblock();
    // The crash window: rec-k3 deleted in the log but its key and object still there; rec-k4 untouched.
    expect(await Promise.all(ids.map(opens))).toEqual([false, false, true, true]);
    expect(existsSync(copies.get('rec-k3:file')!.toString())).toBe(true);
    expect(await deletions('rec-k4')).toHaveLength(0);

    await recording.start();
    await eventually('the checkpoint after the last erasure', async () =>
      (await checkpointOf('recording.erasures')) === positions[3] ? true : undefined,
    );
    for (const id of ids) {
      const deleted = await deletions(id);
      expect(deleted).toHaveLength(1);
      expect(deleted[0]?.data).toMatchObject({ recordingId: id, reason: 'PATIENT_SHREDDED' });
      expect(await opens(id)).toBe(false);
      expect(existsSync(copies.get(`${id}:file`)!.toString())).toBe(false);
    }
    expect(await opens('rec-kept')).toBe(true);
    expect(await deletions('rec-kept')).toHaveLength(0);
    const handled = (from: number, to?: number) =>
      logLines(recording, 'patient erased: recordings shredded or blocked', from, to)
        .filter((l) => patients.includes(l['patientId'] as string))
        .map((l) => [l['patientId'], l['shredded']]);
    // Before the kill: the first two (the session's test erased other patients before: nothing of theirs here);
    // after the restart: the third (already deleted: nothing new to count) and the fourth, once each — the first
    // two are not handled again.
    expect(handled(0, killedAt)).toEqual([
      [patients[0], 1],
      [patients[1], 1],
    ]);
    expect(handled(killedAt)).toEqual([
      [patients[2], 0],
      [patients[3], 1],
    ]);
  });
});
