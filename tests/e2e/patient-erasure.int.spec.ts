/**
 * Erasing a patient end to end, over the real services (identity, scheduling, session, audit, recording as child
 * processes on a real nats-server and Janus, the gateway in process), with plain HTTP and raw WebSockets: a visit
 * with chat messages, a chat file and an exported transcript, and three recordings of the patient (one under
 * legal hold). The admin's erasure through the gateway (CSRF, typed confirmation, a reason) is refused while the
 * visit is in progress, then accepted once it ended. After it: the session's chat keys for the patient are
 * destroyed — the sealed chat text is still in the event log and nobody can open it (tried with the session's own
 * key store), the transcript and the file answer 409, the chat history says `erased`; every recording of the
 * patient not under legal hold is crypto-shredded with reason PATIENT_SHREDDED (a copy taken before no longer
 * opens), the held one stays and its erasure is recorded as blocked; another patient's recording is untouched.
 * The front desk and a request without CSRF cannot erase.
 */
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { FilePatientKeyStore, LocalKeyringKms, PhiShreddedError, openPhi } from '@haven/crypto';
import type { JetStreamEventStore, SealedPhi } from '@haven/eventstore';
import { eventually } from '@haven/testing';
import type { CookieJar } from '../../services/gateway/test/gateway';
import { bookVisitWithLink, redeemLink } from '../../services/gateway/test/gateway';
import { startStack, type TestStack } from '../../services/gateway/test/stack';
import { Recordings, serviceMetadata } from '../../services/recording/src/recording/recordings';
import { recordingCopyOpens, seedAvailableRecording } from '../../services/recording/src/testing';

jest.setTimeout(180_000);

const CANARY = 'canary-heron-5521';
let stack: TestStack;
let store: JetStreamEventStore;
let clinicianId: string;

beforeAll(async () => {
  stack = await startStack({ recordingEnv: {} });
  store = await stack.openStore('erasure-e2e');
  await stack.createUser('desk@erase.test', 'front_desk', 'Front Desk');
  await stack.createUser('ada@erase.test', 'admin', 'Ada Admin');
  clinicianId = await stack.createUser('cy@erase.test', 'clinician', 'Dr Cy Park');
});
afterAll(async () => stack?.stop());

/** The session's own chat key store, opened from outside with its keyring. */
async function sessionChatKeys(): Promise<FilePatientKeyStore> {
  const kms = await LocalKeyringKms.open({ file: join(stack.sessionDataDir, 'keyring.json') });
  return new FilePatientKeyStore({ dir: join(stack.sessionDataDir, 'chat-keys'), kms });
}

/** Opens a recording's object copy with the recording service's own keys; resolves true when it opens. */
const recordingOpens = (recordingId: string, copy: Buffer): Promise<boolean> =>
  recordingCopyOpens(stack.recordingDataDir ?? '', recordingId, copy);

const recordingTypes = async (id: string) =>
  (await store.read(`recording.recording-${id}`)).map((e) => e.type.split('.').pop());

describe('erasing a patient after a visit with chat, a file, a transcript and recordings', () => {
  let desk: CookieJar;
  let admin: CookieJar;
  let cy: CookieJar;
  let patient: CookieJar;
  let visitId: string;
  let patientId: string;
  let fileId: string;
  let sealedChat: SealedPhi;
  const copies = new Map<string, Buffer>();

  beforeAll(async () => {
    desk = await stack.signIn('desk@erase.test');
    admin = await stack.signIn('ada@erase.test');
    cy = await stack.signIn('cy@erase.test');
    const visit = await bookVisitWithLink(stack.url, desk, clinicianId, {
      name: 'Heloise Marchetti',
      dateOfBirth: '1983-09-17',
    });
    visitId = visit.visitId;
    patientId = (await store.read(`scheduling.appointment-${visitId}`))[0]?.data['patientId'] as string;
    patient = await redeemLink(stack.url, visit);
    expect((await patient.post(`${stack.url}/api/patient/lobby`, {})).status).toBe(200);
    const detail = (await (await cy.fetch(`${stack.url}/api/visits/${visitId}`)).json()) as {
      visit: { participants: { id: string; kind: string }[] };
    };
    const waiting = detail.visit.participants.find((p) => p.kind === 'patient');
    expect(
      (await cy.post(`${stack.url}/api/visits/${visitId}/admit`, { participantId: waiting?.id })).status,
    ).toBe(200);

    const staff = await stack.liveSocket(cy, false);
    staff.ws.send(JSON.stringify({ type: 'chat-open', visitId }));
    await staff.waitFor((m) => m['type'] === 'chat' && m['visitId'] === visitId);
    staff.ws.send(
      JSON.stringify({ type: 'chat-send', visitId, text: `How is the rash? ${CANARY}`, ref: 'r1' }),
    );
    await staff.waitFor((m) => m['type'] === 'chat-sent' && m['ref'] === 'r1');
    const csrf = patient.cookies.get('haven_csrf') ?? '';
    const uploaded = await patient.fetch(`${stack.url}/api/patient/chat/files`, {
      method: 'POST',
      headers: {
        'content-type': 'application/octet-stream',
        'x-file-name': encodeURIComponent(`rash ${CANARY}.pdf`),
        'x-csrf-token': csrf,
      },
      body: new Uint8Array(Buffer.from(`%PDF-1.7\n% ${CANARY}\n`.repeat(50), 'latin1')),
    });
    expect(uploaded.status).toBe(201);
    fileId = ((await uploaded.json()) as { message: { file: { id: string } } }).message.file.id;
    expect((await cy.post(`${stack.url}/api/visits/${visitId}/chat/transcript`, {})).status).toBe(201);
    const posted = (await store.read(`session.visit-${visitId}`)).find(
      (e) => e.type === 'haven.session.v1.ChatMessagePosted',
    );
    sealedChat = posted!.phi!;

    // Three recordings of this patient's visit (one to be held), one of another patient.
    const recordingDataDir = stack.recordingDataDir ?? '';
    for (const [id, owner] of [
      ['rec-e1', patientId],
      ['rec-e2', patientId],
      ['rec-e3', patientId],
      ['rec-other', 'p-someone-else'],
    ] as const) {
      const file = await seedAvailableRecording({
        store,
        dataDir: recordingDataDir,
        recordingId: id,
        clinicianId,
        patientId: owner,
        visitId: owner === patientId ? visitId : 'v-other',
        plaintext: Buffer.from(`webm bytes of ${id} ${CANARY}`),
      });
      copies.set(id, await fs.readFile(file));
    }
    await new Recordings(store).command(
      'rec-e3',
      { type: 'PlaceLegalHold', data: { reason: 'case 2026-88' } },
      serviceMetadata('erasure-e2e-hold'),
    );
  });

  const erase = (jar: CookieJar, body: Record<string, unknown>) =>
    jar.post(`${stack.url}/api/patients/${patientId}/erase`, body);

  it('is refused to the front desk, without CSRF, without a reason or a matching confirmation', async () => {
    expect((await erase(desk, { reason: 'patient_request', confirm: patientId })).status).toBe(403);
    const noCsrf = await admin.fetch(`${stack.url}/api/patients/${patientId}/erase`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ reason: 'patient_request', confirm: patientId }),
    });
    expect(noCsrf.status).toBe(403);
    const bad = await erase(admin, { reason: 'because', confirm: 'someone-else' });
    expect(bad.status).toBe(400);
    const fields = ((await bad.json()) as { error: { fieldViolations: { field: string }[] } }).error
      .fieldViolations;
    expect(fields.map((f) => f.field).sort()).toEqual(['confirm', 'reason']);
    for (const reason of ['toString', 'constructor', '__proto__']) {
      const odd = await erase(admin, { reason, confirm: patientId });
      expect(odd.status).toBe(400);
      expect(JSON.stringify(await odd.json())).toContain('"field":"reason"');
    }
  });

  it('is refused while the visit is in progress, saying so', async () => {
    const refused = await erase(admin, { reason: 'patient_request', confirm: patientId });
    expect(refused.status).toBe(409);
    expect(await refused.json()).toEqual({
      error: {
        code: 'VISIT_IN_PROGRESS',
        message: 'The patient has a visit in progress: end it first, then erase.',
      },
    });
    // Nothing was destroyed: the chat still opens.
    expect((await openPhi(await sessionChatKeys(), sealedChat))['text']).toBe(`How is the rash? ${CANARY}`);
  });

  it('once the visit ended: shreds the chat, the file, the transcript and the recordings not held', async () => {
    expect((await cy.post(`${stack.url}/api/visits/${visitId}/end`, {})).status).toBe(200);
    let answer: Response | undefined;
    await eventually('the appointment completed and the erasure accepted', async () => {
      answer = await erase(admin, { reason: 'patient_request', confirm: patientId });
      return answer.status === 200 ? true : undefined;
    });
    expect(await answer!.json()).toMatchObject({
      patient: { id: patientId, erased: true, reason: 'patient_request' },
    });

    // Session: the chat key is destroyed; the ciphertext is still in the log.
    await eventually('the session destroyed the patient’s chat key', async () =>
      (await openPhi(await sessionChatKeys(), sealedChat).then(
        () => false,
        (e: unknown) => e instanceof PhiShreddedError,
      ))
        ? true
        : undefined,
    );
    const still = (await store.read(`session.visit-${visitId}`)).find(
      (e) => e.type === 'haven.session.v1.ChatMessagePosted',
    );
    expect(still?.phi).toEqual(sealedChat);
    const transcript = await cy.fetch(`${stack.url}/api/visits/${visitId}/chat/transcript`);
    expect(transcript.status).toBe(409);
    expect(JSON.stringify(await transcript.json())).not.toContain(CANARY);
    const file = await cy.fetch(`${stack.url}/api/visits/${visitId}/chat/files/${fileId}`);
    expect(file.status).toBe(409);
    const staff = await stack.liveSocket(cy, false);
    staff.ws.send(JSON.stringify({ type: 'chat-open', visitId }));
    const history = await staff.waitFor((m) => m['visitId'] === visitId);
    expect(history).toMatchObject({ type: 'chat-error', code: 'erased' });

    // Recording: the two not held are crypto-shredded; the held one stays, its erasure recorded as blocked.
    for (const id of ['rec-e1', 'rec-e2']) {
      await eventually(`${id} shredded`, async () =>
        (await recordingTypes(id)).includes('RecordingDeleted') ? true : undefined,
      );
      const deleted = (await store.read(`recording.recording-${id}`)).at(-1);
      expect(deleted?.data).toMatchObject({ recordingId: id, reason: 'PATIENT_SHREDDED' });
      expect(await recordingOpens(id, copies.get(id)!)).toBe(false);
    }
    await eventually('rec-e3’s erasure recorded as blocked', async () =>
      (await recordingTypes('rec-e3')).includes('RecordingErasureBlocked') ? true : undefined,
    );
    expect((await store.read('recording.recording-rec-e3')).at(-1)?.data).toEqual({
      recordingId: 'rec-e3',
      patientId,
      blocker: 'LEGAL_HOLD',
    });
    expect(await recordingOpens('rec-e3', copies.get('rec-e3')!)).toBe(true);
    expect(await recordingTypes('rec-other')).not.toContain('RecordingDeleted');
    expect(await recordingOpens('rec-other', copies.get('rec-other')!)).toBe(true);
  });

  it('a second erasure changes nothing more (idempotent everywhere)', async () => {
    const before = (await recordingTypes('rec-e3')).length;
    const again = await erase(admin, { reason: 'legal_order', confirm: patientId });
    expect(again.status).toBe(200);
    expect(await again.json()).toMatchObject({ patient: { reason: 'patient_request' } });
    await new Promise((r) => setTimeout(r, 1000));
    expect(await recordingTypes('rec-e3')).toHaveLength(before);
    expect(
      (await store.read(`scheduling.patient-${patientId}`)).filter(
        (e) => e.type === 'haven.scheduling.v1.PatientErased',
      ),
    ).toHaveLength(1);
  });
});
